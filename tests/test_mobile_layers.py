"""Unit tests for the MobileNetV3 activations and the PyTorch-padded max pooling, against NumPy;
runs under both Keras worlds."""

import numpy as np
import pytest

from keras_convnets.backend import keras, tf
from keras_convnets.layers import HardSigmoid, HardSwish, PaddedMaxPool2D
from keras_convnets.optimize import tflite

pytestmark = pytest.mark.legacy


def _round_trip(layer, x, save_and_reload):
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    reloaded = save_and_reload(model)
    np.testing.assert_array_equal(np.asarray(reloaded(x)), np.asarray(model(x)))
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


# -- HardSigmoid / HardSwish ------------------------------------------------------------------
def _np_hard_sigmoid(x):
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


# Covers both kinks (-3, 3) and the linear part between them.
_POINTS = np.array([-10, -3.5, -3, -2.5, -1, -1e-3, 0, 1e-3, 0.5, 2.9, 3, 3.1, 7], "float32")


@pytest.mark.parametrize("layer_cls, reference", [
    (HardSigmoid, _np_hard_sigmoid),
    (HardSwish, lambda x: x * _np_hard_sigmoid(x)),
])
def test_hard_activations_match_numpy(rng, layer_cls, reference):
    x = np.concatenate([_POINTS, rng.uniform(-8, 8, 243).astype("float32")]).reshape(1, 16, 16, 1)
    np.testing.assert_allclose(np.asarray(layer_cls()(x)), reference(x), rtol=1e-6, atol=1e-7)


def test_hard_activations_keep_dtype_and_round_trip(rng, save_and_reload):
    x16 = rng.uniform(-5, 5, (2, 3, 3, 4)).astype("float16")
    assert HardSwish(dtype="float16")(tf.constant(x16)).dtype == tf.float16
    x = rng.uniform(-5, 5, (2, 3, 3, 4)).astype("float32")
    _round_trip(HardSwish(), x, save_and_reload)
    _round_trip(HardSigmoid(), x, save_and_reload)


def test_hard_swish_converts_to_tflite_hard_swish_op(rng):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    model = keras.Model(inputs, HardSwish()(x))
    flatbuffer = tflite.convert(model)
    assert "HARD_SWISH" in tflite.op_names(flatbuffer)
    assert tflite.check(model, flatbuffer, rng.uniform(-4, 4, (1, 8, 8, 3))) < 1e-5


# -- PaddedMaxPool2D --------------------------------------------------------------------------
def _np_max_pool(x, size, stride, pad):
    x = np.pad(x, [(0, 0), (pad, pad), (pad, pad), (0, 0)], constant_values=-np.inf)
    out_h = (x.shape[1] - size) // stride + 1
    out_w = (x.shape[2] - size) // stride + 1
    out = np.empty((x.shape[0], out_h, out_w, x.shape[3]), x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * stride:i * stride + size, j * stride:j * stride + size]
            out[:, i, j] = window.max(axis=(1, 2))
    return out


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (2, 7, 10, 3)])
@pytest.mark.parametrize("size, stride, pad", [(3, 2, 1), (3, 1, 1), (2, 2, 1), (3, 2, 0)])
def test_padded_max_pool_matches_numpy(rng, shape, size, stride, pad):
    x = rng.standard_normal(shape).astype("float32") - 3.0  # mostly negative: padding must lose
    layer = PaddedMaxPool2D(size, stride, pad)
    out = np.asarray(layer(x))
    np.testing.assert_array_equal(out, _np_max_pool(x, size, stride, pad))
    assert out.shape == layer.compute_output_shape(shape)


def test_padded_max_pool_differs_from_keras_same_on_even_sizes(rng):
    """Why the layer exists: Keras' "same" shifts the windows of a stride-2 pool on an even map."""
    x = rng.standard_normal((1, 8, 8, 2)).astype("float32")
    same = np.asarray(keras.layers.MaxPooling2D(3, 2, padding="same")(x))
    ours = np.asarray(PaddedMaxPool2D(3, 2, 1)(x))
    assert same.shape == ours.shape and not np.array_equal(same, ours)


def test_padded_max_pool_round_trip_and_errors(rng, save_and_reload):
    _round_trip(PaddedMaxPool2D(3, 2, 1), rng.standard_normal((1, 6, 6, 2)).astype("float32"),
                save_and_reload)
    with pytest.raises(ValueError, match="padding"):
        PaddedMaxPool2D(3, 2, 2)
    with pytest.raises(ValueError, match="pool_size"):
        PaddedMaxPool2D(0)
