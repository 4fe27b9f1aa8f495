"""GoogLeNet (Inception v1), BN-Inception (Inception v2), SE-BN-Inception and Inception-v3.

GoogLeNet. Szegedy et al. "Going Deeper with Convolutions", 2014, arXiv:1409.4842, Table 1 and
Fig. 3: a 7x7/2 convolution, 3x3/2 max-pooling, local response normalisation, a 1x1 and a 3x3
convolution, normalisation and max-pooling again, then nine Inception modules (3a-3b, 4a-4e,
5a-5b, max-pooled between the groups), each four parallel branches concatenated: a 1x1
convolution, a 1x1 reduction and a 3x3, a 1x1 reduction and a 5x5, and a 3x3/1 max-pooling with
a 1x1 projection (Table 1's #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5 and pool proj columns,
:data:`GOOGLENET_TABLE1`). Every convolution has a bias and a ReLU; there is no batch
normalisation (the paper predates it). Global average pooling, 40% dropout and the classifier
follow. The two auxiliary classifiers (Sec. 5) sit on the outputs of 4a and 4d: 5x5/3 average
pooling (4x4 from the 14x14 map), a 1x1 convolution to 128, a 1024-wide fully-connected layer,
70% dropout and the classes; their losses count 0.3 each in training.

The response normalisation's constants are Caffe's ``bvlc_googlenet`` (the paper gives none):
5 channels, ``alpha`` 1e-4 divided by the window as Caffe does (2e-5 in our
:class:`~keras_convnets.layers.LocalResponseNormalization`, which multiplies the plain sum), ``k``
1, ``beta`` 0.75. The max-poolings round up (Caffe's convention; PyTorch's ``ceil_mode=True``).

``layout="torchvision"`` builds torchvision's ``googlenet`` instead: batch normalisation
(epsilon 1e-3) after every convolution and no convolution bias, a 3x3 convolution in the "5x5"
branch (a known deviation of that implementation), no response normalisation, a 2x2/2 max-pool
before 5a and 20% dropout. Its auxiliary classifiers pool adaptively to 4x4; ours keep the
paper's fixed 5x5/3 pooling (the same 4x4 map from a 14x14 one, averaged over other windows), so
their weights port but their outputs differ; the main output is identical.

BN-Inception. Ioffe and Szegedy. "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift", 2015, arXiv:1502.03167, Appendix Fig. 5: GoogLeNet with
batch normalisation after every convolution, the 5x5 branch replaced by two stacked 3x3
convolutions, average or max pooling in the pool branch, and two stride-2 modules (3c, 4e) that
replace the max-poolings between the groups (no 1x1 branch, the pooled input passed through).
The layout is the one of ``pretrainedmodels``' ``bninception`` (Caffe's released model): every
convolution keeps a bias before its batch normalisation (epsilon 1e-5), max-poolings round up,
no dropout. SE-BN-Inception (Hu et al., "Squeeze-and-Excitation Networks", 2017,
arXiv:1709.01507, Fig. 2 and Table 2) adds a squeeze-and-excitation block (reduction 16) on the
output of every Inception module of it.

Inception-v3. Szegedy et al. "Rethinking the Inception Architecture for Computer Vision", 2015,
arXiv:1512.00567, Table 1 and Figs. 5-7, in the layout of torchvision's and timm's
``inception_v3``: an unpadded stem of five convolutions and two max-poolings, three 35x35
modules with a 5x5 and a double-3x3 branch (Fig. 5), a grid reduction (Fig. 10), four 17x17
modules with 7x7 convolutions factorised into 1x7 and 7x1 (Fig. 6), a second grid reduction, two
8x8 modules with expanded 1x3/3x1 branches (Fig. 7), batch normalisation (epsilon 1e-3) after
every convolution; default input 299. The auxiliary classifier on Mixed_6e (5x5/3 average
pooling, a 1x1 convolution to 128, a 5x5 to 768, the classes) counts 0.4 in training.

Feature maps: ``<model>_stage<N>_out`` at strides 4, 8, 16 and 32. GoogLeNet's and
BN-Inception's are exactly input / stride for inputs that are multiples of 32; Inception-v3's
unpadded layers take pixels off (its ``stage_margins``: 71, 35, 17, 8 from 299).
"""

import dataclasses
import functools

from ..applications import build_model
from ..applications.builder import CONV_INITIALIZER
from ..backend import keras
from ..layers import LocalResponseNormalization
from ..registry import KerasTwin, Paper, Reference, measured, no_reference, register
from ..utils import check_choice, check_rate

GOOGLENET = Paper("Going Deeper with Convolutions", 2014, "1409.4842")
BN_INCEPTION = Paper("Batch Normalization: Accelerating Deep Network Training by Reducing "
                     "Internal Covariate Shift", 2015, "1502.03167")
SENET = Paper("Squeeze-and-Excitation Networks", 2017, "1709.01507")
INCEPTION_V3 = Paper("Rethinking the Inception Architecture for Computer Vision", 2015,
                     "1512.00567")

GOOGLENET_LAYOUTS = ("paper", "torchvision")
#: Caffe's bvlc_googlenet LRN (local_size 5, alpha 1e-4 over the window, k 1, beta 0.75)
GOOGLENET_LRN = dict(size=5, bias=1.0, alpha=1e-4 / 5, beta=0.75)


def _tiny_width(width):
    """1/8 of a width, at least 8 (a narrower ReLU layer may be dead for a whole batch)."""
    return max(8, width // 8) if width else 0


def _conv(ctx, x, filters, kernel_size, name, *, strides=1, padding="same", bias=False,
          bn=True, relu_name=None):
    """conv [-> BN] -> ReLU, named ``<name>``, ``<name>_bn``, ``<name>_relu``. ``"same"``
    pads like PyTorch's ``k // 2`` (symmetrically at stride 2); ``"valid"`` does not pad."""
    if padding == "same" and strides > 1:
        x = ctx.conv(x, filters, kernel_size, name, strides=strides, use_bias=bias)
    else:
        x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                                use_bias=bias, kernel_initializer=CONV_INITIALIZER,
                                name=ctx.name(name))(x)
    if bn:
        x = ctx.norm(x, name + "_bn")
    return ctx.relu(x, relu_name or name + "_relu")


def _concat(ctx, branches, name):
    return keras.layers.Concatenate(name=ctx.name(name))(branches)


def _check_aux_map(x, minimum, what, flattens=False):
    """Refuses an auxiliary classifier on a map smaller than ``minimum`` x ``minimum``, or of
    unknown size where the classifier flattens it into a dense layer."""
    height, width = tuple(x.shape[1:3])
    if flattens and (height is None or width is None):
        raise ValueError(
            f"`aux_logits`=True: {what} flattens its pooled map into a dense layer, so the input "
            f"size must be fixed; got a map of {height}x{width} there. Pass "
            f"input_shape=(H, W, 3).")
    if any(d is not None and d < minimum for d in (height, width)):
        raise ValueError(
            f"`aux_logits`=True: {what} needs a map of at least {minimum}x{minimum}; the input "
            f"gives {height}x{width} there. Use a larger input_shape.")


# -- GoogLeNet ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class InceptionV1Spec:
    """One Inception module of Table 1: its name and the widths of its six convolutions."""

    name: str
    conv1x1: int
    reduce3x3: int
    conv3x3: int
    reduce5x5: int
    conv5x5: int
    pool_proj: int


#: Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj of every module
GOOGLENET_TABLE1 = (
    InceptionV1Spec("3a", 64, 96, 128, 16, 32, 32),
    InceptionV1Spec("3b", 128, 128, 192, 32, 96, 64),
    InceptionV1Spec("4a", 192, 96, 208, 16, 48, 64),
    InceptionV1Spec("4b", 160, 112, 224, 24, 64, 64),
    InceptionV1Spec("4c", 128, 128, 256, 24, 64, 64),
    InceptionV1Spec("4d", 112, 144, 288, 32, 64, 64),
    InceptionV1Spec("4e", 256, 160, 320, 32, 128, 128),
    InceptionV1Spec("5a", 256, 160, 320, 32, 128, 128),
    InceptionV1Spec("5b", 384, 192, 384, 48, 128, 128),
)


def _modules(table, *names):
    by_name = {m.name: m for m in table}
    return tuple(by_name[n] for n in names)


@dataclasses.dataclass(frozen=True)
class GoogLeNetConfig:
    """Table 1 as data: the stem's widths (7x7/2, the 1x1 reduction, the 3x3), the modules of
    the three groups (max-pooled between them), the modules an auxiliary classifier follows,
    and the auxiliary classifiers' 1x1-convolution and fully-connected widths (Sec. 5)."""

    stem: tuple = (64, 64, 192)
    groups: tuple = (_modules(GOOGLENET_TABLE1, "3a", "3b"),
                     _modules(GOOGLENET_TABLE1, "4a", "4b", "4c", "4d", "4e"),
                     _modules(GOOGLENET_TABLE1, "5a", "5b"))
    aux_after: tuple = ("4a", "4d")
    aux_widths: tuple = (128, 1024)


def _inception_v1(ctx, x, m, conv, five, name):
    """One GoogLeNet module: the four branches of Fig. 2(b), concatenated."""
    p = f"inception_{m.name}_"
    branch1 = conv(x, m.conv1x1, 1, p + "1x1")
    branch2 = conv(conv(x, m.reduce3x3, 1, p + "3x3_reduce"), m.conv3x3, 3, p + "3x3")
    branch3 = conv(conv(x, m.reduce5x5, 1, p + "5x5_reduce"), m.conv5x5, five, p + "5x5")
    pooled = keras.layers.MaxPooling2D(3, 1, padding="same", name=ctx.name(p + "pool"))(x)
    branch4 = conv(pooled, m.pool_proj, 1, p + "pool_proj")
    return _concat(ctx, [branch1, branch2, branch3, branch4], name)


def build_googlenet(model_name, cfg, *, layout="paper", drop_rate=None, **kwargs):
    """Builds GoogLeNet (arXiv:1409.4842, Table 1) from ``cfg``.

    Architecture options:
        layout: ``"paper"`` (Table 1: true 5x5 branch, convolution biases, response
            normalisation in the stem, no batch normalisation) or ``"torchvision"``
            (torchvision's ``googlenet``: batch normalisation with epsilon 1e-3 after every
            convolution, no biases, 3x3 in the "5x5" branch, no response normalisation, a 2x2
            max-pool before 5a).
        aux_logits: also return the two auxiliary classifiers' predictions (after 4a and 4d;
            the paper weighs their losses 0.3). Their dense layer takes the flattened 5x5/3
            pooled map, so the input size must be fixed (4x4 at 224).
        drop_rate: dropout before the classifier; default 0.4 (the paper's) or 0.2
            (torchvision's) by layout.
    """
    check_choice("layout", layout, GOOGLENET_LAYOUTS)
    paper = layout == "paper"
    drop_rate = (0.4 if paper else 0.2) if drop_rate is None else check_rate("drop_rate",
                                                                             drop_rate)

    def body(ctx, x):
        conv = functools.partial(_conv, ctx, bias=paper, bn=not paper)

        def lrn(x, name):
            return LocalResponseNormalization(**GOOGLENET_LRN, name=ctx.name(name))(x)

        def aux_head(ctx, x, name, after):
            _check_aux_map(x, 5, f"the auxiliary classifier after inception {after} (5x5/3 "
                                 f"pooling: inputs of at least 79)", flattens=True)
            x = keras.layers.AveragePooling2D(5, 3, name=ctx.name(name + "_pool"))(x)
            x = conv(x, cfg.aux_widths[0], 1, name + "_conv")
            x = keras.layers.Flatten(name=ctx.name(name + "_flatten"))(x)
            x = keras.layers.Dense(cfg.aux_widths[1], name=ctx.name(name + "_fc"))(x)
            return ctx.relu(x, name + "_fc_relu")

        x = conv(x, cfg.stem[0], 7, "conv1_7x7_s2", strides=2)
        x = ctx.max_pool(x, "pool1", ceil_mode=True)
        if paper:
            x = lrn(x, "norm1")
        x = conv(x, cfg.stem[1], 1, "conv2_3x3_reduce")
        x = conv(x, cfg.stem[2], 3, "conv2_3x3", relu_name=None if paper else "stage1_out")
        if paper:
            x = lrn(x, "stage1_out")
        x = ctx.max_pool(x, "pool2", ceil_mode=True)
        aux = 0
        for stage, modules in enumerate(cfg.groups, start=2):
            if stage == 3:
                x = ctx.max_pool(x, "pool3", ceil_mode=True)
            elif stage == 4:  # torchvision pools 2x2 before 5a
                x = ctx.max_pool(x, "pool4", pool_size=3 if paper else 2, ceil_mode=True)
            for index, module in enumerate(modules, start=1):
                name = (f"stage{stage}_out" if index == len(modules)
                        else f"inception_{module.name}_output")
                x = _inception_v1(ctx, x, module, conv, 5 if paper else 3, name)
                if module.name in cfg.aux_after:
                    aux += 1
                    ctx.auxiliary_classifier(
                        x, f"aux{aux}", functools.partial(aux_head, name=f"aux{aux}",
                                                          after=module.name), drop_rate=0.7)
        return x

    return build_model(model_name, body, drop_rate=drop_rate,
                       bn_epsilon=1e-5 if paper else 1e-3, **kwargs)


def googlenet_tiny(cfg):
    """One module per group (3a; 4a and 4d, which carry the auxiliary classifiers; 5b), 1/8 of
    the widths (at least 8)."""
    def shrink(m):
        return dataclasses.replace(m, **{f.name: _tiny_width(getattr(m, f.name))
                                         for f in dataclasses.fields(m) if f.name != "name"})
    groups = tuple(tuple(shrink(m) for m in g if m.name in ("3a", "4a", "4d", "5b"))
                   for g in cfg.groups)
    return dataclasses.replace(cfg, stem=tuple(map(_tiny_width, cfg.stem)), groups=groups,
                               aux_widths=tuple(map(_tiny_width, cfg.aux_widths)))


#: GoogLeNet's paper-layout count is counted, not a params.tsv row: the row named "paper-spec"
#: keeps torchvision's batch normalisation in every Inception module (see GoogLeNet's docstring).
GOOGLENET_PAPER_COUNT = Reference(
    "Table 1", "GoogLeNet", in_params_tsv=False,
    note="counted from Table 1's widths (tests/test_inception.py); FLOPs equal params.tsv's "
         "patched-torchvision 'googlenet paper-spec (5x5, no BN, no aux)' row, whose Inception "
         "modules keep batch normalisation (7,712 parameters more)")


@register(family="inception", paper=GOOGLENET, config=GoogLeNetConfig(), tiny=googlenet_tiny,
          params=6_998_552, flops=3_165_343_744, aux_loss_weight=0.3,
          reference=GOOGLENET_PAPER_COUNT,
          options={"layout": "paper", "aux_logits": False, "drop_rate": None},
          generic_builder="build_googlenet")
def GoogLeNet(config, **kwargs):
    """GoogLeNet / Inception v1 (Szegedy et al., "Going Deeper with Convolutions", 2014,
    arXiv:1409.4842, Table 1) in the paper's layout: 6,998,552 trainable parameters at 224 with
    1000 classes (Table 1's params column sums to about 6.8M: it leaves out the biases, counts
    in units of 1,024 and gives conv1 2.7K for its 9.4K weights), 3,165,343,744 FLOPs.
    params.tsv's "patched-torchvision googlenet paper-spec (5x5, no BN)" row has the same FLOPs
    but 7,006,264 parameters: the patch took batch normalisation out of the stem only, so its
    Inception modules keep it (6,960 channels: 13,920 parameters) and have no biases but the
    5x5 convolutions' (6,208 fewer), 7,712 more in all. ``aux_logits=True`` adds the two
    auxiliary classifiers: 13,378,280 (that row's 13,386,248 less 7,712, and less 256 because
    our auxiliary 1x1 convolutions have biases where it kept torchvision's batch
    normalisation).

    ``layout="torchvision"`` is torchvision's ``googlenet``: 6,624,904 parameters (13,004,888
    with ``aux_logits=True``), 2,996,752,384 FLOPs. torchvision's weights port into
    ``layout="torchvision", aux_logits=True`` with equal logits at 224x240 (its auxiliary dense
    layers take 4x4 maps, which our fixed 5x5/3 pooling gives for inputs of 223 to 270).
    """
    return build_googlenet("googlenet", config, **kwargs)


# -- BN-Inception and SE-BN-Inception ----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class BNInceptionSpec:
    """One Inception module of Fig. 5: #1x1 (0: none), #3x3 reduce, #3x3, double #3x3
    reduce, double #3x3, the pooling ("avg" or "max") and its projection (0: the pooled input
    passes through), and the stride (2 for the grid-reducing modules 3c and 4e)."""

    name: str
    conv1x1: int
    reduce3x3: int
    conv3x3: int
    reduce_double: int
    double3x3: int
    pool: str
    pool_proj: int
    strides: int = 1


#: Appendix Fig. 5 of arXiv:1502.03167
BN_INCEPTION_FIG5 = (
    BNInceptionSpec("3a", 64, 64, 64, 64, 96, "avg", 32),
    BNInceptionSpec("3b", 64, 64, 96, 64, 96, "avg", 64),
    BNInceptionSpec("3c", 0, 128, 160, 64, 96, "max", 0, strides=2),
    BNInceptionSpec("4a", 224, 64, 96, 96, 128, "avg", 128),
    BNInceptionSpec("4b", 192, 96, 128, 96, 128, "avg", 128),
    BNInceptionSpec("4c", 160, 128, 160, 128, 160, "avg", 128),
    BNInceptionSpec("4d", 96, 128, 192, 160, 192, "avg", 128),
    BNInceptionSpec("4e", 0, 128, 192, 192, 256, "max", 0, strides=2),
    BNInceptionSpec("5a", 352, 192, 320, 160, 224, "avg", 128),
    BNInceptionSpec("5b", 352, 192, 320, 192, 224, "max", 128),
)


@dataclasses.dataclass(frozen=True)
class BNInceptionConfig:
    """Fig. 5 as data: the stem's widths and the modules of the three groups (each of the
    later two opened by a stride-2 module); ``se_reduction``: a squeeze-and-excitation block
    of that reduction after every module (SE-BN-Inception), or None."""

    stem: tuple = (64, 64, 192)
    groups: tuple = (_modules(BN_INCEPTION_FIG5, "3a", "3b"),
                     _modules(BN_INCEPTION_FIG5, "3c", "4a", "4b", "4c", "4d"),
                     _modules(BN_INCEPTION_FIG5, "4e", "5a", "5b"))
    se_reduction: int | None = None


def _even_map(x, module):
    """A stride-2 module's convolutions (padded) and its pooling (rounding up, unpadded) agree
    only on an even map, as in the reference."""
    for size in tuple(x.shape[1:3]):
        if size is not None and size % 2:
            raise ValueError(
                f"BN-Inception's stride-2 module {module} needs an even map (its padded 3x3/2 "
                f"convolutions give {size // 2 + 1}, its 3x3/2 max-pooling {size // 2}); got "
                f"{tuple(x.shape[1:3])}. Use an input size that is a multiple of 32.")


def _bn_inception_module(ctx, x, m, conv, se_reduction, name):
    """One module of Fig. 5, then (SE-BN-Inception) its squeeze-and-excitation block."""
    p = f"inception_{m.name}_"
    branches = []
    if m.strides > 1:
        _even_map(x, m.name)
    if m.conv1x1:
        branches.append(conv(x, m.conv1x1, 1, p + "1x1"))
    y = conv(x, m.reduce3x3, 1, p + "3x3_reduce")
    branches.append(conv(y, m.conv3x3, 3, p + "3x3", strides=m.strides))
    y = conv(x, m.reduce_double, 1, p + "double_3x3_reduce")
    y = conv(y, m.double3x3, 3, p + "double_3x3_1")
    branches.append(conv(y, m.double3x3, 3, p + "double_3x3_2", strides=m.strides))
    if m.strides > 1:
        branches.append(ctx.max_pool(x, p + "pool", ceil_mode=True))
    else:
        if m.pool == "avg":
            y = ctx.avg_pool_padded(x, p + "pool")
        else:
            y = keras.layers.MaxPooling2D(3, 1, padding="same", name=ctx.name(p + "pool"))(x)
        branches.append(conv(y, m.pool_proj, 1, p + "pool_proj"))
    if not se_reduction:
        return _concat(ctx, branches, name)
    x = _concat(ctx, branches, p + "output")
    return ctx.se(x, name, reduction=se_reduction)


def build_bninception(model_name, cfg, *, drop_rate=0.0, **kwargs):
    """Builds BN-Inception (arXiv:1502.03167, Fig. 5), or SE-BN-Inception (arXiv:1709.01507)
    where ``cfg.se_reduction`` is set, from ``cfg``.

    Architecture options:
        drop_rate: dropout before the classifier; default 0 (the paper removes dropout,
            Sec. 4.2.1).
        norm: ``"batch"``, ``"sync_batch"``, ``"group"``, ``"layer"``, ``"batch_renorm"``,
            ``"weight"``.
    """
    drop_rate = check_rate("drop_rate", drop_rate)

    def body(ctx, x):
        conv = functools.partial(_conv, ctx, bias=True)
        x = conv(x, cfg.stem[0], 7, "conv1_7x7_s2", strides=2)
        x = ctx.max_pool(x, "pool1_3x3_s2", ceil_mode=True)
        x = conv(x, cfg.stem[1], 1, "conv2_3x3_reduce")
        x = conv(x, cfg.stem[2], 3, "conv2_3x3", relu_name="stage1_out")
        x = ctx.max_pool(x, "pool2_3x3_s2", ceil_mode=True)
        for stage, modules in enumerate(cfg.groups, start=2):
            for index, module in enumerate(modules, start=1):
                name = (f"stage{stage}_out" if index == len(modules)
                        else f"inception_{module.name}_{'se' if cfg.se_reduction else 'output'}")
                x = _bn_inception_module(ctx, x, module, conv, cfg.se_reduction, name)
        return x

    return build_model(model_name, body, drop_rate=drop_rate, **kwargs)


def bninception_tiny(cfg):
    """One module of each kind per group (3a; 3c and 4a; 4e and 5b), 1/8 of the widths (at
    least 8)."""
    def shrink(m):
        widths = ("conv1x1", "reduce3x3", "conv3x3", "reduce_double", "double3x3", "pool_proj")
        return dataclasses.replace(m, **{w: _tiny_width(getattr(m, w)) for w in widths})
    keep = ("3a", "3c", "4a", "4e", "5b")
    groups = tuple(tuple(shrink(m) for m in g if m.name in keep) for g in cfg.groups)
    return dataclasses.replace(cfg, stem=tuple(map(_tiny_width, cfg.stem)), groups=groups)


BN_INCEPTIONS = dict(family="inception", tiny=bninception_tiny, generic_builder="build_bninception",
                     options={"drop_rate": 0.0, "norm": "batch"})


@register(**BN_INCEPTIONS, paper=BN_INCEPTION, config=BNInceptionConfig(), params=11_295_240,
          flops=4_065_200_128, reference=measured("pretrainedmodels", "bninception"))
def BNInception(config, **kwargs):
    """BN-Inception / Inception v2 (Ioffe and Szegedy, "Batch Normalization: Accelerating Deep
    Network Training by Reducing Internal Covariate Shift", 2015, arXiv:1502.03167, Appendix
    Fig. 5), as ``pretrainedmodels``' ``bninception``: 11,295,240 trainable parameters at 224
    with 1000 classes (its convolutions keep their biases before batch normalisation, 10,016 of
    them), 2.03 GMACs (the SENet paper's Table 2 gives 2.03 GFLOPs for its re-implementation).
    Its weights port with equal logits at 224, where its fixed 7x7 average pooling is our global
    one.
    """
    return build_bninception("bninception", config, **kwargs)


@register(**BN_INCEPTIONS, paper=SENET, config=BNInceptionConfig(se_reduction=16),
          reference=no_reference(
              "no implementation or paper parameter count: tests/test_inception.py checks "
              "BN-Inception's count plus one SE block (C^2/8 + 17C/16) per module, and the SENet "
              "paper's Table 2 GFLOPs (2.03 -> 2.04) to its rounding"))
def SEBNInception(config, **kwargs):
    """SE-BN-Inception (Hu et al., "Squeeze-and-Excitation Networks", 2017, arXiv:1709.01507,
    Fig. 2 and Table 2): BN-Inception (arXiv:1502.03167) with a squeeze-and-excitation block of
    reduction 16 on the output of each of its ten Inception modules (the stride-2 3c and 4e
    included). 11,941,638 trainable parameters at 224: BN-Inception's 11,295,240 plus 646,398
    in the SE blocks (neither paper gives a count). Table 2's 2.04 GFLOPs (multiply-adds; 2.03
    for BN-Inception) is matched to its rounding when the blocks' pooling and scaling are
    counted with their FCs (2.0356 G; the two FCs alone add 0.0006 G).
    """
    return build_bninception("sebninception", config, **kwargs)


# -- Inception-v3 ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class InceptionV3Config:
    """Table 1 and Figs. 5-7 as data, in torchvision's layout: the stem's five widths, the pool
    projections of the 35x35 modules (Fig. 5), the 7x7 factorisations' widths of the 17x17
    modules (Fig. 6), the number of 8x8 modules (Fig. 7), the auxiliary classifier's widths,
    and a divisor of every width (8 in the tiny configuration)."""

    stem: tuple = (32, 32, 64, 80, 192)
    mixed_5: tuple = (32, 64, 64)
    mixed_6: tuple = (128, 160, 160, 192)
    mixed_7: int = 2
    aux_widths: tuple = (128, 768)
    width_divisor: int = 1


#: The input pixels each stage's unpadded layers take off: Inception-v3's stride-4, 8, 16 and
#: 32 maps are ``(size - margin) // stride`` (71, 35, 17, 8 from 299; 15, 7, 3, 1 from 75).
INCEPTION_V3_MARGINS = (15, 19, 27, 43)


def _mixed_35(ctx, x, conv, w, pool_features, p, name):
    """Fig. 5: 1x1; 1x1 -> 5x5; 1x1 -> 3x3 -> 3x3; 3x3 average pool -> 1x1."""
    b1 = conv(x, w(64), 1, p + "branch1x1")
    b5 = conv(conv(x, w(48), 1, p + "branch5x5_1"), w(64), 5, p + "branch5x5_2")
    b3 = conv(x, w(64), 1, p + "branch3x3dbl_1")
    b3 = conv(conv(b3, w(96), 3, p + "branch3x3dbl_2"), w(96), 3, p + "branch3x3dbl_3")
    bp = conv(ctx.avg_pool_padded(x, p + "pool"), w(pool_features), 1, p + "branch_pool")
    return _concat(ctx, [b1, b5, b3, bp], name)


def _reduction_35(ctx, x, conv, w, p, name):
    """35x35 -> 17x17 (Fig. 10): 3x3/2; 1x1 -> 3x3 -> 3x3/2; 3x3/2 max pool."""
    b3 = conv(x, w(384), 3, p + "branch3x3", strides=2, padding="valid")
    bd = conv(conv(x, w(64), 1, p + "branch3x3dbl_1"), w(96), 3, p + "branch3x3dbl_2")
    bd = conv(bd, w(96), 3, p + "branch3x3dbl_3", strides=2, padding="valid")
    bp = keras.layers.MaxPooling2D(3, 2, name=ctx.name(p + "pool"))(x)
    return _concat(ctx, [b3, bd, bp], name)


def _mixed_17(ctx, x, conv, w, c7, p, name):
    """Fig. 6 (n = 7): 1x1; 1x1 -> 1x7 -> 7x1; 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7; pool -> 1x1."""
    c7 = w(c7)
    b1 = conv(x, w(192), 1, p + "branch1x1")
    b7 = conv(x, c7, 1, p + "branch7x7_1")
    b7 = conv(conv(b7, c7, (1, 7), p + "branch7x7_2"), w(192), (7, 1), p + "branch7x7_3")
    bd = conv(x, c7, 1, p + "branch7x7dbl_1")
    for i, (width, kernel) in enumerate(((c7, (7, 1)), (c7, (1, 7)), (c7, (7, 1)),
                                         (w(192), (1, 7))), start=2):
        bd = conv(bd, width, kernel, f"{p}branch7x7dbl_{i}")
    bp = conv(ctx.avg_pool_padded(x, p + "pool"), w(192), 1, p + "branch_pool")
    return _concat(ctx, [b1, b7, bd, bp], name)


def _reduction_17(ctx, x, conv, w, p, name):
    """17x17 -> 8x8: 1x1 -> 3x3/2; 1x1 -> 1x7 -> 7x1 -> 3x3/2; 3x3/2 max pool."""
    b3 = conv(conv(x, w(192), 1, p + "branch3x3_1"), w(320), 3, p + "branch3x3_2", strides=2,
              padding="valid")
    b7 = conv(x, w(192), 1, p + "branch7x7x3_1")
    b7 = conv(conv(b7, w(192), (1, 7), p + "branch7x7x3_2"), w(192), (7, 1), p + "branch7x7x3_3")
    b7 = conv(b7, w(192), 3, p + "branch7x7x3_4", strides=2, padding="valid")
    bp = keras.layers.MaxPooling2D(3, 2, name=ctx.name(p + "pool"))(x)
    return _concat(ctx, [b3, b7, bp], name)


def _mixed_8(ctx, x, conv, w, p, name):
    """Fig. 7: 1x1; 1x1 -> (1x3 | 3x1); 1x1 -> 3x3 -> (1x3 | 3x1); pool -> 1x1."""
    b1 = conv(x, w(320), 1, p + "branch1x1")
    b3 = conv(x, w(384), 1, p + "branch3x3_1")
    b3 = _concat(ctx, [conv(b3, w(384), (1, 3), p + "branch3x3_2a"),
                       conv(b3, w(384), (3, 1), p + "branch3x3_2b")], p + "branch3x3")
    bd = conv(conv(x, w(448), 1, p + "branch3x3dbl_1"), w(384), 3, p + "branch3x3dbl_2")
    bd = _concat(ctx, [conv(bd, w(384), (1, 3), p + "branch3x3dbl_3a"),
                       conv(bd, w(384), (3, 1), p + "branch3x3dbl_3b")], p + "branch3x3dbl")
    bp = conv(ctx.avg_pool_padded(x, p + "pool"), w(192), 1, p + "branch_pool")
    return _concat(ctx, [b1, b3, bd, bp], name)


def build_inception_v3(model_name, cfg, *, drop_rate=0.5, **kwargs):
    """Builds Inception-v3 (arXiv:1512.00567, Table 1, Figs. 5-7; torchvision's layout) from
    ``cfg``.

    Architecture options:
        aux_logits: also return the auxiliary classifier's predictions (on Mixed_6e; the paper
            weighs its loss 0.4). Its 5x5 convolution needs a 17x17 Mixed_6e map: inputs of at
            least 299.
        drop_rate: dropout before the classifier (torchvision's 0.5).
        norm: ``"batch"``, ``"sync_batch"``, ``"group"``, ``"layer"``, ``"batch_renorm"``,
            ``"weight"``.
    """
    drop_rate = check_rate("drop_rate", drop_rate)

    def w(width):
        return max(8, width // cfg.width_divisor)

    def body(ctx, x):
        conv = functools.partial(_conv, ctx)

        def aux_head(ctx, x):
            _check_aux_map(x, 17, "the auxiliary classifier on Mixed_6e (5x5/3 pooling, then a "
                                  "5x5 convolution: inputs of at least 299)")
            x = keras.layers.AveragePooling2D(5, 3, name=ctx.name("aux_pool"))(x)
            x = conv(x, w(cfg.aux_widths[0]), 1, "aux_conv0")
            x = conv(x, w(cfg.aux_widths[1]), 5, "aux_conv1", padding="valid")
            return keras.layers.GlobalAveragePooling2D(name=ctx.name("aux_avg_pool"))(x)

        widths = [w(c) for c in cfg.stem]
        x = conv(x, widths[0], 3, "conv1a_3x3", strides=2, padding="valid")
        x = conv(x, widths[1], 3, "conv2a_3x3", padding="valid")
        x = conv(x, widths[2], 3, "conv2b_3x3")
        x = keras.layers.MaxPooling2D(3, 2, name=ctx.name("pool1"))(x)
        x = conv(x, widths[3], 1, "conv3b_1x1", padding="valid")
        x = conv(x, widths[4], 3, "conv4a_3x3", padding="valid", relu_name="stage1_out")
        x = keras.layers.MaxPooling2D(3, 2, name=ctx.name("pool2"))(x)
        letters = "bcdefgh"
        for i, pool_features in enumerate(cfg.mixed_5):
            name = "stage2_out" if i == len(cfg.mixed_5) - 1 else f"mixed_5{letters[i]}_output"
            x = _mixed_35(ctx, x, conv, w, pool_features, f"mixed_5{letters[i]}_", name)
        x = _reduction_35(ctx, x, conv, w, "mixed_6a_", "mixed_6a_output")
        for i, c7 in enumerate(cfg.mixed_6):
            name = "stage3_out" if i == len(cfg.mixed_6) - 1 else f"mixed_6{letters[i]}_output"
            x = _mixed_17(ctx, x, conv, w, c7, f"mixed_6{letters[i]}_", name)
        ctx.auxiliary_classifier(x, "aux", aux_head)
        x = _reduction_17(ctx, x, conv, w, "mixed_7a_", "mixed_7a_output")
        for i in range(cfg.mixed_7):
            name = "stage4_out" if i == cfg.mixed_7 - 1 else f"mixed_7{letters[i]}_output"
            x = _mixed_8(ctx, x, conv, w, f"mixed_7{letters[i]}_", name)
        return x

    return build_model(model_name, body, drop_rate=drop_rate, bn_epsilon=1e-3, **kwargs)


def inception_v3_tiny(cfg):
    """One module of each kind, 1/8 of the widths (at least 8)."""
    return dataclasses.replace(cfg, mixed_5=cfg.mixed_5[:1], mixed_6=cfg.mixed_6[-1:],
                               mixed_7=1, width_divisor=8)


@register(family="inception", paper=INCEPTION_V3, config=InceptionV3Config(),
          tiny=inception_v3_tiny, default_size=299, min_size=75,
          stage_margins=INCEPTION_V3_MARGINS, params=23_834_568, flops=11_426_432_192,
          aux_loss_weight=0.4, reference=Reference("torchvision", "inception_v3(aux_logits=False)"),
          keras_twin=KerasTwin("InceptionV3", note=(
              "keras' BN has no gamma (scale=False): 17,216 fewer trainable; ours follows "
              "torchvision/timm, which we port from")),
          options={"aux_logits": False, "drop_rate": 0.5, "norm": "batch"},
          generic_builder="build_inception_v3")
def InceptionV3(config, **kwargs):
    """Inception-v3 (Szegedy et al., "Rethinking the Inception Architecture for Computer
    Vision", 2015, arXiv:1512.00567, Table 1, Figs. 5-7) in torchvision's and timm's layout:
    23,834,568 trainable parameters at 299 with 1000 classes (27,161,264 with
    ``aux_logits=True``, torchvision's default), 11.43 GFLOPs; default input 299, minimum 75
    (torchvision's). keras.applications' InceptionV3 has the same layers but batch
    normalisation without a scale (17,216 parameters fewer). torchvision's weights port into
    ``aux_logits=True`` with equal logits at 299, where the auxiliary classifier's 5x5
    convolution fits.
    """
    return build_inception_v3("inceptionv3", config, **kwargs)
