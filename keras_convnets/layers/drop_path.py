"""Stochastic depth ("drop path").

Huang, Sun, Liu, Sedra, Weinberger. "Deep Networks with Stochastic Depth", ECCV 2016,
arXiv:1603.09382; the per-sample form used by FractalNet (arXiv:1605.07648) and timm.
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_rate


@register_serializable
class DropPath(keras.layers.Layer):
    """Drops a whole residual branch per sample with probability ``rate`` while training.

    Kept samples are scaled by ``1 / (1 - rate)`` so the expectation is unchanged; at inference
    the layer is the identity.
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        self.seed = seed

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        mask_shape = tf.concat([tf.shape(inputs)[:1], tf.ones([tf.rank(inputs) - 1], tf.int32)], 0)
        noise = tf.random.uniform(mask_shape, dtype=inputs.dtype, seed=self.seed)
        mask = tf.floor(keep + noise)
        return inputs * (mask / keep)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
