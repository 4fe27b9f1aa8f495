"""Interleaved group convolutions: IGCNet and clcNet.

- IGCNet: Zhang, Qi, Xiao, Wang. "Interleaved Group Convolutions for Deep Neural Networks",
  2017 (ICCV 2017), arXiv:1707.02725, Sec. 3.1 and Fig. 1. An IGC block is a primary group
  convolution (3x3, ``L`` partitions of ``M`` channels), a permutation, a secondary group
  convolution (1x1, ``M`` partitions of ``L`` channels, each made of the m-th channel of every
  primary partition) and the permutation back, then BN + ReLU. The layout of the networks is
  the authors' MXNet code (github.com/hellozting/InterleavedGroupConvolutions,
  ``network/plain_igc.py``): a 3x3 stem of ``L M`` channels, three stages of ``(depth - 2) / 3``
  IGC blocks at ``L M``, ``2 L M``, ``4 L M`` channels (M doubles, L stays), the first block of
  stages 2 and 3 striding, global average pooling and a linear classifier.
  ``residual=True`` builds ``network/resnet_igc.py`` instead: ``(depth - 2) / 6`` residual
  units of two IGC blocks, projections by grouped 1x1 convolutions.
- clcNet: Dong-Qing Zhang. "clcNet: Improving the Efficiency of Convolutional Neural Network
  using Channel Local Convolutions", 2017 (CVPR 2018), arXiv:1712.06145. A CLC block is an
  interlaced grouped convolution (3x3, groups of 2 channels) and a grouped 1x1 convolution
  (2 groups) with the channel interlacing between them; clcNet-A and -B stack them in a
  MobileNet-like body. The layout and the stage depths ``(a, b, c, d)`` = (1, 1, 5, 2) and
  (1, 1, 7, 3) are the author's Torch code (github.com/dqzhang17/clcnet.torch,
  ``models/clcnet.lua``).

The permutations are :class:`~keras_convnets.layers.ChannelShuffle` layers: the authors'
``Reorder`` (IGCNet) and ``ChannelInterlace`` (clcNet) operators are exactly that
reshape-transpose-reshape.
"""

import dataclasses

from ..applications import build_model
from ..layers import ChannelShuffle
from ..registry import Paper, measured, no_reference, register
from ..utils import check_drop_path, check_groups, check_positive_int

IGC = Paper("Interleaved Group Convolutions for Deep Neural Networks", 2017, "1707.02725")
CLC = Paper("clcNet: Improving the Efficiency of Convolutional Neural Network using Channel "
            "Local Convolutions", 2017, "1712.06145")
CIFAR = dict(default_size=32, min_size=8, stage_strides=(1, 2, 4), default_classes=10)


# ---------------------------------------------------------------------------------------------
# IGCNet
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class IGCConfig:
    """``L`` primary and ``M`` secondary partitions at the first stage; ``depth`` layers
    (``None``: the shallowest of the layout, one IGC block or one residual unit per stage)."""

    primary: int
    secondary: int
    depth: int | None = 20

    @property
    def channels(self):
        return self.primary * self.secondary


def igc_block(ctx, x, out_channels, primary, name, strides=1, act=True, out_name=None):
    """Primary 3x3 group conv (``primary`` = L partitions) -> permutation -> secondary 1x1
    group conv (``out_channels / L`` partitions of L channels) -> permutation back -> BN
    (-> ReLU). The authors' code has no BN between the two convolutions."""
    secondary = out_channels // primary
    check_groups("primary partitions L", primary, out_channels, "output channels")
    x = ctx.conv(x, out_channels, 3, name + "_primary_conv", strides=strides, groups=primary)
    x = ChannelShuffle(primary, name=ctx.name(name + "_permute"))(x)
    x = ctx.conv(x, out_channels, 1, name + "_secondary_conv", groups=secondary)
    x = ChannelShuffle(secondary, name=ctx.name(name + "_permute_back"))(x)
    x = ctx.norm(x, name + "_bn")
    return ctx.relu(x, out_name or name + "_relu") if act else x


def _igc_plain_body(cfg):
    blocks = (cfg.depth - 2) // 3

    def body(ctx, x):
        x = ctx.conv_norm_act(x, cfg.channels, 3, "stem")
        for stage in range(1, 4):
            width = cfg.channels * 2 ** (stage - 1)
            for block in range(1, blocks + 1):
                x = igc_block(ctx, x, width, cfg.primary, f"stage{stage}_block{block}",
                              strides=2 if block == 1 and stage > 1 else 1,
                              out_name=f"stage{stage}_out" if block == blocks else None)
        return x

    return body


def _igc_residual_body(cfg, drop_path_rate):
    units = (cfg.depth - 2) // 6
    total = 3 * units

    def body(ctx, x):
        x = ctx.conv_norm_act(x, cfg.channels, 3, "stem")
        index = 0
        for stage in range(1, 4):
            width = cfg.channels * 2 ** (stage - 1)
            for unit in range(1, units + 1):
                name = f"stage{stage}_unit{unit}"
                stride = 2 if unit == 1 and stage > 1 else 1
                shortcut = x
                if int(x.shape[-1]) != width:
                    shortcut = ctx.conv(x, width, 1, name + "_shortcut_conv", strides=stride,
                                        groups=cfg.primary)
                    shortcut = ctx.norm(shortcut, name + "_shortcut_bn")
                y = igc_block(ctx, x, width, cfg.primary, name + "_igc1", strides=stride)
                y = igc_block(ctx, y, width, cfg.primary, name + "_igc2", act=False)
                rate = drop_path_rate * index / max(1, total - 1)
                y = ctx.drop_path(y, rate, name + "_drop_path")
                x = ctx.add([shortcut, y], name + "_add")
                x = ctx.relu(x, f"stage{stage}_out" if unit == units else name + "_out")
                index += 1
        return x

    return body


def build_igcnet(model_name, cfg, *, depth=None, residual=False, drop_path_rate=0.0, **kwargs):
    """Builds an IGCNet (arXiv:1707.02725) for 32x32 inputs.

    Architecture options:
        depth: layers; a plain net has ``(depth - 2) / 3`` IGC blocks per stage, a residual
            one ``(depth - 2) / 6`` units of two. Default the configuration's.
        residual: the authors' ``resnet_igc`` layout instead of ``plain_igc``.
        drop_path_rate: stochastic depth on the residual units (``residual=True`` only),
            rising linearly to this rate at the last unit.
    """
    step = 6 if residual else 3
    if depth is not None:
        depth = check_positive_int("depth", depth)
    depth = depth or cfg.depth or step + 2
    if depth < step + 2 or (depth - 2) % step:
        raise ValueError(
            f"`depth` must be {step} n + 2 (n >= 1) for a {'residual' if residual else 'plain'} "
            f"IGCNet; got {depth}.")
    cfg = dataclasses.replace(cfg, depth=depth)
    drop_path_rate = check_drop_path(
        drop_path_rate, residual, "a plain IGCNet",
        "pass residual=True (the authors' resnet_igc) or use drop_rate")
    body = _igc_residual_body(cfg, drop_path_rate) if residual else _igc_plain_body(cfg)
    return build_model(model_name, body, **kwargs)


#: The state-of-the-art comparison of arXiv:1707.02725 (CIFAR-10/100, SVHN): depth-20 IGCNets
#: as (L, M, the "#Params" column in millions). The paper counts the convolution and classifier
#: weights at 100 classes (CIFAR-100), not BatchNorm's scale and shift; that is what
#: ``tests/test_lightweight_tables.py`` reproduces to its 0.1M (with 10 classes and BN a model
#: has a little less). No reference implementation exists outside the authors' MXNet code.
IGC_TABLE = {
    "IGCNet_L16M32": (16, 32, 17.7),
    "IGCNet_L32M26": (32, 26, 24.1),
    "IGCNet_L450M2": (450, 2, 19.3),
}
#: what the IGCNet registrations share; the tiny build has L = 2, M = 2 (4/8/16 channels) and
#: one IGC block (plain) or one unit of two (residual) per stage.
IGCNETS = dict(family="igc", paper=IGC, **CIFAR, tiny=IGCConfig(2, 2, depth=None),
               generic_builder="build_igcnet",
               options={"depth": None, "residual": False, "drop_rate": 0.0,
                        "drop_path_rate": 0.0, "norm": "batch"})


def _paper_count(millions):
    """The reference of an IGCNet: its paper count, checked by the tests."""
    return no_reference(f"no reference implementation; the paper's {millions}M (conv + fc "
                        f"weights at 100 classes) is checked")


@register(**IGCNETS, config=IGCConfig(16, 32), reference=_paper_count(17.7))
def IGCNet_L16M32(config, **kwargs):
    """IGC-L16M32, depth 20 (Zhang et al. 2017, arXiv:1707.02725, comparison with the state of
    the art on CIFAR/SVHN): 16 primary partitions of 32 channels, 512 channels in stage 1;
    17.7M parameters in the paper (convolution and classifier weights at 100 classes)."""
    return build_igcnet("igcnet_l16m32", config, **kwargs)


@register(**IGCNETS, config=IGCConfig(32, 26), reference=_paper_count(24.1))
def IGCNet_L32M26(config, **kwargs):
    """IGC-L32M26, depth 20 (arXiv:1707.02725, the state-of-the-art comparison): 32 primary
    partitions of 26 channels, 832 in stage 1; the largest of the three, 24.1M parameters in
    the paper."""
    return build_igcnet("igcnet_l32m26", config, **kwargs)


@register(**IGCNETS, config=IGCConfig(450, 2), reference=_paper_count(19.3))
def IGCNet_L450M2(config, **kwargs):
    """IGC-L450M2, depth 20 (arXiv:1707.02725): 450 primary partitions of only 2 channels (900
    in stage 1), so the 3x3s are nearly channel-wise and the secondary 1x1 has two partitions
    of 450 channels; 19.3M parameters in the paper's table."""
    return build_igcnet("igcnet_l450m2", config, **kwargs)


# ---------------------------------------------------------------------------------------------
# clcNet
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CLCConfig:
    """Repeats ``(a, b, c, d)`` of the stride-1 CLC blocks in stages 1-4; widths and group
    sizes as the author's code (group size 2 in the 3x3, 2 groups in the 1x1)."""

    repeats: tuple
    widths: tuple = (64, 128, 256, 512, 1024)
    stem: int = 32
    group_size: int = 2  # channels per group of the interlaced 3x3
    pointwise_groups: int = 2


def clc_block(ctx, cfg, x, out_channels, name, strides=1, out_name=None):
    """3x3 interlaced group conv (groups of ``group_size``) -> BN -> interlace -> 1x1 group conv
    (``pointwise_groups``) -> BN -> ReLU (``clcBlock`` in the author's code)."""
    in_channels = int(x.shape[-1])
    groups = in_channels // cfg.group_size
    x = ctx.conv(x, in_channels, 3, name + "_igc_conv", strides=strides, groups=groups)
    x = ctx.norm(x, name + "_igc_bn")
    x = ChannelShuffle(groups, name=ctx.name(name + "_interlace"))(x)
    x = ctx.conv(x, out_channels, 1, name + "_gc_conv", groups=cfg.pointwise_groups)
    x = ctx.norm(x, name + "_gc_bn")
    return ctx.relu(x, out_name or name + "_relu")


def _clc_body(cfg):
    def body(ctx, x):
        x = ctx.conv_norm_act(x, cfg.stem, 3, "stem", strides=2)
        x = clc_block(ctx, cfg, x, cfg.widths[0], "stage1_block0", out_name="stage1_out")
        for stage, (width, repeat) in enumerate(zip(cfg.widths[1:], cfg.repeats), start=2):
            x = clc_block(ctx, cfg, x, width, f"stage{stage}_block1", strides=2,
                          out_name=None if repeat else f"stage{stage}_out")
            for block in range(2, repeat + 2):
                x = clc_block(ctx, cfg, x, width, f"stage{stage}_block{block}",
                              out_name=f"stage{stage}_out" if block == repeat + 1 else None)
        return x

    return body


def build_clcnet(model_name, cfg, *, drop_path_rate=0.0, **kwargs):
    """Builds a clcNet (arXiv:1712.06145): a 3x3/2 stem of ``cfg.stem``, CLC blocks of
    ``cfg.widths`` channels (the first of each stage strided, ``cfg.repeats`` more), global
    pooling and a linear classifier.

    Architecture options: ``drop_rate``, ``norm``, and ``drop_path_rate``, accepted for a
    uniform interface: clcNet has no residual branch, so only 0 is valid.
    """
    check_drop_path(drop_path_rate, False, "clcNet")
    return build_model(model_name, _clc_body(cfg), **kwargs)


def clc_tiny_config(cfg):
    """One stride-1 block in stages 1 and 3, none in 2 and 4, 1/8 of the widths."""
    return dataclasses.replace(cfg, repeats=(1, 0, 1, 0), widths=(8, 16, 32, 64, 128), stem=8)


#: name: ((a, b, c, d), trainable parameters counted from the author's models/clcnet.lua)
CLC_TABLE = {
    "CLCNet_A": ((1, 1, 5, 2), 3_253_640),
    "CLCNet_B": ((1, 1, 7, 3), 4_085_128),
}
#: what the clcNet registrations share. Their counts are the author's Torch model definition's
#: (models/clcnet.lua; BN scale and shift included, bias-free convolutions): the paper's text
#: gives none we could check.
CLCNETS = dict(family="igc", paper=CLC, stage_strides=(2, 4, 8, 16, 32), tiny=clc_tiny_config,
               generic_builder="build_clcnet",
               options={"drop_rate": 0.0, "drop_path_rate": 0.0, "norm": "batch"})
_LUA = "counted from models/clcnet.lua"


@register(**CLCNETS, config=CLCConfig((1, 1, 5, 2)), params=3_253_640,
          reference=measured("dqzhang17/clcnet.torch", "clcneta", note=_LUA))
def CLCNet_A(config, **kwargs):
    """clcNet-A (Zhang 2017, arXiv:1712.06145; layer configuration (a, b, c, d) = (1, 1, 5, 2)
    as the author's clcnet.torch): a 3x3/2 stem of 32, CLC blocks of 64 to 1024 channels;
    3,253,640 trainable parameters."""
    return build_clcnet("clcnet_a", config, **kwargs)


@register(**CLCNETS, config=CLCConfig((1, 1, 7, 3)), params=4_085_128,
          reference=measured("dqzhang17/clcnet.torch", "clcnetb", note=_LUA))
def CLCNet_B(config, **kwargs):
    """clcNet-B (Zhang 2017, arXiv:1712.06145): clcNet-A two blocks deeper at 512 channels and
    one at 1024, (a, b, c, d) = (1, 1, 7, 3); 4,085,128 trainable parameters."""
    return build_clcnet("clcnet_b", config, **kwargs)
