"""Channel shuffle (ShuffleNet) -- the permutation between two grouped convolutions.

Zhang, Zhou, Lin, Sun. "ShuffleNet: An Extremely Efficient Convolutional Neural Network for
Mobile Devices", 2017, arXiv:1707.01083, Sec. 3.1 and Fig. 1: "suppose a convolutional layer
with g groups whose output has g x n channels; we first reshape the output channel dimension
into (g, n), transposing and then flattening it back as the input of next layer".

The same permutation is IGCNet's "permutation" between its primary and secondary group
convolutions (Zhang et al. 2017, arXiv:1707.02725, the authors' ``Reorder`` operator) and
clcNet's channel interlacing (arXiv:1712.06145, the authors' ``ChannelInterlace``).
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_groups, check_positive_int


def shuffle_permutation(channels, groups):
    """The channel index each output channel takes: ``out[..., i] = in[..., perm[i]]``.

    Output channel ``k * groups + j`` is input channel ``j * (channels // groups) + k``: the
    k-th channel of every group, group after group.
    """
    per_group = channels // groups
    return [j * per_group + k for k in range(per_group) for j in range(groups)]


@register_serializable
class ChannelShuffle(keras.layers.Layer):
    """Interleaves ``groups`` contiguous channel groups (reshape -> transpose -> reshape).

    For channels ``[a0 a1 | b0 b1 | c0 c1]`` and ``groups=3`` the output is
    ``[a0 b0 c0 a1 b1 c1]``. The layer has no weights and costs no FLOPs; it computes with
    ``tf.reshape`` and ``tf.transpose`` on a 3-D view, which TFLite runs with builtin ops.
    """

    def __init__(self, groups, **kwargs):
        super().__init__(**kwargs)
        self.groups = check_positive_int("groups", groups)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel dimension of the input must be known.")
        check_groups("groups", self.groups, int(channels), "input channels")
        super().build(input_shape)

    def call(self, inputs):
        channels = int(inputs.shape[-1])
        grouped = tf.reshape(inputs, [-1, self.groups, channels // self.groups])
        shuffled = tf.transpose(grouped, [0, 2, 1])
        return tf.reshape(shuffled, tf.shape(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def count_flops(self, input_shape, output_shape):
        return 0

    def get_config(self):
        config = super().get_config()
        config.update(groups=self.groups)
        return config
