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
- RoR: Zhang, Sun, Han, Yuan, Guo, Liu. "Residual Networks of Residual Networks: Multilevel
  Residual Networks", 2016, arXiv:1608.02908 -- the ``ror_levels`` option (root- and
  mid-level shortcuts) on any of these nets; RoR3_56/110/164 and RoR3_WRN58_4 named.
- Multi-residual networks: Abdi, Nahavandi. "Multi-Residual Networks: Improving the Speed and
  Accuracy of Residual Networks", 2016, arXiv:1609.05672 -- the ``residual_functions`` option
  (k residual functions per block); MultiResNet200 named. (Merge-and-Run's two parallel streams
  live in models/dmrnet.py.)

Where the stride of a bottleneck sits: Kaiming He's released Caffe ResNets (and the Caffe SENets)
stride the first 1x1 convolution; Facebook's Torch code, which ResNeXt, the pre-activation
ImageNet nets and WRN-50-2 come from, strides the 3x3 (torchvision's "v1.5"). Each configuration
follows its paper's code; ``stride_in_1x1`` switches. Parameter counts do not depend on it,
FLOPs do.

Ported weights: the checkpoint a docstring names (``torchvision:...``, ``timm:...``) is the one
``keras-convnets port <name>`` converts and ``weights="imagenet"`` loads, with the option it
needs. torchvision's and timm's v1 ResNet-50/101/152/200 are v1.5 (stride in the 3x3) where
this family, as the paper's Caffe models, strides the first 1x1: they port into
``stride_in_1x1=False``, the layout the parity test and ``weights="imagenet"`` build; the
registry's FLOPs stay the paper layout's. The pre-activation ImageNet nets port timm's resnetv2
(a bare 7x7 stem conv, a final BN-ReLU, the stride at the start of stages 2-4:
``stride_in_last_block=False``, the default); ``stride_in_last_block=True`` builds
keras.applications' ResNetV2 layout instead. pytorchcv's preresnet, also in params.tsv, adds a
stem BN (128 parameters) and strides the first 1x1.

RoR's layout: the paper's text and tables were not at hand; the default
(``ror_downsampling="max_pool"``) is that of the two implementations there are, pytorchcv's
``ror3_*_cifar10`` (whose weights port, logit parity) and titu1994's Keras RoR-WRN: stride-1
blocks, a 2x2 max-pool between stages after the mid-level sum, every mid-level shortcut a 1x1
projection, the root-level one a stride-4 1x1 projection of the stem output. The
``"stride"`` alternative keeps the base net's stride-2 blocks and projects only where the shape
changes. Shortcut projections carry a BN in v1 nets and none in pre-activation nets, as the
blocks' own.

Keras counts BatchNorm moving statistics as (non-trainable) parameters and PyTorch does not;
the reference counts in the registry are the trainable ones.
"""

import dataclasses

from ..applications import build_model
from ..backend import keras
from ..layers import ChannelSplit
from ..registry import KerasTwin, Paper, Reference, measured, no_reference, register
from ..utils import check_choice, check_positive_int, check_rate

RESNET = Paper("Deep Residual Learning for Image Recognition", 2015, "1512.03385")
PREACT = Paper("Identity Mappings in Deep Residual Networks", 2016, "1603.05027")
RESNEXT = Paper("Aggregated Residual Transformations for Deep Neural Networks", 2016,
                "1611.05431")
SENET = Paper("Squeeze-and-Excitation Networks", 2017, "1709.01507")
WRN_PAPER = Paper("Wide Residual Networks", 2016, "1605.07146")
RES2NET = Paper("Res2Net: A New Multi-scale Backbone Architecture", 2019, "1904.01169")

BLOCKS = ("basic", "bottleneck", "res2net")
STEMS = ("7x7", "deep", "cifar")
ATTENTIONS = (None, "se")
ROR_LEVELS = (1, 2, 3)
ROR_DOWNSAMPLING = ("max_pool", "stride")
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
    # Multi-residual networks (arXiv:1609.05672): k residual functions summed in every block
    residual_functions: int = 1
    # RoR (arXiv:1608.02908): shortcut levels m (1: none; 2: + root; 3: + one per stage) and
    # how stages downsample under them ("max_pool" or "stride", see build_resnet)
    ror_levels: int = 1
    ror_downsampling: str = "max_pool"

    @property
    def expansion(self):
        return 1 if self.block == "basic" else 4

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


def _sum_functions(ctx, residuals, name):
    """The residual of a block: its one function, or the sum of its ``k`` functions
    (multi-residual)."""
    return residuals[0] if len(residuals) == 1 else ctx.add(residuals, name + "_functions_sum")


def _function_names(options, name):
    """Layer-name prefixes of a block's residual functions: the block's own name for one,
    ``<block>_f1 .. _fk`` for several."""
    k = options["residual_functions"]
    return [name] if k == 1 else [f"{name}_f{j}" for j in range(1, k + 1)]


def _finish(ctx, cfg, options, residual, shortcut, name, drop_path_rate, out_name, extras=()):
    """SE on the residual branch, stochastic depth, the sum (with RoR's higher-level shortcuts
    ``extras`` where they end in this block), and (v1) the final ReLU."""
    if options["attention"] == "se":
        residual = ctx.se(residual, name + "_se", reduction=16)
    residual = ctx.drop_path(residual, drop_path_rate, name + "_drop_path")
    if cfg.preact:
        return ctx.add([shortcut, residual, *extras], out_name or name + "_add")
    x = ctx.add([shortcut, residual, *extras], name + "_add")
    return ctx.relu(x, out_name or name + "_out")


def _is_projecting(x, out_channels, stride):
    return int(x.shape[-1]) != out_channels or stride > 1


def _preactivate(ctx, options, x, out_channels, stride, name):
    """A pre-activation block's BN-ReLU: one shared by all residual functions (and the
    projection) where the block projects; with several functions and an identity shortcut,
    one per function, as the multi-residual networks' code (arXiv:1609.05672) has it."""
    branches = _function_names(options, name)
    if len(branches) > 1 and not _is_projecting(x, out_channels, stride):
        return None, [ctx.relu(ctx.norm(x, b + "_preact_bn"), b + "_preact_relu")
                      for b in branches]
    preact = ctx.relu(ctx.norm(x, name + "_preact_bn"), name + "_preact_relu")
    return preact, [preact] * len(branches)


def _basic_block(ctx, cfg, options, x, planes, stride, stage, name, drop_path_rate, out_name,
                 extras=()):
    out_channels = planes
    zero = options["zero_init_residual"]
    branches = _function_names(options, name)
    residuals = []
    if cfg.preact:
        preact, inputs = _preactivate(ctx, options, x, out_channels, stride, name)
        shortcut = _shortcut(ctx, cfg, x, out_channels, stride, stage, name, preact)
        for branch, branch_in in zip(branches, inputs):
            y = ctx.conv_norm_act(branch_in, planes, 3, branch, strides=stride, suffix="1")
            if options["block_dropout"]:
                y = keras.layers.Dropout(options["block_dropout"],
                                         name=ctx.name(branch + "_dropout"))(y)
            residuals.append(ctx.conv(y, planes, 3, branch + "_conv2"))
    else:
        shortcut = _shortcut(ctx, cfg, x, out_channels, stride, stage, name)
        for branch in branches:
            y = ctx.conv_norm_act(x, planes, 3, branch, strides=stride, suffix="1")
            residuals.append(ctx.conv_norm_act(y, planes, 3, branch, act=cfg.relu_before_se,
                                               zero_init=zero, suffix="2"))
    residual = _sum_functions(ctx, residuals, name)
    return _finish(ctx, cfg, options, residual, shortcut, name, drop_path_rate, out_name,
                   extras)


def _bottleneck_block(ctx, cfg, options, x, planes, stride, stage, name, drop_path_rate,
                      out_name, extras=()):
    out_channels = planes * cfg.expansion
    width = cfg.bottleneck_width(planes)
    width1 = width // 2 if cfg.halved_conv1 else width
    stride1, stride2 = (stride, 1) if options["stride_in_1x1"] else (1, stride)
    branches = _function_names(options, name)
    if cfg.preact:
        preact, inputs = _preactivate(ctx, options, x, out_channels, stride, name)
        shortcut = _shortcut(ctx, cfg, x, out_channels, stride, stage, name, preact)
    else:
        shortcut = _shortcut(ctx, cfg, x, out_channels, stride, stage, name)
        inputs = [x] * len(branches)
    groups = cfg.stage_groups[stage - 1] if cfg.stage_groups else cfg.cardinality
    residuals = []
    for branch, branch_in in zip(branches, inputs):
        y = ctx.conv_norm_act(branch_in, width1, 1, branch, strides=stride1, suffix="1")
        y = ctx.conv_norm_act(y, width, 3, branch, strides=stride2, groups=groups, suffix="2")
        if cfg.preact:  # norm + ReLU open the next block instead
            y = ctx.conv(y, out_channels, 1, branch + "_conv3")
        else:
            y = ctx.conv_norm_act(y, out_channels, 1, branch, act=False,
                                  zero_init=options["zero_init_residual"], suffix="3")
        residuals.append(y)
    residual = _sum_functions(ctx, residuals, name)
    return _finish(ctx, cfg, options, residual, shortcut, name, drop_path_rate, out_name,
                   extras)


def res2net_multiscale(ctx, x, width, scales, stride, groups, is_first, name):
    """Res2Net's multi-scale core (arXiv:1904.01169, Fig. 2b), shared by the residual and the
    DLA hosts: a 1x1 to ``width * scales`` channels, split into ``scales`` groups of which all
    but the last get a (grouped) 3x3 fed by the previous group's output, concatenated.

    In the first block of a stage (``is_first``) the hierarchy is off: every split gets its own
    conv and the last split is average-pooled (count_include_pad) instead of passed through."""
    y = ctx.conv_norm_act(x, width * scales, 1, name, suffix="1")
    splits = ChannelSplit(scales, name=ctx.name(name + "_split"))(y)
    outputs = []
    for i in range(max(1, scales - 1)):
        branch = splits[i]
        if i > 0 and not is_first:
            branch = ctx.add([outputs[-1], branch], f"{name}_scale{i + 1}_add")
        branch = ctx.conv_norm_act(branch, width, 3, name, strides=stride, groups=groups,
                                   suffix=f"2_{i + 1}")
        outputs.append(branch)
    if scales > 1:
        last = splits[-1]
        if is_first:
            last = ctx.avg_pool_padded(last, name + "_pool", strides=stride)
        outputs.append(last)
    return keras.layers.Concatenate(name=ctx.name(name + "_concat"))(outputs)


def _res2net_block(ctx, cfg, options, x, planes, stride, stage, name, drop_path_rate,
                   out_name, extras=()):
    """Res2Net bottleneck (Fig. 2b): the 3x3 becomes ``scales`` hierarchical 3x3s."""
    out_channels = planes * cfg.expansion
    # The first block of a stage (stride or projection) has no hierarchy.
    is_first = stride > 1 or int(x.shape[-1]) != out_channels
    shortcut = _shortcut(ctx, cfg, x, out_channels, stride, stage, name)
    y = res2net_multiscale(ctx, x, cfg.bottleneck_width(planes), cfg.scales, stride,
                           cfg.cardinality, is_first, name)
    y = ctx.conv_norm_act(y, out_channels, 1, name, act=False,
                          zero_init=options["zero_init_residual"], suffix="3")
    return _finish(ctx, cfg, options, y, shortcut, name, drop_path_rate, out_name, extras)


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


def _ror_shortcut(ctx, cfg, x, out_channels, stride, name, always):
    """A RoR root- or mid-level shortcut (arXiv:1608.02908): a 1x1 projection (+ BN in a v1
    net, none in a pre-activation one, as the block projections), or the identity where the
    shape is unchanged and ``always`` is off."""
    if not always and stride == 1 and int(x.shape[-1]) == out_channels:
        return x
    x = ctx.conv(x, out_channels, 1, name + "_conv", strides=stride)
    return x if cfg.preact else ctx.norm(x, name + "_bn")


def _body(cfg, options):
    block_fn = _BLOCK_FUNCTIONS[cfg.block]
    total_blocks = sum(cfg.depths)
    ror = options["ror_levels"]
    pooled = ror > 1 and options["ror_downsampling"] == "max_pool"

    def body(ctx, x):
        x = _stem(ctx, cfg, x)
        root_in = x
        index = 0
        last_stage = len(cfg.depths)
        for stage, (depth, planes) in enumerate(zip(cfg.depths, cfg.widths), start=1):
            if pooled and stage > 1:  # RoR's layout: stride-1 blocks, a 2x2 max-pool per stage
                x = keras.layers.MaxPooling2D(2, name=ctx.name(f"stage{stage}_pool"))(x)
            stage_in = x
            for block in range(1, depth + 1):
                if pooled:
                    stride = 1
                elif options["stride_in_last_block"]:
                    stride = 2 if block == depth and stage < last_stage else 1
                else:
                    stride = 2 if block == 1 and stage > 1 else 1
                rate = options["drop_path_rate"] * index / max(1, total_blocks - 1)
                is_stage_end = block == depth
                # The stage output is the block output, except that a pre-activation net's
                # last stage ends after the final norm + ReLU.
                out_name = (f"stage{stage}_out"
                            if is_stage_end and not (cfg.preact and stage == last_stage) else None)
                extras = []
                if is_stage_end and ror > 1:  # RoR's shortcuts end in a stage's last sum
                    out_channels = planes * cfg.expansion
                    if ror == 3:
                        extras.append(_ror_shortcut(
                            ctx, cfg, stage_in, out_channels, 1 if pooled or stage == 1 else 2,
                            f"stage{stage}_ror_shortcut", always=pooled))
                    if stage == last_stage:
                        extras.append(_ror_shortcut(ctx, cfg, root_in, out_channels,
                                                    2 ** (last_stage - 1), "ror_root_shortcut",
                                                    always=True))
                x = block_fn(ctx, cfg, options, x, planes, stride, stage,
                             _block_names(stage, block), rate, out_name, extras)
                index += 1
        if cfg.preact:
            x = ctx.relu(ctx.norm(x, "post_bn"), f"stage{last_stage}_out")
        return x

    return body


def _check_ror_levels(value):
    """RoR's level number: exactly one of ROR_LEVELS (a bool or float that compares equal
    is refused too)."""
    if type(value) is not int or value not in ROR_LEVELS:
        raise ValueError(f"`ror_levels` must be one of {', '.join(map(str, ROR_LEVELS))}; "
                         f"got {value!r}.")
    return value


def build_resnet(model_name, cfg, *, stride_in_1x1=None, stride_in_last_block=False,
                 attention=None, drop_path_rate=0.0, block_dropout=0.0,
                 zero_init_residual=False, drop_rate=None, cardinality=None, base_width=None,
                 residual_functions=None, ror_levels=None, ror_downsampling=None, **kwargs):
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
        residual_functions: k >= 1 residual functions per block, summed with the shortcut:
            x + f1(x) + ... + fk(x) (multi-residual networks, arXiv:1609.05672). In a
            pre-activation net each function of an identity block has its own BN-ReLU; a
            projecting block shares one (the authors' code). Basic and bottleneck blocks.
        ror_levels: RoR's shortcut level number m (arXiv:1608.02908): 1 is the plain net; 2 adds
            the root-level shortcut, from the stem output to the last block's sum (a 1x1
            projection of the total stride); 3 adds a mid-level shortcut over every stage,
            from its input to its last block's sum (RoR-3).
        ror_downsampling: with ror_levels > 1, how stages downsample. ``"max_pool"`` (the
            layout of pytorchcv's ror3_* and of titu1994's Keras RoR-WRN): stride-1 blocks, a
            2x2 max-pool on each stage's output (after its mid-level sum) before the next stage,
            and every mid-level shortcut a 1x1 projection. ``"stride"``: the base net's stride-2
            blocks kept, mid-level shortcuts projected only where the shape changes.
    """
    options = {
        "stride_in_1x1": cfg.stride_in_1x1 if stride_in_1x1 is None else bool(stride_in_1x1),
        "stride_in_last_block": bool(stride_in_last_block),
        "attention": check_choice("attention", attention if attention is not None
                                  else cfg.attention, ATTENTIONS),
        "drop_path_rate": check_rate("drop_path_rate", drop_path_rate),
        "block_dropout": check_rate("block_dropout", block_dropout),
        "zero_init_residual": bool(zero_init_residual),
        "residual_functions": check_positive_int(
            "residual_functions",
            cfg.residual_functions if residual_functions is None else residual_functions),
        "ror_levels": _check_ror_levels(cfg.ror_levels if ror_levels is None else ror_levels),
        "ror_downsampling": check_choice(
            "ror_downsampling", cfg.ror_downsampling if ror_downsampling is None
            else ror_downsampling, ROR_DOWNSAMPLING),
    }
    if options["residual_functions"] > 1 and cfg.block == "res2net":
        raise ValueError(f"`residual_functions`={options['residual_functions']} applies to basic "
                         f"and bottleneck blocks, not to the 'res2net' block.")
    if options["ror_levels"] > 1 and options["stride_in_last_block"]:
        raise ValueError("`ror_levels` > 1 does not combine with `stride_in_last_block`=True; "
                         "use the default stage layout.")
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


def tiny_config(cfg):
    """The same topology at a fraction of the cost, for behaviour tests: two blocks in the first
    stage (a projection and an identity block), one in the others, 1/8 of the widths."""
    depths = (min(cfg.depths[0], 2),) + tuple(1 for _ in cfg.depths[1:])
    widths = tuple(max(2, w // 8) for w in cfg.widths)
    grouped = dict(cardinality=4, base_width=16) if cfg.cardinality > 1 else {}
    if cfg.stage_groups:
        grouped = dict(stage_groups=tuple(max(1, g // 8) for g in cfg.stage_groups))
    return dataclasses.replace(cfg, depths=depths, widths=widths, **grouped)


RESNET_OPTIONS = {"stride_in_1x1": None, "attention": None, "drop_path_rate": 0.0,
                  "zero_init_residual": False, "drop_rate": None, "norm": "batch",
                  "cardinality": None, "base_width": None, "residual_functions": None,
                  "ror_levels": None, "ror_downsampling": None}
PREACT_OPTIONS = dict(RESNET_OPTIONS, stride_in_last_block=False)
WRN_OPTIONS = dict(PREACT_OPTIONS, block_dropout=0.0)
#: what every residual registration shares
_FAMILY = dict(tiny=tiny_config, generic_builder="build_resnet")
CIFAR = dict(default_size=32, min_size=8, stage_strides=(1, 2, 4), default_classes=10)


def se_config(**kwargs):
    """An SENet of Table 1 of arXiv:1709.01507 as the authors' Caffe models: SE (r = 16) on
    every residual branch and Caffe's ceil-mode stem pool."""
    return ResNetConfig(attention="se", ceil_mode_pool=True, **kwargs)


def wrn_cifar_config(depth, k):
    """CIFAR WRN-d-k (arXiv:1605.07146, Table 1): pre-activation B(3,3) blocks, (d - 4) / 6 per
    group, widths 16k/32k/64k."""
    n = (depth - 4) // 6
    return ResNetConfig((n, n, n), block="basic", preact=True,
                        widths=(16 * k, 32 * k, 64 * k), stem="cifar")


_KERAS_BIASES = "keras: conv biases before BN"
_KERAS_V2_LAYOUT = {"stride_in_last_block": True}
_KERAS_V2 = ("keras: conv biases; strides the last block of stages 1-3 (ours: the first of "
             "stages 2-4, as timm; `stride_in_last_block=True` builds keras' layout)")
V15_NOTE = "stride in the 1x1; torchvision's resnet is v1.5, same count"
_TABLE3 = no_reference("no reference implementation or paper count (Table 3 gives ~4.1 GFLOPs "
                       "for each)")
_WRN_TABLE4 = no_reference("no reference implementation; the paper's count (Table 4) is checked")

# ResNet v1 -- Table 1 of arXiv:1512.03385, Kaiming He's Caffe layout (stride in the first 1x1;
# the module docstring says which option the v1.5 checkpoints need). Multiply-adds ("FLOPs" in
# Table 1) and the 10-crop top-1 errors of Tables 2-3 are the paper's.
V1 = dict(_FAMILY, family="resnet", paper=RESNET, options=RESNET_OPTIONS)
# Pre-activation ResNet (v2) for ImageNet: timm's resnetv2 layout -- a bare 7x7 stem conv,
# BN-ReLU before every conv, projections from the pre-activated input, a final BN-ReLU, the
# stride in the 3x3. The identity shortcut is left untouched, as arXiv:1603.05027 Fig. 1b asks.
V2 = dict(_FAMILY, family="resnet_v2", paper=PREACT, options=PREACT_OPTIONS)
# ResNeXt -- Table 1 (32x4d) and Table 3 (cardinality vs width at equal complexity) of
# arXiv:1611.05431; stride in the grouped 3x3, as the paper's Torch code. Top-1 errors are the
# paper's single 224 crop.
X = dict(_FAMILY, family="resnext", paper=RESNEXT, options=RESNET_OPTIONS)
# SENets -- Table 1 of arXiv:1709.01507, as the authors' Caffe models (timm's legacy_* and
# Cadene's pretrainedmodels): SE width exactly C/16, a ceil-mode stem pool, SE-ResNet strides
# the 1x1 and SE-ResNeXt / SENet-154 the 3x3. SE-ResNet-18/34 are not in the paper; they follow
# Cadene's basic block, which has a ReLU between the second BN and SE. (timm's newer seresnet*
# round the SE width to a multiple of 8 and differ by a few hundred parameters.) The top-1
# errors quoted are the released Caffe models' (single 224 crop, the hujie-frank/SENet
# README), retrained with batch 256 and a little better than the paper's figures.
SE = dict(_FAMILY, family="senet", paper=SENET, options=RESNET_OPTIONS)
# Wide ResNets: CIFAR WRN-d-k (Table 1, counts of Table 4) and the ImageNet WRN-50-2 / 101-2,
# ResNet-50 / 101 with bottlenecks twice as wide. ``block_dropout=0.3`` builds the paper's
# dropout between the two 3x3s of every CIFAR block.
WRN = dict(_FAMILY, family="wide_resnet", paper=WRN_PAPER, options=WRN_OPTIONS)
WRN_IMAGENET = dict(WRN, options=RESNET_OPTIONS)
# Res2Net (arXiv:1904.01169): `base_width` w per scale and `scales` s ("26w x 4s"). Parameters,
# GFLOPs and top-1 errors quoted are the official Res2Net-PretrainedModels README's.
R2 = dict(_FAMILY, family="res2net", paper=RES2NET, options=RESNET_OPTIONS)


@register(**V1, config=ResNetConfig((2, 2, 2, 2), block="basic", stride_in_1x1=True),
          params=11_689_512, flops=3_628_146_688, reference=Reference("torchvision", "resnet18"))
def ResNet18(config, **kwargs):
    """ResNet-18 (He et al. 2015, arXiv:1512.03385, Table 1): [2, 2, 2, 2] basic blocks of two
    3x3 convolutions, 1.8 x 10^9 multiply-adds; 27.88% top-1 error, 10-crop (Table 2).
    Weights: torchvision:resnet18, the same layout.
    """
    return build_resnet("resnet18", config, **kwargs)


@register(**V1, config=ResNetConfig((3, 4, 6, 3), block="basic", stride_in_1x1=True),
          params=21_797_672, flops=7_327_522_816, reference=Reference("torchvision", "resnet34"))
def ResNet34(config, **kwargs):
    """ResNet-34 (He et al. 2015, arXiv:1512.03385, Table 1): [3, 4, 6, 3] basic blocks and
    3.6 x 10^9 multiply-adds. Projections only where the width changes -- option B, whose
    10-crop top-1 error Table 3 gives as 24.52%. Weights: torchvision:resnet34.
    """
    return build_resnet("resnet34", config, **kwargs)


@register(**V1, config=ResNetConfig((3, 4, 6, 3), stride_in_1x1=True), params=25_557_032,
          flops=7_715_946_496, reference=Reference("pytorchcv", "resnet50", note=V15_NOTE),
          keras_twin=KerasTwin("ResNet50", note=_KERAS_BIASES))
def ResNet50(config, **kwargs):
    """ResNet-50 (He et al. 2015, arXiv:1512.03385, Table 1): [3, 4, 6, 3] bottleneck blocks
    (1x1-3x3-1x1, 4x expansion), 3.8 x 10^9 multiply-adds; 22.85% top-1 error over 10 crops
    (Table 3). keras.applications.ResNet50 is this layout with conv biases.
    Weights: torchvision:resnet50, ported with ``stride_in_1x1=False``.
    """
    return build_resnet("resnet50", config, **kwargs)


@register(**V1, config=ResNetConfig((3, 4, 23, 3), stride_in_1x1=True), params=44_549_160,
          flops=15_140_388_864, reference=Reference("pytorchcv", "resnet101", note=V15_NOTE),
          keras_twin=KerasTwin("ResNet101", note=_KERAS_BIASES))
def ResNet101(config, **kwargs):
    """ResNet-101 (He et al. 2015, arXiv:1512.03385, Table 1): conv4_x grows to 23 bottlenecks,
    [3, 4, 23, 3] -- 7.6 x 10^9 multiply-adds, 21.75% top-1 error with 10 crops in Table 3.
    Weights: torchvision:resnet101 (``stride_in_1x1=False``).
    """
    return build_resnet("resnet101", config, **kwargs)


@register(**V1, config=ResNetConfig((3, 8, 36, 3), stride_in_1x1=True), params=60_192_808,
          flops=22_564_831_232, reference=Reference("pytorchcv", "resnet152", note=V15_NOTE),
          keras_twin=KerasTwin("ResNet152", note=_KERAS_BIASES))
def ResNet152(config, **kwargs):
    """ResNet-152 (He et al. 2015, arXiv:1512.03385, Table 1), the deepest of that table:
    [3, 8, 36, 3] bottlenecks, 11.3 x 10^9 multiply-adds (fewer than VGG-16's 15.3), 21.43%
    10-crop top-1 error (Table 3). From torchvision:resnet152 with stride_in_1x1=False.
    """
    return build_resnet("resnet152", config, **kwargs)


@register(**V1, config=ResNetConfig((3, 24, 36, 3), stride_in_1x1=True), params=64_673_832,
          reference=measured("timm", "resnet200", note="its FLOPs are v1.5's"))
def ResNet200(config, **kwargs):
    """ResNet-200 with the bottleneck of arXiv:1512.03385 (He et al. 2015), whose Table 1 stops
    at 152 layers: fb.resnet.torch's [3, 24, 36, 3], the original-unit baseline the
    pre-activation paper trains. No FLOPs registered (timm's measured ones are v1.5's).
    Ported from timm:resnet200 as ``stride_in_1x1=False`` builds it.
    """
    return build_resnet("resnet200", config, **kwargs)


@register(**V2, config=ResNetConfig((3, 4, 6, 3), preact=True), params=25_549_352,
          flops=8_178_368_512, reference=Reference("timm", "resnetv2_50"),
          keras_twin=KerasTwin("ResNet50V2", note=_KERAS_V2, layout_options=_KERAS_V2_LAYOUT))
def ResNet50V2(config, **kwargs):
    """Pre-activation ResNet-50 (He et al. 2016, arXiv:1603.05027, the full pre-activation unit
    of Fig. 4e): [3, 4, 6, 3] BN-ReLU-conv bottlenecks, 25,549,352 trainable parameters.
    Weights: timm:resnetv2_50, ``stride_in_last_block=False``; True builds the layout of
    keras.applications.ResNet50V2 (15% fewer FLOPs, same parameters).
    """
    return build_resnet("resnet50v2", config, **kwargs)


@register(**V2, config=ResNetConfig((3, 4, 23, 3), preact=True), params=44_541_480,
          flops=15_602_810_880, reference=Reference("timm", "resnetv2_101"),
          keras_twin=KerasTwin("ResNet101V2", note=_KERAS_V2, layout_options=_KERAS_V2_LAYOUT))
def ResNet101V2(config, **kwargs):
    """Pre-activation ResNet-101 (arXiv:1603.05027, Fig. 4e units), [3, 4, 23, 3] bottlenecks:
    44,541,480 trainable parameters, 7,680 fewer than v1's. Ported from timm:resnetv2_101
    with stride_in_last_block=False (the default).
    """
    return build_resnet("resnet101v2", config, **kwargs)


@register(**V2, config=ResNetConfig((3, 8, 36, 3), preact=True), params=60_185_128,
          flops=23_027_253_248, reference=Reference("timm", "resnetv2_152"),
          keras_twin=KerasTwin("ResNet152V2", note=_KERAS_V2, layout_options=_KERAS_V2_LAYOUT))
def ResNet152V2(config, **kwargs):
    """Pre-activation ResNet-152 (He et al. 2016, arXiv:1603.05027): the 152-layer
    [3, 8, 36, 3] net rebuilt from Fig. 4e units, 60,185,128 trainable parameters and 23.0
    GFLOPs as registered. Weights: ``stride_in_last_block=False``, timm:resnetv2_152.
    """
    return build_resnet("resnet152v2", config, **kwargs)


@register(**V2, config=ResNetConfig((3, 24, 36, 3), preact=True), paper_params=64.7,
          reference=no_reference("the WRN paper's ImageNet table (pre-ResNet-200)"))
def ResNet200V2(config, **kwargs):
    """Pre-activation ResNet-200 (He et al. 2016, arXiv:1603.05027), the 200-layer ImageNet
    network of its abstract: [3, 24, 36, 3]. Its 64.7M parameters are checked against the
    ImageNet table of arXiv:1605.07146 (pre-ResNet-200). No weights.
    """
    return build_resnet("resnet200v2", config, **kwargs)


@register(**V2, **CIFAR,
          config=ResNetConfig((18, 18, 18), preact=True, widths=(16, 32, 64), stem="cifar"),
          paper_params=1.7,
          reference=no_reference("the paper's count (arXiv:1603.05027, Table 2)"))
def PreActResNet164(config, **kwargs):
    """CIFAR pre-activation ResNet-164 (He et al. 2016, arXiv:1603.05027): three stages of 18
    bottleneck blocks, 64/128/256 channels; 1,703,258 parameters with 10 classes, the paper's
    1.7M. Test error: 5.46% on CIFAR-10 (Table 2), 24.33% on CIFAR-100 (Table 3).
    """
    return build_resnet("preactresnet164", config, **kwargs)


@register(**V2, **CIFAR,
          config=ResNetConfig((111, 111, 111), preact=True, widths=(16, 32, 64), stem="cifar"),
          paper_params=10.2, paper_params_scope='conv',
          reference=no_reference("the paper's count (arXiv:1603.05027, Table 2)"))
def PreActResNet1001(config, **kwargs):
    """CIFAR pre-activation ResNet-1001 (arXiv:1603.05027, Table 3: 4.92% CIFAR-10 and 22.71%
    CIFAR-100 error): 111 bottlenecks per stage. 10,327,706 parameters with 10 classes;
    the paper's 10.2M is the convolution weights alone (10,175,920), without BN and fc.
    """
    return build_resnet("preactresnet1001", config, **kwargs)


@register(**X, config=ResNetConfig((3, 4, 6, 3), cardinality=32, base_width=4), params=25_028_904,
          flops=8_460_959_744, reference=Reference("torchvision", "resnext50_32x4d"))
def ResNeXt50(config, **kwargs):
    """ResNeXt-50 32x4d (Xie et al. 2016, arXiv:1611.05431, Table 1): ResNet-50 whose 3x3s are
    32 groups, 4 channels each in stage 1 (128 wide); 25.0M parameters and 4.2 x 10^9 FLOPs
    to ResNet-50's 25.5M / 4.1 (Table 1), 22.2% top-1 error (Table 3).
    Weights: torchvision:resnext50_32x4d.
    """
    return build_resnet("resnext50", config, **kwargs)


@register(**X, config=ResNetConfig((3, 4, 6, 3), cardinality=2, base_width=40), reference=_TABLE3)
def ResNeXt50_2x40d(config, **kwargs):
    """ResNeXt-50 2x40d (Xie et al. 2016, arXiv:1611.05431): Table 2's two-group template,
    C = 2 and d = 40, so stage 1's 3x3 is 80 channels in 2 groups. 23.0% top-1 error at
    ResNet-50's complexity (Table 3), 0.9 points below 1x64d. No weights or reference count.
    """
    return build_resnet("resnext50_2x40d", config, **kwargs)


@register(**X, config=ResNetConfig((3, 4, 6, 3), cardinality=4, base_width=24), reference=_TABLE3)
def ResNeXt50_4x24d(config, **kwargs):
    """ResNeXt-50 4x24d (Xie et al. 2016, arXiv:1611.05431, Tables 2-3): four groups of 24
    (96 wide at conv2); Table 3 reports 22.6% top-1 error. Unpublished weights.
    """
    return build_resnet("resnext50_4x24d", config, **kwargs)


@register(**X, config=ResNetConfig((3, 4, 6, 3), cardinality=8, base_width=14), reference=_TABLE3)
def ResNeXt50_8x14d(config, **kwargs):
    """ResNeXt-50 8x14d (Xie et al. 2016, arXiv:1611.05431): with C=8, d=14 (Table 2) the
    grouped 3x3 of stage 1 has 112 channels; its top-1 error, 22.3% in Table 3, is within 0.1
    of 32x4d's. Only the architecture is published.
    """
    return build_resnet("resnext50_8x14d", config, **kwargs)


@register(**X, config=ResNetConfig((3, 4, 23, 3), cardinality=32, base_width=4), params=44_177_704,
          flops=15_939_993_600, reference=Reference("timm", "resnext101_32x4d"))
def ResNeXt101(config, **kwargs):
    """ResNeXt-101 32x4d (Xie et al. 2016, arXiv:1611.05431, Table 3): [3, 4, 23, 3] with
    32x4d bottlenecks, 21.2% top-1 error against ResNet-101's 22.0% at ~7.8 GFLOPs each.
    Weights: timm:resnext101_32x4d (torchvision has no 32x4d).
    """
    return build_resnet("resnext101", config, **kwargs)


@register(**X, config=ResNetConfig((3, 4, 23, 3), cardinality=32, base_width=8), params=88_791_336,
          flops=32_828_030_976, reference=Reference("torchvision", "resnext101_32x8d"))
def ResNeXt101_32x8d(config, **kwargs):
    """ResNeXt-101 32x8d on the template of arXiv:1611.05431 (Xie et al. 2016, Table 1): twice
    32x4d's group width, 256 channels in stage 1's 3x3. Not in the paper's tables:
    torchvision's model. Weights: torchvision:resnext101_32x8d.
    """
    return build_resnet("resnext101_32x8d", config, **kwargs)


@register(**X, config=ResNetConfig((3, 4, 23, 3), cardinality=64, base_width=4), params=83_455_272,
          flops=30_920_540_160, reference=Reference("torchvision", "resnext101_64x4d"))
def ResNeXt101_64x4d(config, **kwargs):
    """ResNeXt-101 64x4d (Xie et al. 2016, arXiv:1611.05431, Table 4): cardinality doubled to
    64 at twice ResNet-101's complexity; 20.4% top-1 error.
    Weights: torchvision:resnext101_64x4d.
    """
    return build_resnet("resnext101_64x4d", config, **kwargs)


@register(**SE, config=se_config(depths=(2, 2, 2, 2), block="basic", relu_before_se=True),
          params=11_778_592, flops=3_628_320_768, reference=Reference("timm", "legacy_seresnet18"))
def SEResNet18(config, **kwargs):
    """SE-ResNet-18 (after Hu et al. 2017, arXiv:1709.01507, whose Table 1 has only 50-layer
    nets): [2, 2, 2, 2] basic blocks, SE after Cadene's extra ReLU (``relu_before_se``); 89,080
    parameters over ResNet-18. Weights: timm:legacy_seresnet18.
    """
    return build_resnet("seresnet18", config, **kwargs)


@register(**SE, config=se_config(depths=(3, 4, 6, 3), block="basic", relu_before_se=True),
          params=21_958_868, flops=7_327_837_184, reference=Reference("timm", "legacy_seresnet34"))
def SEResNet34(config, **kwargs):
    """SE-ResNet-34 (Hu et al. 2017, arXiv:1709.01507; not in Table 1, Cadene's layout): the
    [3, 4, 6, 3] basic-block net with SE, 161,196 parameters more than ResNet-34.
    Weights: timm:legacy_seresnet34.
    """
    return build_resnet("seresnet34", config, **kwargs)


@register(**SE, config=se_config(depths=(3, 4, 6, 3), stride_in_1x1=True), params=28_088_024,
          flops=7_720_976_384, reference=Reference("timm", "legacy_seresnet50"))
def SEResNet50(config, **kwargs):
    """SE-ResNet-50 (Hu et al. 2017, arXiv:1709.01507, Table 1, middle column): [3, 4, 6, 3]
    bottlenecks with SE, fc [C/16, C], before each sum; ~2.5M parameters and 0.26% more
    GFLOPs than ResNet-50 (3.87 vs 3.86, Sec. 4). Released model: 22.37% top-1 error.
    Weights: timm:legacy_seresnet50.
    """
    return build_resnet("seresnet50", config, **kwargs)


@register(**SE, config=se_config(depths=(3, 4, 23, 3), stride_in_1x1=True), params=49_326_872,
          flops=15_149_875_200, reference=Reference("timm", "legacy_seresnet101"))
def SEResNet101(config, **kwargs):
    """SE-ResNet-101 (Hu et al. 2017, arXiv:1709.01507, Table 1 blocks at ResNet-101's
    [3, 4, 23, 3]): 4,777,712 SE parameters; the released Caffe model reaches 21.75% top-1
    error. From timm:legacy_seresnet101.
    """
    return build_resnet("seresnet101", config, **kwargs)


@register(**SE, config=se_config(depths=(3, 8, 36, 3), stride_in_1x1=True), params=66_821_848,
          flops=22_577_987_584, reference=Reference("timm", "legacy_seresnet152"))
def SEResNet152(config, **kwargs):
    """SE-ResNet-152 (Hu et al. 2017, arXiv:1709.01507, Table 1's block): 50 SE bottlenecks,
    [3, 8, 36, 3], stride in the first 1x1 as Caffe; top-1 error 21.34% (released weights,
    ported from timm:legacy_seresnet152).
    """
    return build_resnet("seresnet152", config, **kwargs)


@register(**SE, config=se_config(depths=(3, 4, 6, 3), cardinality=32, base_width=4),
          params=27_559_896, flops=8_465_989_632,
          reference=Reference("timm", "legacy_seresnext50_32x4d"))
def SEResNeXt50(config, **kwargs):
    """SE-ResNeXt-50 32x4d (Hu et al. 2017, arXiv:1709.01507, Table 1, right column): SE on
    ResNeXt-50's grouped bottlenecks, stride in the 3x3; 20.97% top-1 error, the best of the
    released 50-layer models. Weights: timm:legacy_seresnext50_32x4d.
    """
    return build_resnet("seresnext50", config, **kwargs)


@register(**SE, config=se_config(depths=(3, 4, 23, 3), cardinality=32, base_width=4),
          params=48_955_416, flops=15_949_479_936,
          reference=Reference("timm", "legacy_seresnext101_32x4d"))
def SEResNeXt101(config, **kwargs):
    """SE-ResNeXt-101 32x4d (arXiv:1709.01507, Table 1's SE-ResNeXt block, 23 in conv4):
    19.81% top-1 error as released. Weights: timm:legacy_seresnext101_32x4d.
    """
    return build_resnet("seresnext101", config, **kwargs)


@register(**SE,
          config=se_config(depths=(3, 8, 36, 3), cardinality=64, base_width=4, stem="deep",
                           halved_conv1=True, shortcut_kernel=3, drop_rate=0.2),
          params=115_088_984, flops=41_376_727_040, reference=Reference("timm", "legacy_senet154"))
def SENet154(config, **kwargs):
    """SENet-154 (Hu et al. 2017, arXiv:1709.01507, Appendix), a model of the winning
    ILSVRC 2017 entry: SE-ResNeXt-152 64x4d ([3, 8, 36, 3]) with the first 1x1 of each bottleneck
    halved, three 3x3 convs for the 7x7 stem, 3x3 stride-2 projections and dropout 0.2 before
    the classifier. 18.68% top-1 error (released). Weights: timm:legacy_senet154.
    """
    return build_resnet("senet154", config, **kwargs)


@register(**WRN, **CIFAR, config=wrn_cifar_config(40, 1), paper_params=0.6, reference=_WRN_TABLE4)
def WideResNet40_1(config, **kwargs):
    """WRN-40-1 (Zagoruyko & Komodakis 2016, arXiv:1605.07146, Table 1): six B(3,3) blocks per
    group at 16/32/64 channels -- with k = 1, a thin pre-activation ResNet-40. 0.6M
    parameters (Table 4).
    """
    return build_resnet("wideresnet40_1", config, **kwargs)


@register(**WRN, **CIFAR, config=wrn_cifar_config(40, 2), paper_params=2.2, reference=_WRN_TABLE4)
def WideResNet40_2(config, **kwargs):
    """WRN-40-2 (arXiv:1605.07146, Tables 1 and 4): N = 6 blocks per group at k = 2,
    i.e. 32/64/128 channels; 2.2M parameters.
    """
    return build_resnet("wideresnet40_2", config, **kwargs)


@register(**WRN, **CIFAR, config=wrn_cifar_config(40, 4), paper_params=8.9, reference=_WRN_TABLE4)
def WideResNet40_4(config, **kwargs):
    """WRN-40-4 (Zagoruyko & Komodakis 2016, arXiv:1605.07146): 64/128/256 channels, 8.9M
    parameters in Table 4. The authors' README: about ResNet-1001's accuracy, trained in
    6 hours on one Titan X.
    """
    return build_resnet("wideresnet40_4", config, **kwargs)


@register(**WRN, **CIFAR, config=wrn_cifar_config(40, 8), paper_params=35.7, reference=_WRN_TABLE4)
def WideResNet40_8(config, **kwargs):
    """CIFAR WRN-40-8 (arXiv:1605.07146, Table 4: 35.7M parameters), 128/256/512 channels
    in three groups of six blocks.
    """
    return build_resnet("wideresnet40_8", config, **kwargs)


@register(**WRN, **CIFAR, config=wrn_cifar_config(28, 10), paper_params=36.5, reference=_WRN_TABLE4)
def WideResNet28_10(config, **kwargs):
    """WRN-28-10 (Zagoruyko & Komodakis 2016, arXiv:1605.07146, Table 4): 4 blocks per group,
    160/320/640 channels, 36.5M parameters. The authors' README gives 4.00% / 19.25% CIFAR-10 /
    100 error (3.89% / 18.85% with dropout; meanstd inputs, median of 5 runs).
    """
    return build_resnet("wideresnet28_10", config, **kwargs)


@register(**WRN, **CIFAR, config=wrn_cifar_config(28, 12), paper_params=52.5, reference=_WRN_TABLE4)
def WideResNet28_12(config, **kwargs):
    """WRN-28-12 (arXiv:1605.07146): k = 12, the widest registered -- 192/384/768 channels and
    Table 4's 52.5M parameters.
    """
    return build_resnet("wideresnet28_12", config, **kwargs)


@register(**WRN, **CIFAR, config=wrn_cifar_config(22, 8), paper_params=17.2, reference=_WRN_TABLE4)
def WideResNet22_8(config, **kwargs):
    """WRN-22-8, three blocks of 128/256/512 channels per group (Zagoruyko & Komodakis 2016,
    arXiv:1605.07146); Table 4 counts 17.2M parameters.
    """
    return build_resnet("wideresnet22_8", config, **kwargs)


@register(**WRN, **CIFAR, config=wrn_cifar_config(22, 10), paper_params=26.8, reference=_WRN_TABLE4)
def WideResNet22_10(config, **kwargs):
    """WRN-22-10 (Zagoruyko & Komodakis 2016, arXiv:1605.07146, Table 4): WRN-22-8 at k = 10,
    so N = 3 blocks of 160/320/640 channels; 26.8M parameters.
    """
    return build_resnet("wideresnet22_10", config, **kwargs)


@register(**WRN, **CIFAR, config=wrn_cifar_config(16, 8), paper_params=11.0, reference=_WRN_TABLE4)
def WideResNet16_8(config, **kwargs):
    """WRN-16-8 (Zagoruyko & Komodakis 2016, arXiv:1605.07146, Table 4: 11.0M parameters): two
    blocks per group, 128/256/512 channels. With dropout it is the authors' SVHN network,
    1.54% error in their README.
    """
    return build_resnet("wideresnet16_8", config, **kwargs)


@register(**WRN, **CIFAR, config=wrn_cifar_config(16, 10), paper_params=17.1, reference=_WRN_TABLE4)
def WideResNet16_10(config, **kwargs):
    """WRN-16-10 (arXiv:1605.07146): 2 blocks x 3 groups, 160/320/640 wide; 17.1M parameters in
    Table 4, about WRN-22-8's count with six fewer layers.
    """
    return build_resnet("wideresnet16_10", config, **kwargs)


@register(**WRN_IMAGENET, config=ResNetConfig((3, 4, 6, 3), base_width=128), params=68_883_240,
          flops=22_796_042_240, reference=Reference("torchvision", "wide_resnet50_2"))
def WideResNet50_2(config, **kwargs):
    """WRN-50-2-bottleneck (Zagoruyko & Komodakis 2016, arXiv:1605.07146, ImageNet table):
    ResNet-50 with the inner width of every bottleneck doubled (base_width 128), stride in the
    3x3; 21.9% top-1 error, single crop (authors' README). Weights: torchvision:wide_resnet50_2.
    """
    return build_resnet("wideresnet50_2", config, **kwargs)


@register(**WRN_IMAGENET, config=ResNetConfig((3, 4, 23, 3), base_width=128), params=126_886_696,
          flops=45_506_101_248, reference=Reference("torchvision", "wide_resnet101_2"))
def WideResNet101_2(config, **kwargs):
    """WRN-101-2 on the WRN-50-2 recipe of arXiv:1605.07146 (ImageNet table): [3, 4, 23, 3]
    with doubled bottlenecks, 126,886,696 parameters; torchvision's, not a paper model.
    Weights: torchvision:wide_resnet101_2.
    """
    return build_resnet("wideresnet101_2", config, **kwargs)


@register(**R2, config=ResNetConfig((3, 4, 6, 3), block="res2net", base_width=26, scales=4),
          params=25_699_120, flops=8_510_332_928, reference=Reference("timm", "res2net50_26w_4s"))
def Res2Net50(config, **kwargs):
    """Res2Net-50 26w x 4s (Gao et al. 2019, arXiv:1904.01169, Fig. 2b block): ResNet-50 whose
    3x3 is four hierarchical scales of 26 channels; 25.70M parameters, 4.2 GFLOPs and 22.01%
    top-1 error. Weights: timm:res2net50_26w_4s.
    """
    return build_resnet("res2net50", config, **kwargs)


@register(**R2, config=ResNetConfig((3, 4, 6, 3), block="res2net", base_width=14, scales=8),
          params=25_059_816, flops=8_357_797_888, reference=measured("timm", "res2net50_14w_8s"))
def Res2Net50_14w8s(config, **kwargs):
    """Res2Net-50 14w x 8s (Gao et al. 2019, arXiv:1904.01169): eight scales of 14 channels at
    the same 4.2 GFLOPs -- 21.86%, the lowest error of the three equal-cost splits.
    Weights: timm:res2net50_14w_8s.
    """
    return build_resnet("res2net50_14w8s", config, **kwargs)


@register(**R2, config=ResNetConfig((3, 4, 6, 3), block="res2net", base_width=26, scales=6),
          params=37_051_448, flops=12_591_046_656, reference=measured("timm", "res2net50_26w_6s"))
def Res2Net50_26w6s(config, **kwargs):
    """Res2Net-50 26w x 6s (arXiv:1904.01169): six 26-channel scales, 37.05M parameters and
    6.3 GFLOPs for 21.42% top-1 error. From timm:res2net50_26w_6s.
    """
    return build_resnet("res2net50_26w6s", config, **kwargs)


@register(**R2, config=ResNetConfig((3, 4, 6, 3), block="res2net", base_width=26, scales=8),
          params=48_403_776, flops=16_671_760_384, reference=measured("timm", "res2net50_26w_8s"))
def Res2Net50_26w8s(config, **kwargs):
    """Res2Net-50 26w x 8s (Gao et al. 2019, arXiv:1904.01169), the largest 50-layer split:
    48.40M parameters, 8.3 GFLOPs; 20.80% top-1 error. Weights: timm:res2net50_26w_8s.
    """
    return build_resnet("res2net50_26w8s", config, **kwargs)


@register(**R2, config=ResNetConfig((3, 4, 6, 3), block="res2net", base_width=48, scales=2),
          params=25_287_304, flops=8_319_664_128, reference=measured("timm", "res2net50_48w_2s"))
def Res2Net50_48w2s(config, **kwargs):
    """Res2Net-50 48w x 2s (arXiv:1904.01169): two scales of 48 channels, so one 3x3 and a
    passed-through split per block; 22.68% top-1 error at 4.2 GFLOPs, the weakest equal-cost split.
    Ported from timm:res2net50_48w_2s.
    """
    return build_resnet("res2net50_48w2s", config, **kwargs)


@register(**R2, config=ResNetConfig((3, 4, 23, 3), block="res2net", base_width=26, scales=4),
          params=45_206_688, flops=16_133_948_928,
          reference=Reference("timm", "res2net101_26w_4s"))
def Res2Net101(config, **kwargs):
    """Res2Net-101 26w x 4s (Gao et al. 2019, arXiv:1904.01169): ResNet-101's [3, 4, 23, 3]
    with Res2Net blocks -- 45.21M parameters, 8.1 GFLOPs, 20.81% top-1 error.
    Weights: timm:res2net101_26w_4s.
    """
    return build_resnet("res2net101", config, **kwargs)


@register(**R2,
          config=ResNetConfig((3, 4, 6, 3), block="res2net", base_width=4, scales=4, cardinality=8),
          params=24_671_464, flops=8_345_354_240, reference=Reference("timm", "res2next50"))
def Res2NeXt50(config, **kwargs):
    """Res2NeXt-50 (Gao et al. 2019, arXiv:1904.01169): the Res2Net split on ResNeXt's grouped
    3x3, cardinality 8 and 4w x 4s; 24.67M parameters, 21.76% top-1 error.
    Weights: timm:res2next50.
    """
    return build_resnet("res2next50", config, **kwargs)


@register(**R2,
          config=ResNetConfig((3, 4, 6, 3), block="res2net", base_width=26, scales=4,
                              attention="se"),
          reference=no_reference("no reference implementation or paper count; Res2Net-50 26w4s "
                                 "with SE (r = 16, exact C/16) before the sum"))
def SERes2Net50(config, **kwargs):
    """SE-Res2Net-50 26w x 4s (Gao et al. 2019, arXiv:1904.01169): Res2Net50 with SE
    (r = 16, exact C/16) before each sum. The official README publishes no SE weights or
    count, so no parameter count is checked.
    """
    return build_resnet("seres2net50", config, **kwargs)


# -- Residual research variants: RoR (arXiv:1608.02908) and multi-residual networks
# (arXiv:1609.05672), as options of this builder (`ror_levels`, `residual_functions`).
# Merge-and-Run's two parallel streams do not fit a one-tensor block: models/dmrnet.py.
ROR_PAPER = Paper("Residual Networks of Residual Networks: Multilevel Residual Networks", 2016,
                  "1608.02908")
MULTIRES_PAPER = Paper("Multi-Residual Networks: Improving the Speed and Accuracy of Residual "
                       "Networks", 2016, "1609.05672")


def _depth_blocks(depth, per_block, extra, form, family):
    """Blocks per stage n of a 3-stage CIFAR net of ``depth = per_block * 3 * n + extra``; a
    ValueError naming the depth and the form otherwise."""
    step = 3 * per_block
    if (isinstance(depth, bool) or not isinstance(depth, int) or depth < step + extra
            or (depth - extra) % step):
        raise ValueError(f"`depth` of a {family} must be {form} with n >= 1 (e.g. "
                         f"{step + extra}, {2 * step + extra}); got {depth!r}.")
    return (depth - extra) // step


def ror_cifar_config(depth):
    """RoR-3-d on the original (v1) CIFAR ResNet, as pytorchcv's ``ror3_<d>_cifar10``: basic
    blocks at 16/32/64 channels, n = (d - 8) / 6 per stage -- d counts every weighted layer:
    the stem, the 6n block convolutions, the two block projections, the three mid-level and
    the root-level shortcut and the classifier."""
    n = _depth_blocks(depth, 2, 8, "6n + 8", "RoR-3 CIFAR ResNet")
    return ResNetConfig((n, n, n), block="basic", widths=(16, 32, 64), stem="cifar",
                        ror_levels=3)


def ror_wrn_config(depth, k):
    """RoR-3-WRN-d-k: the CIFAR WRN-d-k (d = 6n + 4, arXiv:1605.07146) with RoR-3 shortcuts."""
    _depth_blocks(depth, 2, 4, "6n + 4", "RoR-3-WRN")
    return dataclasses.replace(wrn_cifar_config(depth, check_positive_int("k", k)),
                               ror_levels=3)


def multiresnet_cifar_config(depth, k):
    """Multi-ResNet-d with k residual functions (the authors' ``multi-resnet.lua``): the CIFAR
    pre-activation bottleneck ResNet of depth 9n + 2 (16/32/64 planes, 4x expansion, the stride
    in the first 1x1 as in the pre-activation paper's code), k functions per block."""
    n = _depth_blocks(depth, 3, 2, "9n + 2", "Multi-ResNet (bottleneck)")
    return ResNetConfig((n, n, n), preact=True, widths=(16, 32, 64), stem="cifar",
                        stride_in_1x1=True,
                        residual_functions=check_positive_int("residual_functions", k))


_ROR_COUNT = ("its count (10 classes; the library allows only 10 or 100) and logits are checked "
              "against pytorchcv's in tests/test_residual_variants.py and tests/test_port.py")
ROR = dict(_FAMILY, family="ror", paper=ROR_PAPER, options=RESNET_OPTIONS)
ROR_WRN = dict(ROR, options=WRN_OPTIONS)


def multiresnet_tiny_config(cfg):
    """The residual family's tiny net with two residual functions per block (k >= 2 keeps
    the multi-residual topology: per-function pre-activations, the functions' sum)."""
    return dataclasses.replace(tiny_config(cfg),
                               residual_functions=min(2, cfg.residual_functions))


MULTIRES = dict(_FAMILY, family="multi_resnet", paper=MULTIRES_PAPER, options=PREACT_OPTIONS,
                tiny=multiresnet_tiny_config)


@register(**ROR, **CIFAR, config=ror_cifar_config(56),
          reference=measured("pytorchcv", "ror3_56_cifar10", note=_ROR_COUNT))
def RoR3_56(config, **kwargs):
    """RoR-3-56 (Zhang et al., "Residual Networks of Residual Networks: Multilevel Residual
    Networks", 2016, arXiv:1608.02908): the original CIFAR ResNet with RoR's three shortcut
    levels -- each block's own, one over each of the three stages (mid level) and one over
    all of them (root level, a stride-4 1x1 projection of the stem output) -- in pytorchcv's
    ``ror3_56_cifar10`` layout (``ror_downsampling="max_pool"``, the default): 8 stride-1 basic
    blocks per stage, a 2x2 max-pool after each of the first two stages. 762,746 parameters
    with 10 classes, pytorchcv's count; its weights port (logit parity).
    """
    return build_resnet("ror3_56", config, **kwargs)


@register(**ROR, **CIFAR, config=ror_cifar_config(110),
          reference=measured("pytorchcv", "ror3_110_cifar10", note=_ROR_COUNT))
def RoR3_110(config, **kwargs):
    """RoR-3-110 (Zhang et al. 2016, arXiv:1608.02908): 17 basic blocks per stage with the
    root- and mid-level shortcuts of RoR-3, as pytorchcv's ``ror3_110_cifar10`` (whose 110
    counts every weighted layer); 1,637,690 parameters with 10 classes. Its weights port
    (logit parity).
    """
    return build_resnet("ror3_110", config, **kwargs)


@register(**ROR, **CIFAR, config=ror_cifar_config(164),
          reference=measured("pytorchcv", "ror3_164_cifar10", note=_ROR_COUNT))
def RoR3_164(config, **kwargs):
    """RoR-3-164 (Zhang et al. 2016, arXiv:1608.02908): RoR-3 over a 164-layer original
    CIFAR ResNet of basic blocks, 26 per stage (pytorchcv's ``ror3_164_cifar10``, whose
    weights port); 2,512,634 parameters with 10 classes.
    """
    return build_resnet("ror3_164", config, **kwargs)


@register(**ROR_WRN, **CIFAR, config=ror_wrn_config(58, 4),
          reference=no_reference(
              "no reference implementation; the count is checked as WRN-58-4's plus the RoR-3 "
              "shortcut projections (tests/test_residual_variants.py) -- the paper's 13.3M is "
              "not reproduced"))
def RoR3_WRN58_4(config, **kwargs):
    """RoR-3-WRN58-4 (Zhang et al. 2016, arXiv:1608.02908), the paper's best CIFAR model
    (3.77% / 19.73% CIFAR-10 / 100 error with stochastic depth, ``drop_path_rate``): the
    pre-activation WRN-58-4 (9 blocks of 64/128/256 channels per stage) with RoR-3 shortcuts,
    1x1 projections without BN, in the max-pool layout. 13,645,530 parameters with 10 classes:
    WRN-58-4's 13,599,450 plus 46,080 in the four shortcut projections; the paper quotes
    13.3M, which no WRN-58-4 layout reaches (n = 9 blocks per stage is fixed by the depth).
    """
    return build_resnet("ror3_wrn58_4", config, **kwargs)


@register(**MULTIRES, **CIFAR, config=multiresnet_cifar_config(200, 5), paper_params=10.2,
          reference=no_reference("the paper's count (arXiv:1609.05672, CIFAR results table), "
                                 "to its rounding"))
def MultiResNet200(config, **kwargs):
    """Multi-ResNet-200 with k = 5 residual functions (Abdi & Nahavandi, "Multi-Residual
    Networks: Improving the Speed and Accuracy of Residual Networks", 2016, arXiv:1609.05672,
    CIFAR results table): 22 pre-activation bottleneck blocks per stage, each
    x + f1(x) + ... + f5(x) -- the parameters of Pre-ResNet-1001 (10.2M) at a fifth of its
    depth; 4.35% CIFAR-10 and 20.42% CIFAR-100 error (median of runs). 10,187,354 parameters
    with 10 classes. The table's wide net, Multi-ResNet-26 with k = 2 and width 10 (72M), is
    ``WideResNet28_10(residual_functions=2)``: 72,690,714 parameters (WRN names depth 6n + 4).
    """
    return build_resnet("multiresnet200", config, **kwargs)
