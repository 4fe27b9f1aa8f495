"""DenseNet: every layer of a dense block takes the concatenation of all earlier ones.

Huang, Liu, van der Maaten, Weinberger. "Densely Connected Convolutional Networks", 2016,
arXiv:1608.06993. Table 1 gives the ImageNet DenseNet-BC networks (121, 169, 201, 264 layers,
growth rate k = 32; DenseNet-161, torchvision's, has k = 48 and 96 initial features): a 7x7/2
convolution of 2k channels and a 3x3/2 max-pooling, four dense blocks separated by transition
layers, then global average pooling and the classifier. Table 2 gives the CIFAR DenseNet-BC
networks (L = 100, k = 12: 0.8M; L = 250, k = 24: 15.3M; L = 190, k = 40: 25.6M): a 3x3
convolution of 2k channels and three dense blocks of (L - 4) / 6 bottleneck layers.

The layout is torchvision's (``torchvision.models.densenet``), so its weights port:
- a dense layer (pre-activation, "BC" bottleneck): BN-ReLU-1x1 conv (4k channels)-BN-ReLU-3x3
  conv (k channels), its k new channels concatenated onto its input;
- a transition (compression 0.5): BN-ReLU-1x1 conv to half the channels, 2x2/2 average pooling;
- after the last block a final BN-ReLU (``norm5``), then the classifier.

Options. ``drop_rate`` is the paper's (and torchvision's) dropout on each dense layer's new
features (0.2 for its CIFAR runs without augmentation); there is no dropout before the
classifier. DenseNet has no residual branch, so ``drop_path_rate`` must be 0.
``memory_efficient=True`` computes each dense layer's concatenation -> BN -> ReLU -> 1x1
convolution as one :class:`~keras_convnets.layers.dense_bottleneck.DenseBottleneck` layer
recomputed in the backward pass (Pleiss et al., arXiv:1707.06990; torchvision's
``memory_efficient``): the same outputs and gradients, the same weights in the same order
(``get_weights``/``set_weights`` move them between the two builds), block memory linear
instead of quadratic in its depth.

Feature maps: ``<model>_stage<N>_out`` is the output of dense block N (strides 4, 8, 16, 32
on ImageNet, 1, 2, 4 on CIFAR); the last one is the final BN-ReLU's output.
Layers: ``conv0``, ``norm0``, ``relu0``, ``pool0``; ``denseblock<B>_denselayer<L>_norm1``,
``_relu1``, ``_conv1``, ``_norm2``, ``_relu2``, ``_conv2``, ``_concat`` (memory-efficient:
``_bottleneck`` for the first four); ``transition<B>_norm``, ``_relu``, ``_conv``, ``_pool``;
``norm5``, ``logits``.
"""

import dataclasses

from ..applications import build_model
from ..applications.builder import CONV_INITIALIZER
from ..backend import keras
from ..layers.dense_bottleneck import DenseBottleneck
from ..registry import KerasTwin, Paper, Reference, measured, no_reference, register
from ..utils import check_bool, check_choice, check_drop_path, check_positive_int, check_rate

DENSENET = Paper("Densely Connected Convolutional Networks", 2016, "1608.06993")


@dataclasses.dataclass(frozen=True)
class DenseNetConfig:
    """One DenseNet: the dense layers of each block, the growth rate k, the stem's width, the
    bottleneck's width factor (4k channels) and the transitions' compression; ``stem``:
    ``"imagenet"`` (7x7/2 conv and 3x3/2 max-pooling) or ``"cifar"`` (one 3x3 conv)."""

    blocks: tuple
    growth_rate: int = 32
    init_features: int = 64
    bn_size: int = 4
    compression: float = 0.5
    stem: str = "imagenet"


def cifar_config(depth, growth_rate, compression=0.5):
    """Table 2's DenseNet-BC of depth ``depth`` (L): three dense blocks of (L - 4) / 6
    bottleneck layers (each two convolutions; the stem, two transitions and the classifier
    make up the other four layers) and a 3x3 stem of 2k channels."""
    check_positive_int("depth", depth)
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(
            f"`depth` must be 6n + 4 (n >= 1: three dense blocks of n bottleneck layers) for a "
            f"CIFAR DenseNet-BC; got {depth!r}.")
    check_positive_int("growth_rate", growth_rate)
    n = (depth - 4) // 6
    return DenseNetConfig((n, n, n), growth_rate=growth_rate, init_features=2 * growth_rate,
                          compression=compression, stem="cifar")


def _check_config(cfg):
    if not cfg.blocks or not all(isinstance(b, int) and b >= 1 for b in cfg.blocks):
        raise ValueError(f"`blocks` must be a non-empty tuple of positive integers (dense "
                         f"layers per block); got {cfg.blocks!r}.")
    check_positive_int("growth_rate", cfg.growth_rate)
    check_positive_int("init_features", cfg.init_features)
    check_positive_int("bn_size", cfg.bn_size)
    c = cfg.compression
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c <= 1:
        raise ValueError(f"`compression` must be a number in (0, 1]; got {c!r}.")
    check_choice("stem", cfg.stem, ("imagenet", "cifar"))


def dense_layer(ctx, features, name, growth_rate, bn_size=4, drop_rate=0.0,
                memory_efficient=False):
    """One "BC" dense layer on ``features`` (the block's maps so far, a list): their
    concatenation -> BN-ReLU-1x1 conv (``bn_size`` x ``growth_rate``) -> BN-ReLU-3x3 conv
    (``growth_rate``), dropout at ``drop_rate``; returns the new maps (the caller appends
    them). ``memory_efficient``: the first four as one recomputed :class:`DenseBottleneck`.
    Shared with the DSOD backbone (models/dsod.py)."""
    if memory_efficient:
        x = DenseBottleneck(bn_size * growth_rate, epsilon=ctx.bn_epsilon,
                            momentum=ctx.bn_momentum, kernel_initializer=CONV_INITIALIZER,
                            name=ctx.name(name + "_bottleneck"))(features)
    else:
        x = features[0] if len(features) == 1 else keras.layers.Concatenate(
            name=ctx.name(name + "_concat"))(features)
        x = ctx.relu(ctx.norm(x, name + "_norm1"), name + "_relu1")
        x = ctx.conv(x, bn_size * growth_rate, 1, name + "_conv1")
    x = ctx.relu(ctx.norm(x, name + "_norm2"), name + "_relu2")
    x = ctx.conv(x, growth_rate, 3, name + "_conv2")
    if drop_rate:
        x = keras.layers.Dropout(drop_rate, name=ctx.name(name + "_dropout"))(x)
    return x


def build_densenet(model_name, cfg, *, drop_rate=0.0, drop_path_rate=0.0, norm="batch",
                   memory_efficient=False, **kwargs):
    """Builds a DenseNet configuration ``cfg`` (see the module docstring).

    Architecture options:
        drop_rate: dropout on every dense layer's k new features (the paper's dropout after
            each convolution, torchvision's ``drop_rate``); no dropout before the classifier.
        drop_path_rate: accepted for a uniform interface; DenseNet has no residual branch, so
            only 0 is valid.
        norm: ``"batch"`` (the paper's), ``"sync_batch"``, ``"group"``, ``"layer"``,
            ``"batch_renorm"``, ``"weight"``.
        memory_efficient: recompute each dense layer's concatenation -> BN -> ReLU -> 1x1
            convolution in the backward pass instead of storing it (``norm="batch"`` only).
    """
    _check_config(cfg)
    drop_rate = check_rate("drop_rate", drop_rate)
    check_drop_path(drop_path_rate, False, "DenseNet",
                    "use drop_rate for the dropout on every dense layer's new features")
    memory_efficient = check_bool("memory_efficient", memory_efficient)
    if memory_efficient and norm != "batch":
        raise ValueError(
            f"`memory_efficient`=True recomputes batch normalisation only; it needs "
            f"norm='batch', got norm={norm!r}.")
    def body(ctx, x):
        if cfg.stem == "imagenet":
            x = ctx.conv(x, cfg.init_features, 7, "conv0", strides=2)
            x = ctx.relu(ctx.norm(x, "norm0"), "relu0")
            x = ctx.max_pool(x, "pool0")
        else:
            x = ctx.conv(x, cfg.init_features, 3, "conv0")
        last = len(cfg.blocks)
        for block, layers in enumerate(cfg.blocks, start=1):
            features = [x]
            for index in range(1, layers + 1):
                features.append(dense_layer(
                    ctx, features, f"denseblock{block}_denselayer{index}", cfg.growth_rate,
                    cfg.bn_size, drop_rate, memory_efficient))
            name = f"stage{block}_out" if block < last else f"denseblock{block}_concat"
            x = keras.layers.Concatenate(name=ctx.name(name))(features)
            if block < last:
                t = f"transition{block}"
                x = ctx.relu(ctx.norm(x, t + "_norm"), t + "_relu")
                x = ctx.conv(x, int(int(x.shape[-1]) * cfg.compression), 1, t + "_conv")
                x = keras.layers.AveragePooling2D(2, 2, name=ctx.name(t + "_pool"))(x)
        return ctx.relu(ctx.norm(x, "norm5"), f"stage{last}_out")

    return build_model(model_name, body, norm=norm, **kwargs)


def tiny_config(cfg):
    """The same topology at 1/8 of the widths: blocks of (2, 1, 1, 1) layers (CIFAR: one layer
    per block, k = 4)."""
    if cfg.stem == "cifar":
        return dataclasses.replace(cfg, blocks=(1, 1, 1), growth_rate=4, init_features=8)
    return dataclasses.replace(cfg, blocks=(2, 1, 1, 1), growth_rate=cfg.growth_rate // 8,
                               init_features=cfg.init_features // 8)


OPTIONS = {"drop_rate": 0.0, "drop_path_rate": 0.0, "norm": "batch", "memory_efficient": False}
DENSENETS = dict(family="densenet", paper=DENSENET, tiny=tiny_config, options=OPTIONS,
                 generic_builder="build_densenet")
CIFAR = dict(default_size=32, min_size=8, stage_strides=(1, 2, 4), default_classes=10)
_KERAS = "the same layers; keras' BatchNormalization epsilon is 1.001e-5"


@register(**DENSENETS, config=DenseNetConfig((6, 12, 24, 16)), params=7_978_856,
          flops=5_668_323_328, reference=Reference("torchvision", "densenet121"),
          keras_twin=KerasTwin("DenseNet121", note=_KERAS))
def DenseNet121(config, **kwargs):
    """DenseNet-121 (Huang et al., "Densely Connected Convolutional Networks", 2016,
    arXiv:1608.06993, Table 1): k = 32, blocks of 6, 12, 24, 16 layers; 7,978,856 trainable
    parameters, torchvision's ``densenet121`` and ``keras.applications.DenseNet121``."""
    return build_densenet("densenet121", config, **kwargs)


@register(**DENSENETS, config=DenseNetConfig((6, 12, 32, 32)), params=14_149_480,
          flops=6_719_686_656, reference=Reference("torchvision", "densenet169"),
          keras_twin=KerasTwin("DenseNet169", note=_KERAS))
def DenseNet169(config, **kwargs):
    """DenseNet-169 (Huang et al. 2016, arXiv:1608.06993, Table 1): k = 32, blocks of 6, 12,
    32, 32 layers; 14,149,480 trainable parameters, torchvision's ``densenet169``."""
    return build_densenet("densenet169", config, **kwargs)


@register(**DENSENETS, config=DenseNetConfig((6, 12, 48, 32)), params=20_013_928,
          flops=8_582_731_776, reference=Reference("torchvision", "densenet201"),
          keras_twin=KerasTwin("DenseNet201", note=_KERAS))
def DenseNet201(config, **kwargs):
    """DenseNet-201 (Huang et al. 2016, arXiv:1608.06993, Table 1): k = 32, blocks of 6, 12,
    48, 32 layers; 20,013,928 trainable parameters, torchvision's ``densenet201``."""
    return build_densenet("densenet201", config, **kwargs)


@register(**DENSENETS, config=DenseNetConfig((6, 12, 36, 24), growth_rate=48, init_features=96),
          params=28_681_000, flops=15_455_814_144,
          reference=Reference("torchvision", "densenet161"))
def DenseNet161(config, **kwargs):
    """DenseNet-161 (Huang et al. 2016, arXiv:1608.06993; the authors' ImageNet model, not in
    Table 1): k = 48, 96 initial features, blocks of 6, 12, 36, 24 layers; 28,681,000
    trainable parameters, torchvision's ``densenet161``."""
    return build_densenet("densenet161", config, **kwargs)


@register(**DENSENETS, config=DenseNetConfig((6, 12, 64, 48)), params=33_337_704,
          flops=11_503_306_752,
          reference=measured("timm", "densenet121(block_config=(6, 12, 64, 48))",
                             note="timm's DenseNet with Table 1's DenseNet-264 blocks"))
def DenseNet264(config, **kwargs):
    """DenseNet-264 (Huang et al. 2016, arXiv:1608.06993, Table 1): k = 32, blocks of 6, 12,
    64, 48 layers. Neither torchvision nor timm names it (timm's ``densenet264d`` has k = 48
    and a deep stem); its count is measured on timm's DenseNet built with Table 1's blocks
    (``densenet121(block_config=(6, 12, 64, 48))``): 33,337,704 trainable parameters and
    11,503,306,752 FLOPs at 224 (the paper gives no count for it). Table 1's blocks make
    265 weight layers (1 + 2 x 130 + 3 + 1), one more than the name: the blocks are the
    table's, as in every implementation."""
    return build_densenet("densenet264", config, **kwargs)


_TABLE_2 = "the paper's count (arXiv:1608.06993, Table 2), to its rounding"


@register(**DENSENETS, **CIFAR, config=cifar_config(100, 12), paper_params=0.8,
          reference=no_reference(_TABLE_2))
def DenseNetBC100_K12(config, **kwargs):
    """CIFAR DenseNet-BC (L = 100, k = 12) (Huang et al. 2016, arXiv:1608.06993, Table 2:
    0.8M parameters, 4.51% CIFAR-10+ error): three blocks of 16 bottleneck layers;
    769,162 parameters with 10 classes, equal to pytorchcv's ``densenet100_k12_bc_cifar10``
    (tests/test_densenet.py), whose weights port with equal logits."""
    return build_densenet("densenetbc100_k12", config, **kwargs)


@register(**DENSENETS, **CIFAR, config=cifar_config(250, 24), paper_params=15.3,
          reference=no_reference(_TABLE_2))
def DenseNetBC250_K24(config, **kwargs):
    """CIFAR DenseNet-BC (L = 250, k = 24) (Huang et al. 2016, arXiv:1608.06993, Table 2:
    15.3M parameters, 3.62% CIFAR-10+ error): three blocks of 41 bottleneck layers;
    15,324,406 parameters with 10 classes, pytorchcv's ``densenet250_k24_bc_cifar10``'s."""
    return build_densenet("densenetbc250_k24", config, **kwargs)


@register(**DENSENETS, **CIFAR, config=cifar_config(190, 40), paper_params=25.6,
          reference=no_reference(_TABLE_2))
def DenseNetBC190_K40(config, **kwargs):
    """CIFAR DenseNet-BC (L = 190, k = 40) (Huang et al. 2016, arXiv:1608.06993, Table 2:
    25.6M parameters, 3.46% CIFAR-10+ error): three blocks of 31 bottleneck layers;
    25,624,430 parameters with 10 classes, pytorchcv's ``densenet190_k40_bc_cifar10``'s."""
    return build_densenet("densenetbc190_k40", config, **kwargs)
