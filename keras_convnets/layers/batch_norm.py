"""Batch normalisation (Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network
Training by Reducing Internal Covariate Shift", 2015, arXiv:1502.03167) on TensorFlow's fused
kernel.

Keras 3's ``BatchNormalization`` computes the moments and the normalisation with separate
elementwise ops (several passes over the feature map, and as many more in the gradient).
TensorFlow's ``FusedBatchNormV3`` does the forward pass and its gradient in one kernel each;
on the 2-core CPU of BENCHMARKS.md that made a MobileNet v1 or Xception training step 8-9%
faster at the same results. Legacy ``tf_keras`` fuses by itself, so the builders use this
class under Keras 3 only (see :func:`keras_convnets.layers.normalization`).
"""

from ..backend import USE_LEGACY_KERAS, keras, register_serializable, tf

_LOW_PRECISION = (tf.float16, tf.bfloat16)
#: the input types FusedBatchNormV3 takes (low precision computes in float32, as Keras does)
_FUSABLE_DTYPES = (tf.float32, *_LOW_PRECISION)


@register_serializable
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with the same arguments, weights, moving-statistic
    updates and outputs (to float32 rounding), computed with ``FusedBatchNormV3`` whenever the
    layer normalises the channels of a 4-D NHWC map with both ``center`` and ``scale``; other
    configurations (float64, renorm, synchronised statistics, masks, another axis) run
    Keras' own code.

    Moving variance follows Keras 3: the biased batch variance (the fused kernel returns the
    Bessel-corrected one, which is scaled back).
    """

    def _fusable(self, inputs, mask):
        rank = len(inputs.shape)
        return (not USE_LEGACY_KERAS and mask is None and rank == 4
                and tf.as_dtype(inputs.dtype) in _FUSABLE_DTYPES
                and self.axis in (-1, rank - 1) and self.center and self.scale
                and not self.synchronized and not getattr(self, "renorm", False))

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, tf.float32) if inputs.dtype in _LOW_PRECISION else inputs
        gamma, beta = tf.cast(self.gamma, x.dtype), tf.cast(self.beta, x.dtype)
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=self.epsilon, is_training=True)
            count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), variance.dtype)
            variance = variance * tf.maximum(count - 1.0, 0.0) / count
            momentum = self.momentum
            self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
            self.moving_variance.assign(
                self.moving_variance * momentum + variance * (1.0 - momentum))
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, mean=tf.cast(self.moving_mean, x.dtype),
                variance=tf.cast(self.moving_variance, x.dtype), epsilon=self.epsilon,
                is_training=False)
        return tf.cast(y, self.compute_dtype)



class BatchNormalization(FusedBatchNormalization):
    """The fused layer as the builders create it: a ``.keras`` file records it as Keras' own
    ``BatchNormalization`` (same name, config and weights), so a model whose other layers are
    all Keras' loads where this package was never imported. Loaded back it is Keras' layer
    (same outputs, the unfused kernel). Files saved before this class existed name
    ``FusedBatchNormalization`` and still load (into that class)."""


def _serialize_as_keras_batch_normalization():
    """Makes Keras' serializer write :class:`BatchNormalization` under the public name of its
    Keras parent (the table Keras consults for ``keras.*`` symbols; weights are stored under
    the class's snake-case name, ``batch_normalization``, which is why the class has that
    name). Skipped where a Keras version lacks the table: files then name this class, which
    needs ``import keras_convnets`` to load (tests/test_batch_norm.py checks what is saved)."""
    try:
        from keras.src import api_export
    except ImportError:
        return
    api_export.REGISTERED_OBJS_TO_NAMES.setdefault(
        BatchNormalization, "keras.layers.BatchNormalization")


if not USE_LEGACY_KERAS:
    _serialize_as_keras_batch_normalization()
