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
from ..registry import Paper, register
from ..utils import check_groups, check_positive_int, check_rate

IGC = Paper("Interleaved Group Convolutions for Deep Neural Networks", 2017, "1707.02725")
CLC = Paper("clcNet: Improving the Efficiency of Convolutional Neural Network using Channel "
            "Local Convolutions", 2017, "1712.06145")
CIFAR = dict(default_size=32, min_size=8, stage_strides=(1, 2, 4), default_classes=10)


# ---------------------------------------------------------------------------------------------
# IGCNet
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class IGCConfig:
    """``L`` primary and ``M`` secondary partitions at the first stage; ``depth`` layers."""

    primary: int
    secondary: int
    depth: int = 20

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
            one ``(depth - 2) / 6`` units of two.
        residual: the authors' ``resnet_igc`` layout instead of ``plain_igc``.
        drop_path_rate: stochastic depth on the residual units (``residual=True`` only).
    """
    depth = cfg.depth if depth is None else check_positive_int("depth", depth)
    step = 6 if residual else 3
    if depth < step + 2 or (depth - 2) % step:
        raise ValueError(
            f"`depth` must be {step} n + 2 (n >= 1) for a {'residual' if residual else 'plain'} "
            f"IGCNet; got {depth}.")
    cfg = dataclasses.replace(cfg, depth=depth)
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    if residual:
        body = _igc_residual_body(cfg, drop_path_rate)
    else:
        if drop_path_rate:
            raise ValueError("`drop_path_rate` applies to residual IGCNets (residual=True) only.")
        body = _igc_plain_body(cfg)
    return build_model(model_name, body, **kwargs)


IGC_OPTIONS = {"depth": None, "residual": False, "drop_rate": 0.0, "drop_path_rate": 0.0,
               "norm": "batch"}
#: The state-of-the-art comparison of arXiv:1707.02725 (CIFAR-10/100, SVHN): depth-20 IGCNets
#: and their "#Params" column, in millions.
IGC_TABLE = {
    "IGCNet_L16M32": (16, 32, 17.7),
    "IGCNet_L32M26": (32, 26, 24.1),
    "IGCNet_L450M2": (450, 2, 19.3),
}
_IGC_DOC = """

    Parameters: the paper's #Params column is reproduced, to its 0.1M, by the convolution
    and classifier weights at 100 classes (CIFAR-100; BatchNorm's scale and shift not
    counted) -- see ``tests/test_lightweight_tables.py``; with 10 classes and BN this model
    has a little less. No reference implementation exists outside the authors' MXNet code.

    Takes the ``keras.applications`` arguments and ``depth``, ``residual``, ``drop_rate``,
    ``drop_path_rate``, ``norm`` (see :func:`build_igcnet`).
    """

for _name, (_l, _m, _paper) in IGC_TABLE.items():
    def _make_igc(func_name, cfg, paper_count):
        model_name = func_name.lower()

        def builder(**kwargs):
            return build_igcnet(model_name, cfg, **kwargs)

        builder.__name__ = builder.__qualname__ = func_name
        builder.__doc__ = (
            f"IGC-L{cfg.primary}M{cfg.secondary}, depth {cfg.depth} (Zhang et al. 2017, "
            f"arXiv:1707.02725, comparison with the state of the art on CIFAR/SVHN): "
            f"{cfg.primary} primary partitions, {cfg.secondary} secondary partitions at "
            f"{cfg.channels} channels in stage 1; {paper_count}M parameters in the paper."
            + _IGC_DOC)
        registered = register(
            family="igc", paper=IGC, options=IGC_OPTIONS,
            reference=f"no reference implementation; the paper's {paper_count}M (conv + fc "
                      f"weights at 100 classes) is checked", **CIFAR)(builder)
        registered.config = cfg
        # Same blocks, head and options: L = 2, M = 2 (4/8/16 channels), one block (plain) or
        # one unit of two blocks (residual) per stage.
        registered.tiny = lambda **kwargs: build_igcnet(
            model_name, IGCConfig(2, 2, depth=5 if not kwargs.get("residual") else 8),
            **kwargs)
        return registered

    globals()[_name] = _make_igc(_name, IGCConfig(_l, _m), _paper)


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


def build_clcnet(model_name, cfg, **kwargs):
    """Builds a clcNet (arXiv:1712.06145); options: ``drop_rate``, ``norm``."""
    return build_model(model_name, _clc_body(cfg), **kwargs)


CLC_OPTIONS = {"drop_rate": 0.0, "norm": "batch"}
#: name: ((a, b, c, d), trainable parameters counted from the author's models/clcnet.lua)
CLC_TABLE = {
    "CLCNet_A": ((1, 1, 5, 2), 3_253_640),
    "CLCNet_B": ((1, 1, 7, 3), 4_085_128),
}

for _name, (_repeats, _params) in CLC_TABLE.items():
    def _make_clc(func_name, cfg, params):
        model_name = func_name.lower()

        def builder(**kwargs):
            return build_clcnet(model_name, cfg, **kwargs)

        builder.__name__ = builder.__qualname__ = func_name
        builder.__doc__ = (
            f"clcNet-{func_name[-1]} (Zhang 2017, arXiv:1712.06145; layer configuration "
            f"(a, b, c, d) = {cfg.repeats} as the author's clcnet.torch): a 3x3/2 stem of 32, "
            f"CLC blocks of 64, 128, 256, 512, 1024 channels (the first of each stage strided), "
            f"global pooling, a linear classifier. Trainable parameters: {params:,}, counted "
            f"from the author's Torch model definition (models/clcnet.lua; BN scale and shift "
            f"included, bias-free convolutions) -- no count is given in the paper's text that "
            f"we could check.\n\n    Takes the ``keras.applications`` arguments and "
            f"``drop_rate``, ``norm``.")
        registered = register(
            family="igc", paper=CLC, options=CLC_OPTIONS, stage_strides=(2, 4, 8, 16, 32),
            params=params,
            reference=f"dqzhang17/clcnet.torch clcnet{func_name[-1].lower()} (counted from "
                      f"models/clcnet.lua; not in params.tsv)")(builder)
        registered.config = cfg
        tiny_cfg = dataclasses.replace(cfg, repeats=(1, 0, 1, 0), widths=(8, 16, 32, 64, 128),
                                       stem=8)
        registered.tiny = lambda **kwargs: build_clcnet(model_name, tiny_cfg, **kwargs)
        return registered

    globals()[_name] = _make_clc(_name, CLCConfig(_repeats), _params)

del _name, _l, _m, _paper, _repeats, _params
