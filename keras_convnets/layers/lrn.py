"""Local response normalisation across channels (AlexNet's "response normalization").

Krizhevsky, Sutskever, Hinton. "ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012, Sec. 3.3:

    b[x, y, i] = a[x, y, i] / (k + alpha * sum_{j = max(0, i - n/2)}^{min(N - 1, i + n/2)} a[x, y, j]^2) ^ beta

with ``k = 2, n = 5, alpha = 1e-4, beta = 0.75``. That is ``tf.nn.local_response_normalization``
with ``depth_radius = n // 2`` and the same ``alpha`` (TensorFlow sums, as the paper does;
Caffe and PyTorch divide ``alpha`` by ``n``, so their ``alpha=5e-4`` is this ``1e-4``). TFLite
runs it as its builtin ``LOCAL_RESPONSE_NORMALIZATION`` op.
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_positive_int


def _check_positive_number(argument, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"`{argument}` must be a positive number; got {value!r}.")
    return float(value)


@register_serializable
class LocalResponseNormalization(keras.layers.Layer):
    """AlexNet's cross-channel normalisation; no weights, the paper's constants by default.

    Args:
        size: ``n``, the number of adjacent channels summed over (odd; the paper's 5).
        bias: ``k`` (2).
        alpha: the paper's ``alpha``, multiplying the plain sum of squares (1e-4).
        beta: the exponent (0.75).
    """

    def __init__(self, size=5, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        self.size = check_positive_int("size", size)
        if size % 2 == 0:
            raise ValueError(f"`size` must be odd (a window centred on each channel); got {size}.")
        self.bias = _check_positive_number("bias", bias)
        self.alpha = _check_positive_number("alpha", alpha)
        self.beta = _check_positive_number("beta", beta)

    def call(self, inputs):
        # The op has float32 kernels everywhere (TFLite too): compute there, return the input dtype.
        outputs = tf.nn.local_response_normalization(
            tf.cast(inputs, tf.float32), depth_radius=self.size // 2, bias=self.bias,
            alpha=self.alpha, beta=self.beta)
        return tf.cast(outputs, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def count_flops(self, input_shape, output_shape):
        return 0

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, bias=self.bias, alpha=self.alpha, beta=self.beta)
        return config
