"""The shift operation: a zero-FLOP, zero-parameter alternative to spatial convolution.

Wu, Wan, Yue, Jin, Zhao, Golmant, Gholaminejad, Gonzalez, Keutzer. "Shift: A Zero FLOP, Zero
Parameter Alternative to Spatial Convolutions", 2017, arXiv:1711.08141, Sec. 3: the input
channels are divided into ``k**2`` groups and each group is translated by one of the
``k x k`` displacements ``(dy, dx)`` in ``{-(k//2), ..., k//2}**2`` (times the dilation),
filling the uncovered border with zeros:

    out[n, y, x, c] = in[n, y + dy(c), x + dx(c), c]

which is a depthwise convolution whose ``k x k`` kernel is one-hot. Shift has no weights and
costs no multiply-adds; the 1x1 convolutions around it ("conv-shift-conv") mix the channels.
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_choice, check_positive_int

LAYOUTS = ("grouped", "interleaved")


def shift_directions(channels, kernel_size=3, layout="grouped"):
    """The displacement index ``d`` (``dy, dx = divmod(d, k) - k // 2``) of every channel.

    ``"grouped"`` (the paper): channels come in ``k**2`` contiguous groups of
    ``q = channels // k**2``, group ``d`` moving by direction ``d``. ``"interleaved"`` (the
    authors' CUDA kernel, ``moduloshift``): channel ``c`` moves by direction ``c % k**2``. In
    both, the ``channels % k**2`` channels after the first ``k**2 * q`` stay in place (the
    centre direction).
    """
    k2 = kernel_size * kernel_size
    q = channels // k2
    centre = k2 // 2
    if layout == "grouped":
        return [c // q if c < k2 * q else centre for c in range(channels)]
    return [c % k2 if c < k2 * q else centre for c in range(channels)]


@register_serializable
class Shift(keras.layers.Layer):
    """Translates channel groups in the ``kernel_size**2`` directions, zero-filled (NHWC).

    Args:
        kernel_size: odd size ``k`` of the equivalent kernel (3 in the paper's ShiftResNets).
        dilation_rate: displacement step (the authors' ``dilate_factor``).
        layout: ``"grouped"`` (contiguous channel groups, as the paper describes) or
            ``"interleaved"`` (channel ``c`` takes direction ``c % k**2``, as the authors'
            CUDA kernel does). The two differ by a fixed channel permutation, which the 1x1
            convolutions around the shift absorb.

    The input needs at least ``k**2`` channels. ``count_flops`` is 0.
    """

    def __init__(self, kernel_size=3, dilation_rate=1, layout="grouped", **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be odd; got {kernel_size}.")
        self.dilation_rate = check_positive_int("dilation_rate", dilation_rate)
        self.layout = check_choice("layout", layout, LAYOUTS)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel dimension of the input must be known.")
        k2 = self.kernel_size ** 2
        if int(channels) < k2:
            raise ValueError(
                f"Shift with `kernel_size`={self.kernel_size} needs at least {k2} input "
                f"channels (one group per direction); got {int(channels)}.")
        super().build(input_shape)

    def _displacement(self, direction):
        k = self.kernel_size
        dy, dx = divmod(direction, k)
        return (dy - k // 2) * self.dilation_rate, (dx - k // 2) * self.dilation_rate

    def call(self, inputs):
        channels = int(inputs.shape[-1])
        k2 = self.kernel_size ** 2
        q = channels // k2
        pad = (self.kernel_size // 2) * self.dilation_rate
        padded = tf.pad(inputs, [[0, 0], [pad, pad], [pad, pad], [0, 0]])

        def window(tensor, direction):
            # The (H, W) window of the padded map displaced by the direction: static slice
            # bounds (negative ends), so unknown spatial sizes work too.
            dy, dx = self._displacement(direction)
            return tensor[:, pad + dy:(dy - pad) or None, pad + dx:(dx - pad) or None, :]

        if self.layout == "grouped":
            parts = [window(padded[..., d * q:(d + 1) * q], d) for d in range(k2)]
        else:
            moved = [window(padded[..., d:k2 * q:k2], d) for d in range(k2)]
            # (..., q, k2) -> channel j * k2 + d, the interleaved order.
            parts = [tf.reshape(tf.stack(moved, axis=-1),
                                tf.concat([tf.shape(inputs)[:-1], [k2 * q]], 0))]
        if k2 * q < channels:
            parts.append(inputs[..., k2 * q:])
        return tf.concat(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def count_flops(self, input_shape, output_shape):
        """Zero: a shift only moves data."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size, dilation_rate=self.dilation_rate,
                      layout=self.layout)
        return config
