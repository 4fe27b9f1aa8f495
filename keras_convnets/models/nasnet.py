"""Cell-based networks from architecture search: NASNet-A, PNASNet-5, AmoebaNet-A, DARTS.

One builder, :func:`build_cell_network`, stacks cells described by a
:class:`~keras_convnets.models.genotype.Genotype` (the operations are data; the genotype is
checked before any layer is built): a stem, then ``cells_per_stage`` (N) normal cells, a
reduction cell, N normal cells, a reduction cell and N normal cells (PNASNet: the reduction
cell is the first of its stage's N), the filters doubling at each reduction. A cell reads two
states -- state 0 from the cell before the previous one, state 1 from the previous one -- each
first brought to the cell's width C by ReLU-1x1 conv-BN, or, where state 0 has twice the
resolution, by a *factorised reduction* (ReLU, two 1x1 stride-2 convolutions, the second on the
map shifted one pixel, concatenated, BN). Each node sums its operations' outputs; the cell
concatenates the states its genotype names. In a reduction cell the operations that read states
0/1 have stride 2. ``CellNetworkConfig`` holds the rest as data: the stem, the padding
convention and the reference implementations' quirks.

- DARTS (Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", 2018,
  arXiv:1806.09055; genotype ``DARTS_V2``, second order): ``darts_cifar`` is Table 1's CIFAR-10
  network (C = 36, 20 cells, 3.3M parameters; 3,349,342 here without the auxiliary head, as the
  authors count) and ``darts`` Table 2's ImageNet mobile-setting network (C = 48, 14 cells,
  4.7M: 4,718,752 here and in pytorchcv's ``darts``, whose weights port). PyTorch padding
  (symmetric), BN epsilon 1e-5, a strided skip is a factorised reduction, as the authors' code.
  Auxiliary head after the second reduction cell (ReLU, 5x5 average pool with stride 3 (CIFAR)
  or 2 (ImageNet), 1x1 conv 128-BN-ReLU, 2x2 conv 768-[BN]-ReLU; the ImageNet head has no second
  BN, as the authors' code), loss weight 0.4; drop-path 0.2 (CIFAR) in the paper's training,
  ramped over the epochs (:class:`keras_convnets.training.ScheduledDropPath`).
- NASNet-A (Zoph, Vasudevan, Shlens, Le, "Learning Transferable Architectures for Scalable
  Image Recognition", 2017, arXiv:1707.07012; genotype ``NASNET_A`` from TF-slim's
  ``nasnet_utils``): ``nasnetalarge`` (Table 2: 6 @ 4032, N = 6, C = 4032 / 24 = 168; 88.9M in
  the paper, which counts BN's moving statistics: 88,753,150 trainable + 196,668 statistics) and
  ``nasnetamobile`` (Table 3: 4 @ 1056, N = 4, C = 44; 5.3M, 564M multiply-adds; 5,289,978
  trainable). TensorFlow "same" padding, BN epsilon 1e-3, a 3x3/2 unpadded convolution and two
  reduction cells as the ImageNet stem (the first reads the raw convolution map on its state 0),
  a strided skip is ReLU-1x1 conv (stride 2)-BN, ReLU before the classifier. The two reference
  implementations differ in small ways, which are fields of the configuration:
  timm's ``nasnetalarge`` (the Large reference) counts the padding zeros of its stride-2 average
  poolings (``avg_pool_counts_padding``) and feeds the cell after a reduction cell the reduction
  cell's own state 0 (``skip_reduction_input``, TF-slim's ``skip_reduction_layer_input``);
  pretrainedmodels' ``nasnetamobile`` (the Mobile reference, = pytorchcv ``nasnet_4a1056``)
  computes the first separable convolution of each operation of the later reduction cells on a
  map padded one more pixel at the top/left and crops it (``crop_reduction_separables``: the
  same numbers as "same" padding on even maps, more FLOPs, which params.tsv counts). Auxiliary
  head before the second reduction cell, its second convolution as large as its map (TF-slim),
  loss weight 0.4; drop-path scaled with the cell's depth, ``(cell + 1) / cells``; dropout 0.5
  before the classifier (TF-slim's ``dense_dropout_keep_prob``, pretrainedmodels' Mobile).
  keras.applications' NASNetMobile/NASNetLarge have the same trainable counts (their totals,
  5,326,716 and 88,949,818, add the BN statistics).
- PNASNet-5 (Liu et al., "Progressive Neural Architecture Search", 2017, arXiv:1712.00559,
  Fig. 1; genotype ``PNASNET_5``, one cell for normal and reduction): ``pnasnet5large`` (N = 4,
  F = 216, 86.1M; 86,057,668 = timm ``pnasnet5large``, whose weights port) and
  ``pnasnet5mobile`` (Table 4: N = 3, F = 54, 5.1M and 588M multiply-adds; no implementation
  exists -- 5,064,487 parameters and 587M multiply-adds here, TF-slim's mobile configuration:
  32-filter stem convolution, the stem cells' F / 4 = 13 and F / 2 = 27 filters, an odd width's
  extra channel on a factorised reduction's second path). Same TF conventions as NASNet.
- AmoebaNet-A (Real, Aggarwal, Huang, Le, "Regularized Evolution for Image Classifier
  Architecture Search", 2018, arXiv:1802.01548, Fig. 4; genotype ``AMOEBANET_A``):
  ``amoebanetamobile`` (Table 3: N = 4, F = 50, 5.1M parameters, 555M multiply-adds; 5,086,930
  and 554.7M at 224 here) and ``amoebanetalarge`` (Table 2: N = 6, F = 190, 86.7M, 23.1B;
  86,718,797 and 23.13B at 331 here); F is the first stage's cell width C (doubled at each
  reduction; the stem cells have F / 4 and F / 2), as the TPU code's ``reduction_size``. No
  implementation with weights exists in a supported library; the layout is the authors' TPU
  code's (tensorflow/tpu ``models/official/amoeba_net``: ``model_specs.py`` ``amoeba_net_a``,
  ``network_utils.BaseCell``, ``model_builder``), which the counts confirm to the paper's
  rounding: NASNet's ImageNet stem (3x3/2 unpadded conv, 32 filters, two reduction cells), 3N
  normal cells with reduction cells after N and 2N, the cells' explicit concatenations (normal:
  state 0 and nodes 3, 4, 6 -- four states; reduction: all five nodes), the 1x7-7x1
  convolution inside a 1x1 bottleneck to C/4 with BN after every convolution
  (``conv_bottleneck``), "none" the identity, separable operations stacked twice, ReLU before
  the classifier, dropout 0.5, drop-path the same in every cell (0.3, ramped over training:
  the code's ``drop_connect_keep_prob`` 0.7, ``drop_connect_version`` v1), auxiliary head
  before the second reduction cell at 0.4 of NASNet's widths (51 and 307 channels, the code's
  ``aux_scaling``), loss weight 0.4. The
  paper's counts leave the auxiliary head out. The two other readings do not reproduce them:
  DARTS' ``genotypes.py`` version (``AMOEBANET_A_DARTS``: three concatenated states per cell,
  the 1x7-7x1 without bottleneck) gives 4,986,028 (N = 4, F = 50) and 84.4M (N = 6, F = 190);
  the TPU cell with DARTS' plain 1x7-7x1 5,727,440 and 96.0M. Where the code divides an odd
  width (F / 2 = 25 or 95 in the second stem cell's factorised reduction, which the TPU code
  refuses with an assertion), the second path takes the extra channel (32 parameters more than
  two halves of 12 or 47).

Feature maps: ``<model>_stage<N>_out`` -- CIFAR stem: the last normal cell of each of the three
stages (strides 1, 2, 4); ImageNet stems: the stem's stride-4 state, then the three stages
(8, 16, 32). Layers are named by cell (``stem0``, ``stem1``, ``cell<n>``, ``reduction<r>``) and
genotype position: ``<cell>_pre0_*``/``_pre1_*`` for the inputs, ``<cell>_n<i>_<j>_<op>_*`` for
operation j of node i.
"""

import dataclasses

from ..applications import build_model
from ..applications.builder import CONV_INITIALIZER, _unique_model_name
from ..backend import keras
from ..layers import PaddedAveragePooling2D, PaddedMaxPool2D
from ..registry import KerasTwin, Paper, Reference, get_spec, measured, no_reference, register
from ..utils import check_bool, check_choice, check_positive_int, check_rate
from .genotype import Genotype, as_genotype

DARTS_PAPER = Paper("DARTS: Differentiable Architecture Search", 2018, "1806.09055")
NASNET_PAPER = Paper("Learning Transferable Architectures for Scalable Image Recognition", 2017,
                     "1707.07012")
PNASNET_PAPER = Paper("Progressive Neural Architecture Search", 2017, "1712.00559")
AMOEBANET_PAPER = Paper("Regularized Evolution for Image Classifier Architecture Search", 2018,
                        "1802.01548")

# --- published genotypes (state 0: the cell before the previous one; 1: the previous one) -----

#: DARTS (second order), the authors' ``genotypes.py`` ``DARTS_V2``
DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=(2, 3, 4, 5),
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=(2, 3, 4, 5))

#: DARTS (first order), the authors' ``DARTS_V1``
DARTS_V1 = Genotype(
    normal=[("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    normal_concat=(2, 3, 4, 5),
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
    reduce_concat=(2, 3, 4, 5))

#: NASNet-A (arXiv:1707.07012, Fig. 4; TF-slim's ``nasnet_utils`` operations and hidden-state
#: indices, its states 0/1 swapped into DARTS' order). The normal cell also concatenates its
#: state 0 (TF-slim's ``used_hiddenstates``); DARTS' file drops it.
NASNET_A = Genotype(
    normal=[[("sep_conv_5x5", 1), ("sep_conv_3x3", 0)],
            [("sep_conv_5x5", 0), ("sep_conv_3x3", 0)],
            [("avg_pool_3x3", 1), ("skip_connect", 0)],
            [("avg_pool_3x3", 0), ("avg_pool_3x3", 0)],
            [("sep_conv_3x3", 1), ("skip_connect", 1)]],
    normal_concat=(0, 2, 3, 4, 5, 6),
    reduce=[[("sep_conv_5x5", 1), ("sep_conv_7x7", 0)],
            [("max_pool_3x3", 1), ("sep_conv_7x7", 0)],
            [("avg_pool_3x3", 1), ("sep_conv_5x5", 0)],
            [("skip_connect", 3), ("avg_pool_3x3", 2)],
            [("sep_conv_3x3", 2), ("max_pool_3x3", 1)]],
    reduce_concat=(3, 4, 5, 6))

#: AmoebaNet-A (arXiv:1802.01548, Fig. 4) as the authors' TPU code (tensorflow/tpu
#: ``models/official/amoeba_net/model_specs.py``, ``amoeba_net_a``) builds it, its states 0/1
#: swapped into DARTS' order; its "none" is the identity (``skip_connect``). The concatenations
#: are the code's explicit ``used_hiddenstates`` lists: the normal cell concatenates its state 0
#: (the cell before the previous one, brought to C) and nodes 3, 4, 6; the reduction cell all
#: five nodes.
AMOEBANET_A = Genotype(
    normal=[[("avg_pool_3x3", 1), ("max_pool_3x3", 1)],
            [("sep_conv_3x3", 0), ("skip_connect", 0)],
            [("skip_connect", 1), ("avg_pool_3x3", 0)],
            [("sep_conv_3x3", 1), ("sep_conv_5x5", 2)],
            [("avg_pool_3x3", 5), ("sep_conv_3x3", 1)]],
    normal_concat=(0, 3, 4, 6),
    reduce=[[("sep_conv_3x3", 0), ("avg_pool_3x3", 1)],
            [("max_pool_3x3", 1), ("sep_conv_7x7", 2)],
            [("max_pool_3x3", 0), ("max_pool_3x3", 1)],
            [("sep_conv_3x3", 4), ("conv_7x1_1x7", 1)],
            [("avg_pool_3x3", 0), ("sep_conv_7x7", 1)]],
    reduce_concat=(2, 3, 4, 5, 6))

#: AmoebaNet-A as DARTS' ``genotypes.py`` writes it (other node order, three concatenated
#: states in each cell): a smaller network than the paper's (module docstring)
AMOEBANET_A_DARTS = Genotype(
    normal=[[("avg_pool_3x3", 0), ("max_pool_3x3", 1)],
            [("sep_conv_3x3", 0), ("sep_conv_5x5", 2)],
            [("sep_conv_3x3", 0), ("avg_pool_3x3", 3)],
            [("sep_conv_3x3", 1), ("skip_connect", 1)],
            [("skip_connect", 0), ("avg_pool_3x3", 1)]],
    normal_concat=(4, 5, 6),
    reduce=[[("avg_pool_3x3", 0), ("sep_conv_3x3", 1)],
            [("max_pool_3x3", 0), ("sep_conv_7x7", 2)],
            [("sep_conv_7x7", 0), ("avg_pool_3x3", 1)],
            [("max_pool_3x3", 0), ("max_pool_3x3", 1)],
            [("conv_7x1_1x7", 0), ("sep_conv_3x3", 5)]],
    reduce_concat=(3, 4, 6))

#: PNASNet-5 (arXiv:1712.00559, Fig. 1; timm's ``pnasnet5large``): one cell, normal and
#: reduction alike
_PNASNET_CELL = [[("sep_conv_5x5", 0), ("max_pool_3x3", 0)],
                 [("sep_conv_7x7", 1), ("max_pool_3x3", 1)],
                 [("sep_conv_5x5", 1), ("sep_conv_3x3", 1)],
                 [("sep_conv_3x3", 4), ("max_pool_3x3", 1)],
                 [("sep_conv_3x3", 0), ("skip_connect", 1)]]
PNASNET_5 = Genotype(normal=_PNASNET_CELL, normal_concat=(2, 3, 4, 5, 6), reduce=_PNASNET_CELL,
                     reduce_concat=(2, 3, 4, 5, 6))

#: the published genotypes, by name
GENOTYPES = {"darts_v2": DARTS_V2, "darts_v1": DARTS_V1, "nasnet_a": NASNET_A,
             "pnasnet_5": PNASNET_5, "amoebanet_a": AMOEBANET_A,
             "amoebanet_a_darts": AMOEBANET_A_DARTS}

STEMS = ("cifar", "darts_imagenet", "nasnet")
PADDINGS = ("pytorch", "same")
STRIDED_SKIPS = ("factorized", "conv")
AUX_POSITIONS = ("after_second_reduction", "before_second_reduction")


@dataclasses.dataclass(frozen=True)
class CellNetworkConfig:
    """A cell-based network as data.

    ``filters``: each node's channels in the first stage's cells (C; doubled at each
    reduction). ``cells_per_stage``: N normal cells per stage. ``genotype``: the cells.
    ``stem``: ``"cifar"`` (3x3 conv to ``stem_filters``, default 3C, BN), ``"darts_imagenet"``
    (three 3x3/2 convolutions, DARTS' ImageNet stem) or ``"nasnet"`` (a 3x3/2 unpadded conv to
    ``stem_filters``, default 32, then two reduction cells at C/4 and C/2). ``padding``: stride-2 operations
    padded like PyTorch (``"pytorch"``, symmetric) or TensorFlow (``"same"``). The other fields
    are the reference implementations' details (see the module docstring);
    ``conv_bottleneck``: the TPU AmoebaNet code's ``conv_7x1_1x7``, inside a 1x1 bottleneck to
    C/4 (ReLU-1x1-BN-ReLU-1x7-BN-ReLU-7x1-BN-ReLU-1x1-BN) instead of DARTS' ReLU-1x7-7x1-BN;
    ``aux_widths``: the auxiliary head's two convolutions.
    """

    filters: int
    cells_per_stage: int
    genotype: Genotype = DARTS_V2
    stem: str = "cifar"
    stem_filters: int | None = None
    padding: str = "pytorch"
    bn_epsilon: float = 1e-5
    avg_pool_counts_padding: bool = False
    skip_reduction_input: bool = False
    crop_reduction_separables: bool = False
    final_relu: bool = False
    drop_path_depth_scaled: bool = False
    strided_skip: str = "factorized"
    reduction_in_stage: bool = False
    aux_position: str = "after_second_reduction"
    aux_pool_stride: int = 3
    aux_second_bn: bool = True
    aux_conv_kernel: int | None = 2
    aux_widths: tuple = (128, 768)
    conv_bottleneck: bool = False
    drop_rate: float = 0.0


# --- operations ----------------------------------------------------------------------------

def _relu_conv_bn(ctx, x, filters, name, kernel_size=1):
    x = ctx.relu(x, name + "_relu")
    x = ctx.conv(x, filters, kernel_size, name + "_conv")
    return ctx.norm(x, name + "_bn")


def _factorized_reduce(ctx, x, filters, name):
    """ReLU, two 1x1 stride-2 convolutions (the second on the map shifted one pixel up/left,
    zero-padded at the bottom/right), concatenated, BN (DARTS' FactorizedReduce; NASNet's
    two-path reduction of the previous state). An odd width gives the second path the extra
    channel, as TF-slim's ``_factorized_reduction``."""
    x = ctx.relu(x, name + "_relu")
    first = keras.layers.Conv2D(filters // 2, 1, strides=2, use_bias=False,
                                kernel_initializer=CONV_INITIALIZER,
                                name=ctx.name(name + "_path1_conv"))(x)
    shifted = keras.layers.Cropping2D(((1, 0), (1, 0)), name=ctx.name(name + "_shift"))(x)
    shifted = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=ctx.name(name + "_shift_pad"))(
        shifted)
    second = keras.layers.Conv2D(filters - filters // 2, 1, strides=2, use_bias=False,
                                 kernel_initializer=CONV_INITIALIZER,
                                 name=ctx.name(name + "_path2_conv"))(shifted)
    x = keras.layers.Concatenate(name=ctx.name(name + "_path_concat"))([first, second])
    return ctx.norm(x, name + "_path_bn")


def _depthwise(ctx, x, kernel_size, strides, name, padding, dilation_rate=1, crop=False):
    if crop:
        # pretrainedmodels: one more pixel at the top/left, cropped after the pointwise. At
        # stride 2 one more at the bottom/right too: the same output on even maps (TF "same"),
        # and on odd maps the size of "same" instead of one less (which broke the concatenation)
        pad = kernel_size // 2
        after = pad + 1 if strides > 1 else pad
        x = keras.layers.ZeroPadding2D(((pad + 1, after), (pad + 1, after)),
                                       name=ctx.name(name + "_pad"))(x)
        mode = "valid"
    elif padding == "pytorch":
        x, mode = ctx.symmetric_pad(x, kernel_size, strides, name, dilation_rate)
    else:
        mode = "same"
    return keras.layers.DepthwiseConv2D(
        kernel_size, strides=strides, padding=mode, dilation_rate=dilation_rate, use_bias=False,
        depthwise_initializer=CONV_INITIALIZER, name=ctx.name(name))(x)


def _separable(ctx, x, filters, kernel_size, strides, name, padding, dilation_rate=1,
               crop=False, index=""):
    x = _depthwise(ctx, x, kernel_size, strides, f"{name}_dw{index}", padding, dilation_rate,
                   crop)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=CONV_INITIALIZER,
                            name=ctx.name(f"{name}_pw{index}"))(x)
    if crop:
        x = keras.layers.Cropping2D(((1, 0), (1, 0)), name=ctx.name(f"{name}_crop{index}"))(x)
    return ctx.norm(x, f"{name}_bn{index}")


def _pool(ctx, x, kind, strides, name, cfg):
    if strides == 1:  # "same" at stride 1 is PyTorch's padding 1 with the padding not counted
        layer = keras.layers.MaxPooling2D if kind == "max" else keras.layers.AveragePooling2D
        return layer(3, 1, padding="same", name=ctx.name(name))(x)
    if kind == "max":
        if cfg.padding == "pytorch":
            return PaddedMaxPool2D(3, strides, 1, name=ctx.name(name))(x)
        return keras.layers.MaxPooling2D(3, strides, padding="same", name=ctx.name(name))(x)
    if cfg.padding == "pytorch":
        return PaddedAveragePooling2D(3, strides, 1, name=ctx.name(name))(x)
    if cfg.avg_pool_counts_padding:
        return PaddedAveragePooling2D(3, strides, "same", count_include_pad=True,
                                      name=ctx.name(name))(x)
    return keras.layers.AveragePooling2D(3, strides, padding="same", name=ctx.name(name))(x)


def _bottleneck_7x1_1x7(ctx, x, filters, strides, name, padding):
    """The TPU AmoebaNet code's 1x7-7x1 operation: ReLU-1x1 (C/4)-BN, ReLU-1x7-BN-ReLU-7x1-BN
    (stride on the 1x7's width and the 7x1's height), ReLU-1x1 (C)-BN; without the bottleneck
    (ReLU-1x7-BN-ReLU-7x1-BN) where C/4 rounds to 0."""
    inner = filters // 4
    bottleneck = inner >= 1
    width = inner if bottleneck else filters
    if bottleneck:
        x = _relu_conv_bn(ctx, x, inner, name + "_pre")
    x = ctx.relu(x, name + "_relu1")
    for i, (kernel, stride) in enumerate((((1, 7), (1, strides)), ((7, 1), (strides, 1))),
                                         start=1):
        if i == 2:
            x = ctx.relu(x, name + "_relu2")
        mode = "same"
        if padding == "pytorch" and strides > 1:
            pad = ((0, 0), (3, 3)) if i == 1 else ((3, 3), (0, 0))
            x = keras.layers.ZeroPadding2D(pad, name=ctx.name(f"{name}_conv{i}_pad"))(x)
            mode = "valid"
        x = keras.layers.Conv2D(width, kernel, strides=stride, padding=mode, use_bias=False,
                                kernel_initializer=CONV_INITIALIZER,
                                name=ctx.name(f"{name}_conv{i}"))(x)
        x = ctx.norm(x, f"{name}_bn{i}")
    if bottleneck:
        x = _relu_conv_bn(ctx, x, filters, name + "_post")
    return x


def _operation(ctx, x, op, filters, strides, name, cfg, crop=False):
    """``op`` on ``x`` -> (output, is_identity)."""
    if op == "skip_connect":
        if strides == 1 and int(x.shape[-1]) == filters:
            return x, True
        if strides == 1 or cfg.strided_skip == "conv":  # TF-slim: ReLU-1x1 conv (strided)-BN
            x = ctx.relu(x, name + "_relu")
            x = keras.layers.Conv2D(filters, 1, strides=strides, use_bias=False,
                                    kernel_initializer=CONV_INITIALIZER,
                                    name=ctx.name(name + "_conv"))(x)
            return ctx.norm(x, name + "_bn"), False
        return _factorized_reduce(ctx, x, filters, name), False
    if op in ("max_pool_3x3", "avg_pool_3x3"):
        x = _pool(ctx, x, op[:3], strides, name, cfg)
        if int(x.shape[-1]) != filters:  # a pooled raw stem state: 1x1 conv-BN (TF-slim's)
            x = keras.layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=CONV_INITIALIZER,
                                    name=ctx.name(name + "_proj_conv"))(x)
            x = ctx.norm(x, name + "_proj_bn")
        return x, False
    if op.startswith("sep_conv_"):
        k = int(op[-1])
        x = ctx.relu(x, name + "_relu1")
        x = _separable(ctx, x, filters, k, strides, name, cfg.padding, crop=crop, index="1")
        x = ctx.relu(x, name + "_relu2")
        return _separable(ctx, x, filters, k, 1, name, cfg.padding, index="2"), False
    if op.startswith("dil_conv_"):
        k = int(op[-1])
        x = ctx.relu(x, name + "_relu")
        return _separable(ctx, x, filters, k, strides, name, cfg.padding, dilation_rate=2), False
    if op == "conv_7x1_1x7" and cfg.conv_bottleneck:
        return _bottleneck_7x1_1x7(ctx, x, filters, strides, name, cfg.padding), False
    if op == "conv_7x1_1x7":
        x = ctx.relu(x, name + "_relu")
        for i, (kernel, stride) in enumerate((((1, 7), (1, strides)), ((7, 1), (strides, 1))),
                                             start=1):
            if cfg.padding == "pytorch" and strides > 1:
                pad = ((0, 0), (3, 3)) if i == 1 else ((3, 3), (0, 0))
                x = keras.layers.ZeroPadding2D(pad, name=ctx.name(f"{name}_conv{i}_pad"))(x)
                mode = "valid"
            else:
                mode = "same"
            x = keras.layers.Conv2D(filters, kernel, strides=stride, padding=mode, use_bias=False,
                                    kernel_initializer=CONV_INITIALIZER,
                                    name=ctx.name(f"{name}_conv{i}"))(x)
        return ctx.norm(x, name + "_bn"), False
    if op in ("conv_1x1", "conv_3x3"):
        k = int(op[-1])
        x = ctx.relu(x, name + "_relu")
        x = ctx.conv(x, filters, k, name + "_conv", strides=strides) if cfg.padding == "pytorch" \
            else keras.layers.Conv2D(filters, k, strides=strides, padding="same", use_bias=False,
                                     kernel_initializer=CONV_INITIALIZER,
                                     name=ctx.name(name + "_conv"))(x)
        return ctx.norm(x, name + "_bn"), False
    raise ValueError(f"Unknown operation {op!r}.")  # as_genotype has refused it already


def _cell(ctx, name, nodes, concat, s0, s1, filters, reduction, pre0, cfg, drop_path_rate,
          crop=False, out_name=None):
    """One cell: preprocess the two states, the nodes, the concatenation.

    ``pre0``: ``"conv"`` (ReLU-1x1-BN), ``"reduce"`` (factorised reduction: state 0 has twice
    the resolution) or ``"none"`` (NASNet's first stem cell reads the raw stem map)."""
    if pre0 == "reduce":
        s0 = _factorized_reduce(ctx, s0, filters, name + "_pre0")
    elif pre0 == "conv":
        s0 = _relu_conv_bn(ctx, s0, filters, name + "_pre0")
    s1 = _relu_conv_bn(ctx, s1, filters, name + "_pre1")
    states = [s0, s1]
    for i, node in enumerate(nodes):
        outputs = []
        for j, (op, index) in enumerate(node):
            strides = 2 if reduction and index < 2 else 1
            y, identity = _operation(ctx, states[index], op, filters, strides,
                                     f"{name}_n{i}_{j}_{op}", cfg, crop=crop)
            if not identity:
                y = ctx.drop_path(y, drop_path_rate, f"{name}_n{i}_{j}_drop_path")
            outputs.append(y)
        states.append(outputs[0] if len(outputs) == 1
                      else ctx.add(outputs, f"{name}_n{i}_add"))
    chosen = [states[s] for s in concat]
    out_name = out_name or name + "_concat"
    if len(chosen) == 1:
        return keras.layers.Activation("linear", name=ctx.name(out_name))(chosen[0])
    return keras.layers.Concatenate(name=ctx.name(out_name))(chosen)


def _aux_head(cfg):
    def head(ctx, x):
        x = ctx.relu(x, "aux_relu0")
        x = keras.layers.AveragePooling2D(5, cfg.aux_pool_stride, name=ctx.name("aux_pool"))(x)
        x = ctx.conv(x, cfg.aux_widths[0], 1, "aux_conv1")
        x = ctx.relu(ctx.norm(x, "aux_bn1"), "aux_relu1")
        kernel = cfg.aux_conv_kernel
        if kernel is None:  # TF-slim: a kernel as large as the pooled map (2 where unknown)
            sides = [d for d in x.shape[1:3] if d is not None]
            kernel = min(sides) if len(sides) == 2 else 2
        x = keras.layers.Conv2D(cfg.aux_widths[1], kernel, use_bias=False,
                                kernel_initializer=CONV_INITIALIZER,
                                name=ctx.name("aux_conv2"))(x)
        if cfg.aux_second_bn:
            x = ctx.norm(x, "aux_bn2")
        x = ctx.relu(x, "aux_relu2")
        return keras.layers.GlobalAveragePooling2D(name=ctx.name("aux_gap"))(x)
    return head


def _base_spec_name(cfg):
    return {"cifar": "darts_cifar", "darts_imagenet": "darts", "nasnet": "nasnetalarge"}[cfg.stem]


def build_cell_network(model_name, config, *, genotype=None, drop_path_rate=0.0,
                       aux_logits=False, drop_rate=None, **kwargs):
    """Builds a cell-based network (module docstring) from ``config``.

    Architecture options:
        genotype: the cells -- a :class:`~keras_convnets.models.genotype.Genotype`, a dict, a
            JSON string or a JSON file's path (``keras-convnets search darts`` writes one);
            default: the configuration's published genotype. Checked before any layer is built.
        drop_path_rate: drop-path probability of every operation but the identity (DARTS:
            the same in every cell; NASNet-style configurations scale it with the cell's depth,
            ``(cell + 1) / cells``). :class:`keras_convnets.training.ScheduledDropPath` ramps it
            over training as the papers do.
        aux_logits: the auxiliary classifier (DARTS: after the second reduction cell, NASNet:
            before it), for training; weight 0.4 (``kc.aux_loss_weights``).
        drop_rate: dropout before the classifier (default: the configuration's).
        norm: ``"batch"``, ``"sync_batch"``, ``"group"``, ``"layer"``, ``"batch_renorm"``,
            ``"weight"``.

    ``model_name`` may be a name that is not registered (a searched network's, e.g.
    ``"darts_digits"``): the model is then named so, with the sizes of the registered network
    of its stem.
    """
    cfg = config
    if not isinstance(cfg, CellNetworkConfig):
        raise ValueError(f"`config` must be a CellNetworkConfig; got {type(cfg).__name__}.")
    genotype = as_genotype(cfg.genotype if genotype is None else genotype)
    check_positive_int("filters", cfg.filters)
    check_positive_int("cells_per_stage", cfg.cells_per_stage)
    check_choice("stem", cfg.stem, STEMS)
    check_choice("padding", cfg.padding, PADDINGS)
    check_choice("aux_position", cfg.aux_position, AUX_POSITIONS)
    for flag in ("avg_pool_counts_padding", "skip_reduction_input", "crop_reduction_separables",
                 "final_relu", "drop_path_depth_scaled", "aux_second_bn", "conv_bottleneck"):
        check_bool(flag, getattr(cfg, flag))
    check_choice("strided_skip", cfg.strided_skip, STRIDED_SKIPS)
    check_bool("reduction_in_stage", cfg.reduction_in_stage)
    if (not isinstance(cfg.aux_widths, (tuple, list)) or len(cfg.aux_widths) != 2
            or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0
                       for w in cfg.aux_widths)):
        raise ValueError(f"`aux_widths` must be two positive integers (the auxiliary head's "
                         f"convolutions); got {cfg.aux_widths!r}.")
    if cfg.stem == "nasnet" and cfg.filters < 4:
        raise ValueError(f"`filters` must be at least 4 with the 'nasnet' stem (its stem cells "
                         f"have filters / 4); got {cfg.filters}.")
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    drop_rate = cfg.drop_rate if drop_rate is None else drop_rate
    kwargs.setdefault("bn_epsilon", cfg.bn_epsilon)

    n = cfg.cells_per_stage
    c = cfg.filters
    # (kind, filters) of the body's cells, after the stem
    later = n - 1 if cfg.reduction_in_stage else n
    plan = ([("normal", c)] * n + [("reduce", 2 * c)] + [("normal", 2 * c)] * later
            + [("reduce", 4 * c)] + [("normal", 4 * c)] * later)
    stem_cells = 2 if cfg.stem == "nasnet" else 0
    total_cells = len(plan) + stem_cells
    normal_nodes, reduce_nodes = genotype.normal, genotype.reduce
    normal_concat, reduce_concat = genotype.concat("normal"), genotype.concat("reduce")

    def rate(cell_index):
        if not drop_path_rate:
            return 0.0
        if cfg.drop_path_depth_scaled:
            return drop_path_rate * (cell_index + 1) / total_cells
        return drop_path_rate

    def body(ctx, x):
        stage = 1
        if cfg.stem == "cifar":
            width = cfg.stem_filters or 3 * c
            x = ctx.conv(x, width, 3, "stem_conv")
            s0 = s1 = ctx.norm(x, "stem_bn")
            strides = [1, 1]
        elif cfg.stem == "darts_imagenet":
            x = ctx.conv(x, c // 2, 3, "stem0_conv1", strides=2)
            x = ctx.relu(ctx.norm(x, "stem0_bn1"), "stem0_relu1")
            x = ctx.conv(x, c, 3, "stem0_conv2", strides=2)
            s0 = ctx.norm(x, "stage1_out")
            x = ctx.relu(s0, "stem1_relu")
            x = ctx.conv(x, c, 3, "stem1_conv", strides=2)
            s1 = ctx.norm(x, "stem1_bn")
            strides = [4, 8]
            stage = 2
        else:  # nasnet: conv0, then two reduction cells
            x = keras.layers.Conv2D(cfg.stem_filters or 32, 3, strides=2, use_bias=False,
                                    kernel_initializer=CONV_INITIALIZER,
                                    name=ctx.name("stem_conv"))(x)
            conv0 = ctx.norm(x, "stem_bn")
            stem0 = _cell(ctx, "stem0", reduce_nodes, reduce_concat, conv0, conv0, c // 4, True,
                          "none", cfg, rate(0), out_name="stage1_out")
            stem1 = _cell(ctx, "stem1", reduce_nodes, reduce_concat, conv0, stem0, c // 2, True,
                          "reduce", cfg, rate(1), crop=cfg.crop_reduction_separables)
            s0, s1 = stem0, stem1
            strides = [4, 8]
            stage = 2
        normal_index = reduction_index = 0
        aux_done = False
        for index, (kind, filters) in enumerate(plan):
            reduction = kind == "reduce"
            pre0 = "reduce" if strides[0] < strides[1] else "conv"
            last_of_stage = index + 1 == len(plan) or plan[index + 1][0] == "reduce"
            out_name = (f"stage{stage}_out" if last_of_stage and not (
                index + 1 == len(plan) and cfg.final_relu) else None)
            if reduction:
                if (aux_logits and cfg.aux_position == "before_second_reduction"
                        and reduction_index == 1):
                    ctx.auxiliary_classifier(s1, "aux", _aux_head(cfg))
                    aux_done = True
                name = f"reduction{reduction_index}"
                reduction_index += 1
            else:
                name = f"cell{normal_index}"
                normal_index += 1
            out = _cell(ctx, name, reduce_nodes if reduction else normal_nodes,
                        reduce_concat if reduction else normal_concat, s0, s1, filters,
                        reduction, pre0, cfg, rate(stem_cells + index),
                        crop=reduction and cfg.crop_reduction_separables, out_name=out_name)
            out_stride = strides[1] * (2 if reduction else 1)
            if reduction and cfg.skip_reduction_input:
                pass  # the next cell reads this one's state 0 again: s0 stays
            else:
                s0, strides[0] = s1, strides[1]
            s1, strides[1] = out, out_stride
            if last_of_stage:
                stage += 1
            if (reduction and reduction_index == 2 and aux_logits
                    and cfg.aux_position == "after_second_reduction"):
                ctx.auxiliary_classifier(s1, "aux", _aux_head(cfg))
                aux_done = True
        if aux_logits and not aux_done:
            raise ValueError("aux_logits=True: this configuration has no second reduction cell.")
        if cfg.final_relu:
            s1 = ctx.relu(s1, f"stage{stage - 1}_out")
        return s1

    try:
        get_spec(model_name)
        registered = True
    except ValueError:
        registered = False
    if not registered:  # a searched network: the sizes of the registered model of its stem
        if not kwargs.get("name"):
            kwargs["name"] = _unique_model_name(model_name)
        model_name = _base_spec_name(cfg)
    return build_model(model_name, body, drop_rate=drop_rate, aux_logits=aux_logits, **kwargs)


def tiny_config(cfg):
    """One cell per stage at 1/8 of the width (DARTS: C = 8, NASNet: C = 8 or 16)."""
    step = 4 if cfg.stem == "nasnet" else 2
    filters = max(step, (cfg.filters // 8) // step * step)
    stem_filters = None if cfg.stem_filters is None else max(8, cfg.stem_filters // 8)
    return dataclasses.replace(cfg, filters=filters, cells_per_stage=1, stem_filters=stem_filters)


OPTIONS = {"genotype": None, "drop_path_rate": 0.0, "drop_rate": None, "norm": "batch"}
FAMILY = dict(family="nas", tiny=tiny_config, options=OPTIONS,
              generic_builder="build_cell_network", aux_loss_weight=0.4)

DARTS_CIFAR_CONFIG = CellNetworkConfig(filters=36, cells_per_stage=6, genotype=DARTS_V2,
                                       stem="cifar", aux_pool_stride=3)
DARTS_IMAGENET_CONFIG = CellNetworkConfig(filters=48, cells_per_stage=4, genotype=DARTS_V2,
                                          stem="darts_imagenet", aux_pool_stride=2,
                                          aux_second_bn=False)
_NASNET = dict(genotype=NASNET_A, stem="nasnet", padding="same", bn_epsilon=1e-3,
               final_relu=True, drop_path_depth_scaled=True, strided_skip="conv",
               aux_position="before_second_reduction", aux_pool_stride=3, aux_conv_kernel=None,
               drop_rate=0.5)
NASNET_A_MOBILE_CONFIG = CellNetworkConfig(filters=44, cells_per_stage=4, stem_filters=32,
                                           crop_reduction_separables=True, **_NASNET)
NASNET_A_LARGE_CONFIG = CellNetworkConfig(filters=168, cells_per_stage=6, stem_filters=96,
                                          avg_pool_counts_padding=True,
                                          skip_reduction_input=True, **_NASNET)


@register(**FAMILY, paper=DARTS_PAPER, config=DARTS_CIFAR_CONFIG, default_size=32, min_size=8,
          stage_strides=(1, 2, 4), default_classes=10, paper_params=3.3,
          reference=no_reference("DARTS Table 1: 3.3M parameters (CIFAR-10, C = 36, 20 cells; "
                                 "the authors count without the auxiliary head)"))
def DARTS_CIFAR(config, **kwargs):
    """DARTS (V2, second order) for CIFAR-10 (Liu et al. 2018, arXiv:1806.09055, Table 1):
    C = 36, 20 cells (6 normal per stage), 3.3M parameters (3,349,342 here, without the
    auxiliary head, as the authors count), auxiliary head after the second reduction cell
    (``aux_logits=True``, weight 0.4), drop-path 0.2 in the paper's training."""
    return build_cell_network("darts_cifar", config, **kwargs)


@register(**FAMILY, paper=DARTS_PAPER, config=DARTS_IMAGENET_CONFIG, min_size=32,
          params=4_718_752, flops=1_059_823_104,
          reference=measured("pytorchcv", "darts"))
def DARTS(config, **kwargs):
    """DARTS (V2) in ImageNet's mobile setting (Liu et al. 2018, arXiv:1806.09055, Table 2):
    C = 48, 14 cells (4 normal per stage), 4.7M parameters (4,718,752 = pytorchcv ``darts``),
    auxiliary head after the second reduction cell (weight 0.4)."""
    return build_cell_network("darts", config, **kwargs)


@register(**FAMILY, paper=NASNET_PAPER, config=NASNET_A_MOBILE_CONFIG, min_size=32,
          params=5_289_978, flops=1_136_469_716,
          reference=Reference("pretrainedmodels", "nasnetamobile"),
          keras_twin=KerasTwin("NASNetMobile", note="keras.applications counts 5,326,716 "
                               "parameters in all, its 36,738 BN statistics included"))
def NASNetAMobile(config, **kwargs):
    """NASNet-A Mobile, 4 @ 1056 (Zoph et al. 2017, arXiv:1707.07012, Table 3): N = 4,
    C = 1056 / 24 = 44, 5.3M parameters in the paper; 5,289,978 trainable here and in
    pretrainedmodels ``nasnetamobile`` (keras.applications' NASNetMobile: the same 5,289,978
    trainable, 5,326,716 with its BN statistics). Default input 224."""
    return build_cell_network("nasnetamobile", config, **kwargs)


@register(**FAMILY, paper=NASNET_PAPER, config=NASNET_A_LARGE_CONFIG, default_size=331,
          min_size=32, params=88_753_150, flops=47_566_829_316,
          reference=Reference("timm", "nasnetalarge"), keras_twin=KerasTwin("NASNetLarge"))
def NASNetALarge(config, **kwargs):
    """NASNet-A Large, 6 @ 4032 (Zoph et al. 2017, arXiv:1707.07012, Table 2): N = 6,
    C = 4032 / 24 = 168, 88.9M parameters in the paper (with its 1001-class classifier and
    auxiliary head); 88,753,150 trainable here, in timm ``nasnetalarge`` and keras.applications'
    NASNetLarge. Default input 331."""
    return build_cell_network("nasnetalarge", config, **kwargs)

PNASNET_5_LARGE_CONFIG = CellNetworkConfig(filters=216, cells_per_stage=4, stem_filters=96,
                                           reduction_in_stage=True,
                                           **{**_NASNET, "genotype": PNASNET_5})
PNASNET_5_MOBILE_CONFIG = CellNetworkConfig(filters=54, cells_per_stage=3, stem_filters=32,
                                            reduction_in_stage=True,
                                            **{**_NASNET, "genotype": PNASNET_5})


@register(**FAMILY, paper=PNASNET_PAPER, config=PNASNET_5_LARGE_CONFIG, default_size=331,
          min_size=32, params=86_057_668, flops=49_874_791_584,
          reference=Reference("timm", "pnasnet5large"))
def PNASNet5Large(config, **kwargs):
    """PNASNet-5 Large (Liu et al. 2017, arXiv:1712.00559, Table 5): N = 4, F = 216 (12 cells,
    the reduction cells among them), 86.1M parameters in the paper; 86,057,668 trainable here
    and in timm ``pnasnet5large``. Default input 331."""
    return build_cell_network("pnasnet5large", config, **kwargs)


@register(**FAMILY, paper=PNASNET_PAPER, config=PNASNET_5_MOBILE_CONFIG, min_size=32,
          paper_params=5.1,
          reference=no_reference("PNASNet-5 Mobile: Table 4 of arXiv:1712.00559, 5.1M "
                                 "parameters, 588M multiply-adds; no implementation exists"))
def PNASNet5Mobile(config, **kwargs):
    """PNASNet-5 Mobile (Liu et al. 2017, arXiv:1712.00559, Table 4): N = 3, F = 54 (9 cells,
    TF-slim's ``mobile_imagenet_config``), 5.1M parameters and 588M multiply-adds in the paper;
    no reference implementation exists, so the count is the paper's to its rounding."""
    return build_cell_network("pnasnet5mobile", config, **kwargs)


_AMOEBANET = dict(genotype=AMOEBANET_A, stem="nasnet", stem_filters=32, padding="same",
                  bn_epsilon=1e-3, final_relu=True, strided_skip="conv",
                  aux_position="before_second_reduction", aux_pool_stride=3,
                  aux_conv_kernel=None, aux_widths=(51, 307), conv_bottleneck=True,
                  drop_rate=0.5)
AMOEBANET_A_MOBILE_CONFIG = CellNetworkConfig(filters=50, cells_per_stage=4, **_AMOEBANET)
AMOEBANET_A_LARGE_CONFIG = CellNetworkConfig(filters=190, cells_per_stage=6, **_AMOEBANET)


@register(**FAMILY, paper=AMOEBANET_PAPER, config=AMOEBANET_A_MOBILE_CONFIG, min_size=32,
          paper_params=5.1,
          reference=no_reference("AmoebaNet-A (N = 4, F = 50): Table 3 of arXiv:1802.01548, "
                                 "5.1M parameters, 555M multiply-adds; the authors' TPU code "
                                 "has no weights in a supported library (and asserts on F = 50's "
                                 "odd stem width)"))
def AmoebaNetAMobile(config, **kwargs):
    """AmoebaNet-A in ImageNet's mobile setting (Real et al. 2018, "Regularized Evolution for
    Image Classifier Architecture Search", arXiv:1802.01548, Table 3): N = 4, F = 50, 5.1M
    parameters and 555M multiply-adds in the paper; 5,086,930 trainable here (the authors' TPU
    code's layout, module docstring), without the auxiliary head; 554,687,204 multiply-adds
    at 224 x 224 (the paper's 555M). Default input 224."""
    return build_cell_network("amoebanetamobile", config, **kwargs)


@register(**FAMILY, paper=AMOEBANET_PAPER, config=AMOEBANET_A_LARGE_CONFIG, default_size=331,
          min_size=32, paper_params=86.7,
          reference=no_reference("AmoebaNet-A (N = 6, F = 190): Table 2 of arXiv:1802.01548, "
                                 "86.7M parameters, 23.1B multiply-adds; no implementation with "
                                 "weights in a supported library"))
def AmoebaNetALarge(config, **kwargs):
    """AmoebaNet-A (N = 6, F = 190) (Real et al. 2018, arXiv:1802.01548, Table 2): 86.7M
    parameters and 23.1B multiply-adds in the paper; 86,718,797 trainable here (the authors' TPU
    code's layout, module docstring), without the auxiliary head; 23,133,663,507
    multiply-adds at 331 x 331 (the paper's 23.1B). Default input 331."""
    return build_cell_network("amoebanetalarge", config, **kwargs)
