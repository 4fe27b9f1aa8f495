"""Dual Path Networks: ResNeXt-style residual paths sharing their blocks with DenseNet-style
densely connected paths.

Chen, Li, Xiao, Jin, Yan, Feng. "Dual Path Networks", 2017, arXiv:1707.01629, Table 1. Each
block is a pre-activation bottleneck (BN-ReLU-conv units: 1x1, grouped 3x3, 1x1) whose last 1x1
convolution gives ``residual + increment`` channels: the first ``residual`` are added to the
block's residual path, the last ``increment`` are concatenated to its dense path. The feature
map is carried as one tensor ``[residual path, dense path]``; the first block of each stage
projects it (a BN-ReLU-1x1 convolution, strided from stage 2 on) to ``residual + 2 x
increment`` channels, a fresh residual path and a dense path of two increments, so a stage of
``n`` blocks ends with ``residual + (n + 2) x increment`` channels. A final BN-ReLU precedes
the classifier.

The layout is timm's ``dpn68`` / ``dpn92`` / ``dpn98`` / ``dpn107`` / ``dpn131`` (the
authors' MXNet models), so their weights port layer for layer: a 7x7 stride-2 stem convolution
(3x3 for DPN-68) with BN-ReLU, a 3x3 stride-2 max-pooling, BatchNorm epsilon 1e-3. timm's
classifier is a 1x1 convolution after the global pooling; ours is the equivalent Dense layer
(same parameters and FLOPs). Counts: params.tsv's timm rows (the paper's Table 2 gives model
sizes in MB and rounded GFLOPs only).

Feature maps: ``<model>_stage<N>_out`` at strides 4, 8, 16, 32, each the concatenated
``[residual, dense]`` map of the stage's last block (stage 4: after the final BN-ReLU).
"""

import dataclasses

from ..applications import build_model
from ..backend import keras
from ..layers import ChannelSplit
from ..registry import Paper, Reference, register
from ..utils import check_groups, check_positive_int, check_rate

DPN = Paper("Dual Path Networks", 2017, "1707.01629")


@dataclasses.dataclass(frozen=True)
class DPNConfig:
    """Table 1, per stage (conv2 ... conv5): the bottleneck width of the 1x1 and grouped 3x3
    convolutions, the residual path's width, the dense path's increment per block, the number
    of blocks; the cardinality of the 3x3 convolutions and the stem."""

    blocks: tuple
    bottleneck: tuple
    residual: tuple
    increment: tuple
    groups: int
    stem_width: int
    stem_kernel: int = 7


def _check_config(cfg):
    for field in ("blocks", "bottleneck", "residual", "increment"):
        values = getattr(cfg, field)
        if len(values) != 4:
            raise ValueError(f"`{field}` must give one value per stage (4); got {values!r}.")
        for value in values:
            check_positive_int(field, value)
    for width in cfg.bottleneck:
        check_groups("groups", cfg.groups, width, "bottleneck channels")
    check_positive_int("stem_width", cfg.stem_width)
    if cfg.stem_kernel not in (3, 7):
        raise ValueError(f"`stem_kernel` must be 3 or 7; got {cfg.stem_kernel!r}.")


def _bn_relu_conv(ctx, x, filters, kernel_size, name, strides=1, groups=1):
    """timm's BnActConv2d: BN -> ReLU -> convolution, named ``<name>_bn`` / ``_relu`` /
    ``_conv``."""
    x = ctx.relu(ctx.norm(x, name + "_bn"), name + "_relu")
    return ctx.conv(x, filters, kernel_size, name + "_conv", strides=strides, groups=groups)


def _dual_path_block(ctx, x, bottleneck, residual, increment, groups, name, strides=1,
                     project=False, drop_path_rate=0.0, out_name=None):
    """One dual path block on the map ``[residual path, dense path]``; returns
    ``[residual path + new residual, dense path, new dense channels]``."""
    if project:
        shortcut = _bn_relu_conv(ctx, x, residual + 2 * increment, 1, name + "_proj",
                                 strides=strides)
    else:
        shortcut = x
    channels = int(shortcut.shape[-1])
    kept, dense = ChannelSplit([residual, channels - residual],
                               name=ctx.name(name + "_split"))(shortcut)
    y = _bn_relu_conv(ctx, x, bottleneck, 1, name + "_1x1a")
    y = _bn_relu_conv(ctx, y, bottleneck, 3, name + "_3x3b", strides=strides, groups=groups)
    y = _bn_relu_conv(ctx, y, residual + increment, 1, name + "_1x1c")
    new_residual, new_dense = ChannelSplit([residual, increment],
                                           name=ctx.name(name + "_out_split"))(y)
    new_residual = ctx.drop_path(new_residual, drop_path_rate, name + "_drop_path")
    summed = ctx.add([kept, new_residual], name + "_add")
    return keras.layers.Concatenate(name=ctx.name(out_name or name + "_concat"))(
        [summed, dense, new_dense])


def build_dpn(model_name, cfg, *, drop_rate=0.0, drop_path_rate=0.0, **kwargs):
    """Builds a Dual Path Network (arXiv:1707.01629, Table 1) from ``cfg``.

    Architecture options:
        drop_rate: dropout before the classifier (timm's ``drop_rate``; the paper uses none).
        drop_path_rate: stochastic depth on the residual path's new channels of each block (not
            in the paper), rising linearly from 0 over the blocks; the dense path is kept.
        norm: ``"batch"``, ``"sync_batch"``, ``"group"``, ``"layer"``, ``"batch_renorm"``,
            ``"weight"``.
    """
    _check_config(cfg)
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    total = sum(cfg.blocks)

    def body(ctx, x):
        x = ctx.conv(x, cfg.stem_width, cfg.stem_kernel, "stem_conv", strides=2)
        x = ctx.relu(ctx.norm(x, "stem_bn"), "stem_relu")
        x = ctx.max_pool(x, "stem_pool")
        index = 0
        stages = zip(cfg.blocks, cfg.bottleneck, cfg.residual, cfg.increment)
        for stage, (blocks, bottleneck, residual, increment) in enumerate(stages, start=1):
            for block in range(1, blocks + 1):
                last = block == blocks and stage < 4
                x = _dual_path_block(
                    ctx, x, bottleneck, residual, increment, cfg.groups,
                    f"stage{stage}_block{block}", strides=2 if block == 1 and stage > 1 else 1,
                    project=block == 1, drop_path_rate=drop_path_rate * index / max(1, total - 1),
                    out_name=f"stage{stage}_out" if last else None)
                index += 1
        # timm's CatBnAct: the final BN-ReLU of the pre-activation units.
        return ctx.relu(ctx.norm(x, "final_bn"), "stage4_out")

    return build_model(model_name, body, drop_rate=drop_rate, bn_epsilon=1e-3, **kwargs)


#: the tiny networks: one for the 3x3-stem DPN-68 layout, one for the 7x7-stem layouts.
_TINY_SMALL = DPNConfig(blocks=(1, 2, 1, 1), bottleneck=(16, 32, 64, 128),
                        residual=(8, 16, 32, 64), increment=(4, 8, 8, 8), groups=4,
                        stem_width=8, stem_kernel=3)
_TINY_LARGE = DPNConfig(blocks=(1, 2, 1, 1), bottleneck=(12, 24, 48, 96),
                        residual=(32, 64, 128, 256), increment=(4, 8, 8, 16), groups=4,
                        stem_width=8, stem_kernel=7)


def tiny_config(cfg):
    """The stem of ``cfg`` with 1/8 of DPN-92's widths (four groups), blocks (1, 2, 1, 1): one
    tiny network for DPN-68's layout and one for the others (whose differences are widths and
    depths only)."""
    return _TINY_SMALL if cfg.stem_kernel == 3 else _TINY_LARGE


def _config(blocks, k_r, increment, groups, stem_width, small=False):
    """Table 1's columns from the authors' parameters: bottleneck ``k_r`` scaled 1, 2, 4, 8
    per stage, residual widths 256 ... 2048 (64 ... 512 for the small DPN-68)."""
    factor = 1 if small else 4
    return DPNConfig(blocks=blocks, bottleneck=tuple(k_r * m for m in (1, 2, 4, 8)),
                     residual=tuple(w * factor for w in (64, 128, 256, 512)),
                     increment=increment, groups=groups, stem_width=stem_width,
                     stem_kernel=3 if small else 7)


DPNS = dict(family="dpn", paper=DPN, tiny=tiny_config,
            options={"drop_rate": 0.0, "drop_path_rate": 0.0, "norm": "batch"},
            generic_builder="build_dpn")


@register(**DPNS, config=_config((3, 4, 12, 3), 128, (16, 32, 32, 64), 32, 10, small=True),
          params=12_611_602, flops=4_652_326_912, reference=Reference("timm", "dpn68"))
def DPN68(config, **kwargs):
    """DPN-68 (Chen et al. 2017, arXiv:1707.01629; the authors' small model, released with
    the code): a 3x3 stem of 10 channels, residual widths 64 ... 512, 12,611,602 parameters
    (timm ``dpn68``)."""
    return build_dpn("dpn68", config, **kwargs)


@register(**DPNS, config=_config((3, 4, 20, 3), 96, (16, 32, 24, 128), 32, 64),
          params=37_668_392, flops=13_003_368_448, reference=Reference("timm", "dpn92"))
def DPN92(config, **kwargs):
    """DPN-92 (Chen et al. 2017, arXiv:1707.01629, Table 1): 37,668,392 parameters (timm
    ``dpn92``; Table 2: 145 MB, 6.5 GFLOPs)."""
    return build_dpn("dpn92", config, **kwargs)


@register(**DPNS, config=_config((3, 6, 20, 3), 160, (16, 32, 32, 128), 40, 96),
          params=61_570_728, flops=23_342_434_304, reference=Reference("timm", "dpn98"))
def DPN98(config, **kwargs):
    """DPN-98 (Chen et al. 2017, arXiv:1707.01629, Table 1): 61,570,728 parameters (timm
    ``dpn98``; Table 2: 236 MB, 11.7 GFLOPs)."""
    return build_dpn("dpn98", config, **kwargs)


@register(**DPNS, config=_config((4, 8, 20, 3), 200, (20, 64, 64, 128), 50, 128),
          params=86_917_800, flops=36_597_528_576, reference=Reference("timm", "dpn107"))
def DPN107(config, **kwargs):
    """DPN-107 (Chen et al. 2017, arXiv:1707.01629; released with the code, Table 1's layout
    with cardinality 50): 86,917,800 parameters (timm ``dpn107``)."""
    return build_dpn("dpn107", config, **kwargs)


@register(**DPNS, config=_config((4, 8, 28, 3), 160, (16, 32, 32, 128), 40, 128),
          params=79_254_504, flops=32_027_297_792, reference=Reference("timm", "dpn131"))
def DPN131(config, **kwargs):
    """DPN-131 (Chen et al. 2017, arXiv:1707.01629, Table 1): 79,254,504 parameters (timm
    ``dpn131``; Table 2: 304 MB, 16.0 GFLOPs)."""
    return build_dpn("dpn131", config, **kwargs)
