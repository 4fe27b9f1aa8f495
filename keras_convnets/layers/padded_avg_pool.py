"""Average pooling with an explicit padding rule and an explicit rule for counting it.

Keras' ``AveragePooling2D(padding="same")`` is TensorFlow's: the padding goes mostly to the
bottom/right and is left out of each window's mean. Two other conventions meet in the
architecture-search models:

- PyTorch's ``AvgPool2d(3, 2, padding=1, count_include_pad=False)`` (DARTS' reduction cells):
  one pixel on every side, left out of the mean -- the windows sit one pixel further up/left
  than Keras' at stride 2 on even sizes.
- timm's ``AvgPool2dSame`` (NASNet-A Large's stride-2 poolings): TensorFlow's "same" padding
  amounts, but the padded zeros *count* in the mean.

``padding`` is an integer (that many pixels on every side) or ``"same"`` (TensorFlow's amounts,
computed from the input's size, static or dynamic); ``count_include_pad`` says whether the zeros
count. Built from builtin operations only (pad, average pooling, a division), so TFLite converts
it without Select ops.
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_bool, check_positive_int
from .padded_max_pool import padded_pool_output_shape


def _same_pads(length, pool_size, strides):
    """TensorFlow's "same" padding (before, after) of one axis of ``length`` (int or tensor)."""
    if isinstance(length, int):
        total = max((-(-length // strides) - 1) * strides + pool_size - length, 0)
        return total // 2, total - total // 2
    out = (length + strides - 1) // strides
    total = tf.maximum((out - 1) * strides + pool_size - length, 0)
    return total // 2, total - total // 2


@register_serializable
class PaddedAveragePooling2D(keras.layers.Layer):
    """``pool_size`` x ``pool_size`` average pooling of an NHWC map with ``padding`` (an integer
    for every side, or ``"same"``) and the padded zeros counted in the mean or not."""

    def __init__(self, pool_size=3, strides=2, padding=1, count_include_pad=False, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = check_positive_int("pool_size", pool_size)
        self.strides = check_positive_int("strides", strides)
        if padding != "same":
            if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
                raise ValueError(f"`padding` must be 'same' or a non-negative integer; got "
                                 f"{padding!r}.")
            if 2 * padding > self.pool_size:
                raise ValueError(f"`padding`={padding} must be at most half of "
                                 f"`pool_size`={pool_size}.")
        self.padding = padding
        self.count_include_pad = check_bool("count_include_pad", count_include_pad)

    def _pads(self, inputs):
        if self.padding != "same":
            p = self.padding
            return [[0, 0], [p, p], [p, p], [0, 0]]
        dynamic = tf.shape(inputs)
        pads = [[0, 0]]
        for axis in (1, 2):
            length = inputs.shape[axis]
            length = int(length) if length is not None else dynamic[axis]
            pads.append(list(_same_pads(length, self.pool_size, self.strides)))
        return pads + [[0, 0]]

    def call(self, inputs):
        pads = self._pads(inputs)
        size, strides = self.pool_size, self.strides
        pooled = tf.nn.avg_pool2d(tf.pad(inputs, pads), size, strides, "VALID")
        if self.count_include_pad:
            return pooled
        ones = tf.pad(tf.ones_like(inputs[..., :1]), pads)
        return pooled / tf.nn.avg_pool2d(ones, size, strides, "VALID")

    def compute_output_shape(self, input_shape):
        return padded_pool_output_shape(input_shape, self.pool_size, self.strides, self.padding)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding,
                      count_include_pad=self.count_include_pad)
        return config
