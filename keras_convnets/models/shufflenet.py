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
option selects the other.
"""

import dataclasses

from ..applications import build_model
from ..backend import keras
from ..layers import ChannelShuffle, ChannelSplit
from ..registry import Paper, get_spec, register
from ..utils import check_choice, check_positive_int, check_rate, make_divisible

SHUFFLENET_V1 = Paper(
    "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices", 2017,
    "1707.01083")
SHUFFLENET_V2 = Paper(
    "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", 2018,
    "1807.11164")

DEPTHWISE_INITIALIZER = {"class_name": "VarianceScaling",
                         "config": {"scale": 2.0, "mode": "fan_out",
                                    "distribution": "truncated_normal"}}


# ---------------------------------------------------------------------------------------------
# Shared plumbing
# ---------------------------------------------------------------------------------------------
def depthwise(ctx, x, name, strides=1, kernel_size=3):
    """A bias-free depthwise convolution padded like PyTorch's ``padding=k // 2``."""
    pad = (kernel_size - 1) // 2
    padding = "same"
    if strides > 1 and pad:
        x = keras.layers.ZeroPadding2D(pad, name=ctx.name(name + "_pad"))(x)
        padding = "valid"
    return keras.layers.DepthwiseConv2D(
        kernel_size, strides=strides, padding=padding, use_bias=False,
        depthwise_initializer=DEPTHWISE_INITIALIZER, name=ctx.name(name))(x)


def build_with_classifier(model_name, body, *, classifier_bias=True, include_top=True,
                          input_tensor=None, input_shape=None, pooling=None, classes=1000,
                          classifier_activation="softmax", drop_rate=0.0, **kwargs):
    """:func:`build_model`, with a bias-free classifier when ``classifier_bias`` is False.

    The authors' ShuffleNet code ends in ``nn.Linear(channels, classes, bias=False)``; the
    head is then built here, with the same names and checks as :func:`build_model`'s.
    """
    if classifier_bias or not include_top:
        return build_model(model_name, body, include_top=include_top, input_tensor=input_tensor,
                           input_shape=input_shape, pooling=pooling, classes=classes,
                           classifier_activation=classifier_activation, drop_rate=drop_rate,
                           **kwargs)
    if pooling is not None:
        raise ValueError(
            f"`pooling`={pooling!r} applies only with include_top=False; the classification "
            f"head already pools globally.")
    check_positive_int("classes", classes)
    try:
        keras.activations.get(classifier_activation)
    except (ValueError, TypeError):
        raise ValueError(
            f"`classifier_activation` must be None or a Keras activation; got "
            f"{classifier_activation!r}.") from None
    drop_rate = check_rate("drop_rate", drop_rate)
    if input_shape is None and input_tensor is None:
        size = get_spec(model_name).default_size
        input_shape = (size, size, 3)

    def body_and_head(ctx, x):
        x = body(ctx, x)
        x = keras.layers.GlobalAveragePooling2D(name=ctx.name("avg_pool"))(x)
        if drop_rate:
            x = keras.layers.Dropout(drop_rate, name=ctx.name("head_dropout"))(x)
        x = keras.layers.Dense(classes, use_bias=False, name=ctx.name("logits"))(x)
        return keras.layers.Activation(classifier_activation, dtype="float32",
                                       name=ctx.name("predictions"))(x)

    return build_model(model_name, body_and_head, include_top=False, input_tensor=input_tensor,
                       input_shape=input_shape, pooling=None, **kwargs)


def _stem(ctx, x, channels):
    """Conv1 (3x3/2) + BN + ReLU and the 3x3/2 max-pool: stage 1, stride 4."""
    x = ctx.conv_norm_act(x, channels, 3, "stem", strides=2)
    return ctx.max_pool(x, "stage1_out")


# ---------------------------------------------------------------------------------------------
# ShuffleNet v1
# ---------------------------------------------------------------------------------------------
V1_GROUPS = (1, 2, 3, 4, 8)
V1_SCALES = (0.25, 0.5, 1.0, 1.5, 2.0)
#: Table 1: the output channels of Stage 2 at 1x (Stage 3 and 4 double them).
V1_STAGE2_WIDTHS = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
V1_REPEATS = (4, 8, 4)


@dataclasses.dataclass(frozen=True)
class ShuffleNetV1Config:
    """One ShuffleNet v1: ``groups`` g, the stage output channels and the stem width."""

    groups: int
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
    return ShuffleNetV1Config(groups, (width, 2 * width, 4 * width), stem, tuple(repeats))


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
    y = ctx.norm(depthwise(ctx, y, name + "_dwconv", strides=stride), name + "_dwbn")
    y = ctx.conv_norm_act(y, branch_out, 1, name, groups=groups, act=False, suffix="2")
    if stride == 2:
        shortcut = ctx.avg_pool_padded(x, name + "_pool", strides=2)
        y = ctx.relu(y, name + "_relu")
        return keras.layers.Concatenate(name=ctx.name(out_name or name + "_concat"))(
            [shortcut, y])
    y = ctx.drop_path(y, drop_path_rate, name + "_drop_path")
    return ctx.relu(ctx.add([x, y], name + "_add"), out_name or name + "_out")


def _v1_body(cfg, drop_path_rate):
    total = sum(cfg.repeats)

    def body(ctx, x):
        x = _stem(ctx, x, cfg.stem)
        index = 0
        for stage, (repeat, width) in enumerate(zip(cfg.repeats, cfg.widths), start=2):
            for unit in range(1, repeat + 1):
                rate = drop_path_rate * index / max(1, total - 1)
                x = _v1_unit(ctx, x, width, cfg.groups, 2 if unit == 1 else 1,
                             stage == 2 and unit == 1, f"stage{stage}_unit{unit}", rate,
                             f"stage{stage}_out" if unit == repeat else None)
                index += 1
        return x

    return body


def build_shufflenet_v1(model_name, groups, scale, *, stem_channels=None,
                        classifier_bias=False, drop_path_rate=0.0, repeats=V1_REPEATS,
                        **kwargs):
    """Builds ShuffleNet v1 ``scale`` x with ``groups`` g (arXiv:1707.01083, Table 1).

    Architecture options:
        stem_channels: Conv1's width (default: the official code's, see :func:`v1_stem_width`;
            the paper's "scale every layer" rule gives ``round(24 * scale)``).
        classifier_bias: the official code's classifier has no bias (False); True gives the
            usual biased FC (pytorchcv's port, +classes parameters).
        drop_path_rate: stochastic depth on the residual branches of the stride-1 units.
        drop_rate: dropout before the classifier.
    """
    cfg = v1_config(groups, scale, stem_channels, repeats)
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    return build_with_classifier(model_name, _v1_body(cfg, drop_path_rate),
                                 classifier_bias=bool(classifier_bias), **kwargs)


def _scale_name(scale):
    return f"{scale:g}".replace(".", "_") + "x"


V1_OPTIONS = {"stem_channels": None, "classifier_bias": False, "drop_rate": 0.0,
              "drop_path_rate": 0.0, "norm": "batch"}
_V1_OFFICIAL = "megvii ShuffleNet-Series official ShuffleNetV1"
#: (groups, scale): (trainable params, FLOPs) of the authors' released code (params.tsv).
_V1_REFERENCE = {
    (3, 1.0): (1_864_728, 274_921_344),
    (8, 1.0): (2_433_768, 276_731_904),
    (3, 0.5): (717_324, 75_179_712),
    (3, 1.5): (3_441_168, 584_887_104),
    (3, 2.0): (5_449_776, 1_048_090_368),
}
#: Table 1's complexity (MFLOPs, i.e. million multiply-adds) at 1x.
V1_PAPER_MFLOPS = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}
_V1_DOC = """

    Layout: the authors' released code (megvii-model/ShuffleNet-Series), which follows the
    paper -- Conv1 3x3/2 then a 3x3/2 max-pool, units of Fig. 2 (b)/(c) with bottlenecks a
    quarter of the output, ungrouped first 1x1 in Stage 2 -- and adds two choices the paper
    leaves open: a bias-free classifier (``classifier_bias=True`` for a biased one) and Conv1
    widths of 24 at 1x and 1.5x, 48 at 2x (the paper's scaling rule would give 36 at 1.5x:
    ``stem_channels=36``). The channel shuffle sits after the first group convolution, as in
    Fig. 2 (the official code shuffles after the depthwise 3x3 -- the same function up to a
    permutation of the depthwise filters). Stage ``N`` of the paper ends in the layer
    ``<name>_stage<N>_out``; stage 1 is Conv1 + max-pool.

    Takes the ``keras.applications`` arguments and ``stem_channels``, ``classifier_bias``,
    ``drop_rate``, ``drop_path_rate``, ``norm`` (see :func:`build_shufflenet_v1`).
    """


def _register_v1(groups, scale):
    func_name = f"ShuffleNetV1_g{groups}_{_scale_name(scale)}"
    model_name = func_name.lower()
    params, flops = _V1_REFERENCE.get((groups, scale), (None, None))
    width = v1_stage2_width(groups, scale)
    exact = width == V1_STAGE2_WIDTHS[groups] * scale
    doc = (f"ShuffleNet v1 {scale:g}x, g = {groups} (Zhang et al. 2017, arXiv:1707.01083, "
           f"Table 1): Stage 2-4 widths {width}/{2 * width}/{4 * width}"
           + ("" if exact else f" ({V1_STAGE2_WIDTHS[groups]} x {scale:g} rounded to a "
                                f"multiple of 4g = {4 * groups})")
           + f", Conv1 {v1_stem_width(groups, scale)}.")
    if params is not None:
        reference = f"{_V1_OFFICIAL}(model_size={scale:.1f}x, group={groups})"
        doc += f" Trainable parameters: {params:,}, the official code's."
    elif scale == 1.0:
        reference = (f"no reference implementation (the official code has g = 3 and 8 only); "
                     f"Table 1's {V1_PAPER_MFLOPS[groups]} MFLOPs checked")
        doc += (f" No reference implementation; the FLOPs match Table 1's "
                f"{V1_PAPER_MFLOPS[groups]} MFLOPs (tests/test_lightweight_tables.py).")
    else:
        reference = "no reference implementation or paper count"
        doc += " No reference implementation and no count in the paper."

    def builder(**kwargs):
        return build_shufflenet_v1(model_name, groups, scale, **kwargs)

    builder.__name__ = builder.__qualname__ = func_name
    builder.__doc__ = doc + _V1_DOC
    registered = register(family="shufflenet", paper=SHUFFLENET_V1, params=params, flops=flops,
                          reference=reference, options=V1_OPTIONS)(builder)
    registered.groups, registered.scale = groups, scale

    def tiny(**kwargs):
        # Same g, units, head and options; 0.25x widths, Conv1 8 (rounded to g), 2/1/2 units.
        kwargs.setdefault("stem_channels", make_divisible(8, groups, min_value=groups))
        return build_shufflenet_v1(model_name, groups, 0.25, repeats=(2, 1, 2), **kwargs)

    registered.tiny = tiny
    return registered


for _g in V1_GROUPS:
    for _s in V1_SCALES:
        _builder = _register_v1(_g, _s)
        globals()[_builder.__name__] = _builder


# ---------------------------------------------------------------------------------------------
# ShuffleNet v2
# ---------------------------------------------------------------------------------------------
V2_LAYOUTS = ("official", "torchvision")
V2_REPEATS = (4, 8, 4)


@dataclasses.dataclass(frozen=True)
class ShuffleNetV2Config:
    """Table 5: Conv1 width, Stage 2-4 output channels, Conv5 width."""

    widths: tuple
    conv5: int = 1024
    stem: int = 24
    repeats: tuple = V2_REPEATS
    drop_rate: float = 0.0  # the official 2.0x model's dropout before the classifier


def _v2_unit(ctx, cfg, layout, x, out_channels, stride, name, out_name):
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
        shortcut = ctx.norm(depthwise(ctx, x, name + "_proj_dwconv", strides=2),
                            name + "_proj_dwbn")
        shortcut = ctx.conv_norm_act(shortcut, proj_out, 1, name + "_proj")
    y = ctx.conv_norm_act(x, mid, 1, name, suffix="1")
    y = ctx.norm(depthwise(ctx, y, name + "_dwconv", strides=stride), name + "_dwbn")
    y = ctx.conv_norm_act(y, main_out, 1, name, suffix="2")
    y = keras.layers.Concatenate(name=ctx.name(name + "_concat"))([shortcut, y])
    return ChannelShuffle(2, name=ctx.name(out_name or name + "_shuffle"))(y)


def _v2_body(cfg, layout):
    def body(ctx, x):
        x = _stem(ctx, x, cfg.stem)
        for stage, (repeat, width) in enumerate(zip(cfg.repeats, cfg.widths), start=2):
            for unit in range(1, repeat + 1):
                x = _v2_unit(ctx, cfg, layout, x, width, 2 if unit == 1 else 1,
                             f"stage{stage}_unit{unit}",
                             f"stage{stage}_out" if unit == repeat and stage < 4 else None)
        # Conv5 closes the last stage: its output is the feature map the classifier pools.
        x = ctx.norm(ctx.conv(x, cfg.conv5, 1, "conv5_conv"), "conv5_bn")
        return ctx.relu(x, "stage4_out")

    return body


def build_shufflenet_v2(model_name, cfg, *, layout="official", classifier_bias=None,
                        drop_rate=None, **kwargs):
    """Builds ShuffleNet v2 from a Table 5 configuration (arXiv:1807.11164).

    Architecture options:
        layout: ``"official"`` (the authors' code; default) or ``"torchvision"``: how the
            first down-sampling unit splits its output between the branches (see the
            builders' docstrings).
        classifier_bias: default False for the official layout (its classifier has no bias),
            True for torchvision's.
        drop_rate: dropout before the classifier (default: 0.2 for the official 2.0x, as its
            code; otherwise 0).
    """
    layout = check_choice("layout", layout, V2_LAYOUTS)
    if classifier_bias is None:
        classifier_bias = layout == "torchvision"
    if drop_rate is None:
        drop_rate = cfg.drop_rate if layout == "official" else 0.0
    return build_with_classifier(model_name, _v2_body(cfg, layout),
                                 classifier_bias=bool(classifier_bias), drop_rate=drop_rate,
                                 **kwargs)


V2_OPTIONS = {"layout": "official", "classifier_bias": None, "drop_rate": None,
              "norm": "batch"}
_V2_TABLE = {
    # name: (widths, conv5, official 2.0x dropout, (official params, FLOPs),
    #        (torchvision params, FLOPs), paper MFLOPs)
    "ShuffleNetV2_0_5x": ((48, 96, 192), 1024, 0.0, (1_365_792, 80_952_896),
                          (1_366_792, 80_952_896), 41),
    "ShuffleNetV2_1x": ((116, 232, 464), 1024, 0.0, (2_278_760, 291_628_592),
                        (2_278_604, 289_815_984), 146),
    "ShuffleNetV2_1_5x": ((176, 352, 704), 1024, 0.0, (3_506_720, 597_941_312),
                          (3_503_624, 591_518_784), 299),
    "ShuffleNetV2_2x": ((244, 488, 976), 2048, 0.2, (7_402_600, 1_181_566_000),
                        (7_393_996, 1_166_506_928), 591),
}
#: name -> (torchvision trainable params, FLOPs), for the ``layout="torchvision"`` option.
V2_TORCHVISION = {name.lower(): row[4] for name, row in _V2_TABLE.items()}
V2_PAPER_MFLOPS = {name.lower(): row[5] for name, row in _V2_TABLE.items()}
_V2_DOC = """

    Layout: the authors' released code (megvii-model/ShuffleNet-Series), the default because
    it is the one whose complexity is the paper's (Table 5: 41/146/299/591 MFLOPs;
    torchvision's port has 145/296/583 at 1x/1.5x/2x). The two differ in the first
    down-sampling unit: the official left branch keeps its 24 input channels and the right one
    makes the rest (C - 24), torchvision's branches make C/2 each; and the official
    classifier has no bias. ``layout="torchvision"`` builds torchvision's
    ``shufflenet_v2_x*`` exactly: its weights port into it with equal logits
    (``keras-convnets port`` applies the option; ``tests/test_port.py`` checks the parity). Both shuffle as Fig. 3 does, after the concatenation (the
    official code's even/odd split at the next unit is the same permutation). The official
    2.0x model has dropout 0.2 before the classifier (``drop_rate`` overrides). Stage 1 is
    Conv1 + max-pool; stage 4 ends after Conv5 (1x1, BN, ReLU).

    Takes the ``keras.applications`` arguments and ``layout``, ``classifier_bias``,
    ``drop_rate``, ``norm`` (see :func:`build_shufflenet_v2`).
    """

for _name, (_widths, _conv5, _drop, (_params, _flops), _tv, _mflops) in _V2_TABLE.items():
    def _make_v2(func_name, cfg, params, flops, mflops):
        model_name = func_name.lower()

        def builder(**kwargs):
            return build_shufflenet_v2(model_name, cfg, **kwargs)

        builder.__name__ = builder.__qualname__ = func_name
        scale = func_name.split("_", 1)[1].replace("_", ".")
        builder.__doc__ = (
            f"ShuffleNet v2 {scale} (Ma et al. 2018, arXiv:1807.11164, Table 5): Stage 2-4 "
            f"widths {'/'.join(map(str, cfg.widths))}, Conv5 {cfg.conv5}; {mflops} MFLOPs in "
            f"the paper. Trainable parameters {params:,} (official code; torchvision: "
            f"{V2_TORCHVISION[model_name][0]:,})." + _V2_DOC)
        registered = register(
            family="shufflenet", paper=SHUFFLENET_V2, params=params, flops=flops,
            reference=f"megvii ShuffleNet-Series official ShuffleNetV2(model_size={scale}); "
                      f"layout='torchvision' gives torchvision's count",
            options=V2_OPTIONS)(builder)
        registered.config = cfg
        # Same units, head and options: 1/4 of the widths (kept even), Conv1 8, Conv5 64.
        tiny_cfg = dataclasses.replace(cfg, widths=tuple(w // 8 * 2 for w in cfg.widths),
                                       conv5=64, stem=8, repeats=(2, 1, 2))
        registered.tiny = lambda **kwargs: build_shufflenet_v2(model_name, tiny_cfg, **kwargs)
        return registered

    _registered = _make_v2(_name, ShuffleNetV2Config(_widths, _conv5, drop_rate=_drop), _params,
                           _flops, _mflops)
    globals()[_name] = _registered

del _g, _s, _builder, _name, _widths, _conv5, _drop, _params, _flops, _tv, _mflops, _registered
