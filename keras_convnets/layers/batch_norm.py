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
