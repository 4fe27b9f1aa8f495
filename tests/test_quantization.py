"""Post-training quantisation of a digits-trained model (``kc.optimize.tflite``).

One ResNet-18 at a quarter of its widths (16-128 channels, 0.7M weights: the registry's ``tiny``
variant, at an eighth, is so small that the int8 file's fixed per-tensor overhead makes it 31%
of the float file) is trained for a few SGD epochs on the digits training split (the training
pipeline's loader, ``keras_convnets.data.load_digits``) and shared by the module. On the 360
digits test images: full-integer int8 agrees with the float model's top-1 on >= 98% of them and
its file is <= 30% of the float file; float16 halves the file and dynamic range quantisation
quarters it with the same agreement; int8 with int8 input/output too. A pruned, stripped model
exports through ``kc.export.tflite`` with its zeros, and an unstripped one is a clear error.
"""

import dataclasses

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.data import load_digits
from keras_convnets.optimize import pruning, tflite

SIZE = 32


def quarter_resnet18():
    from keras_convnets.models.resnet import build_resnet

    config = kc.get_spec("resnet18").builder.config
    config = dataclasses.replace(config, widths=tuple(w // 4 for w in config.widths))
    return build_resnet("resnet18", config, input_shape=(SIZE, SIZE, 3), classes=10)


@pytest.fixture(scope="module")
def trained(seeded):
    (x_train, y_train), (x_test, y_test) = load_digits(image_size=SIZE)
    with seeded(0):
        model = quarter_resnet18()
        model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_train, y_train, batch_size=32, epochs=3, verbose=0)
    float_probabilities = model.predict(x_test, batch_size=120, verbose=0)
    accuracy = float(np.mean(float_probabilities.argmax(-1) == y_test))
    assert accuracy > 0.8, f"the float model only reached {accuracy:.1%} on digits"
    return {"model": model, "x_train": x_train, "x_test": x_test, "y_test": y_test,
            "float_top1": float_probabilities.argmax(-1),
            "float_bytes": len(tflite.convert(model))}


def _agreement(flatbuffer, trained):
    got = tflite.run(flatbuffer, trained["x_test"]).argmax(-1)
    return float(np.mean(got == trained["float_top1"]))


@pytest.mark.parametrize("int8_io", [False, True])
def test_int8_agrees_with_float_on_digits_and_is_under_30_percent(trained, int8_io):
    int8 = tflite.convert(trained["model"], quantization="int8", int8_io=int8_io,
                          representative_data=trained["x_train"], num_samples=200)
    agreement = _agreement(int8, trained)
    ratio = len(int8) / trained["float_bytes"]
    assert agreement >= 0.98, f"int8 top-1 agreement with float {agreement:.2%}"
    assert ratio <= 0.30, f"int8 file is {ratio:.1%} of the float file"
    details = tflite.make_interpreter(int8).get_input_details()[0]
    assert np.dtype(details["dtype"]) == (np.int8 if int8_io else np.float32)


@pytest.mark.parametrize("quantization, most", [("float16", 0.55), ("dynamic", 0.30)])
def test_float16_and_dynamic_shrink_the_file_and_agree(trained, quantization, most):
    flatbuffer = tflite.convert(trained["model"], quantization=quantization)
    ratio = len(flatbuffer) / trained["float_bytes"]
    assert ratio <= most, f"{quantization} file is {ratio:.1%} of the float file"
    assert _agreement(flatbuffer, trained) >= 0.98


def test_int8_calibration_comes_from_a_tf_data_pipeline(trained):
    from keras_convnets.backend import tf

    dataset = tf.data.Dataset.from_tensor_slices(
        (trained["x_train"], np.zeros(len(trained["x_train"]), "int64"))).batch(16)
    int8 = tflite.convert(trained["model"], quantization="int8", representative_data=dataset,
                          num_samples=64)
    assert _agreement(int8, trained) >= 0.98


def test_pruned_model_exports_once_stripped(trained, tmp_path):
    model = keras.models.clone_model(trained["model"])
    model.set_weights(trained["model"].get_weights())
    pruned = pruning.prune(model, target_sparsity=0.5)
    with pytest.raises(ValueError, match="still set up for pruning.*strip_pruning"):
        kc.export.tflite(pruned, tmp_path / "unstripped.tflite")
    x = trained["x_train"][:64]
    pruned.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    pruned.fit(x, np.zeros(64, "int64"), batch_size=32, verbose=0,
               callbacks=[pruning.UpdatePruningStep()])
    stripped = pruning.strip_pruning(pruned)
    assert all(abs(r["sparsity"] - 0.5) <= 0.01 for r in pruning.sparsity_report(stripped))
    for quantization, agreement, difference in (("float32", 1.0, 1e-4), ("int8", 0.75, 0.1)):
        report = kc.export.tflite(
            stripped, tmp_path / f"pruned.{quantization}.tflite", quantization=quantization,
            representative_data=x if quantization == "int8" else None)
        assert report["top1_agreement"] >= agreement, quantization
        assert report["max_difference"] < difference, quantization


def test_quantization_arguments_raise_clear_errors(trained):
    model = trained["model"]
    with pytest.raises(ValueError, match="`quantization` must be one of .*'int4'"):
        tflite.convert(model, quantization="int4")
    with pytest.raises(ValueError, match="`representative_data` is None, but "
                                         "quantization='int8' needs calibration"):
        tflite.convert(model, quantization="int8")
    with pytest.raises(ValueError, match="`int8_io=True` needs quantization='int8'"):
        tflite.convert(model, quantization="dynamic", int8_io=True)
    with pytest.raises(ValueError, match="`representative_data` images have shape"):
        tflite.convert(model, quantization="int8",
                       representative_data=np.zeros((4, 8, 8, 3), "float32"))
