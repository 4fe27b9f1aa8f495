"""Bilinear initialisation of a transposed convolution ("deconvolution"), as FCN does.

Long, Shelhamer, Darrell. "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015,
arXiv:1411.4038, Sec. 3.3: upsampling by a factor f is a convolution with fractional input
stride 1/f, i.e. a backwards (transposed) convolution with output stride f; Sec. 4.2: the 2x
upsampling is initialised to bilinear interpolation and then learnt. The authors' Caffe ``surgery.interp`` /
``upsample_filt`` fills each channel's own ``k x k`` kernel with

    filt[i, j] = (1 - |i - c| / f) (1 - |j - c| / f),  f = ceil(k / 2),
    c = f - 1 (k odd) or f - 0.5 (k even)

and zero between different channels. With ``k = 2 s`` and stride ``s`` (``padding="same"``
in Keras) the layer is bilinear interpolation with half-pixel centres (``tf.image.resize``'s
``"bilinear"``) away from the border, where the zero padding darkens it.

Keras ships the layer (``keras.layers.Conv2DTranspose``, TFLite ``TRANSPOSE_CONV``); this
module gives it the initialiser:

>>> keras.layers.Conv2DTranspose(21, 4, strides=2, padding="same", use_bias=False,
...                              kernel_initializer=bilinear_upsampling_kernel)
"""

import numpy as np

from ..backend import keras, register_serializable, tf


def bilinear_filter(size):
    """The 1-D factor of FCN's bilinear kernel of ``size`` taps (``upsample_filt``)."""
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    return 1.0 - np.abs(np.arange(size) - centre) / factor


@register_serializable
class BilinearUpsampling(keras.initializers.Initializer):
    """Kernel initialiser: FCN's bilinear filter on each channel's own kernel, zero across
    channels (``bilinear_upsampling_kernel`` is an instance).

    The kernel shape is ``(kh, kw, channels, channels)`` -- as many channels out as in
    (``Conv2DTranspose(filters=C)`` on a ``C``-channel input, or a ``Conv2D``). Rectangular
    kernels take the product of two 1-D filters.
    """

    def __call__(self, shape, dtype=None, **kwargs):
        shape = tuple(int(d) for d in shape)
        if len(shape) != 4 or shape[2] != shape[3]:
            raise ValueError(
                f"bilinear_upsampling_kernel initialises a (height, width, channels, channels) "
                f"kernel with as many output as input channels; got shape {shape}.")
        kh, kw, channels, _ = shape
        filt = np.outer(bilinear_filter(kh), bilinear_filter(kw))
        kernel = filt[:, :, None, None] * np.eye(channels)[None, None]
        return tf.constant(kernel, dtype=dtype or keras.backend.floatx())

    def get_config(self):
        return {}


#: The initialiser to pass as ``kernel_initializer=``.
bilinear_upsampling_kernel = BilinearUpsampling()
