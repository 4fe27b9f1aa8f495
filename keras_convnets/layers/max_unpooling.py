"""Max pooling that remembers where the maxima were, and unpooling back to those positions.

Badrinarayanan, Kendall, Cipolla. "SegNet: A Deep Convolutional Encoder-Decoder Architecture
for Image Segmentation", 2015, arXiv:1511.00561, Sec. 3 and Fig. 3: each encoder's 2x2,
stride-2 max pooling stores the location of the maximum in each pooling window; the matching
decoder upsamples its input with those memorised indices, giving a sparse map (zeros elsewhere)
that the following convolutions densify.
(Zeiler and Fergus's "switches", arXiv:1311.2901, are the same idea.)

Positions come from ``tf.nn.max_pool_with_argmax`` as flat indices within one image,
``(y W + x) C + c`` (``include_batch_in_index=False``), so they do not depend on the batch; the
unpooling scatters each value back with one ``tf.scatter_nd``.

TFLite: unpooling converts to builtin ops (``SCATTER_ND`` and index arithmetic), but the
pooling does not -- TFLite has no builtin for ``MaxPoolWithArgmax`` (it exists only as a Flex /
Select TF op), so a model with :class:`MaxPoolingWithArgmax2D` does not convert with builtin ops
only and :func:`keras_convnets.optimize.tflite.convert` raises ``UnsupportedOpsError`` naming
the op and this layer.
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_choice
from .resize_conv import _pair

PADDINGS = ("valid", "same")


class _PoolingGeometry(keras.layers.Layer):
    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _pair("pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _pair("strides", strides)
        self.padding = check_choice("padding", padding, PADDINGS)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding)
        return config


@register_serializable
class MaxPoolingWithArgmax2D(_PoolingGeometry):
    """Max pooling returning ``[pooled, indices]``; ``indices`` (int32, the pooled shape) are
    the flat positions ``(y W + x) C + c`` of the maxima in each input image.

    Args:
        pool_size, strides, padding: as ``keras.layers.MaxPooling2D`` (SegNet: 2, 2, valid).
    """

    #: Ops this layer puts in a graph that TFLite has no builtin for, and why: read by
    #: keras_convnets.optimize.tflite to say which layer a conversion failed on.
    tflite_unsupported_ops = {
        "MaxPoolWithArgmax": "TFLite has no builtin max pooling that returns the argmax "
                             "positions (tf.nn.max_pool_with_argmax runs only as a Flex op)"}

    def call(self, inputs):
        pooled, indices = tf.nn.max_pool_with_argmax(
            inputs, ksize=self.pool_size, strides=self.strides, padding=self.padding.upper(),
            include_batch_in_index=False)
        return [pooled, tf.cast(indices, "int32")]

    def count_flops(self, input_shape, output_shape):
        return 0


@register_serializable
class MaxUnpooling2D(_PoolingGeometry):
    """Puts ``values`` back at the positions ``indices`` of a :class:`MaxPoolingWithArgmax2D`;
    every other position is zero.

    Called on ``[values, indices]`` or ``[values, indices, reference]``. The output size is
    that of ``reference`` (the tensor that was pooled; needed where "valid" pooling dropped a
    last row or column), else the size the pooling geometry implies: ``(h - 1) s + k`` for
    "valid", ``h s`` for "same". Give the same ``pool_size``, ``strides`` and ``padding`` as
    the pooling layer.

    Where windows overlap (``strides`` < ``pool_size``) two windows can pick the same input
    position; it then receives that value once (PyTorch's ``MaxUnpool2d`` writes it too, while
    a plain scatter-add would double it): the scattered sums are divided by how many windows
    chose the position.
    """

    def _output_size(self, values, reference):
        if reference is not None:
            static = reference.shape[1:3]
            dynamic = tf.shape(reference)[1:3]
            return [static[i] if static[i] is not None else dynamic[i] for i in range(2)]
        size, dynamic = [], tf.shape(values)[1:3]
        for i in range(2):
            extent = values.shape[1 + i] if values.shape[1 + i] is not None else dynamic[i]
            size.append(extent * self.strides[i] if self.padding == "same"
                        else (extent - 1) * self.strides[i] + self.pool_size[i])
        return size

    def _static_size(self, values_shape, reference_shape):
        if reference_shape is not None:
            return tuple(reference_shape[1:3])
        size = []
        for i in range(2):
            extent = values_shape[1 + i]
            size.append(None if extent is None else extent * self.strides[i]
                        if self.padding == "same"
                        else (extent - 1) * self.strides[i] + self.pool_size[i])
        return tuple(size)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError("MaxUnpooling2D is called on [values, indices] or "
                             "[values, indices, reference].")
        values, indices = inputs[0], tf.cast(inputs[1], "int32")
        reference = inputs[2] if len(inputs) == 3 else None
        rows, cols = self._output_size(values, reference)
        batch, channels = tf.shape(values)[0], values.shape[-1]
        per_image = rows * cols * channels
        # Flat positions in the whole batch: image b's indices move by b * (rows cols C).
        offsets = tf.reshape(tf.range(batch) * per_image, [-1, 1, 1, 1])
        flat = tf.reshape(indices + offsets, [-1, 1])
        total = tf.reshape(batch * per_image, [1])
        scattered = tf.scatter_nd(flat, tf.reshape(values, [-1]), total)
        if self.strides[0] < self.pool_size[0] or self.strides[1] < self.pool_size[1]:
            counts = tf.scatter_nd(flat, tf.ones_like(tf.reshape(values, [-1])), total)
            scattered = scattered / tf.maximum(counts, 1)
        return tf.reshape(scattered, tf.stack([batch, rows, cols, channels]))

    def compute_output_shape(self, input_shape):
        values_shape = tuple(input_shape[0])
        reference_shape = tuple(input_shape[2]) if len(input_shape) == 3 else None
        return (values_shape[0],) + self._static_size(values_shape, reference_shape) + (
            values_shape[-1],)

    def count_flops(self, input_shape, output_shape):
        return 0
