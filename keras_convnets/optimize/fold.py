"""Folding the ``1/6`` of MobileNetV3's hard activations into the next linear layers, for export.

``h-swish(x) = x * relu6(x + 3) / 6`` (Howard et al. 2019, arXiv:1905.02244, Section 5.2). In an
int8 TFLite graph the ``/ 6`` is an int8 ``MUL`` over the whole feature map (LiteRT's XNNPACK
delegate has no int8 ``HARD_SWISH``, so h-swish is decomposed into ``MUL``/``ADD``/``MUL``: see
docs/compression.md). Where everything the activation feeds is linear in it, the ``1/6`` can go
into the kernels of the layers that consume it instead:

    conv(h-swish(x)) = conv'(x * relu6(x + 3))     with conv' = conv, kernel * 1/6, same bias

which is exact up to float rounding. :func:`fold_hard_activations` does that on a **copy** of a
functional model (the model given is not touched): it walks the graph from each
:class:`~keras_convnets.layers.HardSwish` / :class:`~keras_convnets.layers.HardSigmoid` through
layers that commute with a positive scale (zero padding, cropping, pooling, reshapes, dropout,
``Multiply``, whose output carries the product of its inputs' scales, and
:class:`~keras_convnets.layers.SEBlock`, whose squeeze FC takes the ``1/s`` in its own kernel
so that its gate sees the same values) to the linear layers at the end (``Conv1D/2D/3D``,
``DepthwiseConv1D/2D``, ``SeparableConv1D/2D``, ``Dense``, ``GroupConv2D``), and folds it only
where every path ends in one of those: an activation that reaches an ``Add``, a
``Concatenate``, another non-linearity or a model output is left as it is. Scales compound: an
h-swish before an SE block before a projection convolution folds into the SE block's squeeze
kernel and the projection's kernel. Layer classes are matched exactly (a subclass of ``Conv2D``
might normalise its kernel, which would undo the scale), and a layer called more than once is
never changed.

>>> folded, report = fold_hard_activations(model)   # a copy; report["folded"]: layer names
"""

import collections
import warnings

import numpy as np

from ..backend import keras
from ..layers import GroupConv2D, HardSigmoid, HardSwish, SEBlock

#: the factor a folded hard activation's output carries (its ``1/6`` moved downstream)
FACTOR = 6.0


def _classes(*names):
    return tuple(getattr(keras.layers, n) for n in names if hasattr(keras.layers, n))


def _absorbers():
    """Linear layers that take a scale in their first weight (the kernel; the depthwise kernel
    of a separable convolution), bias unchanged: ``{class: number of weights with bias}``."""
    table = {cls: 2 for cls in _classes("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D",
                                        "DepthwiseConv2D", "Dense", "Conv1DTranspose",
                                        "Conv2DTranspose", "Conv3DTranspose")}
    table.update({cls: 3 for cls in _classes("SeparableConv1D", "SeparableConv2D")})
    table[GroupConv2D] = 2
    return table


def _pass_through():
    """Single-input layers with ``f(s x) = s f(x)`` for ``s > 0`` at inference."""
    return set(_classes(
        "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D",
        "Cropping3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
        "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
        "GlobalMaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
        "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "Reshape", "Flatten", "Permute",
        "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Identity",
        "UpSampling1D", "UpSampling2D", "UpSampling3D"))


def _layer_of(node):
    return node.operation if hasattr(node, "operation") else node.layer  # Keras 3 / tf_keras


def _inputs(node):
    """The producing node of each of ``node``'s input tensors, in order (repeats kept)."""
    tensors = node.input_tensors if hasattr(node, "operation") else node.keras_inputs
    producers = []
    for tensor in tensors:
        layer, node_index = tensor._keras_history[:2]
        producers.append(layer._inbound_nodes[node_index])
    return producers


def _graph(model):
    """``(nodes in topological order, {id(node): consumer nodes}, {id(node) of model outputs},
    Counter of calls per layer)`` of a functional model's own nodes."""
    by_depth = model._nodes_by_depth
    nodes = [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]
    consumers = collections.defaultdict(list)
    for node in nodes:
        for parent in {id(p): p for p in _inputs(node)}.values():
            consumers[id(parent)].append(node)
    outputs = set()
    for tensor in model.outputs:
        layer, node_index = tensor._keras_history[:2]
        outputs.add(id(layer._inbound_nodes[node_index]))
    calls = collections.Counter(id(_layer_of(node)) for node in nodes)
    return nodes, consumers, outputs, calls


def plan(model):
    """``{"folded": [names of the activations to fold], "scales": {layer name: s}}``: each
    foldable hard activation, and the scale ``s`` the input of each layer whose kernel changes
    will carry (its kernel -- an SE block's squeeze kernel -- is multiplied by ``1/s``)."""
    model = getattr(model, "_functional", None) or model  # Keras 3's Sequential wraps one
    if not hasattr(model, "_nodes_by_depth"):  # a subclassed model: no graph to walk
        return {"folded": [], "scales": {}}
    absorbers, passing = _absorbers(), _pass_through()
    nodes, consumers, outputs, calls = _graph(model)
    memo = {}

    def kind(node):
        layer = _layer_of(node)
        cls = type(layer)
        if calls[id(layer)] != 1:
            return None
        if cls is keras.layers.Multiply:  # scales multiply: s_a x s_b
            return "pass"
        if len(_inputs(node)) != 1:
            return None
        if cls in absorbers and len(layer.weights) in (absorbers[cls] - 1, absorbers[cls]):
            return "absorb"
        if cls in passing or cls is SEBlock:
            return "pass"
        return None

    def foldable(node):
        """Every path from ``node``'s output ends in a linear layer through pass-throughs."""
        if id(node) not in memo:
            memo[id(node)] = False  # no cycles in a functional graph; guards re-entry anyway
            users = consumers.get(id(node), [])
            memo[id(node)] = bool(users) and id(node) not in outputs and all(
                kind(user) == "absorb" or (kind(user) == "pass" and foldable(user))
                for user in users)
        return memo[id(node)]

    folded = [node for node in nodes
              if type(_layer_of(node)) in (HardSwish, HardSigmoid)
              and not _layer_of(node).folded and calls[id(_layer_of(node))] == 1
              and foldable(node)]
    scale = {id(node): FACTOR for node in folded}
    scales = {}
    for node in nodes:  # topological: parents first
        incoming = float(np.prod([scale.get(id(p), 1.0) for p in _inputs(node)]))
        if incoming == 1.0:
            continue
        layer = _layer_of(node)
        if kind(node) not in ("absorb", "pass"):  # excluded by foldable(); held all the same
            raise AssertionError(f"{layer.name} would receive a scaled input")
        if kind(node) == "absorb" or type(layer) is SEBlock:
            scales[layer.name] = incoming
        if kind(node) == "pass":
            scale[id(node)] = incoming * scale.get(id(node), 1.0)
    return {"folded": [_layer_of(node).name for node in folded], "scales": scales}


def fold_hard_activations(model, fold_plan=None):
    """``(copy, plan)``: a copy of the functional ``model`` with each foldable hard activation
    computing six times its value (``HardSwish(folded=True)``: ``x * relu6(x + 3)``) and the
    ``1/6`` in the kernels of the layers after it (see the module docstring), and the
    :func:`plan` it followed. The copy's outputs equal the model's up to float rounding. With
    nothing to fold, or a model that ``keras.models.clone_model`` cannot copy (a custom layer
    without a working ``from_config``: a warning says so), ``model`` itself is returned,
    untouched, with an empty plan."""
    fold_plan = plan(model) if fold_plan is None else fold_plan
    if not fold_plan["folded"]:
        return model, fold_plan
    names = set(fold_plan["folded"])

    def clone(layer):
        config = layer.get_config()
        if layer.name in names:
            config["folded"] = True
        return type(layer).from_config(config)

    try:
        copy = keras.models.clone_model(model, clone_function=clone)
    except (TypeError, ValueError, NotImplementedError) as exc:  # a layer without from_config
        warnings.warn(f"{model.name}: hard activations not folded, the model does not clone "
                      f"({type(exc).__name__}: {exc}); exporting them unfolded.")
        return model, {"folded": [], "scales": {}}
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        target = copy.get_layer(layer.name)
        scale = fold_plan["scales"].get(layer.name)
        if scale is not None:
            # the first weight: a kernel (a separable convolution's depthwise kernel; an SE
            # block's squeeze kernel), multiplied in float64 and rounded once
            weights = [(weights[0].astype("float64") / scale).astype(weights[0].dtype)] + \
                weights[1:]
        target.set_weights(weights)
    return copy, fold_plan


def max_difference(model, folded, images):
    """``max |folded(images) - model(images)|`` (float outputs), for checking a fold."""
    images = np.asarray(images, dtype="float32")
    expected = np.asarray(model(images, training=False), dtype="float64")
    got = np.asarray(folded(images, training=False), dtype="float64")
    return float(np.max(np.abs(got - expected)))
