"""Counting a built model's parameters and FLOPs from its Keras graph.

FLOPs follow the reference table's convention: 2 x multiply-adds of convolutions (ordinary,
grouped, depthwise, separable) and dense layers, per image; biases, normalisation, activations
and pooling are not counted. Custom layers report their own through ``count_flops``.
"""

import math

from .backend import keras


def leaf_layers(model):
    """Every layer of ``model``, nested models opened (not themselves yielded)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from leaf_layers(layer)
        else:
            yield layer


def _shape(tensor):
    return tuple(tensor.shape)


def _spatial(shape):
    return math.prod(int(d) for d in shape[1:-1])


def layer_flops(layer):
    """FLOPs of one layer's (single) call, per image."""
    if hasattr(layer, "count_flops"):
        return int(layer.count_flops(_shape(layer.input), _shape(layer.output)))
    counted = (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D, keras.layers.Conv2D,
               keras.layers.Dense)
    if not isinstance(layer, counted):
        return 0
    out_shape = _shape(layer.output)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return 2 * kh * kw * _spatial(out_shape) * int(out_shape[-1])
    if isinstance(layer, keras.layers.SeparableConv2D):
        in_channels = int(_shape(layer.input)[-1])
        kh, kw = layer.kernel_size
        depthwise = 2 * kh * kw * in_channels * layer.depth_multiplier * _spatial(out_shape)
        pointwise = 2 * in_channels * layer.depth_multiplier * int(out_shape[-1]) * _spatial(
            out_shape)
        return depthwise + pointwise
    if isinstance(layer, keras.layers.Conv2D):
        in_channels = int(_shape(layer.input)[-1])
        kh, kw = layer.kernel_size
        groups = getattr(layer, "groups", 1)
        return 2 * kh * kw * in_channels // groups * int(out_shape[-1]) * _spatial(out_shape)
    if isinstance(layer, keras.layers.Dense):
        in_shape = _shape(layer.input)
        positions = math.prod(int(d) for d in in_shape[1:-1])
        return 2 * int(in_shape[-1]) * layer.units * positions


def count_flops(model):
    """Total FLOPs (2 x MACs, conv and dense layers) of ``model`` for one input image.

    The input's spatial size must be fixed (build the model with an ``input_shape``).
    """
    shape = _shape(model.inputs[0])
    if any(d is None for d in shape[1:]):
        raise ValueError(
            f"count_flops needs a fixed input size; {model.name} takes {shape}. Build it with "
            f"input_shape=(height, width, channels).")
    return sum(layer_flops(layer) for layer in leaf_layers(model))


def count_params(model):
    """``(trainable, non_trainable)`` parameter counts."""
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    non_trainable = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    return int(trainable), int(non_trainable)
