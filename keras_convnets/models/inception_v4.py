"""Inception-v4, Inception-ResNet-v1 and Inception-ResNet-v2.

Szegedy, Ioffe, Vanhoucke, Alemi. "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning", 2016, arXiv:1602.07261, Figures 3-20 and Table 1. Each network is a
stem that takes a 299x299 image to a 35x35 map, then Inception(-ResNet)-A modules at 35x35,
Reduction-A, -B modules at 17x17, Reduction-B and -C modules at 8x8, global average pooling,
dropout (keep 0.8) and the classifier. Every convolution is followed by BatchNorm (epsilon
1e-3, as TF-slim's release and timm) and ReLU, except the linear 1x1 "up-projection" that closes
each residual branch: it maps the branches' concatenation back to the block's width, has a bias
and no BatchNorm, and its output is scaled (Section 3.3: "scaling of the residuals") before it
is added to the block's input; a ReLU follows the sum.

The modules are data (:class:`InceptionV4Config`): a block is a tuple of branches whose outputs
are concatenated, a branch a chain of :class:`Conv` / :data:`MAX_POOL` / :data:`AVG_POOL` steps,
possibly ending in a :class:`Fork` (Inception-C's 1x3 and 3x1 convolutions on one input).
"V" in the paper's figures -- an unpadded ("valid") convolution or pooling -- is ``valid=True``
here; every other convolution keeps the map's size. The 3x3 average pooling of the Inception
branches keeps the size and leaves the padding out of the mean (PyTorch's
``count_include_pad=False``, Keras' ``"same"``).

- :func:`InceptionV4`: Figures 3-9, the layout of timm's ``inception_v4`` (the TF-slim
  release): 42,679,816 trainable parameters. Three kernel orders follow the release rather
  than the figures (counts and FLOPs are the same): the stem's Mixed-4a long branch runs 1x7
  then 7x1 (Fig. 3: 7x1 then 1x7), Inception-B's double branch starts with its 7x1 (Fig. 5:
  1x7), and Inception-C's long branch has its 3x1 before its 1x3 (Fig. 6: 1x3 first). No
  residual connections (``drop_path_rate`` is refused).
- :func:`InceptionResNetV1`: Figures 14 (stem), 10 (A), 7 (Reduction-A with k, l, m, n = 192,
  192, 256, 384 of Table 1), 11 (B), 12 (Reduction-B), 13 (C) and 15 (5 A, 10 B and 5 C
  modules): 35x35x256, 17x17x896, 8x8x1792. No reference implementation of this layout exists
  (timm and torchvision have none; pytorchcv's ``inceptionresnetv1`` is the FaceNet variant,
  with a sixth, linear C module and a 512-wide embedding before the classifier), so its count is
  checked against the figures' widths (tests/test_inception_v4.py) and its blocks against
  pytorchcv's in that variant's configuration.
- :func:`InceptionResNetV2`: the layout of timm's ``inception_resnet_v2``, i.e. the TF-slim
  release, not the paper's Figures 16-19: its stem is Inception-v3's (1x1 80, 3x3 192, max
  pool) followed by a Mixed-5b Inception module to 35x35x320, and its modules are 320, 1088 and
  2080 wide (the paper's are 384, 1152 and 2048: PolyNet's modules keep those,
  :mod:`keras_convnets.models.polynet`); 10 A, 20 B and 10 C modules, the last C module linear
  (no ReLU, scale 1.0), then a 1x1 convolution to 1536 channels. 55,843,464 trainable
  parameters; keras.applications' ``InceptionResNetV2`` has 30,272 fewer (its BatchNorms have
  no scale, ``scale=False``: one gamma per BatchNorm channel).

Residual scaling (``residual_scales``: one factor per A, B, C stage): the release's 0.17, 0.10
and 0.20, in the paper's 0.1-0.3 range (Section 3.3: without it networks with more than 1000
filters "died" early in training); the figures of Inception-ResNet-v1 draw no scaling, which
``residual_scales=(1.0, 1.0, 1.0)`` builds. ``drop_path_rate`` (not in the paper) drops the
residual branches, rising linearly from 0 over the modules.

Geometry. The stem's unpadded layers take 5 pixels off the input at stride 2, 15 at stride 4,
19 at stride 8, 27 at 16 and 43 at 32 (``stage_margins``): a map is ``(size - margin) //
stride`` (299: 147, 71, 35, 17, 8). The minimum input is 75, the smallest for which every
unpadded layer has something to take (an 1x1 last map; keras.applications also asks for 75).
Feature maps ``<model>_stage<N>_out`` end the stem's stride-2 and stride-4 parts and the A, B
and C stages.
"""

import dataclasses

from ..applications import build_model
from ..applications.builder import CONV_INITIALIZER
from ..backend import keras
from ..registry import KerasTwin, Paper, Reference, no_reference, register
from ..utils import check_drop_path, check_positive_int, check_rate, make_divisible

INCEPTION_V4 = Paper(
    "Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning", 2016,
    "1602.07261")


# -- the modules as data -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Conv:
    """One convolution -> BatchNorm -> ReLU of the figures: ``filters``, ``kernel`` (an int or
    ``(height, width)``) and ``stride``; ``valid`` is the figures' "V" (no padding), otherwise
    the convolution keeps the map's size (PyTorch's ``padding=k // 2``)."""

    filters: int
    kernel: object = 1
    stride: int = 1
    valid: bool = False


@dataclasses.dataclass(frozen=True)
class Fork:
    """The end of a branch that splits in two (Inception-C): both convolutions take the same
    input and their outputs are concatenated."""

    convs: tuple


#: 3x3 max pooling, stride 2, unpadded (the reduction modules and the stems).
MAX_POOL = "max_pool"
#: 3x3 average pooling, stride 1, padded; the padding is not counted in the mean.
AVG_POOL = "avg_pool"


def _c(filters, kernel=1, stride=1, valid=False):
    return Conv(filters, kernel, stride, valid)


def _v(filters, kernel=3, stride=1):
    """An unpadded ("V") convolution."""
    return Conv(filters, kernel, stride, valid=True)


@dataclasses.dataclass(frozen=True)
class InceptionV4Config:
    """A network of the paper as data.

    ``stem``: three groups of ``(name, block)`` pairs, ending at strides 2, 4 and 8 (the first
    two end stages 1 and 2). ``block_a`` / ``block_b`` / ``block_c``: the repeated modules,
    ``blocks`` of each; ``reduction_a`` / ``reduction_b`` between them. A block is a tuple of
    branches (outputs concatenated), a branch a tuple of steps. ``residual``: the Inception-ResNet
    form (each repeated module is a residual branch with a linear 1x1 up-projection);
    ``residual_scales`` its per-stage scaling; ``final_block``: ``(scale, relu)`` of the last C
    module where it differs from the others (Inception-ResNet-v2's is linear, scale 1.0);
    ``head_conv``: the width of a 1x1 convolution after the C modules (Inception-ResNet-v2).
    """

    stem: tuple
    block_a: tuple
    reduction_a: tuple
    block_b: tuple
    reduction_b: tuple
    block_c: tuple
    blocks: tuple = (4, 7, 3)
    residual: bool = False
    residual_scales: tuple = (1.0, 1.0, 1.0)
    final_block: tuple | None = None
    head_conv: int | None = None
    drop_rate: float = 0.2


# Inception-v4 (Figures 3-9; the release's 1x7 / 7x1 order).
V4_STEM = (
    (("stem", ((_v(32, 3, 2), _v(32), _c(64, 3)),)),),
    (("mixed_3a", ((MAX_POOL,), (_v(96, 3, 2),))),
     ("mixed_4a", ((_c(64), _v(96)),
                   (_c(64), _c(64, (1, 7)), _c(64, (7, 1)), _v(96))))),
    (("mixed_5a", ((_v(192, 3, 2),), (MAX_POOL,))),),
)
V4_BLOCK_A = ((_c(96),), (_c(64), _c(96, 3)), (_c(64), _c(96, 3), _c(96, 3)), (AVG_POOL, _c(96)))
V4_REDUCTION_A = ((_v(384, 3, 2),), (_c(192), _c(224, 3), _v(256, 3, 2)), (MAX_POOL,))
V4_BLOCK_B = ((_c(384),), (_c(192), _c(224, (1, 7)), _c(256, (7, 1))),
              (_c(192), _c(192, (7, 1)), _c(224, (1, 7)), _c(224, (7, 1)), _c(256, (1, 7))),
              (AVG_POOL, _c(128)))
V4_REDUCTION_B = ((_c(192), _v(192, 3, 2)),
                  (_c(256), _c(256, (1, 7)), _c(320, (7, 1)), _v(320, 3, 2)),
                  (MAX_POOL,))
V4_BLOCK_C = ((_c(256),),
              (_c(384), Fork((_c(256, (1, 3)), _c(256, (3, 1))))),
              (_c(384), _c(448, (3, 1)), _c(512, (1, 3)), Fork((_c(256, (1, 3)), _c(256, (3, 1))))),
              (AVG_POOL, _c(256)))

# Inception-ResNet-v1 (Figures 14, 10, 7, 11, 12, 13, 15; Table 1: k, l, m, n = 192, 192, 256,
# 384).
IRV1_STEM = (
    (("stem", ((_v(32, 3, 2), _v(32), _c(64, 3)),)),),
    (("stem_b", ((MAX_POOL, _c(80), _v(192)),)),),
    (("stem_c", ((_v(256, 3, 2),),)),),
)
IRV1_BLOCK_A = ((_c(32),), (_c(32), _c(32, 3)), (_c(32), _c(32, 3), _c(32, 3)))
IRV1_REDUCTION_A = ((_v(384, 3, 2),), (_c(192), _c(192, 3), _v(256, 3, 2)), (MAX_POOL,))
IRV1_BLOCK_B = ((_c(128),), (_c(128), _c(128, (1, 7)), _c(128, (7, 1))))
IRV1_REDUCTION_B = ((_c(256), _v(384, 3, 2)), (_c(256), _v(256, 3, 2)),
                    (_c(256), _c(256, 3), _v(256, 3, 2)), (MAX_POOL,))
IRV1_BLOCK_C = ((_c(192),), (_c(192), _c(192, (1, 3)), _c(192, (3, 1))))

# Inception-ResNet-v2 as released (TF-slim, timm): Inception-v3's stem and Mixed-5b.
IRV2_STEM = (
    (("stem", ((_v(32, 3, 2), _v(32), _c(64, 3)),)),),
    (("stem_b", ((MAX_POOL, _c(80), _v(192)),)),),
    (("stem_c", ((MAX_POOL,),)),
     ("mixed_5b", ((_c(96),), (_c(48), _c(64, 5)), (_c(64), _c(96, 3), _c(96, 3)),
                   (AVG_POOL, _c(64))))),
)
IRV2_BLOCK_A = ((_c(32),), (_c(32), _c(32, 3)), (_c(32), _c(48, 3), _c(64, 3)))
IRV2_REDUCTION_A = ((_v(384, 3, 2),), (_c(256), _c(256, 3), _v(384, 3, 2)), (MAX_POOL,))
IRV2_BLOCK_B = ((_c(192),), (_c(128), _c(160, (1, 7)), _c(192, (7, 1))))
IRV2_REDUCTION_B = ((_c(256), _v(384, 3, 2)), (_c(256), _v(288, 3, 2)),
                    (_c(256), _c(288, 3), _v(320, 3, 2)), (MAX_POOL,))
IRV2_BLOCK_C = ((_c(192),), (_c(192), _c(224, (1, 3)), _c(256, (3, 1))))

#: the release's residual scales of the A, B and C modules (Section 3.3's 0.1-0.3 range)
RELEASE_SCALES = (0.17, 0.10, 0.20)


# -- building blocks -----------------------------------------------------------------------
def _pair(kernel):
    return tuple(kernel) if isinstance(kernel, (tuple, list)) else (kernel, kernel)


def conv_bn_relu(ctx, x, conv, name, *, conv_name=None, shared=None, out_name=None):
    """``conv`` (a :class:`Conv`) -> BatchNorm -> ReLU, named ``<name>_conv/_bn/_relu``.

    ``conv_name`` names the convolution where it differs (a PolyNet poly-N module shares it
    between its units, whose BatchNorms are their own); a convolution already in ``shared``
    under that name is called again instead of created."""
    conv_name = conv_name or name
    layer = None if shared is None else shared.get(conv_name)
    if layer is None:
        kernel = _pair(conv.kernel)
        if conv.valid:
            padding = "valid"
        elif conv.stride > 1:  # symmetric padding, as PyTorch's padding=k // 2
            pad = tuple((k - 1) // 2 for k in kernel)
            x = keras.layers.ZeroPadding2D(pad, name=ctx.name(f"{name}_pad"))(x)
            padding = "valid"
        else:
            padding = "same"
        layer = keras.layers.Conv2D(
            conv.filters, kernel, strides=conv.stride, padding=padding, use_bias=False,
            kernel_initializer=CONV_INITIALIZER, name=ctx.name(f"{conv_name}_conv"))
        if shared is not None:
            shared[conv_name] = layer
    x = ctx.norm(layer(x), f"{name}_bn")
    return ctx.relu(x, out_name or f"{name}_relu")


def _pool(ctx, x, kind, name, out_name=None):
    if kind == MAX_POOL:
        return keras.layers.MaxPooling2D(3, 2, padding="valid",
                                         name=ctx.name(out_name or f"{name}_pool"))(x)
    # "same" average pooling divides by the number of unpadded pixels it sees
    return keras.layers.AveragePooling2D(3, 1, padding="same",
                                         name=ctx.name(out_name or f"{name}_pool"))(x)


def _concat(ctx, tensors, name):
    return keras.layers.Concatenate(name=ctx.name(name))(tensors)


def _branch(ctx, x, steps, prefix, conv_prefix, shared, out_name=None):
    for j, step in enumerate(steps, start=1):
        last = out_name if j == len(steps) else None
        name, conv_name = f"{prefix}_{j}", f"{conv_prefix}_{j}"
        if isinstance(step, Conv):
            x = conv_bn_relu(ctx, x, step, name, conv_name=conv_name, shared=shared,
                             out_name=last)
        elif isinstance(step, Fork):
            parts = [conv_bn_relu(ctx, x, conv, f"{name}{letter}",
                                  conv_name=f"{conv_name}{letter}", shared=shared)
                     for letter, conv in zip("ab", step.convs)]
            x = _concat(ctx, parts, last or f"{name}_concat")
        else:
            x = _pool(ctx, x, step, name, out_name=last)
    return x


def inception_block(ctx, x, block, name, *, out_name=None, conv_name=None, shared=None):
    """The branches of ``block`` on ``x``, concatenated (``<name>_concat``, or ``out_name``).

    Layers are ``<name>_b<i>_<j>_...`` for step j of branch i (``<name>_<j>_...`` in a block of
    one branch). ``conv_name`` / ``shared``: see :func:`conv_bn_relu`."""
    conv_name = conv_name or name
    if len(block) == 1:
        return _branch(ctx, x, block[0], name, conv_name, shared, out_name)
    outputs = [_branch(ctx, x, steps, f"{name}_b{i}", f"{conv_name}_b{i}", shared)
               for i, steps in enumerate(block, start=1)]
    return _concat(ctx, outputs, out_name or f"{name}_concat")


def build_stem(ctx, x, stem):
    """The stem's three groups; the first two end in ``stage1_out`` and ``stage2_out``."""
    for g, group in enumerate(stem, start=1):
        for k, (name, block) in enumerate(group, start=1):
            out_name = f"stage{g}_out" if g < 3 and k == len(group) else None
            x = inception_block(ctx, x, block, name, out_name=out_name)
    return x


def scaled(ctx, x, scale, name):
    """``x * scale`` (a ``Rescaling`` layer named ``name``); ``x`` itself when ``scale`` is 1."""
    if scale == 1:
        return x
    return keras.layers.Rescaling(scale, name=ctx.name(name))(x)


def _residual_block(ctx, x, block, name, scale, relu, drop_path_rate, out_name=None):
    """Inception-ResNet: x + scale * up-projection(branches(x)), then ReLU (Fig. 20)."""
    y = inception_block(ctx, x, block, name)
    y = keras.layers.Conv2D(int(x.shape[-1]), 1, use_bias=True,
                            kernel_initializer=CONV_INITIALIZER, name=ctx.name(f"{name}_proj"))(y)
    y = scaled(ctx, y, scale, f"{name}_scale")
    y = ctx.drop_path(y, drop_path_rate, f"{name}_drop_path")
    if not relu:
        return ctx.add([x, y], out_name or f"{name}_add")
    return ctx.relu(ctx.add([x, y], f"{name}_add"), out_name or f"{name}_relu")


def _check_scales(argument, scales, count):
    if (not isinstance(scales, (tuple, list)) or len(scales) != count
            or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0
                       for s in scales)):
        raise ValueError(f"`{argument}` must be {count} positive numbers; got {scales!r}.")
    return tuple(float(s) for s in scales)


def build_inception_v4(model_name, cfg, *, drop_rate=None, drop_path_rate=0.0,
                       residual_scales=None, bn_epsilon=1e-3, **kwargs):
    """Builds Inception-v4 or an Inception-ResNet (arXiv:1602.07261) from ``cfg``.

    Architecture options:
        drop_rate: dropout before the classifier; default 0.2, the paper's "keep 0.8"
            (Figures 9 and 15).
        drop_path_rate: stochastic depth on the residual branches of the Inception-ResNets
            (not in the paper), rising linearly from 0 over the modules; Inception-v4 has no
            residual branch and refuses it.
        residual_scales: the A, B and C modules' residual scaling (Inception-ResNets only);
            default the configuration's (the release's 0.17, 0.10, 0.20).
        norm: ``"batch"``, ``"sync_batch"``, ``"group"``, ``"layer"``, ``"batch_renorm"``,
            ``"weight"`` (epsilon 1e-3).
    """
    what = "Inception-v4" if not cfg.residual else model_name
    drop_path_rate = check_drop_path(drop_path_rate, cfg.residual, what)
    drop_rate = check_rate("drop_rate", cfg.drop_rate if drop_rate is None else drop_rate)
    if residual_scales is not None and not cfg.residual:
        raise ValueError(f"`residual_scales`={residual_scales!r} needs residual modules, and "
                         f"{what} has none.")
    scales = _check_scales("residual_scales", cfg.residual_scales if residual_scales is None
                           else residual_scales, 3)
    if len(cfg.blocks) != 3:
        raise ValueError(f"`blocks` must give the A, B and C module counts; got {cfg.blocks!r}.")
    for count in cfg.blocks:
        check_positive_int("blocks", count)
    total = sum(cfg.blocks)

    def body(ctx, x):
        x = build_stem(ctx, x, cfg.stem)
        stages = (("a", cfg.block_a, None), ("b", cfg.block_b, cfg.reduction_a),
                  ("c", cfg.block_c, cfg.reduction_b))
        index = 0
        for s, (letter, block, reduction) in enumerate(stages):
            if reduction is not None:
                x = inception_block(ctx, x, reduction, f"reduction_{'ab'[s - 1]}")
            count = cfg.blocks[s]
            for k in range(1, count + 1):
                ends_stage = k == count and not (s == 2 and cfg.head_conv)
                out_name = f"stage{s + 3}_out" if ends_stage else None
                name = f"block_{letter}{k}"
                if not cfg.residual:
                    x = inception_block(ctx, x, block, name, out_name=out_name)
                    continue
                scale, relu = scales[s], True
                if s == 2 and k == count and cfg.final_block is not None:
                    scale, relu = cfg.final_block
                rate = drop_path_rate * index / max(1, total - 1)
                x = _residual_block(ctx, x, block, name, scale, relu, rate, out_name)
                index += 1
        if cfg.head_conv:
            x = conv_bn_relu(ctx, x, Conv(cfg.head_conv), "head_conv", out_name="stage5_out")
        return x

    return build_model(model_name, body, drop_rate=drop_rate, bn_epsilon=bn_epsilon, **kwargs)


# -- tiny configurations -------------------------------------------------------------------
def shrink_block(block, divisor=8):
    """``block`` with every convolution's width divided by ``divisor`` (multiples of 8)."""

    def step(s):
        if isinstance(s, Conv):
            return dataclasses.replace(s, filters=make_divisible(s.filters / divisor, 8))
        if isinstance(s, Fork):
            return Fork(tuple(step(c) for c in s.convs))
        return s

    return tuple(tuple(step(s) for s in branch) for branch in block)


def shrink_stem(stem, divisor=8):
    return tuple(tuple((name, shrink_block(block, divisor)) for name, block in group)
                 for group in stem)


def tiny_config(cfg):
    """1/8 of the widths, one module per stage (two C modules where the last one differs)."""
    return dataclasses.replace(
        cfg, stem=shrink_stem(cfg.stem), block_a=shrink_block(cfg.block_a),
        reduction_a=shrink_block(cfg.reduction_a), block_b=shrink_block(cfg.block_b),
        reduction_b=shrink_block(cfg.reduction_b), block_c=shrink_block(cfg.block_c),
        blocks=(1, 1, 2 if cfg.final_block else 1),
        head_conv=cfg.head_conv and make_divisible(cfg.head_conv / 8, 8))


#: the stem's unpadded layers: a stage's map is (size - margin) // stride (module docstring)
GEOMETRY = dict(default_size=299, min_size=75, stage_strides=(2, 4, 8, 16, 32),
                stage_margins=(5, 15, 19, 27, 43))
FAMILY = dict(family="inception_v4", paper=INCEPTION_V4, tiny=tiny_config,
              generic_builder="build_inception_v4", **GEOMETRY)
RESIDUAL_OPTIONS = {"drop_rate": None, "drop_path_rate": 0.0, "residual_scales": None,
                    "norm": "batch"}


@register(**FAMILY, config=InceptionV4Config(V4_STEM, V4_BLOCK_A, V4_REDUCTION_A, V4_BLOCK_B,
                                              V4_REDUCTION_B, V4_BLOCK_C, blocks=(4, 7, 3)),
          params=42_679_816, flops=24_507_949_248, reference=Reference("timm", "inception_v4"),
          options={"drop_rate": None, "drop_path_rate": 0.0, "norm": "batch"})
def InceptionV4(config, **kwargs):
    """Inception-v4 (Szegedy et al. 2016, arXiv:1602.07261, Figures 3-9): 4 Inception-A, 7
    Inception-B and 3 Inception-C modules, 42,679,816 trainable parameters (timm
    ``inception_v4``), 24.5 GFLOPs at 299; default input 299, minimum 75."""
    return build_inception_v4("inceptionv4", config, **kwargs)


@register(**FAMILY, config=InceptionV4Config(
              IRV1_STEM, IRV1_BLOCK_A, IRV1_REDUCTION_A, IRV1_BLOCK_B, IRV1_REDUCTION_B,
              IRV1_BLOCK_C, blocks=(5, 10, 5), residual=True, residual_scales=RELEASE_SCALES),
          reference=no_reference(
              "no implementation of the paper's layout (pytorchcv's inceptionresnetv1 is the "
              "FaceNet variant): the count is checked against Figures 7 and 10-15 in "
              "tests/test_inception_v4.py"),
          options=RESIDUAL_OPTIONS)
def InceptionResNetV1(config, **kwargs):
    """Inception-ResNet-v1 (Szegedy et al. 2016, arXiv:1602.07261, Figures 7 and 10-15,
    Table 1): 5 A, 10 B and 5 C residual modules on the Figure 14 stem, 35x35x256, 17x17x896
    and 8x8x1792; 22,756,328 trainable parameters, counted from the figures (no reference
    implementation has this layout: see the module docstring), 12.4 GFLOPs at 299. Residual
    scales 0.17, 0.10, 0.20 by default; default input 299, minimum 75."""
    return build_inception_v4("inceptionresnetv1", config, **kwargs)


@register(**FAMILY, config=InceptionV4Config(
              IRV2_STEM, IRV2_BLOCK_A, IRV2_REDUCTION_A, IRV2_BLOCK_B, IRV2_REDUCTION_B,
              IRV2_BLOCK_C, blocks=(10, 20, 10), residual=True, residual_scales=RELEASE_SCALES,
              final_block=(1.0, False), head_conv=1536),
          params=55_843_464, flops=26_311_588_032,
          reference=Reference("timm", "inception_resnet_v2"),
          keras_twin=KerasTwin(
              "InceptionResNetV2",
              note="keras' BN has no gamma (scale=False) and its block up-projections keep a "
                   "bias: see keras_applications_params.tsv"),
          options=RESIDUAL_OPTIONS)
def InceptionResNetV2(config, **kwargs):
    """Inception-ResNet-v2 (Szegedy et al. 2016, arXiv:1602.07261) as released (TF-slim; timm
    ``inception_resnet_v2``): 10 A, 20 B and 10 C residual modules (the last one linear) and a
    1x1 convolution to 1536 channels, 55,843,464 trainable parameters, 26.3 GFLOPs at 299;
    default input 299, minimum 75. The release differs from the paper's Figures 16-19 (module
    docstring); keras.applications' ``InceptionResNetV2`` is this layout without BatchNorm
    scales (30,272 fewer trainable parameters)."""
    return build_inception_v4("inceptionresnetv2", config, **kwargs)
