"""Splitting a feature map into channel groups (Res2Net's scales, ShuffleNet v2's split, Dual
Path Networks' residual and dense parts)."""

from ..backend import keras, register_serializable, tf
from ..utils import check_groups, check_positive_int


@register_serializable
class ChannelSplit(keras.layers.Layer):
    """Splits the last axis into contiguous groups; returns a list.

    ``parts``: the number of equal groups, or a list of group sizes (which must add up to the
    input's channels, e.g. ``[256, 80]``).
    """

    def __init__(self, parts, **kwargs):
        super().__init__(**kwargs)
        if isinstance(parts, (list, tuple)):
            if not parts:
                raise ValueError("`parts` must be a positive integer or a non-empty list of "
                                 "positive channel counts; got [].")
            self.parts = [check_positive_int("parts", p) for p in parts]
        else:
            self.parts = check_positive_int("parts", parts)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if isinstance(self.parts, list):
            if sum(self.parts) != channels:
                raise ValueError(f"`parts` {self.parts} must add up to the input channels, "
                                 f"{channels}; they add up to {sum(self.parts)}.")
        else:
            check_groups("parts", self.parts, channels, "input channels")
        super().build(input_shape)

    def call(self, inputs):
        return tf.split(inputs, self.parts, axis=-1)

    def compute_output_shape(self, input_shape):
        if isinstance(self.parts, list):
            return [(*input_shape[:-1], size) for size in self.parts]
        channels = None if input_shape[-1] is None else input_shape[-1] // self.parts
        return [(*input_shape[:-1], channels) for _ in range(self.parts)]

    def get_config(self):
        config = super().get_config()
        config.update(parts=self.parts)
        return config
