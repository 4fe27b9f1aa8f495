"""FractalNet: deep networks from a fractal expansion rule, without residual connections.

Larsson, Maire, Shakhnarovich. "FractalNet: Ultra-Deep Neural Networks without Residuals",
2016, arXiv:1605.07648 (ICLR 2017).

The block (Section 3, Figure 1): ``f_1(z) = conv(z)`` and ``f_{C+1}(z) = join(f_C(f_C(z)),
conv(z))`` -- C columns, column c (1 = the shallowest) a chain of ``2**(c - 1)`` convolutions
(3x3, then batch normalisation and ReLU); consecutive joins merge into one, so wherever
columns meet, one join takes the element-wise mean of all of them and feeds the result to each.
A block of C columns has ``2**C - 1`` convolutions and is ``2**(C - 1)`` deep. B blocks, each
followed by 2x2 max-pooling, make the network (``B * 2**(C - 1)`` convolutions deep):

- CIFAR (Section 4): B = 5 blocks of 64, 128, 256, 512, 512 channels, C = 3 (20 layers) or
  C = 4 (40 layers); the five poolings take 32x32 to 1x1, then the classifier;
- ImageNet (Section 4, Table 2, "FractalNet-34"): ResNet-34's first and last layers (a 7x7/2
  convolution of 64 channels with 3x3/2 max-pooling; global average pooling and the
  classifier) around B = 4 blocks of C = 4 columns (8 layers each) of 64, 128, 256, 512
  channels: 1 + 4 x 8 + 1 = 34 layers. Where its 2x2 poolings go is our reading: between the
  blocks, so that the blocks work at ResNet-34's 56, 28, 14 and 7 (``pooling="between"``; a
  pooling after the last block too would change no count).

Training behaviour (Section 3.1, Section 4): drop-path through
:class:`~keras_convnets.layers.fractal_join.FractalJoin`. ``local_drop_rate`` drops each input
of each join with that probability, keeping at least one (the paper: 0.15);
``global_drop_ratio`` is the share of training passes that keep a single column, drawn once for
the whole network by a :class:`~keras_convnets.layers.fractal_join.FractalColumnSampler` (the
paper mixes local and global mini-batches 50/50: 0.5; ``global_per_sample=True`` draws per
sample instead). ``block_drop_rates`` is the paper's dropout, one rate per block ((0, 0.1, 0.2,
0.3, 0.4) on CIFAR: :data:`PAPER_CIFAR_TRAINING`). All default to 0: a plain network unless
asked for. At inference every join is the mean of all its columns.

Layout, as pytorchcv's ``fractalnet_cifar10`` (whose weights port with equal logits): each
convolution is conv (no bias) -> batch normalisation -> ReLU, the block's last join comes
before its pooling. Dropout, where set, follows the convolution (conv -> dropout -> BN -> ReLU,
the authors' Caffe definition, gustavla/fractalnet ``generation/globals.crox``; pytorchcv puts
a channel dropout after the ReLU: the same network at inference). The authors' Caffe network
differs in two ways that the paper does not discuss: its convolutions have biases and its
batch normalisation no scale and shift, and its generator pools each column before the block's
last join.

Parameter counts. The 20-layer CIFAR network has 33,724,618 trainable parameters with 10
classes, pytorchcv's ``fractalnet_cifar10``. The paper's Table 1 lists "FractalNet (20 layers,
38.6M params)": the layout it describes gives 33.7M, however its biases and batch
normalisation are counted (the paper does not explain the difference). Its "40 layers, 22.9M
params" row is a lighter variant (its footnote: columns of different widths with projections
before the joins and a mix of 1x1 and 3x3 convolutions) that the paper does not specify:
``FractalNet40_CIFAR`` is Section 4's 40-layer layout at the 20-layer network's widths, counted
from it (tests/test_fractalnet.py). Table 2 gives no count for FractalNet-34.

Feature maps: ``<model>_stage<N>_out`` ends block N -- its pooling on CIFAR (strides 2 to 32),
its last join on ImageNet (strides 4 to 32). Layers: ``block<B>_col<c>_conv<t>``, ``_bn<t>``,
``_relu<t>`` (``_dropout<t>``) for the t-th convolution of column c in block B;
``block<B>_join<L>`` for the join after level L of the deepest column (ImageNet: the block's
last join is ``stage<B>_out``); ``block<B>_pool``, ``stem_conv``, ``stem_bn``, ``stem_relu``,
``stem_pool`` (ImageNet); ``drop_path_columns`` (the sampler, with ``global_drop_ratio > 0``);
``logits``.
"""

import dataclasses

from ..applications import build_model
from ..backend import keras
from ..layers.fractal_join import FractalColumnSampler, FractalJoin
from ..registry import Paper, Reference, measured, register
from ..utils import check_bool, check_choice, check_positive_int, check_rate

FRACTALNET = Paper("FractalNet: Ultra-Deep Neural Networks without Residuals", 2016,
                   "1605.07648")

#: The paper's CIFAR training regularisation (Section 4): local drop-path 0.15, local and global
#: drop-path mixed 50/50 per mini-batch, dropout (0, 0.1, 0.2, 0.3, 0.4) in the five blocks.
PAPER_CIFAR_TRAINING = {"local_drop_rate": 0.15, "global_drop_ratio": 0.5,
                        "block_drop_rates": (0.0, 0.1, 0.2, 0.3, 0.4)}

STEMS = ("none", "resnet")
POOLINGS = ("after", "between")


@dataclasses.dataclass(frozen=True)
class FractalNetConfig:
    """One FractalNet: the channels of each block (B = ``len(widths)`` blocks), the columns C
    of every block, the stem (``"none"``: the first block sees the image, CIFAR; ``"resnet"``:
    ResNet-34's 7x7/2 convolution and 3x3/2 max-pooling, ImageNet) and where the 2x2
    max-poolings go (``"after"`` every block, CIFAR; ``"between"`` the blocks, ImageNet)."""

    widths: tuple
    columns: int = 3
    stem: str = "none"
    pooling: str = "after"

    @property
    def blocks(self):
        return len(self.widths)

    @property
    def depth(self):
        """Convolutions on the deepest path, the stem's included (the paper's layer count
        less the classifier)."""
        return self.blocks * 2 ** (self.columns - 1) + (self.stem == "resnet")


def cifar_config(columns):
    """Section 4's CIFAR FractalNet: five blocks of 64, 128, 256, 512, 512 channels."""
    return FractalNetConfig((64, 128, 256, 512, 512), columns=columns)


def block_layout(columns):
    """The convolutions of a block of ``columns`` columns, level by level of its deepest
    column: ``[(level, [column, ...]), ...]``, the columns whose next convolution ends at that
    level (deepest first). Column c's t-th convolution ends at level ``t * 2**(C - c)``; where
    more than one column ends, they join."""
    depth = 2 ** (columns - 1)
    return [(level, [c for c in range(columns, 0, -1) if level % 2 ** (columns - c) == 0])
            for level in range(1, depth + 1)]


def _check_config(cfg):
    widths = cfg.widths
    if not isinstance(widths, tuple) or not widths or not all(
            isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ValueError(f"`widths` must be a non-empty tuple of positive integers (the "
                         f"channels of each block); got {widths!r}.")
    check_positive_int("columns", cfg.columns)
    check_choice("stem", cfg.stem, STEMS)
    check_choice("pooling", cfg.pooling, POOLINGS)


def _check_ratio(argument, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"`{argument}` must be a number in [0, 1]; got {value!r}.")
    return float(value)


def _block_drop_rates(value, blocks):
    if value is None:
        return (0.0,) * blocks
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (check_rate("block_drop_rates", value),) * blocks
    if not isinstance(value, (tuple, list)) or len(value) != blocks:
        raise ValueError(f"`block_drop_rates` must be None, one rate in [0, 1) or {blocks} "
                         f"rates (one per block); got {value!r}.")
    return tuple(check_rate("block_drop_rates", rate) for rate in value)


def build_fractalnet(model_name, cfg, *, local_drop_rate=0.0, global_drop_ratio=0.0,
                     global_per_sample=False, block_drop_rates=None, norm="batch", **kwargs):
    """Builds a FractalNet configuration ``cfg`` (see the module docstring).

    Architecture options:
        local_drop_rate: local drop-path, in [0, 1): while training, each join drops each of
            its inputs with this probability and keeps at least one (the paper: 0.15).
        global_drop_ratio: in [0, 1], the share of training passes in which global drop-path
            keeps one column, drawn uniformly, for the whole network (the paper: 0.5).
        global_per_sample: False (the paper): local or global, and the column, drawn once per
            mini-batch; True: drawn for each sample.
        block_drop_rates: dropout after every convolution of a block: None, one rate, or one
            per block (the paper's CIFAR setting: (0, 0.1, 0.2, 0.3, 0.4)).
        norm: ``"batch"`` (the paper's), ``"sync_batch"``, ``"group"``, ``"layer"``,
            ``"batch_renorm"``, ``"weight"``.

    ``drop_rate`` (``build_model``'s dropout before the classifier) is 0 in the paper.
    """
    _check_config(cfg)
    local_drop_rate = check_rate("local_drop_rate", local_drop_rate)
    global_drop_ratio = _check_ratio("global_drop_ratio", global_drop_ratio)
    global_per_sample = check_bool("global_per_sample", global_per_sample)
    drop_rates = _block_drop_rates(block_drop_rates, cfg.blocks)
    layout = block_layout(cfg.columns)
    depth = len(layout)

    def conv_unit(ctx, x, width, name, index, rate):
        x = ctx.conv(x, width, 3, f"{name}_conv{index}")
        if rate:
            x = keras.layers.Dropout(rate, name=ctx.name(f"{name}_dropout{index}"))(x)
        x = ctx.norm(x, f"{name}_bn{index}")
        return ctx.relu(x, f"{name}_relu{index}")

    def fractal_block(ctx, x, block, width, selection, last_name):
        heads = {c: x for c in range(1, cfg.columns + 1)}  # each column's next input
        count = dict.fromkeys(heads, 0)
        for level, ending in layout:
            outputs = {}
            for c in ending:
                count[c] += 1
                outputs[c] = conv_unit(ctx, heads[c], width, f"block{block}_col{c}", count[c],
                                       drop_rates[block - 1])
            columns = tuple(sorted(ending))
            if len(columns) > 1 or level == depth:
                name = last_name if level == depth else f"block{block}_join{level}"
                paths = [outputs[c] for c in columns]
                joined = FractalJoin(columns, local_drop_rate, name=ctx.name(name))(
                    paths if selection is None else [*paths, selection])
            else:
                joined = outputs[columns[0]]
            for c in columns:
                heads[c] = joined
        return joined

    def pool(ctx, x, block, name):
        height, width = x.shape[1], x.shape[2]
        if any(size is not None and size < 2 for size in (height, width)):
            raise ValueError(
                f"`blocks`: {cfg.blocks} blocks (len(widths)) do not fit the input: the 2x2 "
                f"max-pooling {'after' if cfg.pooling == 'after' else 'before'} block {block} "
                f"would halve a {height}x{width} map; at most {block - 1} blocks fit this "
                f"input. Use fewer blocks (a shorter `widths`) or a larger input.")
        return keras.layers.MaxPooling2D(2, 2, name=ctx.name(name))(x)

    def body(ctx, x):
        selection = None
        if global_drop_ratio > 0:
            selection = FractalColumnSampler(cfg.columns, global_drop_ratio, global_per_sample,
                                             name=ctx.name("drop_path_columns"))(x)
        if cfg.stem == "resnet":
            x = ctx.conv(x, cfg.widths[0], 7, "stem_conv", strides=2)
            x = ctx.relu(ctx.norm(x, "stem_bn"), "stem_relu")
            x = ctx.max_pool(x, "stem_pool")
        for block, width in enumerate(cfg.widths, start=1):
            if cfg.pooling == "between" and block > 1:
                x = pool(ctx, x, block, f"block{block}_pool")
            after = cfg.pooling == "after"
            x = fractal_block(ctx, x, block, width, selection,
                              f"block{block}_join{depth}" if after else f"stage{block}_out")
            if after:
                x = pool(ctx, x, block, f"stage{block}_out")
        return x

    return build_model(model_name, body, norm=norm, **kwargs)


def tiny_config(cfg):
    """The same stem, blocks and poolings at 1/8 of the widths, with at most 3 columns (the
    2- and 3-input joins; the 4-column block is checked in tests/test_fractalnet.py)."""
    return dataclasses.replace(cfg, widths=tuple(max(1, w // 8) for w in cfg.widths),
                               columns=min(cfg.columns, 3))


OPTIONS = {"local_drop_rate": 0.0, "global_drop_ratio": 0.0, "global_per_sample": False,
           "block_drop_rates": None, "drop_rate": 0.0, "norm": "batch"}
FRACTALNETS = dict(family="fractalnet", paper=FRACTALNET, tiny=tiny_config, options=OPTIONS,
                   generic_builder="build_fractalnet")
CIFAR = dict(default_size=32, min_size=32, stage_strides=(2, 4, 8, 16, 32), default_classes=10)

_COUNTED = ("counted from the paper's Section 4 layout (tests/test_fractalnet.py checks the "
            "closed-form count); no implementation of it exists")


@register(**FRACTALNETS, **CIFAR, config=cifar_config(3), params=34_232_488, flops=1_691_459_584,
          reference=measured("pytorchcv", "fractalnet_cifar10(num_classes=1000)",
                             note="33,724,618 with 10 classes"))
def FractalNet20_CIFAR(config, **kwargs):
    """FractalNet, 20 layers (Larsson et al., "FractalNet: Ultra-Deep Neural Networks without
    Residuals", 2016, arXiv:1605.07648, Section 4 and Table 1): B = 5 blocks of C = 3
    columns, 64, 128, 256, 512, 512 channels; 33,724,618 trainable parameters with 10 classes
    (pytorchcv's ``fractalnet_cifar10``, whose weights port), 34,232,488 with 1000. Table 1's
    "38.6M" does not follow from the layout the paper describes (see the module docstring)."""
    return build_fractalnet("fractalnet20_cifar", config, **kwargs)


@register(**FRACTALNETS, **CIFAR, config=cifar_config(4), params=76_614_504,
          flops=4_073_168_896,
          reference=Reference("arXiv:1605.07648", "FractalNet 40 layers (B=5, C=4)",
                              in_params_tsv=False, note=_COUNTED))
def FractalNet40_CIFAR(config, **kwargs):
    """FractalNet, 40 layers (Larsson et al. 2016, arXiv:1605.07648, Section 4): B = 5 blocks
    of C = 4 columns (15 convolutions, 8 deep, each), 64, 128, 256, 512, 512 channels;
    76,106,634 trainable parameters with 10 classes, 76,614,504 with 1000, counted from the
    layout. Table 1's 40-layer row (22.9M) is a narrower variant the paper leaves unspecified
    (see the module docstring)."""
    return build_fractalnet("fractalnet40_cifar", config, **kwargs)


@register(**FRACTALNETS, min_size=32,
          config=FractalNetConfig((64, 128, 256, 512), columns=4, stem="resnet",
                                  pooling="between"),
          params=41_359_784, flops=12_722_446_336,
          reference=Reference("arXiv:1605.07648", "FractalNet-34", in_params_tsv=False,
                              note=_COUNTED))
def FractalNet34(config, **kwargs):
    """FractalNet-34, the ImageNet network (Larsson et al. 2016, arXiv:1605.07648, Section 4,
    Table 2): ResNet-34's 7x7/2 stem and classifier around B = 4 blocks of C = 4 columns (8
    layers each), 64, 128, 256, 512 channels; 41,359,784 trainable parameters, counted from the
    layout (the paper gives none)."""
    return build_fractalnet("fractalnet34", config, **kwargs)
