"""The context module of the Dilated-8 network: multi-scale context by dilated convolutions.

Yu, Koltun. "Multi-Scale Context Aggregation by Dilated Convolutions", ICLR 2016,
arXiv:1511.07122, Section 3 and Table 1. The module takes ``C`` feature maps (the class scores of
a dense-prediction front end: ``C`` is the number of classes) and returns ``C`` maps of the same
size, each position now seeing a 67x67 window of the input:

============  ===  ===  ===  ====  ====  ====  ====  ====
Layer          1    2    3    4     5     6     7     8
============  ===  ===  ===  ====  ====  ====  ====  ====
Convolution   3x3  3x3  3x3  3x3   3x3   3x3   3x3   1x1
Dilation       1    1    2    4     8     16    1     1
Truncation    yes  yes  yes  yes   yes   yes   yes   no
Receptive f.   3    5    9    17    33    65    67    67
Basic          C    C    C    C     C     C     C     C
Large          2C   2C   4C   8C    16C   32C   32C   C
============  ===  ===  ===  ====  ====  ====  ====  ====

"Truncation" is the ReLU ``max(., 0)`` after every layer but the last. Every convolution is
zero-padded to keep the size (``pad = dilation`` in the authors' Caffe definition), so the module
drops into any network; ``padding="valid"`` gives the paper's "no padding" view instead (66
pixels lost on each axis), with which the receptive field can be read off an impulse response.

Initialisation (Section 3). Random initialisation "was not effective"; the basic module starts
as the identity, eq. (4): ``k^b(t, a) = 1[t=0] 1[a=b]`` (``t`` the kernel tap, 0 its centre;
``a`` the input and ``b`` the output map), so each layer passes its input on. For the large
module, whose consecutive layers have ``c_i`` and ``c_{i+1}`` maps, eq. (5):
``k^b(t, a) = C / c_{i+1}`` if ``t = 0`` and ``floor(a C / c_i) = floor(b C / c_{i+1})``, and
``eps ~ N(0, sigma^2)`` otherwise, with ``sigma << C / c_{i+1}`` (the noise breaks
ties among feature maps with a common predecessor). After layer ``i`` each of the ``c_i / C``
maps descending from input map ``g`` holds ``x_g C / c_i`` (the paper's scaling), and the last
layer sums them back to ``x_g``: with ``sigma = 0`` the large module is the identity too. Here
``sigma = noise * C / c_{i+1}``; ``noise`` defaults to 0.001 (the paper gives no value). Biases
start at zero. With the truncations the initial module computes ``relu(x)``, which is ``x`` for
non-negative input.

Parameters: the paper counts ``64 C^2`` for the basic module (7 x 9 C^2 + C^2); with the biases
of the authors' definition (``use_bias=True``, the default) there are ``8 C`` more.
"""

import numpy as np

from ..backend import keras, register_serializable, tf
from ..utils import check_bool, check_choice

VARIANTS = ("basic", "large")
PADDINGS = ("same", "valid")
#: Table 1, layers 1-8.
KERNEL_SIZES = (3, 3, 3, 3, 3, 3, 3, 1)
DILATIONS = (1, 1, 2, 4, 8, 16, 1, 1)
#: Output channels of layers 1-8 in units of C.
WIDTHS = {"basic": (1, 1, 1, 1, 1, 1, 1, 1), "large": (2, 2, 4, 8, 16, 32, 32, 1)}
#: The last layer has no truncation (ReLU).
TRUNCATION = (True,) * 7 + (False,)


def receptive_fields(kernel_sizes, dilations):
    """Receptive field (in input pixels, per axis) after each layer of a stride-1 stack:
    ``r_i = r_{i-1} + (k_i - 1) d_i`` from ``r_0 = 1``."""
    fields, field = [], 1
    for size, dilation in zip(kernel_sizes, dilations):
        field += (size - 1) * dilation
        fields.append(field)
    return tuple(fields)


def identity_kernel(size, in_channels, out_channels, classes):
    """Eq. (5) without the noise, a ``(size, size, in, out)`` array: ``classes / out`` at the
    centre tap where ``floor(a classes / in) == floor(b classes / out)``, else 0. With
    ``in == out == classes`` this is eq. (4), the identity."""
    inputs = np.arange(in_channels)[:, None] * classes // in_channels
    outputs = np.arange(out_channels)[None, :] * classes // out_channels
    kernel = np.zeros((size, size, in_channels, out_channels), "float64")
    kernel[size // 2, size // 2] = np.where(inputs == outputs, classes / out_channels, 0.0)
    return kernel


def _check_noise(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"`noise` must be a number in [0, 1) (the noise's standard deviation "
                         f"relative to C / c_(i+1)); got {value!r}.")
    return float(value)


def _check_seed(seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"`seed` must be None or an integer; got {seed!r}.")
    return seed


class _IdentityInitializer:
    """Eq. (4)/(5) for one layer: the scaled identity at the centre tap, ``N(0, sigma^2)``
    noise elsewhere (none where ``sigma`` is 0). A callable, not a saved object: the layer's
    weights are saved, never its initializer."""

    def __init__(self, classes, stddev, seed):
        self.classes, self.stddev, self.seed = classes, stddev, seed

    def __call__(self, shape, dtype=None, **kwargs):
        size, _, in_channels, out_channels = (int(d) for d in shape)
        dtype = tf.as_dtype(dtype or "float32")
        identity = tf.constant(
            identity_kernel(size, in_channels, out_channels, self.classes), dtype)
        if not self.stddev:
            return identity
        if self.seed is None:
            noise = tf.random.normal(shape, stddev=self.stddev, dtype=dtype)
        else:
            noise = tf.random.stateless_normal(shape, seed=self.seed, stddev=self.stddev,
                                               dtype=dtype)
        return tf.where(tf.equal(identity, 0.0), noise, identity)


@register_serializable
class ContextModule(keras.layers.Layer):
    """The Dilated-8 context module (Table 1), basic or large, identity-initialised.

    Input: ``(batch, H, W, C)`` with ``C`` known; output: ``(batch, H, W, C)`` (``padding="same"``,
    the default) or ``(batch, H - 66, W - 66, C)`` (``"valid"``).

    Args:
        variant: ``"basic"`` (C maps in every layer) or ``"large"`` (2C, 2C, 4C, 8C, 16C, 32C,
            32C, C).
        use_bias: biases on the eight convolutions (the authors' Caffe definition has them; the
            paper's ``64 C^2`` counts the kernels alone).
        padding: ``"same"`` (zero padding by the dilation, size kept) or ``"valid"``.
        noise: the large module's tie-breaking noise ``sigma`` in units of ``C / c_(i+1)``
            (eq. 5); the basic module's eq. (4) has none.
        seed: seed of that noise (with ``None`` it follows TensorFlow's global seed).

    ``receptive_fields`` gives Table 1's column, computed from the kernel sizes and dilations
    (from the built kernels once built); :meth:`layer_outputs` returns every layer's output.
    """

    def __init__(self, variant="basic", use_bias=True, padding="same", noise=0.001, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.variant = check_choice("variant", variant, VARIANTS)
        self.use_bias = check_bool("use_bias", use_bias)
        self.padding = check_choice("padding", padding, PADDINGS)
        self.noise = _check_noise(noise)
        self.seed = _check_seed(seed)
        self.kernel_sizes = KERNEL_SIZES
        self.dilations = DILATIONS
        self.kernels, self.biases = [], []
        self.classes = None

    # -- structure ------------------------------------------------------------------------
    def widths(self, classes):
        """Output channels of layers 1-8 for an input of ``classes`` maps."""
        return tuple(classes * w for w in WIDTHS[self.variant])

    @property
    def receptive_fields(self):
        """Receptive field of layers 1-8 (pixels per axis): (3, 5, 9, 17, 33, 65, 67, 67)."""
        sizes = ([int(k.shape[0]) for k in self.kernels] if self.kernels
                 else list(self.kernel_sizes))
        return receptive_fields(sizes, self.dilations)

    @property
    def margin(self):
        """Pixels lost per axis with ``padding="valid"``: the receptive field minus one."""
        return self.receptive_fields[-1] - 1

    def build(self, input_shape):
        classes = input_shape[-1]
        if classes is None:
            raise ValueError(f"{self.name}: the channel dimension C of the input must be known.")
        self.classes = int(classes)
        in_channels = self.classes
        self.kernels, self.biases = [], []
        for index, (size, out_channels) in enumerate(
                zip(self.kernel_sizes, self.widths(self.classes)), start=1):
            stddev = 0.0 if self.variant == "basic" else (
                self.noise * self.classes / out_channels)
            seed = None if self.seed is None else (self.seed, index)
            self.kernels.append(self.add_weight(
                name=f"kernel_{index}", shape=(size, size, in_channels, out_channels),
                initializer=_IdentityInitializer(self.classes, stddev, seed)))
            if self.use_bias:
                self.biases.append(self.add_weight(
                    name=f"bias_{index}", shape=(out_channels,), initializer="zeros"))
            in_channels = out_channels
        super().build(input_shape)

    # -- computation ----------------------------------------------------------------------
    def layer_outputs(self, inputs):
        """The outputs of layers 1-8 (after their truncation), the last being the module's."""
        if not self.built:
            self.build(tuple(inputs.shape))
        outputs, x = [], inputs
        for index, (kernel, dilation) in enumerate(zip(self.kernels, self.dilations)):
            # tf.nn.convolution, not conv2d: TensorFlow's own CPU kernels (no oneDNN) have no
            # dilated Conv2D gradients; convolution runs them through space_to_batch there
            x = tf.nn.convolution(x, tf.cast(kernel, x.dtype), padding=self.padding.upper(),
                                  dilations=dilation)
            if self.use_bias:
                x = x + tf.cast(self.biases[index], x.dtype)
            if TRUNCATION[index]:
                x = tf.nn.relu(x)
            outputs.append(x)
        return outputs

    def call(self, inputs):
        return self.layer_outputs(inputs)[-1]

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = tuple(input_shape)
        if self.padding == "valid":
            height = None if height is None else height - self.margin
            width = None if width is None else width - self.margin
        return (batch, height, width, channels)

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds of the eight convolutions (biases not counted)."""
        classes = int(input_shape[-1])
        height, width = int(input_shape[1]), int(input_shape[2])
        flops, in_channels = 0, classes
        for size, dilation, out_channels in zip(self.kernel_sizes, self.dilations,
                                                self.widths(classes)):
            if self.padding == "valid":
                height, width = height - (size - 1) * dilation, width - (size - 1) * dilation
            flops += 2 * size * size * in_channels * out_channels * height * width
            in_channels = out_channels
        return flops

    def get_config(self):
        config = super().get_config()
        config.update(variant=self.variant, use_bias=self.use_bias, padding=self.padding,
                      noise=self.noise, seed=self.seed)
        return config


__all__ = ["ContextModule", "receptive_fields", "identity_kernel",
           "VARIANTS", "KERNEL_SIZES", "DILATIONS", "WIDTHS"]
