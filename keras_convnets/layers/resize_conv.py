"""Resize-convolution: upsample by interpolation, then an ordinary convolution.

Odena, Dumoulin, Olah. "Deconvolution and Checkerboard Artifacts", Distill, 2016,
doi:10.23915/distill.00003, section "Better Upsampling": a transposed convolution whose kernel
size is not divisible by its stride overlaps unevenly and paints checkerboard patterns; instead, resize the image (nearest-neighbour
or bilinear interpolation) and then apply an ordinary convolution, which spreads every input
pixel evenly. The authors found
nearest-neighbour resizing to work best.

The resize is ``tf.image.resize`` to ``(size_h * H, size_w * W)`` (half-pixel centres: nearest
neighbour then repeats each pixel ``size`` times; bilinear is the standard half-pixel bilinear,
edge-clamped), and the convolution is stride 1 with ``"SAME"`` padding. TFLite:
``RESIZE_NEAREST_NEIGHBOR`` / ``RESIZE_BILINEAR`` and ``CONV_2D``.
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_bool, check_choice, check_positive_int

INTERPOLATIONS = ("nearest", "bilinear")


def _pair(argument, value):
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2:
        raise ValueError(f"`{argument}` must be an integer or a pair of integers; got {value!r}.")
    for v in values:
        check_positive_int(argument, v)
    return values


@register_serializable
class ResizeConv2D(keras.layers.Layer):
    """``conv(resize(x, size))``: checkerboard-free learned upsampling.

    Args:
        filters: output channels.
        kernel_size: the convolution's kernel (int or pair; 3 is usual).
        size: the upsampling factor (int or ``(rows, cols)``).
        interpolation: ``"nearest"`` (the paper's preference) or ``"bilinear"``.
        use_bias: add a bias after the convolution.
    """

    def __init__(self, filters, kernel_size=3, size=2, interpolation="nearest", use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.size = _pair("size", size)
        self.interpolation = check_choice("interpolation", interpolation, INTERPOLATIONS)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (int(input_shape[-1]), self.filters),
            initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                    initializer=self.bias_initializer) if self.use_bias else None
        super().build(input_shape)

    def call(self, inputs):
        shape = tf.shape(inputs)
        rows = inputs.shape[1] * self.size[0] if inputs.shape[1] is not None \
            else shape[1] * self.size[0]
        cols = inputs.shape[2] * self.size[1] if inputs.shape[2] is not None \
            else shape[2] * self.size[1]
        method = "nearest" if self.interpolation == "nearest" else "bilinear"
        resized = tf.image.resize(inputs, [rows, cols], method=method)
        resized = tf.cast(resized, inputs.dtype)  # bilinear returns float32 for any input
        outputs = tf.nn.conv2d(resized, tf.cast(self.kernel, inputs.dtype), strides=1,
                               padding="SAME")
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, tf.cast(self.bias, inputs.dtype))
        return outputs

    def compute_output_shape(self, input_shape):
        rows = None if input_shape[1] is None else input_shape[1] * self.size[0]
        cols = None if input_shape[2] is None else input_shape[2] * self.size[1]
        return (input_shape[0], rows, cols, self.filters)

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds of the convolution on the resized map (the resize is free)."""
        kh, kw = self.kernel_size
        pixels = int(output_shape[1]) * int(output_shape[2])
        return 2 * pixels * kh * kw * int(input_shape[-1]) * self.filters

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, size=self.size,
                      interpolation=self.interpolation, use_bias=self.use_bias,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
                      bias_initializer=keras.initializers.serialize(self.bias_initializer))
        return config
