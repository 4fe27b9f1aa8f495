"""The residual block with dilation: the unit of the Dilated Residual Networks.

Yu, Koltun, Funkhouser. "Dilated Residual Networks", CVPR 2017, arXiv:1705.09914, Section 2:
a ResNet block whose striding is removed and whose 3x3 convolutions are dilated instead, so
that the receptive field grows as before while the feature map keeps its resolution (Fig. 1);
Section 4's degridding blocks are the same block without the residual connection.

One block (``relu`` after every norm but the branch's last; PyTorch padding,
``pad = dilation`` for every 3x3, so the map keeps its size at stride 1):

- ``"basic"``: 3x3 (stride, dilation ``d1``) -> norm -> ReLU -> 3x3 (dilation ``d2``) -> norm.
- ``"bottleneck"``: 1x1 to ``filters // 4`` -> norm -> ReLU -> 3x3 (stride, dilation) -> norm
  -> ReLU -> 1x1 to ``filters`` -> norm (the stride on the 3x3, as the authors' code).
- shortcut: the identity, or where the channels or the stride change a 1x1 projection (with
  the stride) -> norm.
- output: ``relu(branch + shortcut)``; ``residual=False`` (DRN-C's degridding layers 7-8):
  ``relu(branch)``, no shortcut at all.

:class:`DilatedResidual` is the block as one layer that owns its convolution and norm
sublayers (standalone use). The DRN builders (``keras_convnets.models.drn``) build the same
block from the same :func:`block_plan` out of plain layers instead, named
``<block>_conv1``, ``_bn1``, ... -- the names of this layer's sublayers -- so that weight
porting pairs each reference tensor with one plain Keras layer, ``feature_extractor`` and
``norm=`` work as on every other model, and ``tests/test_drn.py`` checks that the layer and the
builders' block compute the same function with the same weights.
"""

import dataclasses

from ..backend import keras, register_serializable, tf
from ..utils import check_bool, check_choice, check_positive_int
from .normalization import normalization

BLOCKS = ("basic", "bottleneck")
#: a bottleneck block's output channels over its inner width (ResNet's expansion)
EXPANSION = 4


@dataclasses.dataclass(frozen=True)
class ConvStep:
    """One convolution of a block and what follows it: ``conv<index>`` -> ``bn<index>``
    (-> ReLU where ``relu``)."""

    index: int
    filters: int
    kernel_size: int
    strides: int
    dilation: int
    relu: bool


def _check_dilation(block, dilation):
    """``(d1, d2)``: a positive integer for every 3x3, or (basic block only) one per 3x3."""
    if isinstance(dilation, (list, tuple)):
        if len(dilation) != 2 or (block != "basic" and dilation[0] != dilation[1]):
            raise ValueError(
                f"`dilation` must be a positive integer, or for block='basic' a pair (first "
                f"3x3, second 3x3); got {dilation!r} with block={block!r}.")
        first, second = dilation
    else:
        first = second = dilation
    for value in (first, second):
        check_positive_int("dilation", value)
    return int(first), int(second)


def check_block(block, filters, strides, dilation, residual):
    """The checked ``(block, filters, strides, (d1, d2), residual)`` of one block; a
    ``ValueError`` names any bad argument."""
    block = check_choice("block", block, BLOCKS)
    filters = check_positive_int("filters", filters)
    strides = check_positive_int("strides", strides)
    dilations = _check_dilation(block, dilation)
    residual = check_bool("residual", residual)
    if block == "bottleneck":
        if filters % EXPANSION:
            raise ValueError(f"`filters` of a bottleneck block must be a multiple of "
                             f"{EXPANSION} (its inner width is filters // {EXPANSION}); got "
                             f"{filters}.")
        if not residual:
            raise ValueError("`residual`=False: only the basic block comes without its "
                             "residual connection (DRN-C's degridding layers); got "
                             "block='bottleneck'.")
    if strides > 1 and max(dilations) > 1:
        raise ValueError(f"`strides`={strides} with `dilation`={dilation!r}: a dilated "
                         f"residual block replaces striding by dilation; use one of them.")
    return block, filters, strides, dilations, residual


def block_plan(block, filters, strides=1, dilation=1):
    """The residual branch of one block as :class:`ConvStep` s, first to last (arguments as
    :class:`DilatedResidual`'s, checked by :func:`check_block`)."""
    first, second = _check_dilation(block, dilation)
    if block == "basic":
        return (ConvStep(1, filters, 3, strides, first, True),
                ConvStep(2, filters, 3, 1, second, False))
    width = filters // EXPANSION
    return (ConvStep(1, width, 1, 1, 1, True),
            ConvStep(2, width, 3, strides, second, True),
            ConvStep(3, filters, 1, 1, 1, False))


def needs_projection(in_channels, filters, strides, residual):
    """Whether the shortcut is a 1x1 projection (+ norm) rather than the identity."""
    return residual and (in_channels != filters or strides > 1)


def _pytorch_padding(kernel_size, dilation):
    return dilation * (kernel_size - 1) // 2


@register_serializable
class DilatedResidual(keras.layers.Layer):
    """A residual block with dilated 3x3 convolutions (DRN, arXiv:1705.09914), as one layer.

    Args:
        filters: output channels (a bottleneck block's inner width is ``filters // 4``).
        block: ``"basic"`` (two 3x3) or ``"bottleneck"`` (1x1, 3x3, 1x1).
        strides: the stride of the block's first 3x3 (and of the projection); a dilated block
            has stride 1.
        dilation: the dilation of the 3x3 convolutions; for a basic block also a pair
            ``(first, second)`` (the authors' first block of a newly dilated level, ``(d / 2,
            d)``).
        residual: ``False`` drops the shortcut (DRN-C's degridding layers; basic only).
        norm: the normalisation, one of :data:`keras_convnets.layers.NORMS` (``"batch"``...).
        epsilon, momentum: the norms' (Keras' momentum convention: 0.9 == PyTorch's 0.1).

    Input ``(batch, H, W, C)``; output ``(batch, ceil(H / strides), ceil(W / strides),
    filters)``. Sublayers ``conv1``, ``bn1``, ``conv2``, ``bn2`` (``conv3``, ``bn3``), and
    ``shortcut_conv``, ``shortcut_bn`` where the channels or the stride change.
    """

    def __init__(self, filters, block="basic", strides=1, dilation=1, residual=True,
                 norm="batch", epsilon=1e-5, momentum=0.9, kernel_initializer="he_normal",
                 **kwargs):
        super().__init__(**kwargs)
        (self.block, self.filters, self.strides, self.dilation,
         self.residual) = check_block(block, filters, strides, dilation, residual)
        self.norm = norm
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.plan = block_plan(self.block, self.filters, self.strides, self.dilation)
        for step in self.plan:
            conv = keras.layers.Conv2D(
                step.filters, step.kernel_size, strides=step.strides, padding="valid",
                dilation_rate=step.dilation, use_bias=False,
                kernel_initializer=self._initializer(), name=f"conv{step.index}")
            norm_layer = normalization(norm, step.filters, f"bn{step.index}",
                                       epsilon=self.epsilon, momentum=self.momentum)
            setattr(self, f"conv{step.index}", conv)
            setattr(self, f"bn{step.index}", norm_layer)
        self.shortcut_conv = self.shortcut_bn = None

    @property
    def convs(self):
        return [getattr(self, f"conv{step.index}") for step in self.plan]

    @property
    def norms(self):
        return [getattr(self, f"bn{step.index}") for step in self.plan]

    def _initializer(self):
        # a fresh instance per kernel: legacy Keras repeats an unseeded instance's draws
        return type(self.kernel_initializer).from_config(self.kernel_initializer.get_config())

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        shape = tuple(input_shape)
        for step, conv, norm_layer in zip(self.plan, self.convs, self.norms):
            conv.build(shape)
            shape = tuple(conv.compute_output_shape(self._padded_shape(shape, step)))
            norm_layer.build(shape)
        if needs_projection(in_channels, self.filters, self.strides, self.residual):
            self.shortcut_conv = keras.layers.Conv2D(
                self.filters, 1, strides=self.strides, use_bias=False,
                kernel_initializer=self._initializer(), name="shortcut_conv")
            self.shortcut_bn = normalization(self.norm, self.filters, "shortcut_bn",
                                             epsilon=self.epsilon, momentum=self.momentum)
            self.shortcut_conv.build(tuple(input_shape))
            self.shortcut_bn.build(tuple(self.shortcut_conv.compute_output_shape(
                tuple(input_shape))))
        self.built = True

    @staticmethod
    def _padded_shape(shape, step):
        pad = 2 * _pytorch_padding(step.kernel_size, step.dilation)
        return tuple(None if d is None else d + pad if i in (1, 2) else d
                     for i, d in enumerate(shape))

    @property
    def sublayers(self):
        """The block's convolution and norm layers in the order the builders create them:
        ``conv1, bn1, conv2, bn2[, conv3, bn3][, shortcut_conv, shortcut_bn]``."""
        layers = [layer for pair in zip(self.convs, self.norms) for layer in pair]
        if self.shortcut_conv is not None:
            layers += [self.shortcut_conv, self.shortcut_bn]
        return layers

    @property
    def weights(self):
        """The sublayers' weights in :attr:`sublayers` order, each norm's as the plain layer
        lists them (``gamma, beta, moving_mean, moving_variance``), in both Keras worlds."""
        if not self.built:
            return super().weights
        return [weight for layer in self.sublayers for weight in layer.weights]

    @property
    def prunable_weights(self):
        """The convolution kernels (what magnitude pruning masks)."""
        return [layer.kernel for layer in self.sublayers
                if isinstance(layer, keras.layers.Conv2D)]

    def call(self, inputs, training=None):
        x = inputs
        for step, conv, norm_layer in zip(self.plan, self.convs, self.norms):
            pad = _pytorch_padding(step.kernel_size, step.dilation)
            if pad:
                x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
            x = norm_layer(conv(x), training=training)
            if step.relu:
                x = tf.nn.relu(x)
        if self.residual:
            shortcut = inputs
            if self.shortcut_conv is not None:
                shortcut = self.shortcut_bn(self.shortcut_conv(inputs), training=training)
            x = x + shortcut
        return tf.nn.relu(x)

    def compute_output_shape(self, input_shape):
        def out(size):
            return None if size is None else -(-int(size) // self.strides)

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), self.filters)

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds of the block's convolutions (the norms are not counted, as
        elsewhere), per image."""
        height, width, channels = (int(d) for d in input_shape[1:])
        flops = 0
        for step in self.plan:
            pad = _pytorch_padding(step.kernel_size, step.dilation)
            extent = step.dilation * (step.kernel_size - 1) + 1
            height = (height + 2 * pad - extent) // step.strides + 1
            width = (width + 2 * pad - extent) // step.strides + 1
            flops += 2 * step.kernel_size ** 2 * channels * step.filters * height * width
            channels = step.filters
        if needs_projection(int(input_shape[-1]), self.filters, self.strides, self.residual):
            flops += 2 * int(input_shape[-1]) * self.filters * height * width
        return flops

    def get_config(self):
        config = super().get_config()
        dilation = self.dilation[0] if self.dilation[0] == self.dilation[1] else list(
            self.dilation)
        config.update(
            filters=self.filters, block=self.block, strides=self.strides, dilation=dilation,
            residual=self.residual, norm=self.norm, epsilon=self.epsilon,
            momentum=self.momentum,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config
