"""Splitting a feature map into equal channel groups (Res2Net's scales, ShuffleNet v2's split)."""

from ..backend import keras, register_serializable, tf
from ..utils import check_groups, check_positive_int


@register_serializable
class ChannelSplit(keras.layers.Layer):
    """Splits the last axis into ``parts`` equal, contiguous groups; returns a list."""

    def __init__(self, parts, **kwargs):
        super().__init__(**kwargs)
        self.parts = check_positive_int("parts", parts)

    def build(self, input_shape):
        check_groups("parts", self.parts, int(input_shape[-1]), "input channels")
        super().build(input_shape)

    def call(self, inputs):
        return tf.split(inputs, self.parts, axis=-1)

    def compute_output_shape(self, input_shape):
        channels = None if input_shape[-1] is None else input_shape[-1] // self.parts
        return [(*input_shape[:-1], channels) for _ in range(self.parts)]

    def get_config(self):
        config = super().get_config()
        config.update(parts=self.parts)
        return config
