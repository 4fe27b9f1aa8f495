"""ChannelShuffle and Shift against NumPy; serialisation; errors; TFLite builtin conversion."""

import numpy as np
import pytest

from keras_convnets.backend import keras, tf
from keras_convnets.flops import count_flops
from keras_convnets.layers import ChannelShuffle, Shift
from keras_convnets.layers.channel_shuffle import shuffle_permutation
from keras_convnets.layers.shift import shift_directions

pytestmark = pytest.mark.legacy


def _round_trip(layer, x, save_and_reload):
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    reloaded = save_and_reload(model)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    return model


def _tflite_run(model, x):
    """Converts with builtin ops only and runs the interpreter."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


# -- ChannelShuffle ---------------------------------------------------------------------------
def _shuffle_numpy(x, groups):
    n, h, w, c = x.shape
    return x.reshape(n, h, w, groups, c // groups).swapaxes(3, 4).reshape(n, h, w, c)


@pytest.mark.parametrize("groups, channels", [(1, 6), (2, 8), (3, 12), (8, 24), (12, 12)])
def test_channel_shuffle_matches_numpy(rng, groups, channels):
    x = rng.standard_normal((2, 3, 4, channels)).astype("float32")
    y = ChannelShuffle(groups)(x).numpy()
    np.testing.assert_array_equal(y, _shuffle_numpy(x, groups))
    np.testing.assert_array_equal(y, x[..., shuffle_permutation(channels, groups)])


def test_channel_shuffle_interleaves_groups():
    x = np.arange(6, dtype="float32").reshape(1, 1, 1, 6)  # groups [0 1 | 2 3 | 4 5]
    np.testing.assert_array_equal(ChannelShuffle(3)(x).numpy().ravel(), [0, 2, 4, 1, 3, 5])
    # shuffling by g then by C/g is the identity (the inverse permutation)
    x = np.random.default_rng(1).standard_normal((1, 2, 2, 12)).astype("float32")
    np.testing.assert_array_equal(ChannelShuffle(4)(ChannelShuffle(3)(x)).numpy(), x)


def test_channel_shuffle_errors_name_groups_value_and_channels():
    with pytest.raises(ValueError, match=r"`groups`=5 does not divide the 12 input channels"):
        ChannelShuffle(5)(np.zeros((1, 2, 2, 12), "float32"))
    with pytest.raises(ValueError, match="groups"):
        ChannelShuffle(0)
    with pytest.raises(ValueError, match="groups"):
        ChannelShuffle(2.5)


def test_channel_shuffle_round_trip_flops_and_unknown_spatial_size(rng, save_and_reload):
    x = rng.standard_normal((2, 5, 3, 12)).astype("float32")
    model = _round_trip(ChannelShuffle(4), x, save_and_reload)
    assert count_flops(model) == 0 and model.count_params() == 0
    layer = ChannelShuffle(4)
    inputs = keras.Input((None, None, 12))
    dynamic = keras.Model(inputs, layer(inputs))
    np.testing.assert_array_equal(dynamic.predict(x, verbose=0), model.predict(x, verbose=0))
    assert layer.count_flops((None, 5, 3, 12), (None, 5, 3, 12)) == 0


def test_channel_shuffle_converts_to_tflite_builtins(rng):
    x = rng.standard_normal((2, 4, 4, 12)).astype("float32")
    inputs = keras.Input((4, 4, 12))
    model = keras.Model(inputs, ChannelShuffle(3)(inputs))
    np.testing.assert_array_equal(_tflite_run(model, x), _shuffle_numpy(x, 3))


# -- Shift ------------------------------------------------------------------------------------
def _shift_numpy(x, kernel_size, dilation, layout):
    """A depthwise convolution with a one-hot k x k kernel per channel, as direct loops."""
    n, h, w, c = x.shape
    k = kernel_size
    directions = shift_directions(c, k, layout)
    out = np.zeros_like(x)
    for ch, d in enumerate(directions):
        dy, dx = (d // k - k // 2) * dilation, (d % k - k // 2) * dilation
        for i in range(h):
            for j in range(w):
                if 0 <= i + dy < h and 0 <= j + dx < w:
                    out[:, i, j, ch] = x[:, i + dy, j + dx, ch]
    return out


@pytest.mark.parametrize("channels, kernel_size, dilation, layout", [
    (9, 3, 1, "grouped"), (20, 3, 1, "grouped"), (20, 3, 1, "interleaved"),
    (27, 3, 2, "grouped"), (30, 5, 1, "interleaved"), (25, 5, 1, "grouped"),
])
def test_shift_matches_numpy(rng, channels, kernel_size, dilation, layout):
    x = rng.standard_normal((2, 6, 7, channels)).astype("float32")
    y = Shift(kernel_size, dilation, layout)(x).numpy()
    np.testing.assert_array_equal(y, _shift_numpy(x, kernel_size, dilation, layout))


def test_shift_is_a_one_hot_depthwise_convolution(rng):
    x = rng.standard_normal((1, 5, 5, 18)).astype("float32")
    kernel = np.zeros((3, 3, 18, 1), "float32")
    for ch, d in enumerate(shift_directions(18, 3, "grouped")):
        kernel[d // 3, d % 3, ch, 0] = 1.0
    depthwise = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME").numpy()
    np.testing.assert_array_equal(Shift()(x).numpy(), depthwise)


def test_shift_directions_cover_the_kernel_and_leave_the_remainder_in_place():
    grouped = shift_directions(20, 3, "grouped")
    assert grouped == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 4, 4]
    interleaved = shift_directions(20, 3, "interleaved")
    assert interleaved[:18] == list(range(9)) * 2 and interleaved[18:] == [4, 4]


def test_shift_has_no_weights_no_flops_and_round_trips(rng, save_and_reload):
    x = rng.standard_normal((2, 4, 4, 18)).astype("float32")
    layer = Shift(layout="interleaved")
    model = _round_trip(layer, x, save_and_reload)
    assert not layer.weights and model.count_params() == 0
    assert count_flops(model) == 0
    # unknown spatial size
    inputs = keras.Input((None, None, 18))
    dynamic = keras.Model(inputs, Shift(layout="interleaved")(inputs))
    np.testing.assert_array_equal(dynamic.predict(x, verbose=0), model.predict(x, verbose=0))


def test_shift_gradient_is_the_reverse_shift(rng):
    x = tf.constant(rng.standard_normal((1, 5, 5, 9)).astype("float32"))
    upstream = rng.standard_normal((1, 5, 5, 9)).astype("float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(Shift()(x) * upstream)
    grad = tape.gradient(loss, x).numpy()
    # <shift(x), u> = <x, shift^T(u)>: check against the adjoint built from the NumPy shift
    basis = np.eye(x.shape.num_elements(), dtype="float32").reshape((-1, 1, 5, 5, 9))
    adjoint = np.array([np.sum(_shift_numpy(b, 3, 1, "grouped") * upstream) for b in basis])
    np.testing.assert_allclose(grad.ravel(), adjoint, atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"kernel_size": 4}, "odd"), ({"kernel_size": 0}, "kernel_size"),
    ({"dilation_rate": 0}, "dilation_rate"), ({"layout": "random"}, "layout"),
])
def test_shift_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Shift(**kwargs)


def test_shift_needs_a_group_per_direction():
    with pytest.raises(ValueError, match=r"at least 9 input channels.*got 6"):
        Shift()(np.zeros((1, 3, 3, 6), "float32"))


def test_shift_converts_to_tflite_builtins(rng):
    x = rng.standard_normal((2, 6, 6, 20)).astype("float32")
    for layout in ("grouped", "interleaved"):
        inputs = keras.Input((6, 6, 20))
        model = keras.Model(inputs, Shift(layout=layout)(inputs))
        np.testing.assert_array_equal(_tflite_run(model, x), _shift_numpy(x, 3, 1, layout))
