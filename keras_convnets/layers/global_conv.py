"""Global Convolutional Network block and Boundary Refinement block (large separable kernels).

Peng, Zhang, Yu, Luo, Sun. "Large Kernel Matters -- Improve Semantic Segmentation by Global
Convolutional Network", CVPR 2017, arXiv:1703.02719, Sec. 3.1 and Fig. 2(b)/(c).

GCN (Fig. 2(b)): instead of one dense ``k x k`` convolution, two branches -- ``k x 1`` then
``1 x k``, and ``1 x k`` then ``k x 1`` -- whose outputs are summed, with no non-linearity
after the convolutions (Sec. 3.1), so the block is a sum of two rank-separable ``k x k``
filters at ``O(2/k)`` of the dense kernel's cost. The paper's kernel-size sweep is Table 1
(``k`` = 3 ... 15, the score rising with ``k`` up to 15, which it keeps for the final model).

BR (Fig. 2(c)): a residual block ``x + conv3x3(relu(conv3x3(x)))`` on the GCN's score map,
refining object boundaries.

Both layers keep the spatial size (stride 1, PyTorch-style symmetric padding ``k // 2``, which
equals TensorFlow's ``"SAME"`` for odd kernels) and convert to TFLite as plain ``CONV_2D`` ops.
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_bool, check_positive_int


def _check_odd(argument, value):
    check_positive_int(argument, value)
    if value % 2 == 0:
        raise ValueError(f"`{argument}` must be an odd integer (the kernel is centred on each "
                         f"pixel); got {value}.")
    return value


class _ConvWeights(keras.layers.Layer):
    """Shared plumbing: fresh initialiser instances, ``SAME`` convolutions with bias."""

    def __init__(self, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _fresh(self, initializer):
        # A fresh instance per weight: legacy Keras repeats an unseeded instance's draws.
        return type(initializer).from_config(initializer.get_config())

    def _conv_weights(self, name, shape):
        kernel = self.add_weight(name=f"{name}_kernel", shape=shape,
                                 initializer=self._fresh(self.kernel_initializer))
        bias = self.add_weight(name=f"{name}_bias", shape=(shape[-1],),
                               initializer=self._fresh(self.bias_initializer)) \
            if self.use_bias else None
        return kernel, bias

    @staticmethod
    def _conv(x, kernel, bias):
        y = tf.nn.conv2d(x, tf.cast(kernel, x.dtype), strides=1, padding="SAME")
        return y if bias is None else tf.nn.bias_add(y, tf.cast(bias, x.dtype))

    def get_config(self):
        config = super().get_config()
        config.update(use_bias=self.use_bias,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
                      bias_initializer=keras.initializers.serialize(self.bias_initializer))
        return config


@register_serializable
class GlobalConvBlock(_ConvWeights):
    """GCN: ``conv_1xk(conv_kx1(x)) + conv_kx1(conv_1xk(x))``, no non-linearity (Fig. 2(b)).

    Args:
        filters: output channels (the paper: the number of classes, 21 on PASCAL VOC); the
            first convolution of each branch has ``filters`` outputs too, as in the figure.
        kernel_size: the odd size ``k`` of the large kernel (15 in the paper's final model).
        use_bias: a bias on each of the four convolutions.

    Weights: ``left_1`` (k x 1, C_in -> F), ``left_2`` (1 x k, F -> F), ``right_1`` (1 x k,
    C_in -> F), ``right_2`` (k x 1, F -> F): ``2 k F (C_in + F)`` kernel parameters (+ ``4 F``
    biases) against ``k**2 C_in F`` for a dense ``k x k`` convolution.
    """

    def __init__(self, filters, kernel_size=15, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = _check_odd("kernel_size", kernel_size)

    def build(self, input_shape):
        channels, k, f = int(input_shape[-1]), self.kernel_size, self.filters
        self.left_1 = self._conv_weights("left_1", (k, 1, channels, f))
        self.left_2 = self._conv_weights("left_2", (1, k, f, f))
        self.right_1 = self._conv_weights("right_1", (1, k, channels, f))
        self.right_2 = self._conv_weights("right_2", (k, 1, f, f))
        super().build(input_shape)

    def call(self, inputs):
        left = self._conv(self._conv(inputs, *self.left_1), *self.left_2)
        right = self._conv(self._conv(inputs, *self.right_1), *self.right_2)
        return left + right

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds of the four convolutions (biases not counted)."""
        pixels = int(output_shape[1]) * int(output_shape[2])
        k, f = self.kernel_size, self.filters
        return 2 * pixels * 2 * k * f * (int(input_shape[-1]) + f)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size)
        return config


@register_serializable
class BoundaryRefinement(_ConvWeights):
    """BR: ``x + conv(relu(conv(x)))`` with two ``k x k`` convolutions keeping the channels
    (Fig. 2(c); ``k = 3`` in the paper)."""

    def __init__(self, kernel_size=3, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self.kernel_size = _check_odd("kernel_size", kernel_size)

    def build(self, input_shape):
        channels, k = int(input_shape[-1]), self.kernel_size
        self.conv_1 = self._conv_weights("conv_1", (k, k, channels, channels))
        self.conv_2 = self._conv_weights("conv_2", (k, k, channels, channels))
        super().build(input_shape)

    def call(self, inputs):
        return inputs + self._conv(tf.nn.relu(self._conv(inputs, *self.conv_1)), *self.conv_2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def count_flops(self, input_shape, output_shape):
        pixels = int(output_shape[1]) * int(output_shape[2])
        return 2 * pixels * 2 * self.kernel_size ** 2 * int(input_shape[-1]) ** 2

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size)
        return config
