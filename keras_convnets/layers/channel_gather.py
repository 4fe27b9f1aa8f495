"""Channel gather: the index layer of a deployed CondenseNet.

Huang, Liu, van der Maaten, Weinberger. "CondenseNet: An Efficient DenseNet using Learned
Group Convolutions", 2017, arXiv:1711.09224, Sec. 3.1 and Fig. 1 (right): at test time the
input channels each group of a condensed learned group convolution kept are gathered ("Index")
into one contiguous map, group after group, so that a standard group convolution follows. A
channel may appear several times (two groups kept it) and some not at all.
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_positive_int


@register_serializable
class ChannelGather(keras.layers.Layer):
    """``outputs[..., i] = inputs[..., index[i]]`` with a non-trainable int32 ``index`` of
    ``channels`` entries (the weight the conversion or a ported reference fills; until then
    ``i % input channels``). Costs no FLOPs; a builtin ``GATHER`` op in TFLite."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = check_positive_int("channels", channels)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        if in_channels is None:
            raise ValueError(f"{self.name}: the channel dimension of the input must be known.")
        in_channels = int(in_channels)

        def cyclic(shape, dtype=None, **_):
            return tf.cast(tf.range(shape[0]) % in_channels, dtype or "int32")

        self.index = self.add_weight(name="index", shape=(self.channels,), dtype="int32",
                                     initializer=cyclic, trainable=False)
        self.built = True

    def call(self, inputs):
        return tf.gather(inputs, tf.convert_to_tensor(self.index), axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.channels,)

    def count_flops(self, input_shape, output_shape):
        return 0

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels)
        return config
