"""Grouped convolutions export without XLA: no ``_XlaMustCompile`` in SavedModels, builtin TFLite.

Keras 3 runs ``Conv2D(groups=g)`` on TensorFlow inside ``tf.function(jit_compile=True)``, which
leaves ``_XlaMustCompile`` in exported graphs (serving then needs XLA); ``GroupConv2D`` calls the
grouped ``tf.nn.conv2d`` directly. The control case proves the check can fail.
"""

import os

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import USE_LEGACY_KERAS, keras, tf


def _xla_attributes(export_dir):
    """Names of the nodes and functions in a SavedModel that carry ``_XlaMustCompile=True``."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as handle:
        proto.ParseFromString(handle.read())
    found = []
    for graph in proto.meta_graphs:
        nodes = list(graph.graph_def.node)
        for function in graph.graph_def.library.function:
            attr = function.attr.get("_XlaMustCompile")
            if attr is not None and attr.b:
                found.append(function.signature.name)
            nodes += list(function.node_def)
        found += [node.name for node in nodes
                  if "_XlaMustCompile" in node.attr and node.attr["_XlaMustCompile"].b]
    return found


def _save(model, path):
    signature = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec((None,) + tuple(model.input_shape[1:]), tf.float32))
    tf.saved_model.save(model, path, signatures=signature)
    return path


@pytest.mark.legacy
def test_resnext_savedmodel_carries_no_xla_must_compile(tmp_path):
    model = kc.ResNeXt50.tiny(input_shape=(64, 64, 3))
    path = _save(model, str(tmp_path / "resnext"))
    assert _xla_attributes(path) == []
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    served = tf.saved_model.load(path).signatures["serving_default"]
    out = list(served(tf.constant(x)).values())[0].numpy()
    np.testing.assert_allclose(out, model(x, training=False).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(USE_LEGACY_KERAS, reason="legacy Keras' grouped Conv2D does not use XLA")
def test_keras_grouped_conv2d_does_carry_it(tmp_path):
    inputs = keras.Input((8, 8, 16))
    model = keras.Model(inputs, keras.layers.Conv2D(16, 3, padding="same", groups=4)(inputs))
    assert _xla_attributes(_save(model, str(tmp_path / "keras"))) != []


@pytest.mark.parametrize("name", ["shufflenetv1_g3_1x", "igcnet_l16m32", "clcnet_a",
                                  "shiftresnet20", "resnet50_root64"])
def test_group_convolution_models_carry_no_xla_must_compile(name, tmp_path):
    spec = kc.get_spec(name)
    size = max(spec.min_size, 2 * spec.stage_strides[-1])
    model = spec.builder.tiny(input_shape=(size, size, 3))
    assert _xla_attributes(_save(model, str(tmp_path / name))) == []
