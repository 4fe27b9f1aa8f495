"""ShuffleNet v1 and v2: pointwise group convolutions, channel shuffle, depthwise 3x3.

- ShuffleNet v1: Zhang, Zhou, Lin, Sun. "ShuffleNet: An Extremely Efficient Convolutional
  Neural Network for Mobile Devices", 2017, arXiv:1707.01083. Table 1 (the layout, the
  stage-2 widths 144/200/240/272/384 for g = 1/2/3/4/8 and their complexities
  143/140/137/133/137 MFLOPs at 1x), Fig. 2 (the units), Sec. 4.1.1 ("ShuffleNet s x": every
  layer's filters scaled by s).
- ShuffleNet v2: Ma, Zhang, Zheng, Sun. "ShuffleNet V2: Practical Guidelines for Efficient
  CNN Architecture Design", 2018, arXiv:1807.11164. Table 5 (0.5x/1x/1.5x/2x widths, 41/146/
  299/591 MFLOPs), Fig. 3 (c) and (d) (the basic and down-sampling units).

Reference counts come from the authors' released code (megvii-model/ShuffleNet-Series) and
torchvision, both in ``params.tsv``. Where a layout choice differs between the paper, the
official code and torchvision, each builder's docstring says which one it follows and which
option selects the other. Both papers count complexity in MFLOPs meaning millions of
multiply-adds at 224 x 224; the models' docstrings do the same (the registry's ``flops`` are
twice that).
"""

import dataclasses

from ..applications import Head, build_model
from ..backend import keras
from ..layers import ChannelShuffle, ChannelSplit
from ..registry import Paper, Reference, no_reference, register
from ..utils import check_choice, check_positive_int, check_rate, make_divisible

SHUFFLENET_V1 = Paper(
    "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices", 2017,
    "1707.01083")
SHUFFLENET_V2 = Paper(
    "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", 2018,
    "1807.11164")

#: the behaviour tests' units per stage (a down-sampling unit in each, a basic one in two)
TINY_REPEATS = (2, 1, 2)


# ---------------------------------------------------------------------------------------------
# Shared plumbing
# ---------------------------------------------------------------------------------------------
def _stem(ctx, x, channels):
    """Conv1 (3x3/2) + BN + ReLU and the 3x3/2 max-pool: stage 1, stride 4."""
    x = ctx.conv_norm_act(x, channels, 3, "stem", strides=2)
    return ctx.max_pool(x, "stage1_out")


def _units(cfg, drop_path_rate):
    """``(stage, unit, width, drop-path rate, last)`` for every unit of Stages 2-4 in order
    (``unit`` counts from 1, the down-sampling unit; ``last``: the stage's last unit). The rate
    rises linearly from 0 at the first unit to ``drop_path_rate`` at the last."""
    total = sum(cfg.repeats)
    index = 0
    for stage, (repeat, width) in enumerate(zip(cfg.repeats, cfg.widths), start=2):
        for unit in range(1, repeat + 1):
            yield stage, unit, width, drop_path_rate * index / max(1, total - 1), unit == repeat
            index += 1


# ---------------------------------------------------------------------------------------------
# ShuffleNet v1
# ---------------------------------------------------------------------------------------------
V1_GROUPS = (1, 2, 3, 4, 8)
V1_SCALES = (0.25, 0.5, 1.0, 1.5, 2.0)
#: Table 1: the output channels of Stage 2 at 1x (Stage 3 and 4 double them).
V1_STAGE2_WIDTHS = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
#: Table 1's complexity (MFLOPs, i.e. million multiply-adds) at 1x.
V1_PAPER_MFLOPS = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}
V1_REPEATS = (4, 8, 4)


@dataclasses.dataclass(frozen=True)
class ShuffleNetV1Config:
    """One ShuffleNet v1 (make it with :func:`v1_config`): ``groups`` g, the ``scale`` s, the
    stage output channels and the stem width."""

    groups: int
    scale: float
    widths: tuple
    stem: int
    repeats: tuple = V1_REPEATS


def v1_stage2_width(groups, scale):
    """Table 1's Stage-2 width times ``scale``, rounded to a multiple of ``4 g``.

    Every unit's bottleneck is a quarter of its output and both its 1x1 convolutions are
    grouped, so the widths must be multiples of ``4 g``. They are at 1x and 2x, and for
    g = 1, 3, 8 at every scale; for g = 2 and 4 at 0.25x, 0.5x and 1.5x (50, 100, 300 and 68,
    136, 408) the width is rounded to the nearest multiple (MobileNet's ``make_divisible``:
    48, 104, 304 and 64, 144, 416) -- the paper does not say how it rounded.
    """
    return make_divisible(V1_STAGE2_WIDTHS[groups] * scale, 4 * groups)


def v1_stem_width(groups, scale):
    """The official code's Conv1 width: 24 up to 1.5x, 48 at 2x, ``24 s`` below 1x.

    Below 1x the width is rounded to a multiple of g, so that the first unit's main branch
    (``stage-2 width - stem``) splits into g groups: 12 for g = 3 and 16 for g = 8 at 0.5x,
    exactly the official code's.
    """
    if scale >= 2.0:
        return 48
    if scale >= 1.0:
        return 24
    return make_divisible(24 * scale, groups, min_value=groups)


def v1_config(groups, scale, stem_channels=None, repeats=V1_REPEATS):
    """ShuffleNet ``scale`` x with g = ``groups`` (Table 1); ``stem_channels`` None gives the
    official Conv1 width (:func:`v1_stem_width`)."""
    if groups not in V1_GROUPS:
        raise ValueError(
            f"ShuffleNet v1 `groups` must be one of {V1_GROUPS} (Table 1); got {groups!r}.")
    if scale not in V1_SCALES:
        raise ValueError(
            f"ShuffleNet v1 `scale` must be one of {V1_SCALES}; got {scale!r}.")
    width = v1_stage2_width(groups, scale)
    stem = v1_stem_width(groups, scale) if stem_channels is None else stem_channels
    check_positive_int("stem_channels", stem)
    if (width - stem) % groups:
        raise ValueError(
            f"`stem_channels`={stem}: the first unit's grouped convolution outputs {width} - "
            f"{stem} = {width - stem} channels, which `groups`={groups} does not divide.")
    return ShuffleNetV1Config(groups, scale, (width, 2 * width, 4 * width), stem, tuple(repeats))


def v1_tiny(cfg):
    """The same g, units, head and options at 0.25x, Conv1 8 (rounded to g), 2/1/2 units."""
    return v1_config(cfg.groups, 0.25, make_divisible(8, cfg.groups, min_value=cfg.groups),
                     TINY_REPEATS)


def _v1_unit(ctx, x, out_channels, groups, stride, first, name, drop_path_rate, out_name):
    """Fig. 2 (b) (stride 1: residual add) and (c) (stride 2: 3x3 avg-pool, concat)."""
    in_channels = int(x.shape[-1])
    mid = out_channels // 4
    branch_out = out_channels - in_channels if stride == 2 else out_channels
    # "we do not apply group convolution on the first pointwise layer [of Stage 2] because
    # the number of input channels is relatively small"
    y = ctx.conv_norm_act(x, mid, 1, name, groups=1 if first else groups, suffix="1")
    if groups > 1:
        y = ChannelShuffle(groups, name=ctx.name(name + "_shuffle"))(y)
    y = ctx.norm(ctx.depthwise_conv(y, 3, name + "_dwconv", strides=stride), name + "_dwbn")
    y = ctx.conv_norm_act(y, branch_out, 1, name, groups=groups, act=False, suffix="2")
    if stride == 2:
        shortcut = ctx.avg_pool_padded(x, name + "_pool", strides=2)
        y = ctx.relu(y, name + "_relu")
        return keras.layers.Concatenate(name=ctx.name(out_name or name + "_concat"))(
            [shortcut, y])
    y = ctx.drop_path(y, drop_path_rate, name + "_drop_path")
    return ctx.relu(ctx.add([x, y], name + "_add"), out_name or name + "_out")


def _v1_body(cfg, drop_path_rate):
    def body(ctx, x):
        x = _stem(ctx, x, cfg.stem)
        for stage, unit, width, rate, last in _units(cfg, drop_path_rate):
            x = _v1_unit(ctx, x, width, cfg.groups, 2 if unit == 1 else 1,
                         stage == 2 and unit == 1, f"stage{stage}_unit{unit}", rate,
                         f"stage{stage}_out" if last else None)
        return x

    return body


def build_shufflenet_v1(model_name, cfg, *, stem_channels=None, classifier_bias=False,
                        drop_path_rate=0.0, **kwargs):
    """Builds ShuffleNet v1 from a :class:`ShuffleNetV1Config` (arXiv:1707.01083, Table 1).

    Layout: the authors' released code (megvii-model/ShuffleNet-Series), which follows the
    paper -- Conv1 3x3/2 then a 3x3/2 max-pool, units of Fig. 2 (b)/(c) with bottlenecks a
    quarter of the output, ungrouped first 1x1 in Stage 2 -- and adds two choices the paper
    leaves open: a bias-free classifier (``classifier_bias=True`` for a biased one) and Conv1
    widths of 24 at 1x and 1.5x, 48 at 2x (the paper's scaling rule would give 36 at 1.5x:
    ``stem_channels=36``). The channel shuffle sits after the first group convolution, as in
    Fig. 2 (the official code shuffles after the depthwise 3x3 -- the same function up to a
    permutation of the depthwise filters). Stage ``N`` of the paper ends in the layer
    ``<name>_stage<N>_out``; stage 1 is Conv1 + max-pool.

    Architecture options:
        stem_channels: Conv1's width (default: the configuration's, the official code's; see
            :func:`v1_stem_width`).
        classifier_bias: the official code's classifier has no bias (False); True gives the
            usual biased FC (pytorchcv's port, +classes parameters).
        drop_path_rate: stochastic depth on the residual branches of the stride-1 units.
        drop_rate: dropout before the classifier.
    """
    if stem_channels is not None:
        cfg = v1_config(cfg.groups, cfg.scale, stem_channels, cfg.repeats)
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    return build_model(model_name, _v1_body(cfg, drop_path_rate),
                       head=Head(bias=bool(classifier_bias)), **kwargs)


V1_OPTIONS = {"stem_channels": None, "classifier_bias": False, "drop_rate": 0.0,
              "drop_path_rate": 0.0, "norm": "batch"}
#: what every ShuffleNet v1 registration shares
V1 = dict(family="shufflenet", paper=SHUFFLENET_V1, tiny=v1_tiny, options=V1_OPTIONS,
          generic_builder="build_shufflenet_v1")
_NO_COUNT = no_reference("no reference implementation or paper count")


def _table1_checked(groups):
    """A 1x model the official code lacks: Table 1's complexity is checked instead."""
    return no_reference(f"no reference implementation (the official code has g = 3 and 8 "
                        f"only); Table 1's {V1_PAPER_MFLOPS[groups]} MFLOPs checked")


# g = 1: no group convolution, so no channel shuffle either (Table 1's first column).
@register(**V1, config=v1_config(1, 0.25), reference=_NO_COUNT)
def ShuffleNetV1_g1_0_25x(config, **kwargs):
    """ShuffleNet 0.25x, g = 1 (Zhang et al. 2017, arXiv:1707.01083, Table 1 x 0.25): Stages 2-4
    of 36/72/144 channels, Conv1 6; 11.0 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g1_0_25x", config, **kwargs)


@register(**V1, config=v1_config(1, 0.5), reference=_NO_COUNT)
def ShuffleNetV1_g1_0_5x(config, **kwargs):
    """ShuffleNet 0.5x without groups (g = 1; arXiv:1707.01083, Table 1 halved): 72/144/288
    output channels, Conv1 12, 38.5 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g1_0_5x", config, **kwargs)


@register(**V1, config=v1_config(1, 1.0), reference=_table1_checked(1))
def ShuffleNetV1_g1_1x(config, **kwargs):
    """ShuffleNet 1x, g = 1: Table 1's first column (Zhang et al. 2017, arXiv:1707.01083) --
    144/288/576 channels, Conv1 24, the paper's 143 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g1_1x", config, **kwargs)


@register(**V1, config=v1_config(1, 1.5), reference=_NO_COUNT)
def ShuffleNetV1_g1_1_5x(config, **kwargs):
    """ShuffleNet 1.5x, g = 1 (arXiv:1707.01083, Table 1 x 1.5): 216/432/864 channels and the
    official 1.5x Conv1 of 24; 308.1 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g1_1_5x", config, **kwargs)


@register(**V1, config=v1_config(1, 2.0), reference=_NO_COUNT)
def ShuffleNetV1_g1_2x(config, **kwargs):
    """ShuffleNet 2x with plain 1x1 convolutions (g = 1, arXiv:1707.01083, Table 1 doubled):
    288/576/1152 channels after a 48-wide Conv1, 550.3 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g1_2x", config, **kwargs)


# g = 2 and 4: Table 1 x s is not a multiple of 4g at 0.25x, 0.5x and 1.5x (v1_stage2_width).
@register(**V1, config=v1_config(2, 0.25), reference=_NO_COUNT)
def ShuffleNetV1_g2_0_25x(config, **kwargs):
    """ShuffleNet 0.25x, g = 2 (arXiv:1707.01083, Table 1): Stage 2's 200 x 0.25 = 50 rounded to
    48 (a multiple of 8), so 48/96/192; Conv1 6; 10.4 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g2_0_25x", config, **kwargs)


@register(**V1, config=v1_config(2, 0.5), reference=_NO_COUNT)
def ShuffleNetV1_g2_0_5x(config, **kwargs):
    """Two-group ShuffleNet 0.5x (arXiv:1707.01083): 104/208/416, Table 1's 100 rounded up to a
    multiple of 8; Conv1 12; 40.9 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g2_0_5x", config, **kwargs)


@register(**V1, config=v1_config(2, 1.0), reference=_table1_checked(2))
def ShuffleNetV1_g2_1x(config, **kwargs):
    """ShuffleNet 1x, g = 2 (Zhang et al. 2017, arXiv:1707.01083), Table 1 as printed: 200/400/800
    channels, 140 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g2_1x", config, **kwargs)


@register(**V1, config=v1_config(2, 1.5), reference=_NO_COUNT)
def ShuffleNetV1_g2_1_5x(config, **kwargs):
    """ShuffleNet 1.5x in two groups (arXiv:1707.01083, Table 1): 300 rounded to 304, so
    304/608/1216 channels; 309.0 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g2_1_5x", config, **kwargs)


@register(**V1, config=v1_config(2, 2.0), reference=_NO_COUNT)
def ShuffleNetV1_g2_2x(config, **kwargs):
    """ShuffleNet 2x, g = 2 (arXiv:1707.01083, Table 1 x 2, no rounding needed): 400/800/1600,
    Conv1 48, 539.1 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g2_2x", config, **kwargs)


# g = 3: the official code's g = 3 models are the reference for four of the five scales.
@register(**V1, config=v1_config(3, 0.25), reference=_NO_COUNT)
def ShuffleNetV1_g3_0_25x(config, **kwargs):
    """ShuffleNet 0.25x, g = 3 (arXiv:1707.01083, Table 1 x 0.25): 60/120/240 and Conv1 6, 11.0
    MFLOPs; the official code has no 0.25x model."""
    return build_shufflenet_v1("shufflenetv1_g3_0_25x", config, **kwargs)


@register(**V1, config=v1_config(3, 0.5), params=717_324, flops=75_179_712,
          reference=Reference("official(megvii)", "ShuffleNetV1(model_size=0.5x,group=3)"))
def ShuffleNetV1_g3_0_5x(config, **kwargs):
    """ShuffleNet 0.5x, g = 3 (arXiv:1707.01083, Table 1 halved): 120/240/480, Conv1 12; the
    official 0.5x model, 37.6 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g3_0_5x", config, **kwargs)


@register(**V1, config=v1_config(3, 1.0), params=1_864_728, flops=274_921_344,
          reference=Reference("official(megvii)", "ShuffleNetV1(model_size=1.0x,group=3)"))
def ShuffleNetV1_g3_1x(config, **kwargs):
    """ShuffleNet 1x, g = 3 (Zhang et al. 2017, arXiv:1707.01083, Table 1): 240/480/960 channels,
    Conv1 24; Table 1's 137 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g3_1x", config, **kwargs)


@register(**V1, config=v1_config(3, 1.5), params=3_441_168, flops=584_887_104,
          reference=Reference("official(megvii)", "ShuffleNetV1(model_size=1.5x,group=3)"))
def ShuffleNetV1_g3_1_5x(config, **kwargs):
    """ShuffleNet 1.5x, g = 3 (arXiv:1707.01083, Sec. 4.1.1): 360/720/1440 after the official
    Conv1 of 24 (``stem_channels=36`` scales it too), 292.4 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g3_1_5x", config, **kwargs)


@register(**V1, config=v1_config(3, 2.0), params=5_449_776, flops=1_048_090_368,
          reference=Reference("official(megvii)", "ShuffleNetV1(model_size=2.0x,group=3)"))
def ShuffleNetV1_g3_2x(config, **kwargs):
    """ShuffleNet 2x, g = 3 (arXiv:1707.01083, Table 1 x 2): 480/960/1920, Conv1 48 as the
    official 2.0x model's, 524.0 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g3_2x", config, **kwargs)


@register(**V1, config=v1_config(4, 0.25), reference=_NO_COUNT)
def ShuffleNetV1_g4_0_25x(config, **kwargs):
    """ShuffleNet 0.25x, g = 4 (arXiv:1707.01083, Table 1): 272 / 4 = 68 rounds to 64, a
    multiple of 16: 64/128/256, Conv1 8 (6 rounded up to g), 10.8 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g4_0_25x", config, **kwargs)


@register(**V1, config=v1_config(4, 0.5), reference=_NO_COUNT)
def ShuffleNetV1_g4_0_5x(config, **kwargs):
    """Four-group ShuffleNet 0.5x (arXiv:1707.01083): Table 1's 136 rounded to 144, so
    144/288/576; 40.7 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g4_0_5x", config, **kwargs)


@register(**V1, config=v1_config(4, 1.0), reference=_table1_checked(4))
def ShuffleNetV1_g4_1x(config, **kwargs):
    """ShuffleNet 1x, g = 4, Table 1 of Zhang et al. 2017 (arXiv:1707.01083): 272/544/1088,
    the column's 133 MFLOPs -- the cheapest of the five 1x models."""
    return build_shufflenet_v1("shufflenetv1_g4_1x", config, **kwargs)


@register(**V1, config=v1_config(4, 1.5), reference=_NO_COUNT)
def ShuffleNetV1_g4_1_5x(config, **kwargs):
    """ShuffleNet 1.5x with 4 groups (arXiv:1707.01083): Table 1's 408 is no multiple of 16;
    416 instead: 416/832/1664, 295.1 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g4_1_5x", config, **kwargs)


@register(**V1, config=v1_config(4, 2.0), reference=_NO_COUNT)
def ShuffleNetV1_g4_2x(config, **kwargs):
    """ShuffleNet 2x, g = 4: twice Table 1's widths, 544/1088/2176 (arXiv:1707.01083); 510.3
    MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g4_2x", config, **kwargs)


# g = 8: the widest column of Table 1; the official code has its 1x model.
@register(**V1, config=v1_config(8, 0.25), reference=_NO_COUNT)
def ShuffleNetV1_g8_0_25x(config, **kwargs):
    """ShuffleNet 0.25x, g = 8 (arXiv:1707.01083, Table 1 / 4): 96/192/384 channels in Stages
    2-4, Conv1 8 (6 rounded up to g), 12.4 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g8_0_25x", config, **kwargs)


@register(**V1, config=v1_config(8, 0.5), reference=_NO_COUNT)
def ShuffleNetV1_g8_0_5x(config, **kwargs):
    """Eight-group ShuffleNet 0.5x (arXiv:1707.01083, Table 1): 192/384/768, Conv1 16 (a multiple
    of 8, as the official code's); 40.5 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g8_0_5x", config, **kwargs)


@register(**V1, config=v1_config(8, 1.0), params=2_433_768, flops=276_731_904,
          reference=Reference("official(megvii)", "ShuffleNetV1(model_size=1.0x,group=8)"))
def ShuffleNetV1_g8_1x(config, **kwargs):
    """ShuffleNet 1x, g = 8 (Zhang et al. 2017, arXiv:1707.01083, Table 1's last column):
    384/768/1536, 137 MFLOPs in the paper."""
    return build_shufflenet_v1("shufflenetv1_g8_1x", config, **kwargs)


@register(**V1, config=v1_config(8, 1.5), reference=_NO_COUNT)
def ShuffleNetV1_g8_1_5x(config, **kwargs):
    """ShuffleNet 1.5x, g = 8 (arXiv:1707.01083, Table 1 x 1.5): 576/1152/2304 channels with
    eight groups in every 1x1 but Stage 2's first; 290.2 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g8_1_5x", config, **kwargs)


@register(**V1, config=v1_config(8, 2.0), reference=_NO_COUNT)
def ShuffleNetV1_g8_2x(config, **kwargs):
    """The widest ShuffleNet v1: 2x, g = 8 (arXiv:1707.01083, Table 1 x 2), 768/1536/3072 and a
    48-wide Conv1; 521.9 MFLOPs."""
    return build_shufflenet_v1("shufflenetv1_g8_2x", config, **kwargs)


# ---------------------------------------------------------------------------------------------
# ShuffleNet v2
# ---------------------------------------------------------------------------------------------
V2_LAYOUTS = ("official", "torchvision")
V2_REPEATS = (4, 8, 4)
#: Table 5's complexities (MFLOPs: million multiply-adds).
V2_PAPER_MFLOPS = {"shufflenetv2_0_5x": 41, "shufflenetv2_1x": 146, "shufflenetv2_1_5x": 299,
                   "shufflenetv2_2x": 591}
#: name -> (torchvision trainable params, FLOPs), for the ``layout="torchvision"`` option.
V2_TORCHVISION = {
    "shufflenetv2_0_5x": (1_366_792, 80_952_896), "shufflenetv2_1x": (2_278_604, 289_815_984),
    "shufflenetv2_1_5x": (3_503_624, 591_518_784), "shufflenetv2_2x": (7_393_996, 1_166_506_928),
}


@dataclasses.dataclass(frozen=True)
class ShuffleNetV2Config:
    """Table 5: Conv1 width, Stage 2-4 output channels, Conv5 width."""

    widths: tuple
    conv5: int = 1024
    stem: int = 24
    repeats: tuple = V2_REPEATS
    drop_rate: float = 0.0  # the official 2.0x model's dropout before the classifier


def v2_tiny(cfg):
    """The same units, head and options: 1/4 of the widths (kept even), Conv1 8, Conv5 64."""
    return dataclasses.replace(cfg, widths=tuple(w // 8 * 2 for w in cfg.widths), conv5=64,
                               stem=8, repeats=TINY_REPEATS)


def _v2_unit(ctx, layout, x, out_channels, stride, name, drop_path_rate, out_name):
    """Fig. 3 (c) basic unit (stride 1) and (d) down-sampling unit (stride 2)."""
    in_channels = int(x.shape[-1])
    mid = out_channels // 2
    if stride == 1:
        shortcut, x = ChannelSplit(2, name=ctx.name(name + "_split"))(x)
        main_out = out_channels - in_channels // 2
    else:
        # official: the left branch keeps C_in and the right one makes C_out - C_in;
        # torchvision: both branches make C_out / 2 (they differ in Stage 2 only).
        proj_out = in_channels if layout == "official" else out_channels // 2
        main_out = out_channels - proj_out
        shortcut = ctx.norm(ctx.depthwise_conv(x, 3, name + "_proj_dwconv", strides=2),
                            name + "_proj_dwbn")
        shortcut = ctx.conv_norm_act(shortcut, proj_out, 1, name + "_proj")
    y = ctx.conv_norm_act(x, mid, 1, name, suffix="1")
    y = ctx.norm(ctx.depthwise_conv(y, 3, name + "_dwconv", strides=stride), name + "_dwbn")
    y = ctx.conv_norm_act(y, main_out, 1, name, suffix="2")
    if stride == 1:
        y = ctx.drop_path(y, drop_path_rate, name + "_drop_path")
    y = keras.layers.Concatenate(name=ctx.name(name + "_concat"))([shortcut, y])
    return ChannelShuffle(2, name=ctx.name(out_name or name + "_shuffle"))(y)


def _v2_body(cfg, layout, drop_path_rate):
    def body(ctx, x):
        x = _stem(ctx, x, cfg.stem)
        for stage, unit, width, rate, last in _units(cfg, drop_path_rate):
            x = _v2_unit(ctx, layout, x, width, 2 if unit == 1 else 1,
                         f"stage{stage}_unit{unit}", rate,
                         f"stage{stage}_out" if last and stage < 4 else None)
        # Conv5 closes the last stage: its output is the feature map the classifier pools.
        x = ctx.norm(ctx.conv(x, cfg.conv5, 1, "conv5_conv"), "conv5_bn")
        return ctx.relu(x, "stage4_out")

    return body


def build_shufflenet_v2(model_name, cfg, *, layout="official", classifier_bias=None,
                        drop_rate=None, drop_path_rate=0.0, **kwargs):
    """Builds ShuffleNet v2 from a Table 5 configuration (arXiv:1807.11164).

    Layout: the authors' released code (megvii-model/ShuffleNet-Series), the default because
    it is the one whose complexity is the paper's (Table 5: 41/146/299/591 MFLOPs;
    torchvision's port has 145/296/583 at 1x/1.5x/2x). The two differ in the first
    down-sampling unit: the official left branch keeps its 24 input channels and the right one
    makes the rest (C - 24), torchvision's branches make C/2 each; and the official
    classifier has no bias. ``layout="torchvision"`` builds torchvision's
    ``shufflenet_v2_x*`` exactly: its weights port into it with equal logits
    (``keras-convnets port`` applies the option; ``tests/test_port.py`` checks the parity).
    Both shuffle as Fig. 3 does, after the concatenation (the official code's even/odd split at
    the next unit is the same permutation). The official 2.0x model has dropout 0.2 before the
    classifier (``drop_rate`` overrides). Stage 1 is Conv1 + max-pool; stage 4 ends after
    Conv5 (1x1, BN, ReLU).

    Architecture options:
        layout: ``"official"`` (the authors' code; default) or ``"torchvision"``: how the
            first down-sampling unit splits its output between the branches.
        classifier_bias: default False for the official layout (its classifier has no bias),
            True for torchvision's.
        drop_rate: dropout before the classifier (default: 0.2 for the official 2.0x, as its
            code; otherwise 0).
        drop_path_rate: stochastic depth on the main (convolution) branch of the stride-1
            units, rising linearly over the units as in v1; 0 (none) by default.
    """
    layout = check_choice("layout", layout, V2_LAYOUTS)
    if classifier_bias is None:
        classifier_bias = layout == "torchvision"
    if drop_rate is None:
        drop_rate = cfg.drop_rate if layout == "official" else 0.0
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    return build_model(model_name, _v2_body(cfg, layout, drop_path_rate), drop_rate=drop_rate,
                       head=Head(bias=bool(classifier_bias)), **kwargs)


V2_OPTIONS = {"layout": "official", "classifier_bias": None, "drop_rate": None,
              "drop_path_rate": 0.0, "norm": "batch"}
#: what every ShuffleNet v2 registration shares
V2 = dict(family="shufflenet", paper=SHUFFLENET_V2, tiny=v2_tiny, options=V2_OPTIONS,
          generic_builder="build_shufflenet_v2")
_TV = "layout='torchvision' gives torchvision's count"


@register(**V2, config=ShuffleNetV2Config((48, 96, 192)), params=1_365_792, flops=80_952_896,
          reference=Reference("official(megvii)", "ShuffleNetV2(model_size=0.5x)", note=_TV))
def ShuffleNetV2_0_5x(config, **kwargs):
    """ShuffleNet V2 0.5x (Ma et al. 2018, arXiv:1807.11164, Table 5): 48/96/192, 41 MFLOPs.
    Weights: torchvision's shufflenet_v2_x0_5 (1,366,792 parameters), ``layout="torchvision"``."""
    return build_shufflenet_v2("shufflenetv2_0_5x", config, **kwargs)


@register(**V2, config=ShuffleNetV2Config((116, 232, 464)), params=2_278_760, flops=291_628_592,
          reference=Reference("official(megvii)", "ShuffleNetV2(model_size=1.0x)", note=_TV))
def ShuffleNetV2_1x(config, **kwargs):
    """ShuffleNet V2 1x, Table 5 of arXiv:1807.11164 (Ma et al. 2018): 146 MFLOPs. Ported from
    torchvision:shufflenet_v2_x1_0 into ``layout="torchvision"`` (145 MFLOPs there)."""
    return build_shufflenet_v2("shufflenetv2_1x", config, **kwargs)


@register(**V2, config=ShuffleNetV2Config((176, 352, 704)), params=3_506_720, flops=597_941_312,
          reference=Reference("official(megvii)", "ShuffleNetV2(model_size=1.5x)", note=_TV))
def ShuffleNetV2_1_5x(config, **kwargs):
    """ShuffleNet V2 1.5x (arXiv:1807.11164, Table 5): 299 MFLOPs; its torchvision weights
    (shufflenet_v2_x1_5) need ``layout="torchvision"``, 3,503,624 parameters and 296 MFLOPs."""
    return build_shufflenet_v2("shufflenetv2_1_5x", config, **kwargs)


@register(**V2, config=ShuffleNetV2Config((244, 488, 976), conv5=2048, drop_rate=0.2),
          params=7_402_600, flops=1_181_566_000,
          reference=Reference("official(megvii)", "ShuffleNetV2(model_size=2.0x)", note=_TV))
def ShuffleNetV2_2x(config, **kwargs):
    """ShuffleNet V2 2x (Ma et al. 2018, arXiv:1807.11164, Table 5): Conv5 2048, dropout 0.2,
    591 MFLOPs. torchvision's shufflenet_v2_x2_0 weights port into ``layout="torchvision"``."""
    return build_shufflenet_v2("shufflenetv2_2x", config, **kwargs)
