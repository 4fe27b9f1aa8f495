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


def _first_shape(tensors):
    tensors = tensors if isinstance(tensors, (list, tuple)) else [tensors]
    return _shape(tensors[0])


def layer_flops(layer, node=None):
    """FLOPs of one call of ``layer``, per image: its only call, or the call ``node`` (one of
    the model graph's nodes) of a layer the model calls more than once (PolyNet's poly-N
    modules share their convolutions)."""
    counted = (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D, keras.layers.Conv2D,
               keras.layers.Dense)
    if not hasattr(layer, "count_flops") and not isinstance(layer, counted):
        return 0
    if node is None:
        in_shape, out_shape = _first_shape(layer.input), _first_shape(layer.output)
    else:
        in_shape, out_shape = _first_shape(node.input_tensors), _first_shape(node.output_tensors)
    if hasattr(layer, "count_flops"):
        return int(layer.count_flops(in_shape, out_shape))
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return 2 * kh * kw * _spatial(out_shape) * int(out_shape[-1])
    if isinstance(layer, keras.layers.SeparableConv2D):
        in_channels = int(in_shape[-1])
        kh, kw = layer.kernel_size
        depthwise = 2 * kh * kw * in_channels * layer.depth_multiplier * _spatial(out_shape)
        pointwise = 2 * in_channels * layer.depth_multiplier * int(out_shape[-1]) * _spatial(
            out_shape)
        return depthwise + pointwise
    if isinstance(layer, keras.layers.Conv2D):
        in_channels = int(in_shape[-1])
        kh, kw = layer.kernel_size
        groups = getattr(layer, "groups", 1)
        return 2 * kh * kw * in_channels // groups * int(out_shape[-1]) * _spatial(out_shape)
    if isinstance(layer, keras.layers.Dense):
        positions = math.prod(int(d) for d in in_shape[1:-1])
        return 2 * int(in_shape[-1]) * layer.units * positions


def _node_layer(node):
    layer = getattr(node, "operation", None)  # Keras 3; tf_keras: node.layer
    return node.layer if layer is None else layer


def _calls(model):
    """``(layer, node)`` for every call of a leaf layer in ``model``'s graph, nested models
    opened once per call; ``node`` is None for a layer called once."""
    nodes_by_depth = getattr(model, "_nodes_by_depth", None)
    if not nodes_by_depth:  # not a functional graph: one call per layer
        yield from ((layer, None) for layer in leaf_layers(model))
        return
    nodes = [node for depth in sorted(nodes_by_depth, reverse=True)
             for node in nodes_by_depth[depth]]
    calls = {}
    for node in nodes:
        calls.setdefault(id(_node_layer(node)), []).append(node)
    for node in nodes:
        layer = _node_layer(node)
        if isinstance(layer, keras.Model):
            yield from _calls(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            yield layer, (node if len(calls[id(layer)]) > 1 else None)


def count_flops(model):
    """Total FLOPs (2 x MACs, conv and dense layers) of ``model`` for one input image; a layer
    the model calls more than once counts once per call.

    The input's spatial size must be fixed (build the model with an ``input_shape``).
    """
    shape = _shape(model.inputs[0])
    if any(d is None for d in shape[1:]):
        raise ValueError(
            f"count_flops needs a fixed input size; {model.name} takes {shape}. Build it with "
            f"input_shape=(height, width, channels).")
    return sum(layer_flops(layer, node) for layer, node in _calls(model))


def count_params(model):
    """``(trainable, non_trainable)`` parameter counts."""
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    non_trainable = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    return int(trainable), int(non_trainable)
