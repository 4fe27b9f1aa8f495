"""PolyNet: Inception-ResNet modules composed as polynomials of residual units.

Zhang, Li, Loy, Lin. "PolyNet: A Pursuit of Structural Diversity in Very Deep Networks", 2016,
arXiv:1611.05725. A residual unit computes ``(I + F) x``; a PolyInception module composes
Inception-ResNet units ``F``, ``G``, ``H`` as a polynomial of them (Fig. 4):

- ``"poly-N"``: ``I + F + F^2 + ... + F^N``, one unit applied N times in a cascade (each order
  feeds the ReLU of the previous order's output to the next); the units share their
  convolutions. As in the released model, each order keeps its own BatchNorms and its own
  linear up-projection (1x1 convolution + BatchNorm): only the branch convolutions are shared.
- ``"mpoly-N"``: ``I + F + GF + HGF ...``, the same cascade with distinct units.
- ``"N-way"``: ``I + F + G + ...``, N distinct units side by side on the same input.

Every term is scaled (``residual_scale_range``: linear over the network's modules) before the
sum, which a ReLU follows; ``"poly-1"``, ``"mpoly-1"`` and ``"1-way"`` are a plain
Inception-ResNet module.

The layout is the released (Caffe) PolyNet that pretrainedmodels' ``polynet`` ports (Cadene),
95,366,600 trainable parameters, 69.4 GFLOPs at its 331x331 input: Inception-v4's stem
(:mod:`keras_convnets.models.inception_v4`; here Mixed-4a's long branch runs 7x1 then 1x7, as
in Fig. 3 of arXiv:1602.07261, and Mixed-5a puts its pooling branch first) to 35x35x384, then
the paper's "very deep PolyNet" stages on the Inception-ResNet-v2 modules of arXiv:1602.07261
(A, B, C: Figures 16, 17 and 19, 384, 1152 and 2048 wide; Reduction-A: Figure 7 with Table 1's
k, l, m, n = 256, 256, 384, 384; the release's Reduction-B has 256-wide branches where Figure 18
has 288 and 320), every convolution with BatchNorm (epsilon 1e-5): stage A, ten 2-way modules;
stage B, ten poly-3 and ten 2-way modules alternating; stage C, five poly-3 and five 2-way
modules alternating. The residual scale falls linearly from 1.0 for the first module to 0.7 for
the last (the release's values, rounded to 6 decimals there and here). Global average pooling,
dropout 0.2 and the classifier follow (the release pools a fixed 9x9 window: the same at 331).

``drop_path_rate`` drops each term of a module independently while training (the paper's
"stochastic paths"), at a rate rising linearly from 0 over the modules.

Geometry (Inception-v4's stem): a map is ``(size - margin) // stride`` with margins 5, 15, 19,
27, 43 at strides 2 to 32 (331: 163, 79, 39, 19, 9); minimum input 75. Feature maps
``<model>_stage<N>_out`` end the stem's stride-2 and stride-4 parts and stages A, B and C.
"""

import dataclasses
import re

from ..applications import build_model
from ..applications.builder import CONV_INITIALIZER
from ..backend import keras
from ..registry import Paper, Reference, register
from ..utils import check_positive_int, check_rate
from .inception_v4 import (
    GEOMETRY, MAX_POOL, Conv, build_stem, inception_block, scaled, shrink_block, shrink_stem)

POLYNET = Paper("PolyNet: A Pursuit of Structural Diversity in Very Deep Networks", 2016,
                "1611.05725")


def _c(filters, kernel=1, stride=1, valid=False):
    return Conv(filters, kernel, stride, valid)


def _v(filters, kernel=3, stride=1):
    return Conv(filters, kernel, stride, valid=True)


# Inception-v4's stem (Fig. 3) in the release's branch order.
STEM = (
    (("stem", ((_v(32, 3, 2), _v(32), _c(64, 3)),)),),
    (("mixed_3a", ((MAX_POOL,), (_v(96, 3, 2),))),
     ("mixed_4a", ((_c(64), _v(96)),
                   (_c(64), _c(64, (7, 1)), _c(64, (1, 7)), _v(96))))),
    (("mixed_5a", ((MAX_POOL,), (_v(192, 3, 2),))),),
)
# The paper's Inception-ResNet-v2 modules (arXiv:1602.07261 Figures 16-19), in the release's
# branch order; each unit ends in a linear 1x1 up-projection with BatchNorm.
BLOCK_A = ((_c(32), _c(48, 3), _c(64, 3)), (_c(32), _c(32, 3)), (_c(32),))
REDUCTION_A = ((_c(256), _c(256, 3), _v(384, 3, 2)), (_v(384, 3, 2),), (MAX_POOL,))
BLOCK_B = ((_c(128), _c(160, (1, 7)), _c(192, (7, 1))), (_c(192),))
REDUCTION_B = ((_c(256), _c(256, 3), _v(256, 3, 2)), (_c(256), _v(256, 3, 2)),
               (_c(256), _v(384, 3, 2)), (MAX_POOL,))
BLOCK_C = ((_c(192), _c(224, (1, 3)), _c(256, (3, 1))), (_c(192),))

_MODULE = re.compile(r"(?:(?P<poly>m?poly)-(?P<order>\d+)|(?P<ways>\d+)-way)")


def parse_module(kind):
    """``"poly-3"`` -> ``("poly", 3)``, ``"mpoly-2"`` -> ``("mpoly", 2)``, ``"2-way"`` ->
    ``("way", 2)``; anything else is a ValueError."""
    match = _MODULE.fullmatch(kind) if isinstance(kind, str) else None
    count = match and int(match["order"] or match["ways"])
    if not count:
        raise ValueError(
            f"A PolyInception module must be 'poly-N', 'mpoly-N' or 'N-way' with N >= 1; "
            f"got {kind!r}.")
    return (match["poly"] or "way"), count


@dataclasses.dataclass(frozen=True)
class PolyNetConfig:
    """The released PolyNet as data: the stem, the three stages' module kinds (``"poly-N"``,
    ``"mpoly-N"``, ``"N-way"``), the modules' units (Inception-ResNet-A/B/C branches) and the
    reductions; the residual scale runs linearly over the modules from ``scale_range[0]`` to
    ``scale_range[1]``."""

    stem: tuple = STEM
    stage_a: tuple = ("2-way",) * 10
    stage_b: tuple = ("poly-3", "2-way") * 10
    stage_c: tuple = ("poly-3", "2-way") * 5
    block_a: tuple = BLOCK_A
    reduction_a: tuple = REDUCTION_A
    block_b: tuple = BLOCK_B
    reduction_b: tuple = REDUCTION_B
    block_c: tuple = BLOCK_C
    scale_range: tuple = (1.0, 0.7)
    drop_rate: float = 0.2


def _unit(ctx, x, block, name, conv_name, shared, width):
    """One Inception-ResNet unit: the branches, concatenated, and the linear up-projection
    (1x1 convolution + BatchNorm) to ``width``."""
    y = inception_block(ctx, x, block, name, conv_name=conv_name, shared=shared)
    y = keras.layers.Conv2D(width, 1, use_bias=False, kernel_initializer=CONV_INITIALIZER,
                            name=ctx.name(f"{name}_proj_conv"))(y)
    return ctx.norm(y, f"{name}_proj_bn")


def poly_module(ctx, x, kind, block, name, scale, drop_path_rate=0.0, out_name=None):
    """A PolyInception module (module docstring) on ``x``: ``kind`` is ``"poly-N"``,
    ``"mpoly-N"`` or ``"N-way"``. Units are ``<name>_u<k>_...``; a poly-N module's shared
    convolutions are ``<name>_b<i>_<j>_conv``."""
    family, count = parse_module(kind)
    width = int(x.shape[-1])
    shared = {} if family == "poly" else None
    terms, h = [], x
    for k in range(1, count + 1):
        unit = f"{name}_u{k}"
        conv_name = name if family == "poly" else unit
        source = x if family == "way" else h
        y = _unit(ctx, source, block, unit, conv_name, shared, width)
        if family != "way" and k < count:
            h = ctx.relu(y, f"{unit}_relu")  # the next order's input
        y = scaled(ctx, y, scale, f"{unit}_scale")
        terms.append(ctx.drop_path(y, drop_path_rate, f"{unit}_drop_path"))
    x = ctx.add([x, *terms], f"{name}_add")
    return ctx.relu(x, out_name or f"{name}_relu")


def module_scales(count, scale_range):
    """The residual scale of each of ``count`` modules, linear over ``scale_range`` and rounded
    to 6 decimals (the release's values)."""
    first, last = scale_range
    return [round(first + (last - first) * i / max(1, count - 1), 6) for i in range(count)]


def build_polynet(model_name, cfg, *, drop_rate=None, drop_path_rate=0.0,
                  residual_scale_range=None, bn_epsilon=1e-5, **kwargs):
    """Builds PolyNet (arXiv:1611.05725) from ``cfg``.

    Architecture options:
        drop_rate: dropout before the classifier; default 0.2, the release's.
        drop_path_rate: "stochastic paths": each residual term of a module is dropped
            independently at a rate rising linearly from 0 over the modules.
        residual_scale_range: ``(first, last)`` residual scale, linear over the modules;
            default the release's ``(1.0, 0.7)``.
        norm: ``"batch"``, ``"sync_batch"``, ``"group"``, ``"layer"``, ``"batch_renorm"``,
            ``"weight"``.
    """
    drop_rate = check_rate("drop_rate", cfg.drop_rate if drop_rate is None else drop_rate)
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    scale_range = cfg.scale_range if residual_scale_range is None else residual_scale_range
    if (not isinstance(scale_range, (tuple, list)) or len(scale_range) != 2
            or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0
                       for s in scale_range)):
        raise ValueError(f"`residual_scale_range` must be two positive numbers (first, last); "
                         f"got {scale_range!r}.")
    stages = (("a", cfg.stage_a, cfg.block_a, None), ("b", cfg.stage_b, cfg.block_b,
                                                      cfg.reduction_a),
              ("c", cfg.stage_c, cfg.block_c, cfg.reduction_b))
    for letter, kinds, _, _ in stages:
        check_positive_int(f"len(stage_{letter})", len(kinds))
        for kind in kinds:
            parse_module(kind)
    total = sum(len(kinds) for _, kinds, _, _ in stages)
    scales = module_scales(total, scale_range)

    def body(ctx, x):
        x = build_stem(ctx, x, cfg.stem)
        index = 0
        for s, (letter, kinds, block, reduction) in enumerate(stages):
            if reduction is not None:
                x = inception_block(ctx, x, reduction, f"reduction_{'ab'[s - 1]}")
            for k, kind in enumerate(kinds, start=1):
                out_name = f"stage{s + 3}_out" if k == len(kinds) else None
                rate = drop_path_rate * index / max(1, total - 1)
                x = poly_module(ctx, x, kind, block, f"block_{letter}{k}", scales[index], rate,
                                out_name)
                index += 1
        return x

    return build_model(model_name, body, drop_rate=drop_rate, bn_epsilon=bn_epsilon, **kwargs)


def tiny_config(cfg):
    """1/8 of the widths; one module per stage: 2-way, poly-3, 2-way."""
    return dataclasses.replace(
        cfg, stem=shrink_stem(cfg.stem), block_a=shrink_block(cfg.block_a),
        reduction_a=shrink_block(cfg.reduction_a), block_b=shrink_block(cfg.block_b),
        reduction_b=shrink_block(cfg.reduction_b), block_c=shrink_block(cfg.block_c),
        stage_a=("2-way",), stage_b=("poly-3",), stage_c=("2-way",))


@register(family="polynet", paper=POLYNET, config=PolyNetConfig(), tiny=tiny_config,
          **{**GEOMETRY, "default_size": 331}, params=95_366_600, flops=69_398_986_944,
          reference=Reference("pretrainedmodels", "polynet"),
          options={"drop_rate": None, "drop_path_rate": 0.0, "residual_scale_range": None,
                   "norm": "batch"},
          generic_builder="build_polynet")
def PolyNet(config, **kwargs):
    """PolyNet (Zhang et al. 2016, arXiv:1611.05725, Fig. 4) as released:
    Inception-v4's stem, then 10 2-way, 20 (poly-3, 2-way alternating) and 10 (poly-3, 2-way)
    PolyInception modules; 95,366,600 trainable parameters (pretrainedmodels ``polynet``), 69.4
    GFLOPs at the default input 331; minimum input 75."""
    return build_polynet("polynet", config, **kwargs)
