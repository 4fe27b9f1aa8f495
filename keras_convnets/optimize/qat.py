"""Quantisation-aware training (legacy Keras only, through tensorflow-model-optimization).

QAT (Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference", arXiv:1712.05877) fine-tunes a float model with fake
quantisation of weights and activations in the forward pass, so that the int8 TFLite model made
from it loses less accuracy than post-training quantisation.

>>> # TF_USE_LEGACY_KERAS=1, pip install 'keras_convnets[optimize]'
>>> from keras_convnets.optimize import qat, tflite
>>> q = qat.quantize(model)                  # compile and fine-tune q for an epoch or two
>>> q.compile(...); q.fit(...)
>>> int8 = tflite.convert(q, quantization="int8", representative_data=images)

tfmot only runs on the legacy Keras 2 package, so under Keras 3 :func:`quantize` raises a
:class:`RuntimeError` that says how to switch. :func:`quantize` annotates every layer tfmot's
default 8-bit scheme knows (Conv2D, DepthwiseConv2D, Dense, pooling, Add, Concatenate, ReLU...,
with BatchNormalization folded into the preceding convolution) and quantises our
``GroupConv2D`` with its own ``QuantizeConfig`` (per-output-channel symmetric 8-bit kernel, like
tfmot's Conv2D, and an 8-bit output). Layers it cannot quantise -- ``SEBlock``,
``ChannelShuffle``, ``ChannelSplit``, any other custom layer, and a BatchNormalization that
does not follow a standard Conv2D / DepthwiseConv2D / Dense (tfmot quantises BatchNormalization
only by folding it into such a layer; ``GroupConv2D`` + BN stays a float BN) -- are an explicit
**float fallback**: they are left unannotated, ``float_layers(q)`` lists them, and the converter
quantises them after training from the representative data (``tflite.convert(...,
quantization="int8", representative_data=...)``), as post-training quantisation would.
"""

from ..backend import USE_LEGACY_KERAS, import_tfmot, keras

__all__ = ["quantize", "float_layers", "GroupConv2DQuantizeConfig", "quantize_scope"]

_LEGACY_HELP = (
    "Quantisation-aware training needs tensorflow-model-optimization, which works only with the "
    "legacy Keras 2 package: install the optimize extra (pip install 'keras_convnets[optimize]') "
    "and set TF_USE_LEGACY_KERAS=1 in the environment before Python starts (before the first "
    "import of TensorFlow or keras_convnets).")


def _tfmot():
    if not USE_LEGACY_KERAS:
        raise RuntimeError(f"qat runs under legacy Keras only; this process uses Keras 3. "
                           f"{_LEGACY_HELP}")
    try:
        tfmot = import_tfmot()
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(f"tensorflow-model-optimization is not installed. {_LEGACY_HELP}") \
            from exc
    return tfmot


def _config_classes():
    tfmot = _tfmot()
    quantizers = tfmot.quantization.keras.quantizers

    class GroupConv2DQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
        """8-bit QAT for ``GroupConv2D``: the grouped kernel per output channel, symmetric and
        narrow-range (tfmot's choice for Conv2D), and the output with a moving-average range."""

        def get_weights_and_quantizers(self, layer):
            return [(layer.kernel, quantizers.LastValueQuantizer(
                num_bits=8, per_axis=True, symmetric=True, narrow_range=True))]

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            layer.kernel = quantize_weights[0]

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

        def get_config(self):
            return {}

    return GroupConv2DQuantizeConfig


def __getattr__(name):
    if name == "GroupConv2DQuantizeConfig":
        return _config_classes()
    raise AttributeError(name)


def quantize_scope():
    """The ``tfmot.quantization.keras.quantize_scope`` that loads our QAT models."""
    from ..layers import GroupConv2D
    tfmot = _tfmot()
    return tfmot.quantization.keras.quantize_scope(
        {"GroupConv2DQuantizeConfig": _config_classes(), "GroupConv2D": GroupConv2D})


#: Layers after which tfmot folds a BatchNormalization (its Conv/Dense + BN transforms).
_FOLDS_BATCH_NORM = ("Conv2D", "DepthwiseConv2D", "Dense")


def _folds_into_previous(layer):
    """True for a BatchNormalization fed by one standard Conv2D / DepthwiseConv2D / Dense,
    the only place tfmot's default 8-bit scheme quantises it (by folding it into that layer);
    anywhere else -- after a GroupConv2D, say -- tfmot rejects it ("is not supported")."""
    nodes = getattr(layer, "inbound_nodes", None) or getattr(layer, "_inbound_nodes", [])
    if len(nodes) != 1:
        return False
    inbound = nodes[0].inbound_layers
    inbound = inbound if isinstance(inbound, (list, tuple)) else [inbound]
    return len(inbound) == 1 and type(inbound[0]).__name__ in _FOLDS_BATCH_NORM and \
        type(inbound[0]).__module__.startswith("tf_keras")


def _annotation(layer, registry):
    """``"default"``, ``"group_conv"`` or ``None`` (float fallback) for one layer."""
    from ..layers import GroupConv2D
    if isinstance(layer, GroupConv2D):
        return "group_conv"
    if isinstance(layer, keras.layers.InputLayer):
        return None
    if isinstance(layer, keras.layers.BatchNormalization):
        return "default" if _folds_into_previous(layer) else None
    return "default" if registry.supports(layer) else None


def quantize(model):
    """A quantisation-aware copy of ``model`` to compile and fine-tune (legacy Keras only).

    Raises:
        RuntimeError: under Keras 3, or without tensorflow-model-optimization.
        ValueError: ``model`` is not a flat functional Keras model.
    """
    tfmot = _tfmot()
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry)
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a Keras model; got {type(model).__name__}.")
    if any(isinstance(layer, keras.Model) for layer in model.layers):
        raise ValueError(f"`model` {model.name!r} nests models; quantize() takes flat "
                         f"functional models (every registry model is one).")
    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
    config_class = _config_classes()
    annotate = tfmot.quantization.keras.quantize_annotate_layer
    fallback = []

    def clone(layer):
        copy = layer.__class__.from_config(layer.get_config())
        kind = _annotation(layer, registry)
        if kind == "group_conv":
            return annotate(copy, quantize_config=config_class())
        if kind == "default":
            return annotate(copy)
        if not isinstance(layer, keras.layers.InputLayer):
            fallback.append(layer.name)
        return copy

    annotated = keras.models.clone_model(model, clone_function=clone)
    annotated.set_weights(model.get_weights())
    with quantize_scope():
        quantized = tfmot.quantization.keras.quantize_apply(annotated)
    quantized._kc_float_layers = tuple(fallback)
    return quantized


def float_layers(model):
    """Names of the layers :func:`quantize` left in float (the documented fallback)."""
    return tuple(getattr(model, "_kc_float_layers", ()))
