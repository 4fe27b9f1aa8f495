"""GUNN: gradually updated neural networks -- the channels of a layer computed one segment at a
time, each from the layer's current state.

Qiao, Zhang, Shen, Wang, Yuille. "Gradually Updated Neural Networks for Large-Scale Image
Recognition", ICML 2018, arXiv:1711.09280. A GUNN layer of C channels splits them into K
segments of C / K channels and updates the segments in order: segment i is replaced by itself
plus an update unit applied to the whole current state -- segments 1..i-1 already updated,
segments i..K not yet -- so a later segment sees, and is deeper than, the earlier ones' new
values. With K = 1 the layer is a residual block; with all K updates computed from the old
state at once it is a plain (simultaneously updated) layer.

The layout is the authors' Torch code (github.com/joe-siyuan-qiao/GUNN: models/GunnLayer.lua,
models/gunn-15.lua, models/gunn-18.lua), since the paper's text does not spell out the update
unit:
- update unit: 1x1 conv (2C / K) -> BN -> ReLU -> 3x3 conv (2C / K) -> BN -> ReLU -> 1x1 conv
  (C / K) -> BN, bias-free convolutions; on CIFAR a 1x1 conv (C / K) -> BN projection of the
  state is added to it (``variant="cifar"``); no activation after the update;
- GUNN-15 (CIFAR): 3x3 conv 64 -> BN-ReLU; three stages of 1x1 conv-BN-ReLU to 240 / 300 / 360
  channels (2x2 average pooling after the conv in stages 2 and 3) and a GUNN layer of K = 20 /
  25 / 30 segments (12 channels each); a 1x1 conv-BN-ReLU of 360; global pooling; classifier;
- GUNN-18 (ImageNet): 7x7/2 conv 64 -> BN-ReLU -> 3x3/2 max pooling; four stages of 1x1
  conv-BN-ReLU to 400 / 800 / 1600 / 2000 channels and a GUNN layer of K = 10 / 20 / 40 / 50
  segments (40 channels each), each but the last followed by 2x2 average pooling; global
  pooling; classifier.
Depth counts the weight layers on the longest path, an update unit as three: GUNN-15 = 1 + 3 x
(1 + 3) + 1 + 1, GUNN-18 = 1 + 4 x (1 + 3) + 1.

The paper's wide variants (GUNN-24 on CIFAR, 29.6M; Wide GUNN-18, 45.6M) are not built: their
widths and segment counts are in neither the authors' code nor any text we could read (only
their parameter counts are), so no configuration of them could be checked.

Feature maps: ``<model>_stage<N>_out`` is stage N's GUNN layer (GUNN-15's last stage: the final
1x1 conv-BN-ReLU); strides 1, 2, 4 (CIFAR) and 4, 8, 16, 32 (ImageNet).
Layers: ``stem_conv``, ``stem_bn``, ``stem_relu`` (``stem_pool``); ``stage<N>_conv``, ``_bn``,
``_relu`` (``_pool``); ``stage<N>_gunn_split``, ``_gunn_seg<i>_state`` (the concatenated state
the unit reads), ``_gunn_seg<i>_conv1`` .. ``_conv3``, ``_bn1`` .. ``_bn3``, ``_relu1``,
``_relu2``, ``_proj_conv``, ``_proj_bn``, ``_update`` (CIFAR), ``_drop_path``, ``_add``; the
concatenated segments ``stage<N>_out`` (CIFAR's last: ``stage3_gunn_out``, then ``head_conv``,
``head_bn`` and the ReLU ``stage3_out``); ``logits``.
"""

import dataclasses

from ..applications import build_model
from ..backend import keras
from ..layers import ChannelSplit
from ..registry import Paper, no_reference, register
from ..utils import check_choice, check_positive_int, check_rate

GUNN = Paper("Gradually Updated Neural Networks for Large-Scale Image Recognition", 2017,
             "1711.09280")


@dataclasses.dataclass(frozen=True)
class GUNNConfig:
    """One GUNN: the channels of each stage's GUNN layer (``widths``) and its number of
    segments (``segments``, each dividing its width), the stem's width, the update unit's
    bottleneck factor (``expansion`` x C / K channels in its first two convolutions), and the
    ``variant``: ``"cifar"`` (3x3 stem, projection in every update unit, pooling before the GUNN
    layer, a final 1x1 conv of ``widths[-1]``) or ``"imagenet"`` (7x7/2 stem and max pooling,
    identity updates only, pooling after the GUNN layer) -- the authors' code's switch on its
    dataset."""

    widths: tuple
    segments: tuple
    stem_width: int = 64
    expansion: int = 2
    variant: str = "cifar"


def _check_config(cfg):
    for field in ("widths", "segments"):
        value = getattr(cfg, field)
        if not isinstance(value, tuple) or not value or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
            raise ValueError(f"`{field}` must be a non-empty tuple of positive integers; got "
                             f"{value!r}.")
    if len(cfg.widths) != len(cfg.segments):
        raise ValueError(
            f"`segments` needs one count per stage of `widths` ({len(cfg.widths)} stages); got "
            f"widths={cfg.widths!r}, segments={cfg.segments!r}.")
    for stage, (width, segments) in enumerate(zip(cfg.widths, cfg.segments), start=1):
        if width % segments:
            raise ValueError(
                f"`segments`={segments} of stage {stage} does not divide its {width} channels; "
                f"a GUNN layer updates C / K channels at a time, so K must divide C.")
    check_positive_int("stem_width", cfg.stem_width)
    check_positive_int("expansion", cfg.expansion)
    check_choice("variant", cfg.variant, ("cifar", "imagenet"))


def gunn_layer(ctx, x, segments, name, projection=False, expansion=2, drop_path_rates=None,
               out_name=None):
    """A GUNN layer on ``x`` (its C channels in ``segments`` segments of C / K), as layers.

    Segment i (in order) becomes ``x_i + unit_i(state_i)``, ``state_i`` being the
    concatenation of the updated segments 1..i-1 and the original i..K (``x`` itself for
    i = 1); ``unit_i`` is 1x1 conv -> BN -> ReLU -> 3x3 conv -> BN -> ReLU -> 1x1 conv -> BN
    (``expansion`` x C / K, then C / K channels), plus a 1x1 conv -> BN projection of the
    state with ``projection``. ``drop_path_rates``: one stochastic-depth rate per segment's
    update. The output (the updated segments concatenated) is named ``out_name``.
    """
    channels = int(x.shape[-1])
    check_positive_int("segments", segments)
    if channels % segments:
        raise ValueError(f"`segments`={segments} does not divide the {channels} channels of "
                         f"the GUNN layer {name!r}; it must be a divisor of {channels}.")
    width = channels // segments
    rates = drop_path_rates or [0.0] * segments
    originals = ChannelSplit(segments, name=ctx.name(name + "_split"))(x) if segments > 1 else [x]
    updated = []
    for i in range(segments):
        seg = f"{name}_seg{i + 1}"
        parts = updated + list(originals[i:])
        state = x if i == 0 else keras.layers.Concatenate(name=ctx.name(seg + "_state"))(parts)
        y = ctx.relu(ctx.norm(ctx.conv(state, expansion * width, 1, seg + "_conv1"),
                              seg + "_bn1"), seg + "_relu1")
        y = ctx.relu(ctx.norm(ctx.conv(y, expansion * width, 3, seg + "_conv2"), seg + "_bn2"),
                     seg + "_relu2")
        y = ctx.norm(ctx.conv(y, width, 1, seg + "_conv3"), seg + "_bn3")
        if projection:
            p = ctx.norm(ctx.conv(state, width, 1, seg + "_proj_conv"), seg + "_proj_bn")
            y = ctx.add([y, p], seg + "_update")
        y = ctx.drop_path(y, rates[i], seg + "_drop_path")
        last = segments == 1 and out_name is not None
        updated.append(ctx.add([originals[i], y], out_name if last else seg + "_add"))
    if segments == 1:
        return updated[0]
    return keras.layers.Concatenate(name=ctx.name(out_name or name + "_out"))(updated)


def build_gunn(model_name, cfg, *, drop_rate=0.0, drop_path_rate=0.0, **kwargs):
    """Builds a GUNN configuration ``cfg`` (see the module docstring).

    Architecture options:
        drop_rate: dropout before the classifier (the authors use none).
        drop_path_rate: stochastic depth on each segment's update (identity kept), rising
            linearly from 0 to this over the network's segment updates (the authors use none).
        norm: ``"batch"`` (the paper's), ``"sync_batch"``, ``"group"``, ``"layer"``,
            ``"batch_renorm"``, ``"weight"``.
    """
    _check_config(cfg)
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    cifar = cfg.variant == "cifar"
    total = sum(cfg.segments)

    def body(ctx, x):
        if cifar:
            x = ctx.conv_norm_act(x, cfg.stem_width, 3, "stem")
        else:
            x = ctx.conv_norm_act(x, cfg.stem_width, 7, "stem", strides=2)
            x = ctx.max_pool(x, "stem_pool")
        done = 0
        last = len(cfg.widths)
        for stage, (width, segments) in enumerate(zip(cfg.widths, cfg.segments), start=1):
            name = f"stage{stage}"
            if not cifar and stage > 1:
                x = keras.layers.AveragePooling2D(2, 2, name=ctx.name(name + "_pool"))(x)
            x = ctx.conv_norm_act(x, width, 1, name)
            if cifar and stage > 1:
                x = keras.layers.AveragePooling2D(2, 2, name=ctx.name(name + "_pool"))(x)
            rates = [drop_path_rate * (done + i) / max(1, total - 1) for i in range(segments)]
            done += segments
            out = f"{name}_out" if stage < last or not cifar else f"{name}_gunn_out"
            x = gunn_layer(ctx, x, segments, f"{name}_gunn", projection=cifar,
                           expansion=cfg.expansion, drop_path_rates=rates, out_name=out)
        if cifar:
            x = ctx.norm(ctx.conv(x, cfg.widths[-1], 1, "head_conv"), "head_bn")
            x = ctx.relu(x, f"stage{last}_out")
        return x

    return build_model(model_name, body, drop_rate=drop_rate, **kwargs)


def tiny_config(cfg):
    """The same topology with two to four segments a layer and 1/10 to 1/25 of the widths."""
    if cfg.variant == "cifar":
        return dataclasses.replace(cfg, widths=(24, 30, 36), segments=(2, 3, 3), stem_width=8)
    return dataclasses.replace(cfg, widths=(16, 32, 48, 64), segments=(2, 2, 3, 4),
                               stem_width=8)


OPTIONS = {"drop_rate": 0.0, "drop_path_rate": 0.0, "norm": "batch"}
GUNNS = dict(family="gunn", paper=GUNN, tiny=tiny_config, options=OPTIONS,
             generic_builder="build_gunn")
CIFAR = dict(default_size=32, min_size=8, stage_strides=(1, 2, 4), default_classes=10)
_RESULTS = ("the paper's parameter count (arXiv:1711.09280, its {} results table and the "
            "authors' README), to its rounding; no reference implementation in timm, "
            "torchvision or pytorchcv")


@register(**GUNNS, **CIFAR, config=GUNNConfig((240, 300, 360), (20, 25, 30)), paper_params=1.6,
          reference=no_reference(_RESULTS.format("CIFAR")))
def GUNN15(config, **kwargs):
    """GUNN-15 (Qiao et al., "Gradually Updated Neural Networks for Large-Scale Image
    Recognition", ICML 2018, arXiv:1711.09280; the paper's CIFAR results table: 1.6M
    parameters, 4.15% CIFAR-10 / 20.45% CIFAR-100 error): GUNN layers of 240 / 300 / 360
    channels in 20 / 25 / 30 segments, as the authors' models/gunn-15.lua; 1,585,746
    parameters with 10 classes (tests/test_gunn.py counts the Lua definition by hand)."""
    return build_gunn("gunn15", config, **kwargs)


@register(**GUNNS, config=GUNNConfig((400, 800, 1600, 2000), (10, 20, 40, 50),
                                     variant="imagenet"),
          paper_params=28.9, reference=no_reference(_RESULTS.format("ImageNet")))
def GUNN18(config, **kwargs):
    """GUNN-18 (Qiao et al. 2018, arXiv:1711.09280; the paper's ImageNet results table: 28.9M
    parameters, 21.65% top-1 / 5.87% top-5 error): GUNN layers of 400 / 800 / 1600 / 2000
    channels in 10 / 20 / 40 / 50 segments, as the authors' models/gunn-18.lua; 28,909,736
    parameters with 1000 classes (tests/test_gunn.py counts the Lua definition by hand)."""
    return build_gunn("gunn18", config, **kwargs)
