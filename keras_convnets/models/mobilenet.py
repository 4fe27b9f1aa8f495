"""The MobileNets: depthwise-separable convolutions, inverted residuals, searched blocks.

Papers (each configuration's docstring names its table):

- MobileNet (v1): Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto, Adam. "MobileNets:
  Efficient Convolutional Neural Networks for Mobile Vision Applications", 2017,
  arXiv:1704.04861, Table 1 (body), Tables 6-7 (width and resolution multipliers).
- MobileNetV2: Sandler, Howard, Zhu, Zhmoginov, Chen. "MobileNetV2: Inverted Residuals and
  Linear Bottlenecks", 2018, arXiv:1801.04381, Table 2.
- MobileNetV3: Howard, Sandler, Chu, Chen, Chen, Tan, Wang, Zhu, Pang, Vasudevan, Le, Adam.
  "Searching for MobileNetV3", 2019, arXiv:1905.02244, Tables 1 (Large) and 2 (Small).

Conventions, chosen so that timm's weights port layer for layer and give identical outputs:

- Strided convolutions are padded symmetrically, as PyTorch (``BuildContext.conv`` /
  ``depthwise_conv``); TF-Slim and ``keras.applications`` pad only the bottom/right, which
  ``strided_padding="same"`` builds (keras' arithmetic and graph: no pad layer, so no PAD op in
  TFLite; the benchmark's keras-layout rows).
- BatchNorm epsilon 1e-5 and momentum 0.9 (PyTorch's 0.1), as timm's ``mobilenetv1_100``,
  ``mobilenetv2_*`` and ``mobilenetv3_*``. (torchvision's MobileNetV3 uses 1e-3 / 0.01 and the
  TF models 1e-3 / 0.999; a port from those sets each layer's epsilon.)
- Widths: ``make_divisible(channels * alpha, 8)`` everywhere (timm, torchvision, TF-Slim); for
  the paper's multipliers this equals keras.applications' ``int(channels * alpha)`` in v1.
- The resolution multiplier rho of v1 (and the papers' other resolutions) is the input size:
  any input of at least 32 x 32 works.

Each stage ends where the resolution halves next, in a layer named ``<model>_stage<N>_out``, at
strides 2, 4, 8, 16 and 32; the last stage ends after the final 1x1 convolution (v2, v3). That
layer is the block's sum, or, for a block without shortcut, its projection's BatchNorm
(MobileNetV3-Small's stride-2 stage ends at the stem, whose next block already strides).
"""

import dataclasses
import math

from ..applications import Head, build_model
from ..backend import keras
from ..layers import HardSwish
from ..registry import KerasTwin, Paper, Reference, measured, register
from ..utils import check_drop_path, check_positive_int, make_divisible

MOBILENET = Paper("MobileNets: Efficient Convolutional Neural Networks for Mobile Vision "
                  "Applications", 2017, "1704.04861")
MOBILENET_V2 = Paper("MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018,
                     "1801.04381")
MOBILENET_V3 = Paper("Searching for MobileNetV3", 2019, "1905.02244")

STAGE_STRIDES = (2, 4, 8, 16, 32)
#: keras.applications' padding of strided convolutions (the benchmark's keras-layout rows)
_KERAS_PADDING = {"strided_padding": "same"}


# -- shared pieces ---------------------------------------------------------------------------
def _check_alpha(alpha):
    if (isinstance(alpha, bool) or not isinstance(alpha, (int, float))
            or not math.isfinite(alpha) or alpha <= 0):
        raise ValueError(f"`alpha` (the width multiplier) must be a number > 0; got {alpha!r}.")
    return float(alpha)


def _width(channels, alpha):
    return make_divisible(channels * alpha, 8)


def _act(ctx, x, kind, name):
    """The family's activations: ``"relu"``, ``"relu6"`` or ``"hard_swish"``."""
    if kind == "relu":
        return ctx.relu(x, name)
    if kind == "relu6":
        return keras.layers.ReLU(6.0, name=ctx.name(name))(x)
    return HardSwish(name=ctx.name(name))(x)


def _conv_norm_act(ctx, x, filters, kernel, name, act, strides=1, out_name=None):
    """:meth:`BuildContext.conv_norm_act` with the activation ``act``, named ``<name>_act``
    (or ``out_name``)."""
    x = ctx.conv_norm_act(x, filters, kernel, name, strides=strides, act=False)
    return _act(ctx, x, act, out_name or name + "_act")


def _depthwise_norm_act(ctx, x, kernel, name, act, strides=1, depth_multiplier=1):
    """Depthwise convolution -> norm -> ``act``, named ``<name>_dw_conv/_dw_bn/_dw_act``."""
    x = ctx.depthwise_conv(x, kernel, name + "_dw_conv", strides=strides,
                           depth_multiplier=depth_multiplier)
    return _act(ctx, ctx.norm(x, name + "_dw_bn"), act, name + "_dw_act")


def _stage_outputs(strides, first_stage, close_last):
    """Per block, ``stage<N>_out`` if the block is the last at its resolution, else None.

    ``first_stage`` is the number of the first stage a block closes (2 when the stem's output
    already closes stage 1); the last block closes the final stage only if ``close_last``
    (otherwise the head convolution does). Returns the names and the next stage number.
    """
    names, stage = [], first_stage
    for i, stride in enumerate(strides):
        last = i == len(strides) - 1
        if (last and close_last) or (not last and strides[i + 1] > 1):
            names.append(f"stage{stage}_out")
            stage += 1
        else:
            names.append(None)
    return names, stage


def _inverted_residual(ctx, x, hidden, out, kernel, stride, act, se, name, drop_path_rate,
                       out_name):
    """1x1 expansion (skipped when ``hidden`` equals the input width) -> depthwise ->
    [hard-sigmoid SE on the expanded channels] -> linear 1x1 projection, with an identity
    shortcut where the shape is unchanged (MobileNetV2 Fig. 3b, MobileNetV3 Fig. 4)."""
    in_channels = int(x.shape[-1])
    residual = stride == 1 and in_channels == out
    y = x
    if hidden != in_channels:
        y = _conv_norm_act(ctx, y, hidden, 1, name + "_expand", act)
    y = _depthwise_norm_act(ctx, y, kernel, name, act, strides=stride)
    if se:
        # torchvision / timm / TF: squeeze to make_divisible(expanded / 4, 8), ReLU, hard gate.
        y = ctx.se(y, name + "_se", reduction=4, divisor=8, gate="hard_sigmoid")
    y = ctx.conv(y, out, 1, name + "_project_conv")
    y = ctx.norm(y, name + "_project_bn" if residual or not out_name else out_name)
    if not residual:
        return y
    y = ctx.drop_path(y, drop_path_rate, name + "_drop_path")
    return ctx.add([x, y], out_name or name + "_add")


#: what every MobileNet registration shares
_FAMILY = dict(default_size=224, stage_strides=STAGE_STRIDES)


# -- MobileNet v1 ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class MobileNetV1Config:
    """``blocks``: (pointwise filters, depthwise stride) of each depthwise-separable block."""

    alpha: float = 1.0
    blocks: tuple = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                     (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
    stem: int = 32
    drop_rate: float = 1e-3


def build_mobilenet_v1(model_name, cfg, *, alpha=None, depth_multiplier=1, drop_rate=None,
                       drop_path_rate=0.0, **kwargs):
    """Builds MobileNet v1 (arXiv:1704.04861, Table 1): a 3x3 stride-2 convolution, then 13
    depthwise-separable blocks (3x3 depthwise -> BN -> ReLU6 -> 1x1 -> BN -> ReLU6).

    The paper writes ReLU; the authors' TF-Slim release (and keras.applications, timm) use
    ReLU6, as here. The last block's stride is 1 (Table 1's "s2" there is a known typo: the map
    stays 7x7).

    Architecture options:
        alpha: width multiplier (Table 6); None keeps the configuration's.
        depth_multiplier: channel multiplier of each depthwise convolution (keras.applications'
            option; an integer >= 1).
        drop_rate: dropout before the classifier; default 1e-3, the TF-Slim release's
            ``dropout_keep_prob=0.999`` that keras.applications also keeps (the paper gives
            none; timm trains without).
        drop_path_rate: must be 0 -- v1 has no residual connections.
        norm: ``"batch"``, ``"sync_batch"``, ``"group"``, ``"layer"``, ``"batch_renorm"``,
            ``"weight"``.
    """
    alpha = _check_alpha(cfg.alpha if alpha is None else alpha)
    check_positive_int("depth_multiplier", depth_multiplier)
    check_drop_path(drop_path_rate, False, "MobileNet v1")
    strides = [s for _, s in cfg.blocks]
    out_names, _ = _stage_outputs(strides, first_stage=1, close_last=True)

    def body(ctx, x):
        x = _conv_norm_act(ctx, x, _width(cfg.stem, alpha), 3, "stem", "relu6", strides=2)
        for i, ((filters, stride), out_name) in enumerate(zip(cfg.blocks, out_names), start=1):
            name = f"block{i}"
            x = _depthwise_norm_act(ctx, x, 3, name, "relu6", strides=stride,
                                    depth_multiplier=depth_multiplier)
            x = _conv_norm_act(ctx, x, _width(filters, alpha), 1, name + "_pw", "relu6",
                               out_name=out_name)
        return x

    drop_rate = cfg.drop_rate if drop_rate is None else drop_rate
    return build_model(model_name, body, drop_rate=drop_rate, **kwargs)


def tiny_v1(cfg):
    """One block per resolution, plus a stride-1 block at the first and fourth; a quarter of
    the width."""
    return dataclasses.replace(cfg, alpha=cfg.alpha / 4, blocks=(
        (64, 1), (128, 2), (128, 1), (256, 2), (512, 2), (512, 1), (1024, 2)))


V1_OPTIONS = {"alpha": None, "depth_multiplier": 1, "drop_rate": None, "drop_path_rate": 0.0,
              "norm": "batch"}
# Every width is a params.tsv row: timm's mobilenetv1_100 and, narrower, its _gen_mobilenet_v1
# generator (= pytorchcv mobilenet_w*).
V1 = dict(_FAMILY, family="mobilenet", paper=MOBILENET, tiny=tiny_v1, options=V1_OPTIONS,
          generic_builder="build_mobilenet_v1")


@register(**V1, config=MobileNetV1Config(), params=4_231_976, flops=1_137_480_704,
          reference=Reference("timm", "mobilenetv1_100"),
          keras_twin=KerasTwin("MobileNet", {"alpha": 1.0},
                               "keras: dropout + 1x1-conv classifier",
                               layout_options=_KERAS_PADDING))
def MobileNet(config, **kwargs):
    """1.0 MobileNet-224 (Howard et al. 2017, arXiv:1704.04861, Table 1): a stride-2 stem and
    13 depthwise-separable blocks from 32 to 1024 channels; 4.2M parameters and 569M
    multiply-adds in Table 6."""
    return build_mobilenet_v1("mobilenet", config, **kwargs)


@register(**V1, config=MobileNetV1Config(alpha=0.75), params=2_585_560, flops=650_800_896,
          reference=Reference("timm", "_gen_mobilenet_v1(mult=0.75)"))
def MobileNet_075(config, **kwargs):
    """0.75 MobileNet-224 (Howard et al. 2017, arXiv:1704.04861, Table 1; width multiplier
    alpha = 0.75, Table 6)."""
    return build_mobilenet_v1("mobilenet_075", config, **kwargs)


@register(**V1, config=MobileNetV1Config(alpha=0.5), params=1_331_592, flops=298_994_176,
          reference=Reference("timm", "_gen_mobilenet_v1(mult=0.5)"))
def MobileNet_050(config, **kwargs):
    """0.5 MobileNet-224 (arXiv:1704.04861, Table 6): every layer of Table 1 at half width, 16
    to 512 channels."""
    return build_mobilenet_v1("mobilenet_050", config, **kwargs)


@register(**V1, config=MobileNetV1Config(alpha=0.25), params=470_072, flops=82_060_544,
          reference=Reference("timm", "_gen_mobilenet_v1(mult=0.25)"))
def MobileNet_025(config, **kwargs):
    """0.25 MobileNet-224, the narrowest of Table 6 (Howard et al. 2017, arXiv:1704.04861): 8
    to 256 channels, 0.5M parameters and 41M multiply-adds."""
    return build_mobilenet_v1("mobilenet_025", config, **kwargs)


# -- MobileNetV2 -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class MobileNetV2Config:
    """``blocks``: Table 2's (expansion t, output channels c, repeats n, first stride s)."""

    alpha: float = 1.0
    blocks: tuple = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                     (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
    stem: int = 32
    last_channels: int = 1280
    drop_rate: float = 0.2


def build_mobilenet_v2(model_name, cfg, *, alpha=None, drop_rate=None, drop_path_rate=0.0,
                       **kwargs):
    """Builds MobileNetV2 (arXiv:1801.04381, Table 2): a 3x3 stride-2 convolution, 17 inverted
    residual blocks with linear bottlenecks and ReLU6, a final 1x1 convolution to 1280.

    Widths are ``make_divisible(c * alpha, 8)``; the final 1280 grows with alpha > 1 only
    (``make_divisible(1280 * alpha, 8)``) and is otherwise kept, as torchvision, timm, TF-Slim
    and keras.applications do. The expanded width is ``round(input * t)``.

    Architecture options:
        alpha: width multiplier; None keeps the configuration's.
        drop_rate: dropout before the classifier; default 0.2 (TF-Slim's training scope,
            torchvision).
        drop_path_rate: stochastic depth on the residual blocks, rising linearly over the
            blocks.
        norm: ``"batch"``, ``"sync_batch"``, ``"group"``, ``"layer"``, ``"batch_renorm"``,
            ``"weight"``.
    """
    alpha = _check_alpha(cfg.alpha if alpha is None else alpha)
    drop_path_rate = check_drop_path(drop_path_rate, True, "MobileNetV2")
    rows = [(t, c, s if i == 0 else 1) for t, c, n, s in cfg.blocks for i in range(n)]
    out_names, last_stage = _stage_outputs([s for *_, s in rows], first_stage=1,
                                           close_last=False)
    last_channels = _width(cfg.last_channels, alpha) if alpha > 1 else cfg.last_channels

    def body(ctx, x):
        x = _conv_norm_act(ctx, x, _width(cfg.stem, alpha), 3, "stem", "relu6", strides=2)
        for i, ((t, c, s), out_name) in enumerate(zip(rows, out_names)):
            hidden = int(round(int(x.shape[-1]) * t))
            rate = drop_path_rate * i / max(1, len(rows) - 1)
            x = _inverted_residual(ctx, x, hidden, _width(c, alpha), 3, s, "relu6", False,
                                   f"block{i + 1}", rate, out_name)
        return _conv_norm_act(ctx, x, last_channels, 1, "head", "relu6",
                              out_name=f"stage{last_stage}_out")

    drop_rate = cfg.drop_rate if drop_rate is None else drop_rate
    return build_model(model_name, body, drop_rate=drop_rate, **kwargs)


def tiny_v2(cfg):
    """Two blocks (the second residual) in the 24-channel stage, one in each other row, a
    160-wide last convolution and a quarter of the width."""
    blocks = tuple((t, c, min(n, 2) if i == 1 else 1, s) for i, (t, c, n, s)
                   in enumerate(cfg.blocks))
    return dataclasses.replace(cfg, alpha=cfg.alpha / 4, blocks=blocks, last_channels=160)


V2_OPTIONS = {"alpha": None, "drop_rate": None, "drop_path_rate": 0.0, "norm": "batch"}
# torchvision's mobilenet_v2(width_mult=a) and timm's mobilenetv2_* agree wherever both exist;
# params.tsv has the rows of 1.0 and 1.4, the other widths are measured on torchvision.
V2 = dict(_FAMILY, family="mobilenet_v2", paper=MOBILENET_V2, tiny=tiny_v2,
          options=V2_OPTIONS, generic_builder="build_mobilenet_v2")


@register(**V2, config=MobileNetV2Config(alpha=0.35), params=1_677_128, flops=118_571_616,
          reference=measured("torchvision", "mobilenet_v2(width_mult=0.35)"))
def MobileNetV2_035(config, **kwargs):
    """MobileNetV2 0.35 (Sandler et al. 2018, arXiv:1801.04381, Table 2; width multiplier
    0.35): the stem rounds up to 16 channels, the last block is 112 wide and the final 1x1
    convolution keeps its 1280."""
    return build_mobilenet_v2("mobilenetv2_035", config, **kwargs)


@register(**V2, config=MobileNetV2Config(alpha=0.5), params=1_968_680, flops=194_263_680,
          reference=measured("torchvision", "mobilenet_v2(width_mult=0.5)"))
def MobileNetV2_050(config, **kwargs):
    """MobileNetV2 0.5 (arXiv:1801.04381, Table 2 at half width): blocks of 8 to 160
    channels before the final 1280-wide convolution."""
    return build_mobilenet_v2("mobilenetv2_050", config, **kwargs)


@register(**V2, config=MobileNetV2Config(alpha=0.75), params=2_636_424, flops=418_139_584,
          reference=measured("torchvision", "mobilenet_v2(width_mult=0.75)"))
def MobileNetV2_075(config, **kwargs):
    """MobileNetV2 0.75 (Sandler et al. 2018, arXiv:1801.04381, Table 2; width multiplier
    0.75): a 24-wide stem, 240 channels in the last block."""
    return build_mobilenet_v2("mobilenetv2_075", config, **kwargs)


@register(**V2, config=MobileNetV2Config(), params=3_504_872, flops=601_548_544,
          reference=Reference("torchvision", "mobilenet_v2"),
          keras_twin=KerasTwin("MobileNetV2", {"alpha": 1.0},
                               layout_options=_KERAS_PADDING))
def MobileNetV2(config, **kwargs):
    """MobileNetV2 1.0 (Sandler et al. 2018, arXiv:1801.04381, Table 2): 17 inverted residual
    blocks from 16 to 320 channels and a 1280-wide final 1x1 convolution; 3.4M parameters and
    300M multiply-adds (Table 4)."""
    return build_mobilenet_v2("mobilenetv2", config, **kwargs)


@register(**V2, config=MobileNetV2Config(alpha=1.3), params=5_386_792, flops=1_018_749_120,
          reference=measured("torchvision", "mobilenet_v2(width_mult=1.3)"))
def MobileNetV2_130(config, **kwargs):
    """MobileNetV2 1.3 (arXiv:1801.04381, Table 2; width multiplier 1.3). Above 1 the final
    1x1 convolution widens too, to 1664."""
    return build_mobilenet_v2("mobilenetv2_130", config, **kwargs)


@register(**V2, config=MobileNetV2Config(alpha=1.4), params=6_108_776, flops=1_164_391_648,
          reference=Reference("torchvision", "mobilenet_v2(width_mult=1.4)"))
def MobileNetV2_140(config, **kwargs):
    """MobileNetV2 1.4 (Sandler et al. 2018, arXiv:1801.04381, Table 2; 6.9M parameters and
    585M multiply-adds in Table 4): a 48-wide stem, 448 channels in the last block, a final
    convolution of 1792."""
    return build_mobilenet_v2("mobilenetv2_140", config, **kwargs)


# -- MobileNetV3 -----------------------------------------------------------------------------
def _v3_rows(table, stem=16):
    """Paper rows (kernel, exp size, #out, SE, NL, s) -> (kernel, expansion ratio, out, SE, NL,
    s). The expanded width is the ratio times the actual input width (TF-Slim, Keras, timm), so
    it scales with alpha exactly as the reference implementations do."""
    rows, in_channels = [], stem
    for kernel, exp, out, se, act, stride in table:
        rows.append((kernel, exp / in_channels, out, se, act, stride))
        in_channels = out
    return tuple(rows)


RE, HS = "relu", "hard_swish"
# arXiv:1905.02244 Table 1 (Large) and Table 2 (Small): kernel, exp size, #out, SE, NL, s.
V3_LARGE = _v3_rows((
    (3, 16, 16, False, RE, 1), (3, 64, 24, False, RE, 2), (3, 72, 24, False, RE, 1),
    (5, 72, 40, True, RE, 2), (5, 120, 40, True, RE, 1), (5, 120, 40, True, RE, 1),
    (3, 240, 80, False, HS, 2), (3, 200, 80, False, HS, 1), (3, 184, 80, False, HS, 1),
    (3, 184, 80, False, HS, 1), (3, 480, 112, True, HS, 1), (3, 672, 112, True, HS, 1),
    (5, 672, 160, True, HS, 2), (5, 960, 160, True, HS, 1), (5, 960, 160, True, HS, 1)))
V3_SMALL = _v3_rows((
    (3, 16, 16, True, RE, 2), (3, 72, 24, False, RE, 2), (3, 88, 24, False, RE, 1),
    (5, 96, 40, True, HS, 2), (5, 240, 40, True, HS, 1), (5, 240, 40, True, HS, 1),
    (5, 120, 48, True, HS, 1), (5, 144, 48, True, HS, 1), (5, 288, 96, True, HS, 2),
    (5, 576, 96, True, HS, 1), (5, 576, 96, True, HS, 1)))


@dataclasses.dataclass(frozen=True)
class MobileNetV3Config:
    """``blocks``: (kernel, expansion ratio, out channels, SE, activation, stride) per block."""

    blocks: tuple
    head_channels: int
    alpha: float = 1.0
    minimalistic: bool = False
    stem: int = 16
    last_expansion: int = 6  # the final 1x1 convolution: 6x the last block's width
    drop_rate: float = 0.2


#: Table 1 (Large) and Table 2 (Small), with their 1280- and 1024-wide hidden head layers
LARGE = MobileNetV3Config(V3_LARGE, head_channels=1280)
SMALL = MobileNetV3Config(V3_SMALL, head_channels=1024)


def build_mobilenet_v3(model_name, cfg, *, alpha=None, minimalistic=None, drop_rate=None,
                       drop_path_rate=0.0, **kwargs):
    """Builds MobileNetV3 (arXiv:1905.02244, Tables 1-2): a 3x3 stride-2 convolution with
    h-swish, inverted residual blocks with optional hard-sigmoid squeeze-and-excitation on the
    expanded channels, a 1x1 convolution to 6x the last width, global pooling, a 1280 (Large) or
    1024 (Small) wide hidden layer with h-swish, the classifier.

    As the reference implementations (torchvision, timm, TF-Slim, keras.applications): the SE
    block squeezes to ``make_divisible(expanded / 4, 8)`` with ReLU between its FCs; Table 2's
    SE on Small's last 1x1 convolution is not used (the published models and the 2,542,856
    count have none); the hidden layer before the classifier has a bias and no normalisation.
    The stem stays 16 wide for alpha < 0.75 (timm; keras.applications keeps 16 for every
    alpha), the hidden head layer grows with alpha > 1 only (keras.applications, TF-Slim).

    Architecture options:
        alpha: width multiplier; None keeps the configuration's.
        minimalistic: the "minimalistic" models of TF-Slim / keras.applications: no SE, no
            h-swish (ReLU throughout), 3x3 depthwise kernels only.
        drop_rate: dropout before the classifier; default 0.2 (the paper's keep probability
            0.8, torchvision, Keras).
        drop_path_rate: stochastic depth on the residual blocks, rising linearly.
        norm: ``"batch"``, ``"sync_batch"``, ``"group"``, ``"layer"``, ``"batch_renorm"``,
            ``"weight"``.
    """
    alpha = _check_alpha(cfg.alpha if alpha is None else alpha)
    minimalistic = cfg.minimalistic if minimalistic is None else bool(minimalistic)
    drop_path_rate = check_drop_path(drop_path_rate, True, "MobileNetV3")
    blocks = cfg.blocks
    if minimalistic:
        blocks = tuple((3, ratio, out, False, RE, s) for _, ratio, out, _, _, s in blocks)
    top_act = RE if minimalistic else HS
    strides = [b[-1] for b in blocks]
    stem_closes_stage = strides[0] > 1
    out_names, last_stage = _stage_outputs(strides, first_stage=2 if stem_closes_stage else 1,
                                           close_last=False)
    stem_width = cfg.stem if alpha < 0.75 else _width(cfg.stem, alpha)
    head_channels = _width(cfg.head_channels, alpha) if alpha > 1 else cfg.head_channels

    def body(ctx, x):
        x = _conv_norm_act(ctx, x, stem_width, 3, "stem", top_act, strides=2,
                           out_name="stage1_out" if stem_closes_stage else None)
        for i, ((kernel, ratio, out, se, act, s), out_name) in enumerate(zip(blocks, out_names)):
            hidden = make_divisible(int(x.shape[-1]) * ratio, 8)
            rate = drop_path_rate * i / max(1, len(blocks) - 1)
            x = _inverted_residual(ctx, x, hidden, _width(out, alpha), kernel, s, act, se,
                                   f"block{i + 1}", rate, out_name)
        return _conv_norm_act(ctx, x, int(x.shape[-1]) * cfg.last_expansion, 1, "last",
                              top_act, out_name=f"stage{last_stage}_out")

    def hidden(ctx, x):
        # timm's conv_head (1x1 conv with bias on the pooled map) / torchvision's classifier[0].
        x = keras.layers.Dense(head_channels, name=ctx.name("head_dense"))(x)
        return _act(ctx, x, top_act, "head_act")

    drop_rate = cfg.drop_rate if drop_rate is None else drop_rate
    return build_model(model_name, body, drop_rate=drop_rate, head=Head(hidden=hidden),
                       **kwargs)


def tiny_v3(cfg):
    """The first block of each resolution and the one after it (a residual block where the
    table has one), a 128-wide hidden head layer and a quarter of the width."""
    strides = [b[-1] for b in cfg.blocks]
    keep = [i for i in range(len(strides)) if i == 0 or strides[i] > 1 or strides[i - 1] > 1]
    return dataclasses.replace(cfg, alpha=cfg.alpha / 4, head_channels=128,
                               blocks=tuple(cfg.blocks[i] for i in keep))


V3_OPTIONS = {"alpha": None, "minimalistic": None, "drop_rate": None, "drop_path_rate": 0.0,
              "norm": "batch"}
# torchvision's rows in params.tsv for Large and Small 1.0; the other counts measured on timm.
V3 = dict(_FAMILY, family="mobilenet_v3", paper=MOBILENET_V3, tiny=tiny_v3,
          options=V3_OPTIONS, generic_builder="build_mobilenet_v3")
_NO_PREPROCESSING = "keras built without its Rescaling preprocessing (on by default)"


@register(**V3, config=LARGE, params=5_483_032, flops=433_179_520,
          reference=Reference("torchvision", "mobilenet_v3_large"),
          keras_twin=KerasTwin("MobileNetV3Large", {"include_preprocessing": False},
                               _NO_PREPROCESSING, layout_options=_KERAS_PADDING))
def MobileNetV3Large(config, **kwargs):
    """MobileNetV3-Large 1.0 (Howard et al. 2019, arXiv:1905.02244, Table 1): 15 searched
    blocks, SE in 8 of them and h-swish from the seventh, a 960-wide last convolution and a
    1280-wide hidden head layer; 5.4M parameters and 219M multiply-adds (Table 3)."""
    return build_mobilenet_v3("mobilenetv3large", config, **kwargs)


@register(**V3, config=dataclasses.replace(LARGE, alpha=0.75), params=3_993_528,
          flops=309_121_248, reference=measured("timm", "mobilenetv3_large_075"))
def MobileNetV3Large_075(config, **kwargs):
    """MobileNetV3-Large 0.75 (arXiv:1905.02244, Table 1 with width multiplier 0.75): the last
    block narrows to 120 channels and the last convolution to 720; the stem and the hidden head
    layer keep 16 and 1280."""
    return build_mobilenet_v3("mobilenetv3large_075", config, **kwargs)


@register(**V3, config=dataclasses.replace(LARGE, minimalistic=True), params=3_924_288,
          flops=418_273_408, reference=measured("timm", "tf_mobilenetv3_large_minimal_100"))
def MobileNetV3LargeMinimal(config, **kwargs):
    """MobileNetV3-Large minimalistic (Howard et al. 2019, arXiv:1905.02244, Table 1 as the
    TF-Slim / keras.applications minimalistic model): no SE, ReLU instead of h-swish, 3x3
    depthwise kernels only."""
    return build_mobilenet_v3("mobilenetv3largeminimal", config, **kwargs)


@register(**V3, config=SMALL, params=2_542_856, flops=113_020_800,
          reference=Reference("torchvision", "mobilenet_v3_small"),
          keras_twin=KerasTwin("MobileNetV3Small", {"include_preprocessing": False},
                               _NO_PREPROCESSING, layout_options=_KERAS_PADDING))
def MobileNetV3Small(config, **kwargs):
    """MobileNetV3-Small 1.0 (Howard et al. 2019, arXiv:1905.02244, Table 2): 11 blocks, the
    first already strided (the stem closes stage 1), a 576-wide last convolution and a
    1024-wide hidden head layer; 2.5M parameters and 56M multiply-adds (Table 3)."""
    return build_mobilenet_v3("mobilenetv3small", config, **kwargs)


@register(**V3, config=dataclasses.replace(SMALL, alpha=0.75), params=2_041_872,
          flops=86_798_688, reference=measured("timm", "mobilenetv3_small_075"))
def MobileNetV3Small_075(config, **kwargs):
    """MobileNetV3-Small 0.75 (arXiv:1905.02244, Table 2; width multiplier 0.75): 72 channels
    in the last block, 432 in the last convolution."""
    return build_mobilenet_v3("mobilenetv3small_075", config, **kwargs)


@register(**V3, config=dataclasses.replace(SMALL, alpha=0.5), params=1_593_224,
          flops=48_377_376, reference=measured("timm", "mobilenetv3_small_050"))
def MobileNetV3Small_050(config, **kwargs):
    """MobileNetV3-Small 0.5 (Howard et al. 2019, arXiv:1905.02244, Table 2 at half width):
    below alpha 0.75 the stem stays 16 wide (timm); the last block is 48 wide."""
    return build_mobilenet_v3("mobilenetv3small_050", config, **kwargs)


@register(**V3, config=dataclasses.replace(SMALL, minimalistic=True), params=2_044_736,
          flops=104_576_896, reference=measured("timm", "tf_mobilenetv3_small_minimal_100"))
def MobileNetV3SmallMinimal(config, **kwargs):
    """MobileNetV3-Small minimalistic (arXiv:1905.02244, Table 2, as TF-Slim's and
    keras.applications' minimalistic models): ReLU throughout, no squeeze-and-excitation, every
    depthwise kernel 3x3."""
    return build_mobilenet_v3("mobilenetv3smallminimal", config, **kwargs)
