"""Max pooling padded like PyTorch's ``MaxPool2d(padding=p)``.

Keras' ``padding="same"`` pads a stride-2 pooling only at the bottom/right (for even sizes),
which shifts every window by one pixel relative to PyTorch; ``ZeroPadding2D`` before a "valid"
pooling is exact only on non-negative maps. This layer pads symmetrically with the lowest
finite value of the dtype, so a padded position never wins a window -- as in PyTorch -- and
ported weights (Xception's max-pooled residual blocks, whose maps are signed) give identical
outputs.
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_positive_int


def padded_pool_output_shape(input_shape, pool_size, strides, padding):
    """The NHWC output shape of a ``pool_size`` pooling at ``strides`` with ``padding`` pixels on
    every side, or TensorFlow's amounts where ``padding`` is ``"same"`` (unknown sizes stay
    ``None``); shared by :class:`PaddedMaxPool2D` and ``PaddedAveragePooling2D``."""
    def length(size):
        if size is None:
            return None
        if padding == "same":
            return -(-size // strides)
        return (size + 2 * padding - pool_size) // strides + 1

    batch, height, width, channels = input_shape
    return (batch, length(height), length(width), channels)


@register_serializable
class PaddedMaxPool2D(keras.layers.Layer):
    """``pool_size`` x ``pool_size`` max pooling with ``padding`` pixels on every side (NHWC)."""

    def __init__(self, pool_size=3, strides=2, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = check_positive_int("pool_size", pool_size)
        self.strides = check_positive_int("strides", strides)
        self.padding = check_positive_int("padding", padding, minimum=0)
        if 2 * self.padding > self.pool_size:  # PyTorch's rule: a window never sees only padding
            raise ValueError(
                f"`padding`={padding} must be at most half of `pool_size`={pool_size}.")

    def call(self, inputs):
        if self.padding:
            p = self.padding
            inputs = tf.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]],
                            constant_values=inputs.dtype.min)
        return tf.nn.max_pool2d(inputs, self.pool_size, self.strides, "VALID")

    def compute_output_shape(self, input_shape):
        return padded_pool_output_shape(input_shape, self.pool_size, self.strides, self.padding)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding)
        return config
