"""Hard activations: the piecewise-linear sigmoid and swish of MobileNetV3.

Howard et al. "Searching for MobileNetV3", 2019, arXiv:1905.02244, Section 5.2:
``h-swish(x) = x * ReLU6(x + 3) / 6``, with ``ReLU6(x + 3) / 6`` as the hard sigmoid.

Written with exactly Keras 3's arithmetic (``relu6(x + 3) / 6``; legacy Keras'
``hard_sigmoid`` is a different curve, ``0.2 x + 0.5`` clipped) so that the TFLite converter
recognises the pattern and fuses h-swish into its single ``HARD_SWISH`` op.

Inside :func:`decomposed_hard_swish` (which ``optimize.tflite.convert`` enters for int8
unless ``int8_hard_swish="fused"``) h-swish is traced as ``(x * (1/6)) * relu6(x + 3)``
instead: the same function, in an order the converter does not fuse, so that an int8 graph
keeps it as ``MUL`` / ``ADD`` ops that LiteRT's XNNPACK delegate runs; XNNPACK has no int8
``HARD_SWISH`` and would hand each one to the builtin kernels (docs/compression.md). Float
graphs keep the fused op.

``HardSwish(folded=True)`` / ``HardSigmoid(folded=True)`` compute six times the function,
``x * relu6(x + 3)`` and ``relu6(x + 3)``: the export-only form that
:func:`keras_convnets.optimize.fold.fold_hard_activations` puts in a copy of a model whose
following linear layers carry the ``1/6`` in their kernels (one int8 ``MUL`` fewer per h-swish;
``convert``'s default for int8). They ignore :func:`decomposed_hard_swish`.
"""

import contextlib
import contextvars

from ..backend import keras, register_serializable, tf
from ..utils import check_bool

_DECOMPOSED = contextvars.ContextVar("keras_convnets_decomposed_hard_swish", default=False)


@contextlib.contextmanager
def decomposed_hard_swish(enabled=True):
    """While active, :func:`hard_swish` traces as ``(x * (1/6)) * relu6(x + 3)``."""
    token = _DECOMPOSED.set(bool(enabled))
    try:
        yield
    finally:
        _DECOMPOSED.reset(token)


def hard_sigmoid(x):
    """``relu6(x + 3) / 6``."""
    return tf.nn.relu6(x + 3.0) / 6.0


def hard_swish(x):
    """``x * relu6(x + 3) / 6``."""
    if _DECOMPOSED.get():
        return (x * (1.0 / 6.0)) * tf.nn.relu6(x + 3.0)
    return x * hard_sigmoid(x)


class _Elementwise(keras.layers.Layer):
    """``folded=True``: six times the function (the ``1/6`` is in the next layers' kernels)."""

    def __init__(self, folded=False, **kwargs):
        super().__init__(**kwargs)
        self.folded = check_bool("folded", folded)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        if self.folded:  # configs of unfolded layers stay as they were
            config["folded"] = True
        return config


@register_serializable
class HardSigmoid(_Elementwise):
    """``relu6(x + 3) / 6``: MobileNetV3's gate (arXiv:1905.02244, Section 5.2);
    ``folded=True``: ``relu6(x + 3)``."""

    def call(self, inputs):
        if self.folded:
            return tf.nn.relu6(inputs + 3.0)
        return hard_sigmoid(inputs)


@register_serializable
class HardSwish(_Elementwise):
    """``x * relu6(x + 3) / 6``: MobileNetV3's h-swish (arXiv:1905.02244, Section 5.2);
    ``folded=True``: ``x * relu6(x + 3)``."""

    def call(self, inputs):
        if self.folded:
            return inputs * tf.nn.relu6(inputs + 3.0)
        return hard_swish(inputs)
