"""The DSOD300 backbone: a DenseNet for detectors trained from scratch.

Shen, Liu, Li, Jiang, Chen, Xue. "DSOD: Learning Deeply Supervised Object Detectors from
Scratch", ICCV 2017, arXiv:1708.01241. Table 1 gives the backbone of DSOD300 (300x300 input):

| layers | output size | |
|---|---|---|
| stem | 150x150 | 3x3 conv 64, stride 2; 3x3 conv 64; 3x3 conv 128 |
| | 75x75 | 2x2 max pool, stride 2 |
| dense block 1 | 75x75 | [1x1 conv, 3x3 conv] x 6 |
| transition layer 1 | 75x75 / 38x38 | 1x1 conv; 2x2 max pool, stride 2 |
| dense block 2 | 38x38 | [1x1 conv, 3x3 conv] x 8 |
| transition layer 2 | 38x38 / 19x19 | 1x1 conv; 2x2 max pool, stride 2 |
| dense block 3 | 19x19 | [1x1 conv, 3x3 conv] x 8 |
| transition w/o pooling layer 1 | 19x19 | 1x1 conv |
| dense block 4 | 19x19 | [1x1 conv, 3x3 conv] x 8 |
| transition w/o pooling layer 2 | 19x19 | 1x1 conv |

"DS/64-192-48-1" in the paper's results: a 64-channel first convolution, 192-channel (4k)
bottlenecks, growth rate k = 48, compression factor 1 (transitions keep the channel count).
The widths the table leaves out are the authors' Caffe definition's (github.com/szq0214/DSOD,
``DSOD300_V3_Body``): 128 stem channels, 416 after block 1, 800 after block 2 (the first
prediction scale, taken at transition 2's 1x1 conv before its pooling), 1184 after block 3,
and 256 out of the last transition. Every dense layer is DenseNet-BC's (pre-activation
BN-ReLU-1x1 conv-BN-ReLU-3x3 conv, concatenated;
:func:`keras_convnets.models.densenet.dense_layer`), transitions are BN-ReLU-1x1 conv, and the 2x2 max poolings are Caffe's (ceil mode: 75 -> 38;
the transition's pooled map is signed, so the overhanging window ignores the border rather
than pad it with zeros). Convolutions have no bias.

This registration is the backbone with a classifier on top (global average pooling and a
dense layer on the 256-channel map), so that it builds, trains and exports like every other
network; ``include_top=False`` gives the detection backbone and ``kc.feature_extractor`` its
maps. What it counts: the stem, the four dense blocks and the four transitions (10,032,608
parameters), plus the classifier (257,000 at 1000 classes). What it does not: DSOD's dense
prediction structure (the 19x19 scale's second half, the four down-sampling blocks to 10, 5, 3
and 1 pixels) and the SSD multibox heads. The paper's 14.8M for the whole DSOD300 detector
(VOC, dense prediction; 18.2M with plain prediction) is reached by adding those, counted from the
authors' Caffe definition, and counting the BN layers' moving statistics as Caffe stores them
(trainable parameters alone: 14.72M); tests/test_dsod.py checks the sum.

Feature maps: ``<model>_stage<N>_out``: transition N's 1x1 conv (before its pooling, for the
first two), strides 4, 8, 16, 16: 75, 38, 19 and 19 pixels at 300x300 (the second is
DSOD300's first prediction scale, the fourth the backbone's output).
Layers: ``stem_conv<i>``, ``stem_bn<i>``, ``stem_relu<i>`` (i = 1, 2, 3), ``stem_pool``;
``denseblock<B>_denselayer<L>_...`` as DenseNet's, ``denseblock<B>_concat``;
``transition<B>_norm``, ``transition<B>_relu``, the transition's 1x1 conv ``stage<B>_out``,
``transition<B>_pool`` (B = 1, 2); ``logits``.
"""

import dataclasses

from ..applications import build_model
from ..backend import keras
from ..registry import Paper, no_reference, register
from ..utils import check_bool, check_drop_path, check_positive_int, check_rate
from .densenet import dense_layer

DSOD = Paper("DSOD: Learning Deeply Supervised Object Detectors from Scratch", 2017,
             "1708.01241")


@dataclasses.dataclass(frozen=True)
class DSODConfig:
    """The DSOD backbone: dense layers of the four blocks, growth rate k, the stem's three
    convolutions' widths, the bottleneck factor (``bn_size`` x k), the transitions'
    compression and the last transition's width (``out_features``)."""

    blocks: tuple = (6, 8, 8, 8)
    growth_rate: int = 48
    stem: tuple = (64, 64, 128)
    bn_size: int = 4
    compression: float = 1.0
    out_features: int = 256


def _check_config(cfg):
    if not isinstance(cfg.blocks, tuple) or len(cfg.blocks) != 4 or not all(
            isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in cfg.blocks):
        raise ValueError(
            f"`blocks` must be four positive integers, the dense layers of DSOD's four blocks "
            f"(two followed by a pooled transition, two by a transition without pooling); got "
            f"{cfg.blocks!r}.")
    check_positive_int("growth_rate", cfg.growth_rate)
    if not isinstance(cfg.stem, tuple) or len(cfg.stem) != 3:
        raise ValueError(f"`stem` must be the widths of the stem's three 3x3 convolutions; got "
                         f"{cfg.stem!r}.")
    for width in cfg.stem:
        check_positive_int("stem", width)
    check_positive_int("bn_size", cfg.bn_size)
    c = cfg.compression
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c <= 1:
        raise ValueError(f"`compression` must be a number in (0, 1]; got {c!r}.")
    check_positive_int("out_features", cfg.out_features)


def build_dsod(model_name, cfg, *, drop_rate=0.0, drop_path_rate=0.0, norm="batch",
               memory_efficient=False, **kwargs):
    """Builds a DSOD backbone configuration ``cfg`` (see the module docstring) with a
    classifier on top.

    Architecture options:
        drop_rate: dropout before the classifier.
        drop_path_rate: accepted for a uniform interface; DSOD's backbone has no residual
            branch, so only 0 is valid.
        norm: ``"batch"`` (the paper's), ``"sync_batch"``, ``"group"``, ``"layer"``,
            ``"batch_renorm"``, ``"weight"``.
        memory_efficient: each dense layer's concatenation -> BN -> ReLU -> 1x1 convolution
            recomputed in the backward pass (DenseNet's option; ``norm="batch"`` only).
    """
    _check_config(cfg)
    drop_rate = check_rate("drop_rate", drop_rate)
    check_drop_path(drop_path_rate, False, "the DSOD backbone")
    memory_efficient = check_bool("memory_efficient", memory_efficient)
    if memory_efficient and norm != "batch":
        raise ValueError(
            f"`memory_efficient`=True recomputes batch normalisation only; it needs "
            f"norm='batch', got norm={norm!r}.")

    def transition(ctx, x, filters, block):
        t = f"transition{block}"
        x = ctx.relu(ctx.norm(x, t + "_norm"), t + "_relu")
        return ctx.conv(x, filters, 1, f"stage{block}_out")

    def ceil_pool(ctx, x, name):
        # Caffe's 2x2/2 max pooling rounds up; "same" pads only the bottom/right, and TF's
        # max pooling never lets a padded position win: Caffe's overhanging window exactly.
        return keras.layers.MaxPooling2D(2, 2, padding="same", name=ctx.name(name))(x)

    def body(ctx, x):
        for index, (width, stride) in enumerate(zip(cfg.stem, (2, 1, 1)), start=1):
            x = ctx.conv_norm_act(x, width, 3, "stem", strides=stride, suffix=str(index))
        x = ceil_pool(ctx, x, "stem_pool")
        for block, layers in enumerate(cfg.blocks, start=1):
            features = [x]
            for index in range(1, layers + 1):
                features.append(dense_layer(
                    ctx, features, f"denseblock{block}_denselayer{index}", cfg.growth_rate,
                    cfg.bn_size, memory_efficient=memory_efficient))
            x = keras.layers.Concatenate(name=ctx.name(f"denseblock{block}_concat"))(features)
            width = int(x.shape[-1])
            filters = cfg.out_features if block == 4 else int(width * cfg.compression)
            x = transition(ctx, x, filters, block)
            if block <= 2:
                x = ceil_pool(ctx, x, f"transition{block}_pool")
        return x

    return build_model(model_name, body, norm=norm, drop_rate=drop_rate, **kwargs)


def tiny_config(cfg):
    """The same topology at 1/8 of the widths (k = 6), blocks of (2, 1, 1, 1) layers."""
    return dataclasses.replace(cfg, blocks=(2, 1, 1, 1), growth_rate=cfg.growth_rate // 8,
                               stem=tuple(w // 8 for w in cfg.stem),
                               out_features=cfg.out_features // 8)


OPTIONS = {"drop_rate": 0.0, "drop_path_rate": 0.0, "norm": "batch", "memory_efficient": False}
_DETECTOR = ("no reference implementation in timm, torchvision or pytorchcv; the paper counts "
             "only the whole DSOD300 detector (14.8M, VOC 2007 results): tests/test_dsod.py adds "
             "the prediction layers counted from the authors' Caffe definition to this backbone "
             "and checks that sum to the paper's rounding")


@register(family="dsod", paper=DSOD, config=DSODConfig(), tiny=tiny_config, default_size=300,
          min_size=32, stage_strides=(4, 8, 16, 16), options=OPTIONS,
          generic_builder="build_dsod", reference=no_reference(_DETECTOR))
def DSOD300Backbone(config, **kwargs):
    """The DSOD300 backbone (Shen et al., "DSOD: Learning Deeply Supervised Object Detectors
    from Scratch", ICCV 2017, arXiv:1708.01241, Table 1; "DS/64-192-48-1"): a three-convolution
    stem, dense blocks of 6, 8, 8, 8 layers at growth rate 48, two pooled transitions and two
    without pooling, here with a global-pooling classifier on top (``include_top=False``: the
    detection backbone). 10,032,608 parameters without the classifier; the paper's 14.8M is the
    whole detector's (module docstring)."""
    return build_dsod("dsod300backbone", config, **kwargs)
