"""Deformable convolution (v1): a convolution whose sampling grid moves by learned offsets.

Dai, Qi, Xiong, Li, Zhang, Hu, Wei. "Deformable Convolutional Networks", ICCV 2017,
arXiv:1703.06211, Sec. 2.1, Eq. (2)-(4) and Fig. 2. For every output position ``p0`` and
kernel element ``pn`` of the regular grid ``R`` (K = kh * kw elements):

    y(p0) = sum_n  w(pn) * x(p0 + pn + dpn)                                    (Eq. 2)

where the offsets ``dpn`` come from a convolution over the same input (same kernel size,
stride, padding and dilation as the main one) with ``2K`` output channels, and ``x`` at the
fractional position is bilinear interpolation (Eq. 3-4), zero outside the map. The weights of
the layers that learn offsets are initialised to zero (Sec. 2.3), so an untrained deformable
convolution *is* the plain convolution with the same kernel; the offset branch learns by
back-propagation through the bilinear weights.

Offset channel layout: channel ``2k`` is the row (y) offset and ``2k + 1`` the column (x)
offset of kernel element ``k = ky * kw + kx`` (row-major over the kernel), in pixels of the
input -- the order of the authors' MXNet operator. The paper's per-branch learning-rate
multiplier (beta, 1 by default) is not modelled: use the optimiser's per-variable options if
needed.

Computation: offsets by ``tf.nn.conv2d``; the ``K`` sampled values of every output position by
:func:`~keras_convnets.layers.bilinear.bilinear_sample` (gathers on the flattened map, four
corners); then one 1x1 convolution of the ``K * C`` samples with the kernel reshaped to
``(K * C, filters)``. Memory is ``K`` times the input per output position (im2col), no loops
over pixels. Converts to TFLite with builtin ops (CONV_2D, GATHER, FLOOR, ...).
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_choice, check_positive_int
from .bilinear import bilinear_sample, conv_output_shape, output_grid
from .group_conv import _pair


def kernel_grid(kernel_size, dilation_rate):
    """``(rows, cols)``: the regular grid ``R`` of Eq. (1) as K row and K column displacements
    (row-major over the kernel, times the dilation)."""
    (kh, kw), (dh, dw) = kernel_size, dilation_rate
    return ([ky * dh for ky in range(kh) for _ in range(kw)],
            [kx * dw for _ in range(kh) for kx in range(kw)])


def deformable_conv2d(inputs, offsets, kernel, strides=(1, 1), padding="valid",
                      dilation_rate=(1, 1)):
    """The deformable convolution of Eq. (2) with given ``offsets`` (no bias).

    Args:
        inputs: (N, H, W, C).
        offsets: (N, Ho, Wo, 2K), channels ``(dy_k, dx_k)`` for kernel element ``k``; the
            output size of a ``padding`` convolution with these strides and dilation.
        kernel: (kh, kw, C, filters).
        strides, padding, dilation_rate: as a ``Conv2D``'s.

    Returns:
        (N, Ho, Wo, filters).
    """
    kh, kw, channels, filters = (int(d) for d in kernel.shape)
    k = kh * kw
    rows, cols = kernel_grid((kh, kw), dilation_rate)
    shape = tf.shape(offsets)
    out_h, out_w = shape[1], shape[2]
    _, _, base_y, base_x = output_grid(inputs, (kh, kw), strides, dilation_rate, padding)
    dtype = inputs.dtype
    offsets = tf.reshape(tf.cast(offsets, dtype), [-1, out_h, out_w, k, 2])
    y = (base_y[:, None, None] + tf.constant(rows, dtype)[None, None, :]) + offsets[..., 0]
    x = (base_x[None, :, None] + tf.constant(cols, dtype)[None, None, :]) + offsets[..., 1]
    sampled = bilinear_sample(inputs, y, x)                           # (N, Ho, Wo, K, C)
    columns = tf.reshape(sampled, [-1, out_h, out_w, k * channels])
    weights = tf.reshape(tf.cast(kernel, dtype), [1, 1, k * channels, filters])
    return tf.nn.conv2d(columns, weights, strides=1, padding="VALID")


def set_conv_arguments(layer, filters, kernel_size, strides, padding, dilation_rate, use_bias,
                       kernel_initializer, bias_initializer, kernel_regularizer):
    """Checks and stores on ``layer`` the arguments the sampled convolutions (deformable,
    irregular) share with Keras' Conv2D; :func:`conv_arguments_config` gives them back."""
    layer.filters = check_positive_int("filters", filters)
    layer.kernel_size = _pair("kernel_size", kernel_size)
    layer.strides = _pair("strides", strides)
    layer.padding = check_choice("padding", padding, ("valid", "same"))
    layer.dilation_rate = _pair("dilation_rate", dilation_rate)
    layer.use_bias = bool(use_bias)
    layer.kernel_initializer = keras.initializers.get(kernel_initializer)
    layer.bias_initializer = keras.initializers.get(bias_initializer)
    layer.kernel_regularizer = keras.regularizers.get(kernel_regularizer)


def conv_arguments_config(layer):
    """The ``get_config`` entries of the arguments :func:`set_conv_arguments` stored."""
    return dict(
        filters=layer.filters, kernel_size=layer.kernel_size, strides=layer.strides,
        padding=layer.padding, dilation_rate=layer.dilation_rate, use_bias=layer.use_bias,
        kernel_initializer=keras.initializers.serialize(layer.kernel_initializer),
        bias_initializer=keras.initializers.serialize(layer.bias_initializer),
        kernel_regularizer=keras.regularizers.serialize(layer.kernel_regularizer)
        if layer.kernel_regularizer is not None else None)


@register_serializable
class DeformableConv2D(keras.layers.Layer):
    """Deformable convolution v1 (Dai et al. 2017): offsets from a zero-initialised conv.

    Args:
        filters: output channels.
        kernel_size: int or pair (3 in the paper).
        strides, padding (``"valid"``/``"same"``), dilation_rate: of both the offset and the
            main convolution, as ``Conv2D``'s (strides and dilation > 1 together are refused,
            as TensorFlow's convolution refuses them).
        use_bias: a bias on the main convolution.
        kernel_initializer, bias_initializer, kernel_regularizer: of the main convolution.
        offset_initializer: of the offset convolution's kernel and bias; ``"zeros"`` (the
            paper) makes the layer start as the plain convolution.

    Weights: ``kernel`` (kh, kw, C, filters), ``bias``, ``offset_kernel`` (kh, kw, C, 2K),
    ``offset_bias`` (2K). :meth:`offsets` returns the offsets for an input.
    """

    def __init__(self, filters, kernel_size=3, strides=1, padding="valid", dilation_rate=1,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, offset_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        set_conv_arguments(self, filters, kernel_size, strides, padding, dilation_rate, use_bias,
                           kernel_initializer, bias_initializer, kernel_regularizer)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"`strides`={self.strides} with `dilation_rate`="
                             f"{self.dilation_rate}: strides > 1 and dilation > 1 together are "
                             f"not supported; use one of them.")
        self.offset_initializer = keras.initializers.get(offset_initializer)

    @property
    def num_points(self):
        """K: the kernel's sampling points."""
        return self.kernel_size[0] * self.kernel_size[1]

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel dimension of the input must be known.")
        channels = int(channels)
        self.kernel = self.add_weight(name="kernel",
                                      shape=(*self.kernel_size, channels, self.filters),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                    initializer=self.bias_initializer) if self.use_bias else None
        self.offset_kernel = self.add_weight(
            name="offset_kernel", shape=(*self.kernel_size, channels, 2 * self.num_points),
            initializer=self.offset_initializer)
        self.offset_bias = self.add_weight(name="offset_bias", shape=(2 * self.num_points,),
                                           initializer=self.offset_initializer)
        super().build(input_shape)

    def offsets(self, inputs):
        """The offset field (N, Ho, Wo, 2K) the layer computes for ``inputs``."""
        out = tf.nn.conv2d(inputs, tf.cast(self.offset_kernel, inputs.dtype),
                           strides=(1, *self.strides, 1), padding=self.padding.upper(),
                           dilations=(1, *self.dilation_rate, 1))
        return tf.nn.bias_add(out, tf.cast(self.offset_bias, inputs.dtype))

    def call(self, inputs):
        outputs = deformable_conv2d(inputs, self.offsets(inputs), self.kernel, self.strides,
                                    self.padding, self.dilation_rate)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, tf.cast(self.bias, inputs.dtype))
        return outputs

    def compute_output_shape(self, input_shape):
        return conv_output_shape(input_shape, self.kernel_size, self.strides,
                                 self.dilation_rate, self.padding, self.filters)

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds of the main and the offset convolution; the bilinear sampling
        (4 multiply-adds per sampled value) is not counted, like pooling."""
        positions = int(output_shape[1]) * int(output_shape[2])
        per_position = self.num_points * int(input_shape[-1]) * (self.filters
                                                                  + 2 * self.num_points)
        return 2 * per_position * positions

    def get_config(self):
        config = super().get_config()
        config.update(
            conv_arguments_config(self),
            offset_initializer=keras.initializers.serialize(self.offset_initializer))
        return config


__all__ = ["DeformableConv2D", "deformable_conv2d", "kernel_grid"]
