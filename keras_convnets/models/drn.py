"""Dilated Residual Networks: ResNets whose last stages trade striding for dilation.

Yu, Koltun, Funkhouser. "Dilated Residual Networks", CVPR 2017, arXiv:1705.09914. A ResNet
loses resolution to 1/32 of its input; a DRN stops at 1/8: the striding of the last two
groups is removed and their 3x3 convolutions are dilated (2 in the fourth group, 4 in the
fifth), so the receptive field is kept while the output map stays 28x28 at 224 -- the
classifier pools it globally, a dense-prediction head uses it directly (``include_top=False``).

- DRN-A (Section 2): a ResNet with only that change. The first block of each dilated group
  keeps the previous dilation (the paper's equations: 1 for the fourth group's first layer,
  then 2; 2 for the fifth group's first, then 4), which is torchvision's
  ``resnet50(replace_stride_with_dilation=[False, True, True])``: its weights port with equal
  logits. The authors' ``DRN_A`` code gives both first blocks dilation 1 (same parameters and
  FLOPs; params.tsv's ``drn_a_50`` row is counted on it).
- DRN-C (Section 4, degridding): the max-pooling after the stem is removed (its high
  frequencies cause gridding artifacts) and replaced by two residual levels at strides 1 and 2
  (16 and 32 channels); two more levels follow the dilated ones, dilation 2 then 1, as basic
  blocks *without* residual connections, so the gridding of the dilated levels is filtered
  out instead of carried through. Levels: 7x7 stem (stride 1) | 1: 16 | 2: 32, stride 2 |
  3: 64, stride 2 | 4: 128, stride 2 | 5: 256, dilation 2 | 6: 512, dilation 4 | 7: 512,
  dilation 2, no residual | 8: 512, dilation 1, no residual (bottleneck nets: levels 3-6 output
  256, 512, 1024, 2048). DRN-B (levels 7-8 residual) is the paper's intermediate step and is
  not named here.
- DRN-D (the authors' code, fyu/drn, "simplified DRN-C"): levels 1, 2, 7 and 8 are plain
  conv-BN-ReLU layers instead of blocks.

Levels 1-8 of the paper's architecture figure are the stages here: ``<model>_stage<N>_out``
for N = 1..8 at strides 1, 2, 4, 8, 8, 8, 8, 8 (DRN-A: stages 1-4 at 4, 8, 8, 8, after a
7x7/2 stem and a 3x3/2 max-pool). Blocks are
:class:`~keras_convnets.layers.dilated_residual.DilatedResidual`'s, built from plain layers
by :func:`dilated_residual_block` (``<block>_conv1``, ``_bn1``, ``_relu1``, ``_conv2``, ...,
``_shortcut_conv``, ``_shortcut_bn``, ``_add``, ``_out``), so that reference weights port
tensor by tensor and ``norm=`` applies; DRN-D's conv levels are ``stage<N>_conv<j>``,
``_bn<j>``, ``_relu<j>``. The classifier is global average pooling and a dense layer (the
authors' 28x28 average pool and 1x1 convolution at 224).

Counts. The registry's are params.tsv's rows of the authors' code (fyu/drn), equal to
pytorchcv's ``drnc26 .. drnd105`` but for DRN-C-58: the authors' code gives its first
degridding block (2048 -> 512 channels, no residual connection) a 1x1 projection + BN that it
computes and throws away, 1,049,600 parameters that pytorchcv (and the default build here)
leave out. ``unused_projection=True`` builds it (summed in at zero weight, so its weights and
FLOPs count as the authors' code's: params.tsv's 41,591,608); the default build has
40,542,008, pytorchcv's ``drnc58``, whose weights port.
"""

import dataclasses

from ..applications import build_model
from ..backend import keras
from ..layers.dilated_residual import BLOCKS, block_plan, check_block, needs_projection
from ..registry import Paper, Reference, register
from ..utils import check_bool, check_choice, check_positive_int

DRN = Paper("Dilated Residual Networks", 2017, "1705.09914")

VARIANTS = ("A", "C", "D")
#: DRN-C/D levels 1-8: the stride of the first block and the dilation of each level
LEVEL_STRIDES = (1, 2, 2, 2, 1, 1, 1, 1)
LEVEL_DILATIONS = (1, 1, 1, 1, 2, 4, 2, 1)
#: DRN-A stages 1-4 (after the 7x7/2 stem and the 3x3/2 max-pool)
A_STRIDES = (1, 2, 1, 1)
A_DILATIONS = (1, 1, 2, 4)


@dataclasses.dataclass(frozen=True)
class DRNConfig:
    """One DRN: the variant (``"A"``, ``"C"`` or ``"D"``), the blocks (or, in DRN-D's levels 1,
    2, 7, 8, conv layers) of each level, the block of the residual levels (DRN-A: all four
    stages; DRN-C/D: levels 3-6; DRN-C's levels 1-2 and 7-8 are always basic blocks), the
    output channels of each level and the stem's width."""

    variant: str
    depths: tuple
    block: str = "basic"
    channels: tuple = (16, 32, 64, 128, 256, 512, 512, 512)
    stem_channels: int = 16

    @property
    def levels(self):
        return 4 if self.variant == "A" else 8


def _check_config(cfg):
    check_choice("variant", cfg.variant, VARIANTS)
    check_choice("block", cfg.block, BLOCKS)
    levels = cfg.levels
    for field in ("depths", "channels"):
        values = getattr(cfg, field)
        if (not isinstance(values, tuple) or len(values) != levels
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                           for v in values)):
            raise ValueError(f"`{field}` of a DRN-{cfg.variant} must be {levels} positive "
                             f"integers (one per level); got {values!r}.")
    check_positive_int("stem_channels", cfg.stem_channels)


def dilated_residual_block(ctx, x, filters, name, block="basic", strides=1, dilation=1,
                           residual=True, out_name=None, unused_projection=False):
    """One :class:`~keras_convnets.layers.dilated_residual.DilatedResidual` block built from
    plain layers named ``<name>_conv1``, ``_bn1``, ``_relu1``, ..., ``_shortcut_conv``,
    ``_shortcut_bn``, ``_add`` and ``<out_name or name + "_out">`` (the final ReLU).

    ``unused_projection`` (a non-residual block whose channels change): the authors' DRN-C-58
    quirk, a projection + norm computed and discarded; here it is summed in at zero weight
    (``_unused_shortcut_zero``, ``_add``) so that it stays in the model and its count."""
    block, filters, strides, dilation, residual = check_block(block, filters, strides,
                                                              dilation, residual)
    in_channels = int(x.shape[-1])
    shortcut = x
    project = needs_projection(in_channels, filters, strides, residual)
    if project or (unused_projection and in_channels != filters):
        prefix = name + ("_shortcut" if project else "_unused_shortcut")
        shortcut = ctx.conv(x, filters, 1, prefix + "_conv", strides=strides)
        shortcut = ctx.norm(shortcut, prefix + "_bn")
    y = x
    for step in block_plan(block, filters, strides, dilation):
        y = ctx.conv(y, step.filters, step.kernel_size, f"{name}_conv{step.index}",
                     strides=step.strides, dilation_rate=step.dilation)
        y = ctx.norm(y, f"{name}_bn{step.index}")
        if step.relu:
            y = ctx.relu(y, f"{name}_relu{step.index}")
    if residual:
        y = ctx.add([y, shortcut], name + "_add")
    elif shortcut is not x:  # the unused projection, kept at zero weight
        zero = keras.layers.Rescaling(0.0, name=ctx.name(name + "_unused_shortcut_zero"))
        y = ctx.add([y, zero(shortcut)], name + "_add")
    return ctx.relu(y, out_name or name + "_out")


def _conv_level(ctx, x, channels, convs, strides, dilation, level):
    """DRN-D's levels 1, 2, 7, 8: ``convs`` 3x3 conv-BN-ReLU layers, the first strided."""
    for j in range(1, convs + 1):
        x = ctx.conv(x, channels, 3, f"stage{level}_conv{j}", strides=strides if j == 1 else 1,
                     dilation_rate=dilation)
        x = ctx.norm(x, f"stage{level}_bn{j}")
        x = ctx.relu(x, f"stage{level}_out" if j == convs else f"stage{level}_relu{j}")
    return x


def _residual_level(ctx, x, cfg, level, block, strides, dilations, residual=True,
                    unused_projection=False):
    """``depth`` blocks of one level; ``dilations``: the first block's, then the others'."""
    depth = cfg.depths[level - 1]
    for index in range(1, depth + 1):
        x = dilated_residual_block(
            ctx, x, cfg.channels[level - 1], f"stage{level}_block{index}", block=block,
            strides=strides if index == 1 else 1,
            dilation=dilations[0] if index == 1 else dilations[1], residual=residual,
            out_name=f"stage{level}_out" if index == depth else None,
            unused_projection=unused_projection and index == 1)
    return x


def build_drn(model_name, cfg, *, unused_projection=False, **kwargs):
    """Builds a Dilated Residual Network described by a :class:`DRNConfig`.

    ``unused_projection`` (DRN-C with bottleneck blocks only): build the authors' unused 1x1
    projection of the first degridding block (see the module docstring). Every other option
    (``norm``, ``drop_rate``, ...) goes to :func:`keras_convnets.applications.build_model`.
    """
    _check_config(cfg)
    unused_projection = check_bool("unused_projection", unused_projection)
    if unused_projection and not (cfg.variant == "C" and cfg.channels[5] != cfg.channels[6]):
        raise ValueError(
            f"`unused_projection`=True: only a DRN-C whose level 7 changes the channels "
            f"(DRN-C-58, {cfg.channels[5]} -> {cfg.channels[6]} here) has the authors' unused "
            f"projection; {model_name} (DRN-{cfg.variant}) has none.")

    def body_a(ctx, x):
        x = ctx.conv(x, cfg.stem_channels, 7, "stem_conv", strides=2)
        x = ctx.relu(ctx.norm(x, "stem_bn"), "stem_relu")
        x = ctx.max_pool(x, "stem_pool")
        previous = 1
        for level in range(1, 5):
            dilation = A_DILATIONS[level - 1]
            x = _residual_level(ctx, x, cfg, level, cfg.block, A_STRIDES[level - 1],
                                (previous, dilation))
            previous = dilation
        return x

    def body_cd(ctx, x):
        x = ctx.conv(x, cfg.stem_channels, 7, "stem_conv")
        x = ctx.relu(ctx.norm(x, "stem_bn"), "stem_relu")
        for level in range(1, 9):
            strides, dilation = LEVEL_STRIDES[level - 1], LEVEL_DILATIONS[level - 1]
            channels, depth = cfg.channels[level - 1], cfg.depths[level - 1]
            if 3 <= level <= 6:
                x = _residual_level(ctx, x, cfg, level, cfg.block, strides,
                                    (dilation, dilation))
            elif cfg.variant == "D":
                x = _conv_level(ctx, x, channels, depth, strides, dilation, level)
            else:  # DRN-C: basic blocks, residual in levels 1-2, degridding (none) in 7-8
                x = _residual_level(ctx, x, cfg, level, "basic", strides, (dilation, dilation),
                                    residual=level <= 2,
                                    unused_projection=unused_projection and level == 7)
        return x

    return build_model(model_name, body_a if cfg.variant == "A" else body_cd, **kwargs)


def tiny_config(cfg):
    """The same variant and blocks at 1/8 of the widths, one block (or conv layer) per level;
    DRN-A keeps two blocks in its dilated stages, so both dilations of each are built."""
    depths = (1, 1, 2, 2) if cfg.variant == "A" else (1,) * 8
    return dataclasses.replace(cfg, depths=depths,
                               channels=tuple(c // 8 for c in cfg.channels),
                               stem_channels=cfg.stem_channels // 8)


DRNS = dict(family="drn", paper=DRN, tiny=tiny_config, generic_builder="build_drn")
LEVELS_CD = dict(stage_strides=(1, 2, 4, 8, 8, 8, 8, 8))
BOTTLENECK_CHANNELS = (16, 32, 256, 512, 1024, 2048, 512, 512)
_OFFICIAL = "official(fyu/drn)"


@register(**DRNS, config=DRNConfig("A", (3, 4, 6, 3), "bottleneck", (256, 512, 1024, 2048), 64),
          stage_strides=(4, 8, 8, 8), params=25_557_032, flops=38_158_729_216,
          reference=Reference(_OFFICIAL, "drn_a_50"))
def DRN_A_50(config, **kwargs):
    """DRN-A-50 (Yu, Koltun, Funkhouser, "Dilated Residual Networks", 2017, arXiv:1705.09914,
    Section 2, Table 1): ResNet-50 with stages 3-4 (the paper's groups 4-5) at stride 8,
    dilated 2 and 4; 25,557,032 trainable parameters (ResNet-50's) and 38,158,729,216 FLOPs
    at 224 (the authors' ``drn_a_50``). torchvision's ``resnet50(replace_stride_with_dilation=
    [False, True, True])`` is the same network (weights port)."""
    return build_drn("drn_a_50", config, **kwargs)


@register(**DRNS, **LEVELS_CD, config=DRNConfig("C", (1, 1, 2, 2, 2, 2, 1, 1)),
          params=21_126_584, flops=33_942_478_848, reference=Reference(_OFFICIAL, "drn_c_26"))
def DRN_C_26(config, **kwargs):
    """DRN-C-26 (Yu, Koltun, Funkhouser, "Dilated Residual Networks", 2017, arXiv:1705.09914,
    Section 4, Table 1): basic blocks 1, 1, 2, 2, 2, 2 in levels 1-6, one non-residual basic
    block in each degridding level 7-8; 21,126,584 trainable parameters and 33,942,478,848
    FLOPs at 224 (the authors' ``drn_c_26``, pytorchcv's ``drnc26``)."""
    return build_drn("drn_c_26", config, **kwargs)


@register(**DRNS, **LEVELS_CD, config=DRNConfig("C", (1, 1, 3, 4, 6, 3, 1, 1)),
          params=31_234_744, flops=50_127_249_408, reference=Reference(_OFFICIAL, "drn_c_42"))
def DRN_C_42(config, **kwargs):
    """DRN-C-42 (Yu, Koltun, Funkhouser, "Dilated Residual Networks", 2017, arXiv:1705.09914,
    Section 4, Table 1): ResNet-34's 3, 4, 6, 3 basic blocks in levels 3-6; 31,234,744
    trainable parameters and 50,127,249,408 FLOPs at 224 (the authors' ``drn_c_42``,
    pytorchcv's ``drnc42``)."""
    return build_drn("drn_c_42", config, **kwargs)


@register(**DRNS, **LEVELS_CD,
          config=DRNConfig("C", (1, 1, 3, 4, 6, 3, 1, 1), "bottleneck", BOTTLENECK_CHANNELS),
          options={"unused_projection": False}, count_options={"unused_projection": True},
          params=41_591_608, flops=66_491_850_752, reference=Reference(_OFFICIAL, "drn_c_58"))
def DRN_C_58(config, **kwargs):
    """DRN-C-58 (Yu, Koltun, Funkhouser, "Dilated Residual Networks", 2017, arXiv:1705.09914,
    Section 4): ResNet-50's 3, 4, 6, 3 bottleneck blocks in levels 3-6. The registry's
    41,591,608 trainable parameters and 66,491,850,752 FLOPs at 224 are the authors'
    ``drn_c_58``, built with ``unused_projection=True``: their first degridding block computes
    a 1x1 projection (2048 -> 512) + BN and discards it. The default build leaves it out:
    40,542,008 parameters, pytorchcv's ``drnc58`` (whose weights port)."""
    return build_drn("drn_c_58", config, **kwargs)


@register(**DRNS, **LEVELS_CD, config=DRNConfig("D", (1, 1, 2, 2, 2, 2, 1, 1)),
          params=16_393_752, flops=26_068_459_520, reference=Reference(_OFFICIAL, "drn_d_22"))
def DRN_D_22(config, **kwargs):
    """DRN-D-22 (Yu, Koltun, Funkhouser, "Dilated Residual Networks", 2017, arXiv:1705.09914;
    DRN-D is the authors' simplified DRN-C, fyu/drn): one conv layer in levels 1, 2, 7 and 8,
    basic blocks 2, 2, 2, 2 in levels 3-6; 16,393,752 trainable parameters and
    26,068,459,520 FLOPs at 224 (the authors' ``drn_d_22``, pytorchcv's ``drnd22``)."""
    return build_drn("drn_d_22", config, **kwargs)


@register(**DRNS, **LEVELS_CD, config=DRNConfig("D", (1, 1, 3, 4, 6, 3, 1, 1)),
          params=26_501_912, flops=42_253_230_080, reference=Reference(_OFFICIAL, "drn_d_38"))
def DRN_D_38(config, **kwargs):
    """DRN-D-38 (Yu, Koltun, Funkhouser, "Dilated Residual Networks", 2017, arXiv:1705.09914;
    the authors' code, fyu/drn): basic blocks 3, 4, 6, 3 in levels 3-6; 26,501,912 trainable
    parameters and 42,253,230,080 FLOPs at 224 (``drn_d_38``, pytorchcv's ``drnd38``)."""
    return build_drn("drn_d_38", config, **kwargs)


@register(**DRNS, **LEVELS_CD,
          config=DRNConfig("D", (1, 1, 3, 4, 6, 3, 1, 1), "bottleneck", BOTTLENECK_CHANNELS),
          params=35_809_176, flops=56_973_664_256, reference=Reference(_OFFICIAL, "drn_d_54"))
def DRN_D_54(config, **kwargs):
    """DRN-D-54 (Yu, Koltun, Funkhouser, "Dilated Residual Networks", 2017, arXiv:1705.09914;
    the authors' code, fyu/drn): bottleneck blocks 3, 4, 6, 3 in levels 3-6; 35,809,176
    trainable parameters and 56,973,664,256 FLOPs at 224 (``drn_d_54``, pytorchcv's
    ``drnd54``)."""
    return build_drn("drn_d_54", config, **kwargs)


@register(**DRNS, **LEVELS_CD,
          config=DRNConfig("D", (1, 1, 3, 4, 23, 3, 1, 1), "bottleneck", BOTTLENECK_CHANNELS),
          params=54_801_304, flops=86_671_433_728, reference=Reference(_OFFICIAL, "drn_d_105"))
def DRN_D_105(config, **kwargs):
    """DRN-D-105 (Yu, Koltun, Funkhouser, "Dilated Residual Networks", 2017, arXiv:1705.09914;
    the authors' code, fyu/drn, whose Cityscapes segmentation model it is): ResNet-101's 3,
    4, 23, 3 bottleneck blocks in levels 3-6; 54,801,304 trainable parameters and
    86,671,433,728 FLOPs at 224 (``drn_d_105``, pytorchcv's ``drnd105``)."""
    return build_drn("drn_d_105", config, **kwargs)
