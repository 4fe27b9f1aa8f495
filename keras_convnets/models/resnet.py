"""The residual family: one generic builder, the named networks as configurations.

Papers (each configuration's docstring names its table):

- ResNet v1: He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition", 2015,
  arXiv:1512.03385, Table 1.
- Pre-activation ResNet (v2): He, Zhang, Ren, Sun. "Identity Mappings in Deep Residual
  Networks", 2016, arXiv:1603.05027.
- ResNeXt: Xie, Girshick, Dollar, Tu, He. "Aggregated Residual Transformations for Deep Neural
  Networks", 2016, arXiv:1611.05431, Tables 1 and 3.
- SENet: Hu, Shen, Albanie, Sun, Wu. "Squeeze-and-Excitation Networks", 2017, arXiv:1709.01507,
  Table 1 and the ILSVRC 2017 entry (SENet-154, Appendix).
- Wide ResNet: Zagoruyko, Komodakis. "Wide Residual Networks", 2016, arXiv:1605.07146,
  Tables 1 and 4 and the ImageNet table (WRN-50-2).
- Res2Net: Gao, Cheng, Zhao, Zhang, Yang, Torr. "Res2Net: A New Multi-scale Backbone
  Architecture", 2019, arXiv:1904.01169.

Where the stride of a bottleneck sits: Kaiming He's released Caffe ResNets (and the Caffe SENets)
stride the first 1x1 convolution; Facebook's Torch code, which ResNeXt, the pre-activation
ImageNet nets and WRN-50-2 come from, strides the 3x3 (torchvision's "v1.5"). Each configuration
follows its paper's code; ``stride_in_1x1`` switches. Parameter counts do not depend on it,
FLOPs do.

Keras counts BatchNorm moving statistics as (non-trainable) parameters and PyTorch does not;
the reference counts in the registry are the trainable ones.
"""

import dataclasses

from ..applications import build_model
from ..backend import keras
from ..layers import ChannelSplit
from ..registry import Paper, register
from ..utils import check_choice, check_positive_int, check_rate

RESNET = Paper("Deep Residual Learning for Image Recognition", 2015, "1512.03385")
PREACT = Paper("Identity Mappings in Deep Residual Networks", 2016, "1603.05027")
RESNEXT = Paper("Aggregated Residual Transformations for Deep Neural Networks", 2016,
                "1611.05431")
SENET = Paper("Squeeze-and-Excitation Networks", 2017, "1709.01507")
WRN = Paper("Wide Residual Networks", 2016, "1605.07146")
RES2NET = Paper("Res2Net: A New Multi-scale Backbone Architecture", 2019, "1904.01169")

BLOCKS = ("basic", "bottleneck", "res2net")
STEMS = ("7x7", "deep", "cifar")
ATTENTIONS = (None, "se")
IMAGENET_WIDTHS = (64, 128, 256, 512)


@dataclasses.dataclass(frozen=True)
class ResNetConfig:
    """One residual network, as its paper's table describes it.

    ``widths`` are the per-stage "planes"; a block outputs ``planes * expansion`` channels and
    its (grouped) 3x3 convolution is ``floor(planes * base_width / 64) * cardinality`` wide.
    """

    depths: tuple
    block: str = "bottleneck"
    preact: bool = False
    widths: tuple = IMAGENET_WIDTHS
    cardinality: int = 1
    base_width: int = 64
    scales: int = 1  # Res2Net's s: the 3x3 is split into `scales` hierarchical groups
    stem: str = "7x7"
    ceil_mode_pool: bool = False  # Caffe-style unpadded stem max-pool (the SENet models)
    stride_in_1x1: bool = False
    shortcut_kernel: int = 1  # SENet-154 projects with 3x3 stride-2 convs after stage 1
    attention: str | None = None
    halved_conv1: bool = False  # SENet-154's "halved bottleneck": first 1x1 at half width
    # Cadene's SE-ResNet-18/34 basic block (the reference, timm's legacy_*) applies a ReLU
    # after the second norm, before SE and the sum; the paper defines no SE basic block.
    relu_before_se: bool = False
    drop_rate: float = 0.0
    # Deep Roots (arXiv:1605.06489): filter groups of each stage's 3x3, independent of width
    stage_groups: tuple | None = None

    @property
    def expansion(self):
        return 1 if self.block == "basic" else 4

    @property
    def stem_stride(self):
        return 1 if self.stem == "cifar" else 4

    @property
    def stem_width(self):
        return {"7x7": 64, "deep": 128, "cifar": 16}[self.stem]

    def bottleneck_width(self, planes):
        return planes * self.base_width // 64 * self.cardinality


def _block_names(stage, block):
    return f"stage{stage}_block{block}"


def _shortcut(ctx, cfg, x, out_channels, stride, stage, name, preact=None):
    """Identity, or a projection (conv + norm) where the channels change; a strided block
    with unchanged channels subsamples the identity. A pre-activation block projects its
    pre-activated input ``preact`` but leaves the identity untouched."""
    if int(x.shape[-1]) == out_channels:
        if stride == 1:
            return x
        # keras.applications' ResNetV2 layout strides a stage's last block, whose identity
        # shortcut is subsampled (a 1x1 max-pool) instead of projected
        return keras.layers.MaxPooling2D(1, strides=stride,
                                         name=ctx.name(name + "_shortcut_pool"))(x)
    kernel = cfg.shortcut_kernel if stage > 1 else 1
    x = ctx.conv(x if preact is None else preact, out_channels, kernel,
                 name + "_shortcut_conv", strides=stride)
    return x if cfg.preact else ctx.norm(x, name + "_shortcut_bn")


def _finish(ctx, cfg, options, residual, shortcut, name, drop_path_rate, out_name):
    """SE on the residual branch, stochastic depth, the sum, and (v1) the final ReLU."""
    if options["attention"] == "se":
        residual = ctx.se(residual, name + "_se", reduction=16)
    residual = ctx.drop_path(residual, drop_path_rate, name + "_drop_path")
    if cfg.preact:
        return ctx.add([shortcut, residual], out_name or name + "_add")
    x = ctx.add([shortcut, residual], name + "_add")
    return ctx.relu(x, out_name or name + "_out")


def _basic_block(ctx, cfg, options, x, planes, stride, stage, name, drop_path_rate, out_name):
    out_channels = planes
    zero = options["zero_init_residual"]
    if cfg.preact:
        preact = ctx.relu(ctx.norm(x, name + "_preact_bn"), name + "_preact_relu")
        shortcut = _shortcut(ctx, cfg, x, out_channels, stride, stage, name, preact)
        y = ctx.conv_norm_act(preact, planes, 3, name, strides=stride, suffix="1")
        if options["block_dropout"]:
            y = keras.layers.Dropout(options["block_dropout"], name=ctx.name(name + "_dropout"))(y)
        y = ctx.conv(y, planes, 3, name + "_conv2")
    else:
        shortcut = _shortcut(ctx, cfg, x, out_channels, stride, stage, name)
        y = ctx.conv_norm_act(x, planes, 3, name, strides=stride, suffix="1")
        y = ctx.conv_norm_act(y, planes, 3, name, act=cfg.relu_before_se, zero_init=zero,
                              suffix="2")
    return _finish(ctx, cfg, options, y, shortcut, name, drop_path_rate, out_name)


def _bottleneck_block(ctx, cfg, options, x, planes, stride, stage, name, drop_path_rate,
                      out_name):
    out_channels = planes * cfg.expansion
    width = cfg.bottleneck_width(planes)
    width1 = width // 2 if cfg.halved_conv1 else width
    stride1, stride2 = (stride, 1) if options["stride_in_1x1"] else (1, stride)
    if cfg.preact:
        preact = ctx.relu(ctx.norm(x, name + "_preact_bn"), name + "_preact_relu")
        shortcut = _shortcut(ctx, cfg, x, out_channels, stride, stage, name, preact)
        x = preact
    else:
        shortcut = _shortcut(ctx, cfg, x, out_channels, stride, stage, name)
    y = ctx.conv_norm_act(x, width1, 1, name, strides=stride1, suffix="1")
    groups = cfg.stage_groups[stage - 1] if cfg.stage_groups else cfg.cardinality
    y = ctx.conv_norm_act(y, width, 3, name, strides=stride2, groups=groups, suffix="2")
    if cfg.preact:  # norm + ReLU open the next block instead
        y = ctx.conv(y, out_channels, 1, name + "_conv3")
    else:
        y = ctx.conv_norm_act(y, out_channels, 1, name, act=False,
                              zero_init=options["zero_init_residual"], suffix="3")
    return _finish(ctx, cfg, options, y, shortcut, name, drop_path_rate, out_name)


def _res2net_block(ctx, cfg, options, x, planes, stride, stage, name, drop_path_rate,
                   out_name):
    """Res2Net bottleneck (Fig. 2b): the 3x3 becomes ``scales`` hierarchical 3x3s."""
    out_channels = planes * cfg.expansion
    width = cfg.bottleneck_width(planes)
    scales = cfg.scales
    # The first block of a stage (stride or projection) has no hierarchy: every split gets its
    # own conv and the last split is average-pooled instead of passed through.
    is_first = stride > 1 or int(x.shape[-1]) != out_channels
    shortcut = _shortcut(ctx, cfg, x, out_channels, stride, stage, name)
    y = ctx.conv_norm_act(x, width * scales, 1, name, suffix="1")
    splits = ChannelSplit(scales, name=ctx.name(name + "_split"))(y)
    outputs = []
    for i in range(max(1, scales - 1)):
        branch = splits[i]
        if i > 0 and not is_first:
            branch = ctx.add([outputs[-1], branch], f"{name}_scale{i + 1}_add")
        branch = ctx.conv_norm_act(branch, width, 3, name, strides=stride,
                                   groups=cfg.cardinality, suffix=f"2_{i + 1}")
        outputs.append(branch)
    if scales > 1:
        last = splits[-1]
        if is_first:
            last = ctx.avg_pool_padded(last, name + "_pool", strides=stride)
        outputs.append(last)
    y = keras.layers.Concatenate(name=ctx.name(name + "_concat"))(outputs)
    y = ctx.conv_norm_act(y, out_channels, 1, name, act=False,
                          zero_init=options["zero_init_residual"], suffix="3")
    return _finish(ctx, cfg, options, y, shortcut, name, drop_path_rate, out_name)


_BLOCK_FUNCTIONS = {"basic": _basic_block, "bottleneck": _bottleneck_block,
                    "res2net": _res2net_block}


def _stem(ctx, cfg, x):
    if cfg.stem == "cifar":
        x = ctx.conv(x, 16, 3, "stem_conv")
        return x if cfg.preact else ctx.relu(ctx.norm(x, "stem_bn"), "stem_relu")
    if cfg.stem == "deep":  # SENet-154: three 3x3 convs replace the 7x7 (trick c)
        x = ctx.conv_norm_act(x, 64, 3, "stem", strides=2, suffix="1")
        x = ctx.conv_norm_act(x, 64, 3, "stem", suffix="2")
        x = ctx.conv_norm_act(x, 128, 3, "stem", suffix="3")
    elif cfg.preact:  # the first block's pre-activation normalises the stem's output
        x = ctx.conv(x, 64, 7, "stem_conv", strides=2)
        return ctx.max_pool(x, "stem_pool", signed=True)  # pools the raw, signed conv output
    else:
        x = ctx.conv_norm_act(x, 64, 7, "stem", strides=2)
    return ctx.max_pool(x, "stem_pool", ceil_mode=cfg.ceil_mode_pool)


def _body(cfg, options):
    block_fn = _BLOCK_FUNCTIONS[cfg.block]
    total_blocks = sum(cfg.depths)

    def body(ctx, x):
        x = _stem(ctx, cfg, x)
        index = 0
        last_stage = len(cfg.depths)
        for stage, (depth, planes) in enumerate(zip(cfg.depths, cfg.widths), start=1):
            for block in range(1, depth + 1):
                if options["stride_in_last_block"]:
                    stride = 2 if block == depth and stage < last_stage else 1
                else:
                    stride = 2 if block == 1 and stage > 1 else 1
                rate = options["drop_path_rate"] * index / max(1, total_blocks - 1)
                is_stage_end = block == depth
                # The stage output is the block output, except that a pre-activation net's
                # last stage ends after the final norm + ReLU.
                out_name = (f"stage{stage}_out"
                            if is_stage_end and not (cfg.preact and stage == last_stage) else None)
                x = block_fn(ctx, cfg, options, x, planes, stride, stage,
                             _block_names(stage, block), rate, out_name)
                index += 1
        if cfg.preact:
            x = ctx.relu(ctx.norm(x, "post_bn"), f"stage{last_stage}_out")
        return x

    return body


def build_resnet(model_name, cfg, *, stride_in_1x1=None, stride_in_last_block=False,
                 attention=None, drop_path_rate=0.0, block_dropout=0.0,
                 zero_init_residual=False, drop_rate=None, cardinality=None, base_width=None,
                 **kwargs):
    """Builds a residual network from ``cfg``; arguments that are None keep the config's value.

    Architecture options:
        cardinality: groups of the bottleneck 3x3 (ResNeXt's C).
        base_width: width per group at the first stage (ResNeXt's d; 64 for plain ResNets,
            128 for WRN-50-2); ``ResNeXt50(cardinality=16, base_width=8)`` is a 16x8d.
        stride_in_1x1: stride the bottleneck's first 1x1 (Caffe / paper v1) instead of the 3x3.
        stride_in_last_block: pre-activation nets only -- the TF-Slim / ``keras.applications``
            ResNetV2 layout: stages 1-3 end with a stride-2 block (its 3x3 strided, its identity
            shortcut subsampled) instead of stages 2-4 starting with one. Same parameters,
            15% fewer FLOPs for ResNet-50 V2 (the 1x1s around each stride run at the lower
            resolution);
            each ``stage<n>_out`` then has twice the stride of ``stage_strides`` (stages 1-3).
        attention: ``"se"`` adds a squeeze-and-excitation block (r = 16) to every residual
            branch before the sum; None for none.
        drop_path_rate: stochastic-depth rate, rising linearly from 0 to this over the blocks.
        block_dropout: dropout between the two 3x3 convs of a pre-activation basic block (WRN).
        zero_init_residual: start each residual branch's last norm scale at zero (Goyal et al.).
        drop_rate: dropout before the classifier (default: the configuration's).
    """
    options = {
        "stride_in_1x1": cfg.stride_in_1x1 if stride_in_1x1 is None else bool(stride_in_1x1),
        "stride_in_last_block": bool(stride_in_last_block),
        "attention": check_choice("attention", attention if attention is not None
                                  else cfg.attention, ATTENTIONS),
        "drop_path_rate": check_rate("drop_path_rate", drop_path_rate),
        "block_dropout": check_rate("block_dropout", block_dropout),
        "zero_init_residual": bool(zero_init_residual),
    }
    if options["stride_in_last_block"] and not cfg.preact:
        raise ValueError("`stride_in_last_block` applies only to pre-activation ResNets (the "
                         "keras.applications ResNetV2 layout); got it for a v1 network.")
    if options["block_dropout"] and not (cfg.preact and cfg.block == "basic"):
        raise ValueError("`block_dropout` applies only to pre-activation basic blocks (WRN).")
    if cardinality is not None or base_width is not None:
        if cfg.stage_groups:
            raise ValueError("`cardinality` and `base_width` do not apply to a configuration "
                             "with per-stage filter groups (Deep Roots).")
        if cfg.block == "basic":
            raise ValueError("`cardinality` and `base_width` apply to bottleneck blocks only.")
        cardinality = cfg.cardinality if cardinality is None else cardinality
        base_width = cfg.base_width if base_width is None else base_width
        cfg = dataclasses.replace(cfg, cardinality=check_positive_int("cardinality", cardinality),
                                  base_width=check_positive_int("base_width", base_width))
    if cfg.block != "basic" and cfg.widths[0] * cfg.base_width // 64 < 1:
        raise ValueError(
            f"`base_width`={cfg.base_width} leaves the first stage's groups without channels "
            f"({cfg.widths[0]} x {cfg.base_width} / 64 < 1); use base_width >= "
            f"{-(-64 // cfg.widths[0])}.")
    drop_rate = cfg.drop_rate if drop_rate is None else drop_rate
    return build_model(model_name, _body(cfg, options), drop_rate=drop_rate, **kwargs)


RESNET_OPTIONS = {"stride_in_1x1": None, "attention": None, "drop_path_rate": 0.0,
                  "zero_init_residual": False, "drop_rate": None, "norm": "batch",
                  "cardinality": None, "base_width": None}
PREACT_OPTIONS = dict(RESNET_OPTIONS, stride_in_last_block=False)
WRN_OPTIONS = dict(PREACT_OPTIONS, block_dropout=0.0)
CIFAR = dict(default_size=32, min_size=8, stage_strides=(1, 2, 4), default_classes=10)


def _named(func_name, cfg, doc, **registration):
    """Defines and registers the named builder ``func_name`` for ``cfg``."""
    model_name = func_name.lower()

    def builder(**kwargs):
        return build_resnet(model_name, cfg, **kwargs)

    builder.__name__ = builder.__qualname__ = func_name
    if registration.get("params") is None and registration.get("paper_params") is None:
        doc += f" No exact reference parameter count: {registration['reference']}."
    doc += _weights_note(model_name, cfg)
    builder.__doc__ = doc + _COMMON_DOC
    options = (RESNET_OPTIONS if not cfg.preact
               else WRN_OPTIONS if cfg.block == "basic" else PREACT_OPTIONS)
    registered = register(options=options, **registration)(builder)
    registered.config = cfg
    registered.tiny = lambda **kwargs: build_resnet(model_name, tiny_config(cfg), **kwargs)
    return registered


def tiny_config(cfg):
    """The same topology at a fraction of the cost, for behaviour tests: two blocks in the first
    stage (a projection and an identity block), one in the others, 1/8 of the widths."""
    depths = (min(cfg.depths[0], 2),) + tuple(1 for _ in cfg.depths[1:])
    widths = tuple(max(2, w // 8) for w in cfg.widths)
    grouped = dict(cardinality=4, base_width=16) if cfg.cardinality > 1 else {}
    if cfg.stage_groups:
        grouped = dict(stage_groups=tuple(max(1, g // 8) for g in cfg.stage_groups))
    return dataclasses.replace(cfg, depths=depths, widths=widths, **grouped)


def _weights_note(model_name, cfg):
    """Where the configuration's weights port from, and the layout option they need."""
    from . import resnet_weights  # data only

    if model_name not in resnet_weights.SOURCES:
        return ""
    source, _, options = resnet_weights.SOURCES[model_name]
    note = f" Weights: ``keras-convnets port {model_name}`` (from {source})"
    if options.get("stride_in_1x1") is False and cfg.stride_in_1x1:
        note += (", built with ``stride_in_1x1=False``: the reference strides the 3x3 "
                 "(torchvision's \"v1.5\") where this configuration, as the paper's Caffe "
                 "models, strides the first 1x1. Parameters are the same; FLOPs are not "
                 "(the registry's FLOPs are the paper layout's). The parity test and "
                 "``weights=\"imagenet\"`` build that layout")
    elif options:
        note += ", built with " + ", ".join(f"``{k}={v!r}``" for k, v in options.items())
    return note + "."


_COMMON_DOC = """

    Takes the ``keras.applications`` arguments (``include_top, weights, input_tensor,
    input_shape, pooling, classes, classifier_activation, name``) and the residual family's
    options (see :func:`build_resnet`). Returns a functional ``keras.Model``.
    """

# --------------------------------------------------------------------------------------------
# ResNet v1 -- Table 1 of arXiv:1512.03385. Kaiming He's released models stride the first 1x1
# of the bottleneck (stride_in_1x1=False gives torchvision's "v1.5").
# --------------------------------------------------------------------------------------------
_V1 = dict(family="resnet", paper=RESNET)
_V1_TABLE = {
    # name: (block, depths, params, FLOPs with the paper's stride-in-1x1, reference)
    "ResNet18": ("basic", (2, 2, 2, 2), 11_689_512, 3_628_146_688, "torchvision resnet18"),
    "ResNet34": ("basic", (3, 4, 6, 3), 21_797_672, 7_327_522_816, "torchvision resnet34"),
    "ResNet50": ("bottleneck", (3, 4, 6, 3), 25_557_032, 7_715_946_496,
                 "pytorchcv resnet50 (stride in 1x1; torchvision resnet50 is v1.5)"),
    "ResNet101": ("bottleneck", (3, 4, 23, 3), 44_549_160, 15_140_388_864,
                  "pytorchcv resnet101 (stride in 1x1; torchvision resnet101 is v1.5)"),
    "ResNet152": ("bottleneck", (3, 8, 36, 3), 60_192_808, 22_564_831_232,
                  "pytorchcv resnet152 (stride in 1x1; torchvision resnet152 is v1.5)"),
    "ResNet200": ("bottleneck", (3, 24, 36, 3), 64_673_832, None,
                  "timm 1.0.31 resnet200, measured (not in params.tsv; its FLOPs are v1.5)"),
}
for _name, (_block, _depths, _params, _flops, _ref) in _V1_TABLE.items():
    globals()[_name] = _named(
        _name, ResNetConfig(_depths, block=_block, stride_in_1x1=True),
        f"{_name[:6]}-{_name[6:]} v1 (He et al. 2015, arXiv:1512.03385, Table 1).",
        params=_params, flops=_flops, reference=_ref, **_V1)

# --------------------------------------------------------------------------------------------
# Pre-activation ResNet (v2) for ImageNet: timm's resnetv2 layout -- a bare 7x7 stem conv,
# BN-ReLU before every conv, projections from the pre-activated input, a final BN-ReLU. The
# identity shortcut is left untouched, as arXiv:1603.05027 Fig. 1b asks.
# --------------------------------------------------------------------------------------------
_V2 = dict(family="resnet_v2", paper=PREACT)
_V2_TABLE = {
    "ResNet50V2": ((3, 4, 6, 3), 25_549_352, 8_178_368_512, "timm resnetv2_50", None),
    "ResNet101V2": ((3, 4, 23, 3), 44_541_480, 15_602_810_880, "timm resnetv2_101", None),
    "ResNet152V2": ((3, 8, 36, 3), 60_185_128, 23_027_253_248, "timm resnetv2_152", None),
    "ResNet200V2": ((3, 24, 36, 3), None, None, "WRN paper's ImageNet table (pre-ResNet-200)",
                    64.7),
}
for _name, (_depths, _params, _flops, _ref, _paper) in _V2_TABLE.items():
    globals()[_name] = _named(
        _name, ResNetConfig(_depths, preact=True),
        f"Pre-activation {_name[:-2]} (He et al. 2016, arXiv:1603.05027), stride in the 3x3."
        + (f" Trainable parameters {_params:,}: timm's resnetv2 layout (a bare 7x7 stem conv, "
           f"a final BN-ReLU), whose weights port; pytorchcv's preresnet (also in params.tsv) "
           f"adds a stem BN (128 parameters) and strides the first 1x1." if _params else ""),
        params=_params, flops=_flops, reference=_ref, paper_params=_paper, **_V2)

# CIFAR pre-activation bottleneck ResNets (arXiv:1603.05027 Table 2/3): 9n+2 layers.
_CIFAR_PREACT = {
    "PreActResNet164": (164, 1.7, "trainable", "1,703,258 with 10 classes: the paper's 1.7M."),
    "PreActResNet1001": (1001, 10.2, "conv", "10,327,706 with 10 classes; the paper's 10.2M "
                         "is the convolution weights alone (10,175,920), without BN and fc."),
}
for _name, (_depth, _paper, _scope, _note) in _CIFAR_PREACT.items():
    _n = (_depth - 2) // 9
    globals()[_name] = _named(
        _name, ResNetConfig((_n, _n, _n), preact=True, widths=(16, 32, 64), stem="cifar"),
        f"CIFAR pre-activation ResNet-{_depth} (arXiv:1603.05027, Table 2): three stages of "
        f"{_n} bottleneck blocks, 64/128/256 channels. No reference implementation; "
        f"parameters: {_note}",
        family="resnet_v2", paper=PREACT, paper_params=_paper, paper_params_scope=_scope,
        **CIFAR)

# --------------------------------------------------------------------------------------------
# ResNeXt -- Table 1 (32x4d) and Table 3 (cardinality vs width at equal complexity) of
# arXiv:1611.05431; stride in the grouped 3x3, as the paper's Torch code.
# --------------------------------------------------------------------------------------------
_X = dict(family="resnext", paper=RESNEXT)
_X_TABLE = {
    "ResNeXt50": ((3, 4, 6, 3), 32, 4, 25_028_904, 8_460_959_744, "torchvision resnext50_32x4d"),
    # Table 3's equal-complexity variants: no reference implementation has them and the paper
    # gives no parameter counts ("~4.1 GFLOPs" each; these are 4.1-4.3 GMACs).
    "ResNeXt50_2x40d": ((3, 4, 6, 3), 2, 40, None, None,
                        "no reference implementation or paper count"),
    "ResNeXt50_4x24d": ((3, 4, 6, 3), 4, 24, None, None,
                        "no reference implementation or paper count"),
    "ResNeXt50_8x14d": ((3, 4, 6, 3), 8, 14, None, None,
                        "no reference implementation or paper count"),
    "ResNeXt101": ((3, 4, 23, 3), 32, 4, 44_177_704, 15_939_993_600, "timm resnext101_32x4d"),
    "ResNeXt101_32x8d": ((3, 4, 23, 3), 32, 8, 88_791_336, 32_828_030_976,
                         "torchvision resnext101_32x8d"),
    "ResNeXt101_64x4d": ((3, 4, 23, 3), 64, 4, 83_455_272, 30_920_540_160,
                         "torchvision resnext101_64x4d"),
}
for _name, (_depths, _card, _width, _params, _flops, _ref) in _X_TABLE.items():
    globals()[_name] = _named(
        _name, ResNetConfig(_depths, cardinality=_card, base_width=_width),
        f"ResNeXt-{_name[7:].split('_')[0]} {_card}x{_width}d (Xie et al. 2016, arXiv:1611.05431, "
        f"{'Table 1' if _card == 32 and _width == 4 else 'Table 3'}).",
        params=_params, flops=_flops, reference=_ref, **_X)

# --------------------------------------------------------------------------------------------
# SENets -- Table 1 of arXiv:1709.01507, as the authors' Caffe models (timm's legacy_* and
# Cadene's pretrainedmodels): SE width exactly C/16, a ceil-mode stem pool, SE-ResNet strides
# the 1x1 and SE-ResNeXt / SENet-154 the 3x3. SE-ResNet-18/34 are not in the paper; they follow
# Cadene's basic block, which has a ReLU between the second BN and SE. (timm's newer seresnet* round the SE width to a
# multiple of 8 and differ by a few hundred parameters.)
# --------------------------------------------------------------------------------------------
_SE = dict(family="senet", paper=SENET)
_SE_TABLE = {
    "SEResNet18": (dict(depths=(2, 2, 2, 2), block="basic", relu_before_se=True), 11_778_592,
                   3_628_320_768, "timm legacy_seresnet18"),
    "SEResNet34": (dict(depths=(3, 4, 6, 3), block="basic", relu_before_se=True), 21_958_868,
                   7_327_837_184, "timm legacy_seresnet34"),
    "SEResNet50": (dict(depths=(3, 4, 6, 3), stride_in_1x1=True), 28_088_024, 7_720_976_384,
                   "timm legacy_seresnet50"),
    "SEResNet101": (dict(depths=(3, 4, 23, 3), stride_in_1x1=True), 49_326_872,
                    15_149_875_200, "timm legacy_seresnet101"),
    "SEResNet152": (dict(depths=(3, 8, 36, 3), stride_in_1x1=True), 66_821_848,
                    22_577_987_584, "timm legacy_seresnet152"),
    "SEResNeXt50": (dict(depths=(3, 4, 6, 3), cardinality=32, base_width=4), 27_559_896,
                    8_465_989_632, "timm legacy_seresnext50_32x4d"),
    "SEResNeXt101": (dict(depths=(3, 4, 23, 3), cardinality=32, base_width=4), 48_955_416,
                     15_949_479_936, "timm legacy_seresnext101_32x4d"),
    # ResNeXt-152 64x4d with the ILSVRC 2017 tricks: halved first 1x1, three-conv stem,
    # 3x3 stride-2 projections, dropout 0.2 before the classifier.
    "SENet154": (dict(depths=(3, 8, 36, 3), cardinality=64, base_width=4, stem="deep",
                      halved_conv1=True, shortcut_kernel=3, drop_rate=0.2), 115_088_984,
                 41_376_727_040, "timm legacy_senet154"),
}
for _name, (_kwargs, _params, _flops, _ref) in _SE_TABLE.items():
    globals()[_name] = _named(
        _name, ResNetConfig(attention="se", ceil_mode_pool=True, **_kwargs),
        f"{_name} (Hu et al. 2017, arXiv:1709.01507, Table 1), the authors' Caffe layout.",
        params=_params, flops=_flops, reference=_ref, **_SE)

# --------------------------------------------------------------------------------------------
# Wide ResNets. CIFAR WRN-d-k: Table 1 of arXiv:1605.07146 (pre-activation B(3,3) blocks,
# widths 16k/32k/64k, N = (d - 4) / 6 per group) with the parameter counts of its Table 4.
# ImageNet WRN-50-2 / 101-2: ResNet-50 / 101 with bottlenecks twice as wide.
# --------------------------------------------------------------------------------------------
_WRN_TABLE = {(40, 1): 0.6, (40, 2): 2.2, (40, 4): 8.9, (40, 8): 35.7, (28, 10): 36.5,
              (28, 12): 52.5, (22, 8): 17.2, (22, 10): 26.8, (16, 8): 11.0, (16, 10): 17.1}
for (_depth, _k), _paper in _WRN_TABLE.items():
    _n = (_depth - 4) // 6
    _name = f"WideResNet{_depth}_{_k}"
    globals()[_name] = _named(
        _name, ResNetConfig((_n, _n, _n), block="basic", preact=True,
                            widths=(16 * _k, 32 * _k, 64 * _k), stem="cifar"),
        f"CIFAR WRN-{_depth}-{_k} (Zagoruyko & Komodakis 2016, arXiv:1605.07146, Table 1; "
        f"{_paper}M parameters in its table). Pass ``block_dropout=0.3`` for the paper's "
        f"dropout variant.",
        family="wide_resnet", paper=WRN, paper_params=_paper, **CIFAR)

for _name, _title, _depths, _params, _flops, _ref in (
        ("WideResNet50_2", "WRN-50-2", (3, 4, 6, 3), 68_883_240, 22_796_042_240,
         "torchvision wide_resnet50_2"),
        ("WideResNet101_2", "WRN-101-2", (3, 4, 23, 3), 126_886_696, 45_506_101_248,
         "torchvision wide_resnet101_2")):
    globals()[_name] = _named(
        _name, ResNetConfig(_depths, base_width=128),
        f"{_title}-bottleneck (arXiv:1605.07146, ImageNet table): ResNet-{_title[4:-2]} with "
        f"bottleneck 3x3 convolutions twice as wide; stride in the 3x3.",
        family="wide_resnet", paper=WRN, params=_params, flops=_flops, reference=_ref)

# --------------------------------------------------------------------------------------------
# Res2Net (arXiv:1904.01169): `base_width` w per scale and `scales` s ("26w x 4s").
# --------------------------------------------------------------------------------------------
_R2_TABLE = {
    "Res2Net50": ((3, 4, 6, 3), 26, 4, 1, None, 25_699_120, 8_510_332_928,
                  "timm res2net50_26w_4s"),
    # Not in params.tsv: counts and FLOPs measured on timm 1.0.31 the same way.
    "Res2Net50_14w8s": ((3, 4, 6, 3), 14, 8, 1, None, 25_059_816, 8_357_797_888,
                        "timm res2net50_14w_8s (measured)"),
    "Res2Net50_26w6s": ((3, 4, 6, 3), 26, 6, 1, None, 37_051_448, 12_591_046_656,
                        "timm res2net50_26w_6s (measured)"),
    "Res2Net50_26w8s": ((3, 4, 6, 3), 26, 8, 1, None, 48_403_776, 16_671_760_384,
                        "timm res2net50_26w_8s (measured)"),
    "Res2Net50_48w2s": ((3, 4, 6, 3), 48, 2, 1, None, 25_287_304, 8_319_664_128,
                        "timm res2net50_48w_2s (measured)"),
    "Res2Net101": ((3, 4, 23, 3), 26, 4, 1, None, 45_206_688, 16_133_948_928,
                   "timm res2net101_26w_4s"),
    "Res2NeXt50": ((3, 4, 6, 3), 4, 4, 8, None, 24_671_464, 8_345_354_240, "timm res2next50"),
    "SERes2Net50": ((3, 4, 6, 3), 26, 4, 1, "se", None, None,
                    "no reference implementation or paper count; Res2Net-50 26w4s with "
                    "SE (r = 16, exact C/16) before the sum"),
}
for _name, (_depths, _w, _s, _card, _attn, _params, _flops, _ref) in _R2_TABLE.items():
    globals()[_name] = _named(
        _name, ResNetConfig(_depths, block="res2net", base_width=_w, scales=_s,
                            cardinality=_card, attention=_attn),
        f"{_name} {_w}w x {_s}s{f', cardinality {_card}' if _card > 1 else ''} "
        f"(Gao et al. 2019, arXiv:1904.01169).",
        family="res2net", paper=RES2NET, params=_params, flops=_flops, reference=_ref)

del _name, _depths, _params, _flops, _ref
