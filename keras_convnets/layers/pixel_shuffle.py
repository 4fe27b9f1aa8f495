"""Sub-pixel convolution's periodic shuffle (``PixelShuffle``) and its ICNR initialiser.

Shi, Caballero, Huszar, Totz, Aitken, Bishop, Rueckert, Wang. "Real-Time Single Image and Video
Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network", CVPR 2016,
arXiv:1609.05158, Eq. (4): a convolution with ``C r**2`` output channels at low resolution,
then the periodic shuffle

    PS(T)[x, y, c] = T[floor(x / r), floor(y / r), C r mod(y, r) + C mod(x, r) + c]

(``y`` the row, ``x`` the column): output pixel ``(r h + i, r w + j)`` takes channel
``(i r + j) C + c`` of input pixel ``(h, w)``. That is exactly ``tf.nn.depth_to_space`` in NHWC
(the "DCR" order: depth, then column, then row) and TFLite's ``DEPTH_TO_SPACE``.

PyTorch's ``nn.PixelShuffle`` (NCHW) reads channel ``c r**2 + i r + j`` instead ("CRD"); a
sub-pixel layer ported from PyTorch keeps its weights with ``channel_order="CRD"``, which
gathers the channels into DCR order first (one TFLite ``GATHER``).

ICNR: Aitken, Ledig, Theis, Caballero, Wang, Shi. "Checkerboard artifact free sub-pixel
convolution", 2017, arXiv:1707.02937, Sec. 3: initialise the ``C r**2``-channel kernel so that
the ``r**2`` sub-kernels feeding one output channel are equal; sub-pixel convolution then
starts as nearest-neighbour resize followed by convolution (no checkerboard at initialisation).
"""

import numpy as np

from ..backend import keras, register_serializable, tf
from ..utils import check_choice, check_positive_int

CHANNEL_ORDERS = ("DCR", "CRD")


def crd_to_dcr(channels, factor):
    """The gather that turns CRD-ordered channels into DCR order: ``dcr = crd[..., perm]``."""
    depth = channels // (factor * factor)
    # DCR channel (i r + j) C + c holds CRD channel c r**2 + i r + j.
    offsets, colours = np.divmod(np.arange(channels), depth)
    return (colours * factor * factor + offsets).tolist()


@register_serializable
class PixelShuffle(keras.layers.Layer):
    """Rearranges ``(H, W, C r**2)`` into ``(r H, r W, C)`` by the periodic shuffle.

    Args:
        upscale_factor: ``r``.
        channel_order: ``"DCR"`` (the paper's Eq. 4, ``tf.nn.depth_to_space``) or ``"CRD"``
            (PyTorch's ``nn.PixelShuffle``).
    """

    def __init__(self, upscale_factor=2, channel_order="DCR", **kwargs):
        super().__init__(**kwargs)
        self.upscale_factor = check_positive_int("upscale_factor", upscale_factor)
        self.channel_order = check_choice("channel_order", channel_order, CHANNEL_ORDERS)

    def build(self, input_shape):
        channels, r2 = input_shape[-1], self.upscale_factor ** 2
        if channels is None or int(channels) % r2:
            raise ValueError(
                f"PixelShuffle with `upscale_factor`={self.upscale_factor} needs input channels "
                f"divisible by {r2}; got {channels}.")
        super().build(input_shape)

    def call(self, inputs):
        if self.channel_order == "CRD" and self.upscale_factor > 1:
            inputs = tf.gather(inputs, crd_to_dcr(int(inputs.shape[-1]), self.upscale_factor),
                               axis=-1)
        return tf.nn.depth_to_space(inputs, self.upscale_factor)

    def compute_output_shape(self, input_shape):
        r = self.upscale_factor
        return (input_shape[0], *(None if d is None else d * r for d in input_shape[1:3]),
                input_shape[3] // (r * r))

    def count_flops(self, input_shape, output_shape):
        return 0

    def get_config(self):
        config = super().get_config()
        config.update(upscale_factor=self.upscale_factor, channel_order=self.channel_order)
        return config


@register_serializable
class ICNR(keras.initializers.Initializer):
    """Initialiser of the convolution before a ``PixelShuffle(upscale_factor)``: one kernel
    drawn from ``initializer`` per output colour, copied to its ``r**2`` sub-pixel channels
    (laid out for ``channel_order``)."""

    def __init__(self, upscale_factor=2, initializer="he_normal", channel_order="DCR"):
        self.upscale_factor = check_positive_int("upscale_factor", upscale_factor)
        self.initializer = keras.initializers.get(initializer)
        self.channel_order = check_choice("channel_order", channel_order, CHANNEL_ORDERS)

    def __call__(self, shape, dtype=None, **kwargs):
        shape = tuple(int(d) for d in shape)
        r2 = self.upscale_factor ** 2
        if shape[-1] % r2:
            raise ValueError(f"ICNR with `upscale_factor`={self.upscale_factor} needs a kernel "
                             f"whose output channels are divisible by {r2}; got shape {shape}.")
        sub = self.initializer(shape[:-1] + (shape[-1] // r2,), dtype=dtype)
        if self.channel_order == "DCR":  # channel (i r + j) C + c copies colour c
            return tf.tile(sub, [1] * (len(shape) - 1) + [r2])
        return tf.repeat(sub, r2, axis=-1)  # CRD: channel c r**2 + i r + j copies colour c

    def get_config(self):
        return {"upscale_factor": self.upscale_factor, "channel_order": self.channel_order,
                "initializer": keras.initializers.serialize(self.initializer)}
