"""What only Deep Layer Aggregation has (arXiv:1707.06484): the depth its names count (Table 1),
the inputs of the aggregation (root) nodes of its hierarchical trees, its options' errors.
The shared routine, the full-size counts and the logit parity with timm run elsewhere."""

import dataclasses

import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.layers import DropPath
from keras_convnets.models.dla import DLAConfig

TINY_WIDTHS = (2, 4, 8, 16, 32, 64)


def _tiny(name, **kwargs):
    kwargs.setdefault("input_shape", (64, 64, 3))
    return kc.get_spec(name).build_tiny(name=name, **kwargs)


def _inbound(model, layer_name):
    """The names (without the model prefix) of the layers feeding ``layer_name``."""
    node = model.get_layer(f"{model.name}_{layer_name}")._inbound_nodes[0]
    return [t._keras_history[0].name[len(model.name) + 1:] for t in node.input_tensors]


@pytest.mark.parametrize("name, depth", [("dla34", 34), ("dla46_c", 46), ("dla60", 60),
                                         ("dla102", 102)])
def test_name_counts_the_layers_of_table1(name, depth):
    """DLA-n has n weighted layers: base, level 0 and 1 convs, every block's convs, every root
    and the classifier; projections (shortcuts) do not count, as in ResNets. Built at tiny
    widths with the full trees."""
    spec = kc.get_spec(name)
    config = dataclasses.replace(spec.config, channels=TINY_WIDTHS)
    model = spec.function(config, input_shape=(32, 32, 3), name=name)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
             and "_project_" not in layer.name]
    assert len(convs) + 1 == depth
    roots = [layer for layer in convs if layer.name.endswith("_root_conv")]
    assert len(roots) == sum(2 ** (n - 1) for n in config.levels[2:])


def test_root_aggregation_inputs():
    """A one-level tree's root joins its two blocks; from level 3 on, the deepest root also
    takes the level's downsampled input (IDA, ``level_root``) and the first subtree's output
    (HDA), in timm's order; level 2 takes no input of its own."""
    model = _tiny("dla34")
    assert _inbound(model, "level2_root_concat") == ["level2_tree2_out", "level2_tree1_out"]
    assert _inbound(model, "level3_tree2_root_concat") == [
        "level3_tree2_tree2_out", "level3_tree2_tree1_out", "level3_downsample",
        "level3_tree1_root_relu"]
    assert _inbound(model, "level4_root_concat") == [
        "level4_tree2_out", "level4_tree1_out", "level4_downsample"]
    # the first block's shortcut: the max-pooled input, projected to the new width
    assert _inbound(model, "level3_tree1_project_conv") == ["level3_tree1_downsample"]
    assert not any(layer.name.endswith("_root_add") for layer in model.layers)
    # each level ends in its (last) root
    assert _inbound(model, "stage3_out") == ["level3_tree2_root_bn"]


def test_residual_roots_and_grouped_bottlenecks():
    """DLA-102 adds the root's first input to its output; DLA-X uses grouped 3x3s."""
    model = _tiny("dla102x")
    assert _inbound(model, "level2_root_add") == ["level2_root_bn", "level2_tree2_out"]
    conv = model.get_layer("dla102x_level2_tree1_conv2")
    assert conv.groups == 4


def test_drop_path_on_every_block():
    model = _tiny("dla60", drop_path_rate=0.2)
    rates = [layer.rate for layer in model.layers if isinstance(layer, DropPath)]
    # 2 + 4 + 2 + 2 blocks; the first block's rate is 0 and builds no layer
    assert len(rates) == 9 and max(rates) == pytest.approx(0.2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(drop_path_rate=1.5), "drop_path_rate"),
    (dict(drop_rate=-0.1), "drop_rate"),
    (dict(norm="instance"), "norm"),
    (dict(input_shape=(48, 48, 3)), "multiples of 32"),
])
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _tiny("dla34", **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(block="dense"), "block"),
    (dict(levels=(1, 1, 1, 2)), "six entries"),
    (dict(cardinality=0), "cardinality"),
])
def test_bad_configs(kwargs, match):
    base = dict(levels=(1, 1, 1, 2, 2, 1), channels=TINY_WIDTHS)
    with pytest.raises(ValueError, match=match):
        DLAConfig(**{**base, **kwargs})
