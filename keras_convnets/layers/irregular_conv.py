"""Irregular convolution: a convolution whose kernel *shape* is learnt with its weights.

Ma, Wang, Wang. "Irregular Convolutional Neural Networks", 2017, arXiv:1706.07966: "we equip
convolutional kernels with shape attributes ... shapes are learnable parameters in addition to
weights. The kernel shapes and weights are learned simultaneously during end-to-end training
with the standard back-propagation algorithm" (abstract; Fig. 1(c): a regular 3x3 kernel
transformed into an irregular one). Each kernel element ``k`` carries a position
``pk + dk``: the regular grid position plus a learnt, real-valued displacement, and the input
at that fractional position is read by bilinear interpolation:

    y(p0) = sum_k  w_k * x(p0 + pk + dk)

Unlike deformable convolution (Dai et al. 2017, arXiv:1703.06211), whose offsets are predicted
per output pixel from the input, the displacements here are parameters of the layer: one
kernel shape, the same at every position of every image (a fixed shape after training). With
all ``dk = 0`` -- the initial shape -- the layer is the plain convolution.

Granularity (our choice, stated here because the text of the paper available to us gives no
implementation detail beyond the above): one shape per layer, shared by all input channels and
filters, ``2 * kh * kw`` extra parameters. Per-filter shapes would multiply the sampling work
by the number of filters.

Computation: since a displacement is constant over the image, the positions of kernel element
``k`` over the output form a rectangular lattice, and bilinear sampling on it separates into
linear interpolation along rows then along columns
(:func:`~keras_convnets.layers.bilinear.lattice_sample`: one gather per axis for all kernel
elements, interpolation weights zero outside). The ``K`` sampled maps are concatenated and convolved
with the kernel reshaped to ``(K * C, filters)`` as one 1x1 convolution. Builtin TFLite ops only
(GATHER, FLOOR, CONV_2D ...); in a converted model the displacements are constants.
"""

from ..backend import keras, register_serializable, tf
from .bilinear import conv_output_shape, lattice_sample, output_grid
from .deformable_conv import conv_arguments_config, kernel_grid, set_conv_arguments


@register_serializable
class IrregularConv2D(keras.layers.Layer):
    """Convolution with a learnable kernel shape (Ma et al. 2017), starting from the regular grid.

    Args:
        filters: output channels.
        kernel_size: int or pair: the number of kernel elements and their initial grid.
        strides, padding (``"valid"``/``"same"``), dilation_rate: the regular grid's geometry,
            as ``Conv2D``'s (the same output size).
        use_bias: a bias.
        kernel_initializer, bias_initializer, kernel_regularizer: of the weights.
        shape_initializer: of the displacements (``"zeros"``: the regular grid).

    Weights: ``kernel`` (kh, kw, C, filters), ``bias``, and ``shape_offsets`` (kh, kw, 2): the
    (row, column) displacement of every kernel element from its grid position, in input
    pixels, trainable. :meth:`positions` gives the current kernel shape.
    """

    def __init__(self, filters, kernel_size=3, strides=1, padding="valid", dilation_rate=1,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, shape_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        set_conv_arguments(self, filters, kernel_size, strides, padding, dilation_rate, use_bias,
                           kernel_initializer, bias_initializer, kernel_regularizer)
        self.shape_initializer = keras.initializers.get(shape_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel dimension of the input must be known.")
        self.kernel = self.add_weight(name="kernel",
                                      shape=(*self.kernel_size, int(channels), self.filters),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                    initializer=self.bias_initializer) if self.use_bias else None
        self.shape_offsets = self.add_weight(name="shape_offsets", shape=(*self.kernel_size, 2),
                                             initializer=self.shape_initializer)
        super().build(input_shape)

    def positions(self):
        """The kernel shape: (kh, kw, 2) positions (row, column) of the elements relative to
        the kernel's top-left grid point, in input pixels."""
        rows, cols = kernel_grid(self.kernel_size, self.dilation_rate)
        grid = tf.reshape(tf.stack([tf.constant(rows, "float32"), tf.constant(cols, "float32")],
                                   axis=-1), (*self.kernel_size, 2))
        return grid + tf.cast(self.shape_offsets, "float32")

    def call(self, inputs):
        kh, kw = self.kernel_size
        dtype = inputs.dtype
        channels = int(inputs.shape[-1])
        out_h, out_w, base_y, base_x = output_grid(inputs, self.kernel_size, self.strides,
                                                   self.dilation_rate, self.padding)
        positions = tf.reshape(tf.cast(self.positions(), dtype), [kh * kw, 2])
        sampled = lattice_sample(inputs, base_y[None, :] + positions[:, :1],
                                 base_x[None, :] + positions[:, 1:])  # (N, Ho, Wo, K, C)
        columns = tf.reshape(sampled, [-1, out_h, out_w, kh * kw * channels])
        weights = tf.reshape(tf.cast(self.kernel, dtype), [1, 1, kh * kw * channels,
                                                           self.filters])
        outputs = tf.nn.conv2d(columns, weights, strides=1, padding="VALID")
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, tf.cast(self.bias, dtype))
        return outputs

    def compute_output_shape(self, input_shape):
        return conv_output_shape(input_shape, self.kernel_size, self.strides,
                                 self.dilation_rate, self.padding, self.filters)

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds of the convolution, as a plain one of the same kernel; the
        interpolation (4 multiply-adds per sampled value) is not counted, like pooling."""
        per_output = self.kernel_size[0] * self.kernel_size[1] * int(input_shape[-1])
        return 2 * per_output * int(output_shape[1]) * int(output_shape[2]) * self.filters

    def get_config(self):
        config = super().get_config()
        config.update(
            conv_arguments_config(self),
            shape_initializer=keras.initializers.serialize(self.shape_initializer))
        return config


__all__ = ["IrregularConv2D"]
