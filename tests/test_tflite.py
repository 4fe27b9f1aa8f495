"""Every registered architecture converts to a float32 TFLite flatbuffer with builtin ops only,
and the LiteRT interpreter reproduces the Keras outputs.

Each distinct ``tiny`` network (``tiny_networks.py``: names that build the same one share it)
is converted at the shared routine's input size (the deepest stage 2x2), batch 1, with the
logits as the output so that the comparison sees more than a softmax. The full-size
configurations use the same layers at other widths and depths; they are not converted here
(a full-size conversion costs tens of seconds each). A conversion costs about five seconds on
two cores, so one network per family runs by default and the rest are marked ``slow`` (CI runs
them all).
"""

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras, tf
from keras_convnets.optimize import tflite

from tiny_networks import REPRESENTATIVES, input_size


def _one_per_family_then_slow():
    seen = set()
    for name in REPRESENTATIVES:
        family = kc.get_spec(name).family
        yield pytest.param(name, marks=[pytest.mark.slow] if family in seen else [])
        seen.add(family)


def _tiny_and_images(name):
    spec = kc.get_spec(name)
    size = input_size(spec)
    model = spec.builder.tiny(input_shape=(size, size, 3), classes=10,
                              classifier_activation=None)
    images = np.random.default_rng(0).uniform(-1, 1, (1, size, size, 3)).astype("float32")
    return model, images


@pytest.mark.parametrize("name", _one_per_family_then_slow())
def test_converts_with_builtin_ops_and_matches_keras(name):
    model, images = _tiny_and_images(name)
    flatbuffer = tflite.convert(model)
    ops = tflite.op_names(flatbuffer)
    assert ops and not [op for op in ops if op in ("CUSTOM", "DELEGATE") or op.startswith("Flex")]
    if kc.get_spec(name).family == "mobilenet_v3":  # h-swish fused into one op; none if minimal
        assert ("HARD_SWISH" in ops) == ("minimal" not in name), ops
    scale = float(np.max(np.abs(np.asarray(model(images, training=False)))))
    difference = tflite.check(model, flatbuffer, images)
    # Within 1e-4 (relative to the logits where they exceed 1), and to 0.1% of tiny logits.
    assert difference <= min(1e-4 * max(1.0, scale), 1e-3 * scale + 1e-6), (
        f"{name}: max |TFLite - Keras| = {difference:.3g}, logits up to {scale:.3g}")


@pytest.mark.parametrize("name, fused", [("mobilenetv3small", True),
                                         ("mobilenetv3smallminimal", False)])
def test_mobilenet_v3_h_swish_becomes_the_hard_swish_op(name, fused):
    model, _ = _tiny_and_images(name)
    assert ("HARD_SWISH" in tflite.op_names(tflite.convert(model))) == fused


@keras.saving.register_keras_serializable(package="test_tflite")
class _Determinant(keras.layers.Layer):
    """A layer whose op (MatrixDeterminant) TFLite has only as a Flex op."""

    def call(self, inputs):
        return tf.linalg.det(inputs[..., 0])

    def compute_output_shape(self, input_shape):
        return input_shape[:1]


def test_flex_ops_raise_a_clear_error_naming_them():
    inputs = keras.Input((3, 3, 1))
    model = keras.Model(inputs, _Determinant()(inputs), name="needs_flex")
    with pytest.raises(tflite.UnsupportedOpsError, match="MatrixDeterminant") as error:
        tflite.convert(model)
    assert error.value.ops == ("MatrixDeterminant",) and "needs_flex" in str(error.value)


def test_dynamic_input_sizes_need_an_input_shape():
    model = kc.MobileNetV3Small.tiny(include_top=False, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="input_shape"):
        tflite.convert(model)
    flatbuffer = tflite.convert(model, input_shape=(64, 64, 3))
    images = np.random.default_rng(1).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    assert tflite.check(model, flatbuffer, images) < 1e-4  # batch 2 through a batch-1 graph
