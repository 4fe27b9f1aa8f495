"""Multi-scale feature extraction from any registry model."""

import re

from .backend import keras

_STAGE_OUT = re.compile(r"_stage(\d+)_out$")


def stage_layers(model):
    """The model's ``<name>_stage<N>_out`` layers, ordered by N."""
    found = {}
    for layer in model.layers:
        match = _STAGE_OUT.search(layer.name)
        if match and layer.name.startswith(model.name + "_"):
            found[int(match.group(1))] = layer
    return [found[n] for n in sorted(found)]


def feature_extractor(model, stages=None):
    """A model with the same input whose outputs are the stage feature maps.

    Args:
        model: a model built by this package (or loaded from its ``.keras`` file).
        stages: 1-based stage numbers to return; all stages by default.

    The feature maps' strides are ``model_info(name)["stage_strides"]``.
    """
    layers = stage_layers(model)
    if not layers:
        raise ValueError(
            f"{model.name!r} has no '<name>_stage<N>_out' layers; feature_extractor takes "
            f"models built by keras_convnets.")
    if stages is not None:
        available = list(range(1, len(layers) + 1))
        bad = [s for s in stages if s not in available]
        if bad:
            raise ValueError(f"`stages` {bad} not in the model's stages {available}.")
        layers = [layers[s - 1] for s in stages]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, [layer.output for layer in layers],
                       name=model.name + "_features")
