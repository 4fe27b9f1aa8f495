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
from numpy_reference import grouped_conv_numpy


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
    out = list(served(x=tf.constant(x)).values())[0].numpy()  # signatures take keywords
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


# -- GroupConv2D with groups == input channels (depthwise, with channel multiplier) ---------
@pytest.mark.legacy
@pytest.mark.parametrize("multiplier, stride, dilation", [(1, 1, 1), (1, 2, 1), (2, 1, 1),
                                                          (3, 2, 1), (1, 1, 2)])
def test_group_conv_depthwise_case_matches_numpy(rng, multiplier, stride, dilation):
    from keras_convnets.layers import GroupConv2D

    x = rng.standard_normal((2, 9, 9, 6)).astype("float32")
    layer = GroupConv2D(6 * multiplier, 3, strides=stride, groups=6, dilation_rate=dilation)
    y = layer(x).numpy()
    expected = grouped_conv_numpy(x, layer.kernel.numpy(), 6, stride, dilation)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.legacy
def test_group_conv_depthwise_case_trains_and_converts_to_tflite(rng):
    from keras_convnets.layers import GroupConv2D

    x = rng.standard_normal((2, 8, 8, 8)).astype("float32")
    inputs = keras.Input((8, 8, 8))
    layer = GroupConv2D(16, 3, padding="same", groups=8, use_bias=True)
    model = keras.Model(inputs, layer(inputs))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x) ** 2)
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert ops <= {"CONV_2D", "DEPTHWISE_CONV_2D"}, ops
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


@pytest.mark.legacy
def test_grouped_conv2d_converts_to_a_single_builtin_conv(rng):
    from keras_convnets.layers import GroupConv2D

    x = rng.standard_normal((2, 8, 8, 16)).astype("float32")
    inputs = keras.Input((8, 8, 16))
    model = keras.Model(inputs, GroupConv2D(32, 3, padding="same", groups=4)(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    assert [op["op_name"] for op in interpreter._get_ops_details()] == ["CONV_2D"]


@pytest.mark.legacy
@pytest.mark.parametrize("native", [True, False])
def test_group_conv_graph_mode_with_and_without_native_grouped_kernels(rng, monkeypatch,
                                                                       native):
    """Both code paths of GroupConv2D, whichever this machine takes: the plain op (oneDNN or
    GPU) and the one for CPUs without oneDNN (custom per-group gradient; an EnsureShape that
    keeps grappler from fusing the grouped conv with BiasAdd / FusedBatchNorm). Each predicts,
    trains a step in graph mode and converts to the same single builtin CONV_2D."""
    from keras_convnets.layers import GroupConv2D, group_conv

    if native and not group_conv.native_grouped_kernels():
        pytest.skip("this TensorFlow has no grouped-convolution gradient kernels (no oneDNN)")
    monkeypatch.setattr(group_conv, "native_grouped_kernels", lambda: native)
    x = rng.standard_normal((4, 8, 8, 16)).astype("float32")
    inputs = keras.Input((8, 8, 16))
    conv = GroupConv2D(32, 3, padding="same", groups=4, use_bias=True)(inputs)
    outputs = keras.layers.ReLU()(keras.layers.BatchNormalization()(conv))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(outputs))
    expected = np.asarray(model(x, training=False))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(model.train_on_batch(x, np.zeros((4, 32), "float32")))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    assert [op["op_name"] for op in interpreter._get_ops_details()].count("CONV_2D") == 1
    assert not [op for op in interpreter._get_ops_details() if "SHAPE" in op["op_name"]]


def test_benchmark_table_is_committed_and_linked_from_the_readme():
    """Issue 3: the grouped-convolution measurements are committed as a table, linked from the
    README (the table is regenerated by tools/bench_grouped_conv.py)."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    table = (root / "docs" / "benchmarks" / "grouped_conv.md").read_text()
    for section in ("Single convolutions, inference", "Single convolutions, training",
                    "Whole models, inference"):
        assert f"## {section}" in table
    assert "| resnext50 |" in table and "| shufflenetv1_g3_1x |" in table
    assert "docs/benchmarks/grouped_conv.md" in (root / "README.md").read_text(), (
        "link docs/benchmarks/grouped_conv.md from the README")
    # issue 19: the same study on the CPU kind without oneDNN, behind GroupConv2D's
    # depthwise form of narrow groups in training
    table = (root / "docs" / "benchmarks" / "grouped_conv_no_onednn.md").read_text()
    assert "oneDNN off" in table and "**Decision (no oneDNN).**" in table
    assert "docs/benchmarks/grouped_conv_no_onednn.md" in (root / "README.md").read_text()


def test_grouped_conv_study_tool_runs_a_chosen_formulation(tmp_path):
    """tools/bench_grouped_conv.py on one case and one formulation: the table holds `native`
    and that formulation only, and they agree to float rounding."""
    import json
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
    import bench_grouped_conv

    out = tmp_path / "table.md"
    bench_grouped_conv.main(["--cases", "clcNet stage3 3x3", "--formulations", "depthwise",
                             "--repeats", "1", "--no-models", "--out", str(out)])
    header = [line for line in out.read_text().splitlines() if line.startswith("| case")][0]
    assert header.split(" | ")[2:4] == ["native", "depthwise"], header
    (case, names, results, errors), = json.loads(out.with_suffix(".json").read_text())["cases"]
    assert names == ["native", "depthwise"] and max(errors.values()) < 1e-5
