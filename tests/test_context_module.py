"""The Dilated-8 context module (Yu & Koltun 2016, arXiv:1511.07122, Table 1) against NumPy:
identity initialisation (eqs. 4 and 5), receptive fields (computed from the built layer and
read off an impulse response), a NumPy reference of the dilated convolutions, counts, FLOPs,
serialisation and builtin-only TFLite."""

import numpy as np
import pytest

from keras_convnets.backend import keras
from keras_convnets.flops import count_flops
from keras_convnets.layers import ContextModule
from keras_convnets.optimize import tflite

pytestmark = pytest.mark.legacy

#: Table 1's "Receptive field" row (layers 1-8), as the slides give it.
TABLE_1_RECEPTIVE_FIELDS = (3, 5, 9, 17, 33, 65, 67, 67)
#: Table 1's output channels in units of C.
TABLE_1_WIDTHS = {"basic": (1,) * 8, "large": (2, 2, 4, 8, 16, 32, 32, 1)}


def _kernels(layer):
    return [np.asarray(k) for k in layer.kernels]


def _conv_numpy(x, kernel, bias, dilation, padding):
    """A stride-1 dilated convolution by shifted slices (kernel: k, k, C_in, C_out)."""
    size = kernel.shape[0]
    if padding == "same":
        pad = dilation * (size // 2)
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    span = dilation * (size - 1)
    h, w = x.shape[1] - span, x.shape[2] - span
    out = np.zeros((x.shape[0], h, w, kernel.shape[-1]))
    for i in range(size):
        for j in range(size):
            out += x[:, i * dilation:i * dilation + h, j * dilation:j * dilation + w] @ kernel[i, j]
    return out + bias


def _module_numpy(layer, x):
    """Every layer's output: Table 1's dilations, ReLU after all but the last."""
    outputs = []
    for index, (kernel, bias, dilation) in enumerate(zip(
            _kernels(layer), [np.asarray(b) for b in layer.biases], (1, 1, 2, 4, 8, 16, 1, 1))):
        x = _conv_numpy(x, kernel.astype("float64"), bias, dilation, layer.padding)
        outputs.append(x if index == 7 else np.maximum(x, 0))
        x = outputs[-1]
    return outputs


@pytest.mark.parametrize("variant", ["basic", "large"])
def test_widths_counts_and_flops_follow_table_1(variant):
    classes = 3
    inputs = keras.Input((6, 7, classes))
    layer = ContextModule(variant)
    model = keras.Model(inputs, layer(inputs))
    widths = [classes * w for w in TABLE_1_WIDTHS[variant]]
    assert [k.shape[-1] for k in _kernels(layer)] == widths
    assert [k.shape[:2] for k in _kernels(layer)] == [(3, 3)] * 7 + [(1, 1)]
    fan_in = [classes] + widths[:-1]
    weights = sum(k * k * a * b for k, a, b in zip([3] * 7 + [1], fan_in, widths))
    if variant == "basic":
        assert weights == 64 * classes ** 2  # the paper: "64 C^2 parameters"
    assert model.count_params() == weights + sum(widths)  # the biases of the Caffe definition
    assert ContextModule(variant, use_bias=False)(np.zeros((1, 6, 7, classes), "float32")) \
        is not None
    assert count_flops(model) == 2 * 6 * 7 * weights
    assert model.output_shape == (None, 6, 7, classes)


def test_receptive_fields_are_table_1s_column():
    """Computed from the built layer's kernels and dilations -- and seen in an impulse response:
    with positive kernels, layer i's response to one pixel is a full square of side r_i (the
    dilations grow the field exponentially without gaps)."""
    layer = ContextModule(padding="same")
    x = np.zeros((1, 69, 69, 1), "float32")
    x[0, 34, 34] = 1.0
    layer(x)
    fields, field = [], 1
    for kernel, dilation in zip(_kernels(layer), layer.dilations):
        field += (kernel.shape[0] - 1) * dilation
        fields.append(field)
    assert tuple(fields) == TABLE_1_RECEPTIVE_FIELDS == layer.receptive_fields
    assert layer.margin == 66
    for kernel in layer.kernels:
        kernel.assign(np.ones(kernel.shape, "float32"))
    for output, field in zip(layer.layer_outputs(x), TABLE_1_RECEPTIVE_FIELDS):
        rows, cols = np.nonzero(output.numpy()[0, ..., 0])
        half = field // 2
        assert (rows.min(), rows.max(), cols.min(), cols.max()) == (34 - half, 34 + half) * 2
        assert len(rows) == field * field


def test_basic_identity_initialisation_is_eq_4(rng):
    layer = ContextModule("basic")
    x = rng.standard_normal((2, 9, 10, 4)).astype("float32")
    y = layer(x).numpy()
    for kernel in _kernels(layer):  # k^b(t, a) = 1[t=0] 1[a=b]
        centre = kernel.shape[0] // 2
        expected = np.zeros_like(kernel)
        expected[centre, centre] = np.eye(4)
        np.testing.assert_array_equal(kernel, expected)
    for bias in layer.biases:
        np.testing.assert_array_equal(np.asarray(bias), 0.0)
    np.testing.assert_array_equal(y, np.maximum(x, 0))  # the first truncation, then identity
    np.testing.assert_array_equal(layer(np.abs(x)).numpy(), np.abs(x))


def _eq_5(size, c_in, c_out, classes):
    kernel = np.zeros((size, size, c_in, c_out))
    for a in range(c_in):
        for b in range(c_out):
            if (a * classes) // c_in == (b * classes) // c_out:
                kernel[size // 2, size // 2, a, b] = classes / c_out
    return kernel


def test_large_initialisation_is_eq_5_and_passes_the_input_at_the_papers_scale(rng):
    classes = 3
    x = np.abs(rng.standard_normal((2, 8, 8, classes))).astype("float32")
    exact = ContextModule("large", noise=0.0)
    outputs = [o.numpy() for o in exact.layer_outputs(x)]
    c_in = classes
    for kernel, output in zip(_kernels(exact), outputs):
        c_out = kernel.shape[-1]
        np.testing.assert_allclose(kernel, _eq_5(kernel.shape[0], c_in, c_out, classes))
        # each of the c_i / C maps descending from input map g holds x_g C / c_i
        expected = np.repeat(x, c_out // classes, axis=-1) * classes / c_out
        np.testing.assert_allclose(output, expected, rtol=1e-6)
        c_in = c_out
    np.testing.assert_allclose(outputs[-1], x, rtol=1e-5)

    noisy = ContextModule("large", noise=0.01, seed=7)
    y = noisy(x).numpy()
    c_in = classes
    for kernel in _kernels(noisy):
        c_out = kernel.shape[-1]
        scaled = _eq_5(kernel.shape[0], c_in, c_out, classes)
        ties = scaled != 0
        np.testing.assert_allclose(kernel[ties], scaled[ties])  # eq. 5's C / c_(i+1) entries
        eps = kernel[~ties]
        assert np.all(eps != 0) and np.std(eps) == pytest.approx(0.01 * classes / c_out,
                                                                rel=0.2)
        c_in = c_out
    np.testing.assert_allclose(y, x, atol=0.3)  # the identity, perturbed by the noise
    again = ContextModule("large", noise=0.01, seed=7)
    again.build((None, 8, 8, classes))
    for a, b in zip(_kernels(noisy), _kernels(again)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("variant, padding, size", [("basic", "same", (7, 9)),
                                                    ("large", "same", (5, 6)),
                                                    ("basic", "valid", (68, 70))])
def test_matches_numpy_dilated_convolutions(rng, variant, padding, size):
    classes = 2
    layer = ContextModule(variant, padding=padding)
    x = rng.standard_normal((2, *size, classes)).astype("float32")
    layer.build(x.shape)
    for weight in layer.weights:  # random weights: the identity would hide mistakes
        weight.assign(rng.standard_normal(weight.shape).astype("float32")
                      / np.sqrt(np.prod(weight.shape[:-1])))
    got = [o.numpy() for o in layer.layer_outputs(x)]
    for g, e in zip(got, _module_numpy(layer, x.astype("float64"))):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4)
    y = layer(x).numpy()
    assert y.shape == (2, size[0] - layer.margin if padding == "valid" else size[0],
                       size[1] - layer.margin if padding == "valid" else size[1], classes)


def test_round_trip_and_tflite_builtins(rng, save_and_reload):
    inputs = keras.Input((8, 8, 3))
    layer = ContextModule("large", seed=1)
    model = keras.Model(inputs, layer(inputs))
    for weight in layer.weights:
        weight.assign(rng.standard_normal(weight.shape).astype("float32") * 0.1)
    x = rng.uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
    reloaded = save_and_reload(model)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert type(reloaded.layers[-1]) is ContextModule
    assert ContextModule.from_config(layer.get_config()).get_config() == layer.get_config()

    flatbuffer = tflite.convert(model)
    # convert() admits builtin ops only; the dilated convolutions run as Keras' own do
    assert set(tflite.op_names(flatbuffer)) <= {"CONV_2D", "SPACE_TO_BATCH_ND",
                                                 "BATCH_TO_SPACE_ND", "RELU", "ADD"}
    np.testing.assert_allclose(tflite.run(flatbuffer, x[:1]), model(x[:1]).numpy(),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(variant="huge"), r"`variant` must be one of 'basic', 'large'; got 'huge'"),
    (dict(padding="full"), r"`padding` must be one of 'same', 'valid'; got 'full'"),
    (dict(noise=-0.1), r"`noise` must be a number in \[0, 1\)"),
    (dict(use_bias="yes"), r"`use_bias` must be True or False; got 'yes'"),
    (dict(seed=1.5), r"`seed` must be None or an integer; got 1.5"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContextModule(**kwargs)
