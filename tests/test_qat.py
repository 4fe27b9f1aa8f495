"""Quantisation-aware training (``kc.optimize.qat``): legacy Keras through tfmot.

Under Keras 3 :func:`qat.quantize` must refuse with a RuntimeError naming the switch. Under
legacy Keras (``TF_USE_LEGACY_KERAS=1``; these tests are marked ``legacy`` and skip under Keras
3): a tiny MobileNetV2 trained on the digits training split, fine-tuned with fake quantisation,
converts to a full-int8 TFLite file (no representative data: the ranges come from training)
whose digits test accuracy is within 2 points of the float model's and whose top-1 agrees with
the QAT Keras model; a model with GroupConv2D and SEBlock quantises, GroupConv2D through its own
QuantizeConfig and SEBlock as the listed float fallback, and converts to int8 once calibrated.
"""

import argparse

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.export import command as export_command
from keras_convnets.backend import USE_LEGACY_KERAS, keras
from keras_convnets.data import load_digits
from keras_convnets.layers import GroupConv2D, SEBlock
from keras_convnets.optimize import qat, tflite

SIZE = 32


@pytest.mark.skipif(USE_LEGACY_KERAS, reason="the Keras 3 refusal")
def test_quantize_under_keras_3_says_how_to_switch():
    model = kc.get_spec("resnet18").builder.tiny(input_shape=(SIZE, SIZE, 3), classes=10)
    with pytest.raises(RuntimeError, match="legacy Keras only.*TF_USE_LEGACY_KERAS=1"):
        qat.quantize(model)
    with pytest.raises(RuntimeError, match="TF_USE_LEGACY_KERAS=1"):
        qat.quantize_scope()


@pytest.fixture(scope="module")
def digits():
    return load_digits(image_size=SIZE)


def _train(model, x, y, epochs, learning_rate):
    model.compile(keras.optimizers.SGD(learning_rate, momentum=0.9),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)


@pytest.mark.legacy
@pytest.mark.skipif(not USE_LEGACY_KERAS, reason="QAT needs legacy Keras (TF_USE_LEGACY_KERAS=1)")
def test_qat_converts_to_int8_within_2_points_of_float(digits, tmp_path):
    (x_train, y_train), (x_test, y_test) = digits
    keras.utils.set_random_seed(0)
    model = kc.get_spec("mobilenetv2").builder.tiny(input_shape=(SIZE, SIZE, 3), classes=10)
    _train(model, x_train, y_train, epochs=3, learning_rate=0.05)
    float_accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test))
    assert float_accuracy > 0.8, f"the float model only reached {float_accuracy:.1%}"

    quantized = qat.quantize(model)
    assert qat.float_layers(quantized) == ()  # MobileNetV2: every layer quantises
    assert any(type(layer).__name__.startswith("QuantizeWrapper") for layer in quantized.layers)
    _train(quantized, x_train, y_train, epochs=1, learning_rate=0.005)
    int8 = tflite.convert(quantized, quantization="int8", int8_io=True)
    interpreter = tflite.make_interpreter(int8)
    assert np.dtype(interpreter.get_input_details()[0]["dtype"]) == np.int8
    conv_inputs = [interpreter.get_tensor_details()[op["inputs"][0]]["dtype"]
                   for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D"]
    assert conv_inputs and all(np.dtype(d) == np.int8 for d in conv_inputs)

    top1 = tflite.run(int8, x_test).argmax(-1)
    int8_accuracy = float(np.mean(top1 == y_test))
    assert int8_accuracy >= float_accuracy - 0.02, (int8_accuracy, float_accuracy)
    keras_top1 = quantized.predict(x_test, verbose=0).argmax(-1)
    assert np.mean(top1 == keras_top1) >= 0.97  # the file keeps the trained ranges

    report = kc.export.tflite(quantized, tmp_path / "qat.int8.tflite", quantization="int8",
                              check_data=x_test[:64])
    assert report["quantization"] == "int8" and report["top1_agreement"] >= 0.95

    # A QAT model saved as .h5 (tfmot's format: tf_keras' .keras files drop its quantize layers'
    # variables) loads back for `keras-convnets export --model-file` (in its quantize scope).
    quantized.save(tmp_path / "qat.h5")
    _, loaded = export_command.load_model(argparse.Namespace(
        model="mobilenetv2", model_file=str(tmp_path / "qat.h5")))
    np.testing.assert_allclose(loaded.predict(x_test[:16], verbose=0),
                               quantized.predict(x_test[:16], verbose=0), atol=1e-5)


@pytest.mark.legacy
@pytest.mark.skipif(not USE_LEGACY_KERAS, reason="QAT needs legacy Keras (TF_USE_LEGACY_KERAS=1)")
def test_group_conv_quantises_and_se_block_is_the_listed_float_fallback(digits):
    (x_train, y_train), _ = digits
    model = kc.get_spec("seresnext50").builder.tiny(input_shape=(SIZE, SIZE, 3), classes=10)
    quantized = qat.quantize(model)
    fallback = set(qat.float_layers(quantized))
    se_blocks = {layer.name for layer in model.layers if isinstance(layer, SEBlock)}
    groups = {layer.name for layer in model.layers if isinstance(layer, GroupConv2D)}
    assert se_blocks and se_blocks <= fallback
    assert groups and not groups & fallback
    assert not any(isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
                   for layer in model.layers if layer.name in fallback)
    # BatchNorm after a GroupConv2D cannot be folded by tfmot: float, and listed
    after_groups = {layer.name for layer in model.layers
                    if isinstance(layer, keras.layers.BatchNormalization)
                    and layer.inbound_nodes[0].inbound_layers.name in groups}
    assert after_groups and after_groups <= fallback
    configs = {layer.layer.name: type(layer.quantize_config).__name__
               for layer in quantized.layers if hasattr(layer, "quantize_config")}
    assert all(configs.get(name) == "GroupConv2DQuantizeConfig" for name in groups)

    keras.utils.set_random_seed(0)
    _train(quantized, x_train[:128], y_train[:128], epochs=1, learning_rate=0.005)
    int8 = tflite.convert(quantized, quantization="int8", representative_data=x_train[:64])
    ops = tflite.op_names(int8)
    assert "CONV_2D" in ops and not [op for op in ops if op.startswith("Flex")]
    expected = quantized.predict(x_train[:32], verbose=0)
    got = tflite.run(int8, x_train[:32])
    assert np.max(np.abs(got - expected)) < 0.1


@pytest.mark.legacy
@pytest.mark.skipif(not USE_LEGACY_KERAS, reason="QAT needs legacy Keras (TF_USE_LEGACY_KERAS=1)")
def test_quantize_rejects_what_it_cannot_take():
    with pytest.raises(ValueError, match="`model` must be a Keras model; got str"):
        qat.quantize("mobilenetv2")
    inner = kc.get_spec("resnet18").builder.tiny(input_shape=(SIZE, SIZE, 3), classes=10)
    inputs = keras.Input((SIZE, SIZE, 3))
    nested = keras.Model(inputs, inner(inputs))
    with pytest.raises(ValueError, match="nests models"):
        qat.quantize(nested)
