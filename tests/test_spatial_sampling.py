"""Sampling-based spatial operators against NumPy: deformable convolution v1, deformable RoI
pooling, irregular convolution, spatial transformer. Each: its zero-offset / identity case
reproduces the plain operator, a NumPy reference of bilinear sampling with random offsets, an
SGD training step that moves the offsets, the ``.keras`` round trip (safe mode) of the trained
layer, and TFLite conversion with builtin ops only."""

import numpy as np
import pytest

from keras_convnets.backend import keras, tf
from keras_convnets.layers import (DeformableConv2D, DeformableRoIPooling, IrregularConv2D,
                                   SpatialTransformer)
from keras_convnets.optimize import tflite

pytestmark = pytest.mark.legacy


# -- NumPy references ---------------------------------------------------------------------------
def _bilinear_np(image, y, x):
    """Eq. (3)-(4) of Dai et al.: sum over the 4 neighbours of max(0, 1-|dy|) max(0, 1-|dx|),
    zero outside. ``image`` (H, W, C); pixel centres at integer coordinates."""
    height, width = image.shape[:2]
    out = np.zeros(image.shape[-1])
    for row in (np.floor(y), np.floor(y) + 1):
        for col in (np.floor(x), np.floor(x) + 1):
            if 0 <= row < height and 0 <= col < width:
                weight = max(0.0, 1 - abs(y - row)) * max(0.0, 1 - abs(x - col))
                out += weight * image[int(row), int(col)]
    return out


def _geometry(length, kernel, stride, dilation, padding):
    effective = (kernel - 1) * dilation + 1
    if padding == "valid":
        return (length - effective) // stride + 1, 0
    out = -(-length // stride)
    return out, max((out - 1) * stride + effective - length, 0) // 2


def _deform_conv_np(x, kernel, offsets, stride, padding, dilation):
    """Eq. (2): y(p0) = sum_k w_k x(p0 + p_k + dp_k) by direct loops; ``offsets``
    (N, Ho, Wo, K, 2) or None for the plain convolution."""
    x, kernel = x.astype("float64"), kernel.astype("float64")
    n, h, w, _ = x.shape
    kh, kw, _, filters = kernel.shape
    out_h, top = _geometry(h, kh, stride, dilation, padding)
    out_w, left = _geometry(w, kw, stride, dilation, padding)
    out = np.zeros((n, out_h, out_w, filters))
    for b in range(n):
        for i in range(out_h):
            for j in range(out_w):
                for ky in range(kh):
                    for kx in range(kw):
                        dy, dx = (0.0, 0.0) if offsets is None else offsets[b, i, j, ky * kw + kx]
                        value = _bilinear_np(x[b], i * stride - top + ky * dilation + dy,
                                             j * stride - left + kx * dilation + dx)
                        out[b, i, j] += value @ kernel[ky, kx]
    return out


def _roi_pool_np(features, boxes, box_indices, pooled, scale, ratio, gamma=0.1, kernel=None,
                 bias=None):
    """Plain (kernel None) or deformable RoI average pooling, ratio x ratio samples per bin."""
    features = features.astype("float64")
    out = np.zeros((len(boxes), pooled, pooled, features.shape[-1]))
    for r, (box, index) in enumerate(zip(boxes.astype("float64") * scale, box_indices)):
        y1, x1, y2, x2 = box
        h, w = y2 - y1, x2 - x1
        plain = np.zeros_like(out[0])
        for i in range(pooled):
            for j in range(pooled):
                for a in range(ratio):
                    for c in range(ratio):
                        plain[i, j] += _bilinear_np(
                            features[index], y1 + (i + (a + 0.5) / ratio) * h / pooled - 0.5,
                            x1 + (j + (c + 0.5) / ratio) * w / pooled - 0.5) / ratio ** 2
        if kernel is None:
            out[r] = plain
            continue
        normalised = (plain.reshape(-1) @ kernel + bias).reshape(pooled, pooled, 2)
        for i in range(pooled):
            for j in range(pooled):
                dy, dx = gamma * normalised[i, j, 0] * h, gamma * normalised[i, j, 1] * w
                for a in range(ratio):
                    for c in range(ratio):
                        out[r, i, j] += _bilinear_np(
                            features[index],
                            y1 + (i + (a + 0.5) / ratio) * h / pooled - 0.5 + dy,
                            x1 + (j + (c + 0.5) / ratio) * w / pooled - 0.5 + dx) / ratio ** 2
    return out


def _affine_np(images, theta, out_h, out_w):
    """Jaderberg et al. Eq. (1) in normalised coordinates (-1..1 at the extreme pixel centres),
    then the bilinear sampler."""
    n, h, w, c = images.shape
    out = np.zeros((n, out_h, out_w, c))
    xt, yt = np.linspace(-1, 1, out_w), np.linspace(-1, 1, out_h)
    for b in range(n):
        t = theta[b].astype("float64")
        for i in range(out_h):
            for j in range(out_w):
                xs = t[0] * xt[j] + t[1] * yt[i] + t[2]
                ys = t[3] * xt[j] + t[4] * yt[i] + t[5]
                out[b, i, j] = _bilinear_np(images[b].astype("float64"), (ys + 1) * (h - 1) / 2,
                                            (xs + 1) * (w - 1) / 2)
    return out


# -- shared checks ------------------------------------------------------------------------------
def _train(model, inputs, target, steps=3):
    """A few SGD steps; returns the losses."""
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return [float(model.train_on_batch(inputs, target)) for _ in range(steps)]


def _round_trip(model, layer, inputs, save_and_reload):
    reloaded = save_and_reload(model)  # eager calls: no tf.function to trace twice
    np.testing.assert_array_equal(np.asarray(reloaded(inputs, training=False)),
                                  np.asarray(model(inputs, training=False)))
    assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def _tflite_ops(model, inputs):
    """Converts ``model`` (one input or several) with TFLite builtin ops only, runs it on
    ``inputs`` and checks it against Keras; returns the op names."""
    inputs = inputs if isinstance(inputs, list) else [inputs]
    if len(inputs) == 1:
        data = tflite.convert(model, batch_size=len(inputs[0]))
    else:
        specs = [tf.TensorSpec(a.shape, a.dtype) for a in inputs]
        function = tf.function(lambda *a: model(list(a), training=False), input_signature=specs)
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [function.get_concrete_function()], tflite._variables_of(model))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        data = converter.convert()
    interpreter = tflite.make_interpreter(data)
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()
    for detail in details:  # match by shape: the converter may reorder the inputs
        value = next(a for a in inputs if tuple(a.shape) == tuple(detail["shape"]))
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    expected = np.asarray(model(inputs if len(inputs) > 1 else inputs[0], training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    return tflite.op_names(data)


# -- DeformableConv2D ---------------------------------------------------------------------------
GEOMETRIES = [("valid", 1, 1), ("same", 2, 1), ("same", 1, 2)]


@pytest.mark.parametrize("padding, stride, dilation", GEOMETRIES)
def test_deformable_conv_with_zero_offsets_is_the_plain_conv(rng, padding, stride, dilation):
    x = rng.standard_normal((2, 9, 8, 3)).astype("float32")
    layer = DeformableConv2D(5, 3, strides=stride, padding=padding, dilation_rate=dilation)
    plain = keras.layers.Conv2D(5, 3, strides=stride, padding=padding, dilation_rate=dilation)
    y = layer(x).numpy()
    plain(x)
    plain.set_weights([layer.kernel.numpy(), layer.bias.numpy()])
    np.testing.assert_allclose(y, plain(x).numpy(), rtol=1e-6, atol=1e-6)
    assert np.all(layer.offsets(x).numpy() == 0)


@pytest.mark.parametrize("padding, stride, dilation", GEOMETRIES[:2])
def test_deformable_conv_matches_numpy_with_random_offsets(rng, padding, stride, dilation):
    x = rng.standard_normal((2, 7, 6, 3)).astype("float32")
    layer = DeformableConv2D(4, 3, strides=stride, padding=padding, dilation_rate=dilation)
    layer(x)
    offset_kernel = rng.normal(0, 0.5, layer.offset_kernel.shape).astype("float32")
    offset_bias = rng.normal(0, 1.5, layer.offset_bias.shape).astype("float32")  # some outside
    layer.offset_kernel.assign(offset_kernel)
    layer.offset_bias.assign(offset_bias)
    offsets = _deform_conv_np(x, offset_kernel, None, stride, padding, dilation) + offset_bias
    np.testing.assert_allclose(layer.offsets(x).numpy(), offsets, rtol=1e-4, atol=1e-4)
    offsets = offsets.reshape(offsets.shape[:3] + (9, 2))
    expected = _deform_conv_np(x, layer.kernel.numpy(), offsets, stride, padding, dilation)
    np.testing.assert_allclose(layer(x).numpy(), expected + layer.bias.numpy(), rtol=1e-4,
                               atol=1e-4)


def test_deformable_conv_trains_round_trips_and_converts_to_tflite(rng, save_and_reload):
    x = rng.standard_normal((2, 8, 8, 3)).astype("float32")
    inputs = keras.Input((8, 8, 3))
    layer = DeformableConv2D(4, 3, padding="same", name="dcn")
    model = keras.Model(inputs, layer(inputs))
    losses = _train(model, x, np.zeros((2, 8, 8, 4), "float32") + 0.5)
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert np.abs(layer.offset_kernel.numpy()).max() > 0  # the offsets learnt
    assert np.abs(layer.offsets(x).numpy()).max() > 0
    _round_trip(model, layer, x, save_and_reload)
    assert {"GATHER", "FLOOR", "CONV_2D"} <= set(_tflite_ops(model, x))
    assert layer.count_flops((None, 8, 8, 3), (None, 8, 8, 4)) == 2 * 9 * 3 * (4 + 18) * 64


def test_deformable_conv_errors_name_the_argument():
    with pytest.raises(ValueError, match="`padding` must be one of 'valid', 'same'; got 'full'"):
        DeformableConv2D(4, padding="full")
    with pytest.raises(ValueError, match="`strides`=.*`dilation_rate`"):
        DeformableConv2D(4, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="`filters`"):
        DeformableConv2D(0)


# -- IrregularConv2D ----------------------------------------------------------------------------
def test_irregular_conv_regular_shape_is_the_plain_conv_and_matches_numpy(rng):
    x = rng.standard_normal((2, 7, 8, 3)).astype("float32")
    layer = IrregularConv2D(4, 3, strides=2, padding="same")
    plain = keras.layers.Conv2D(4, 3, strides=2, padding="same")
    y = layer(x).numpy()
    plain(x)
    plain.set_weights([layer.kernel.numpy(), layer.bias.numpy()])
    np.testing.assert_allclose(y, plain(x).numpy(), rtol=1e-6, atol=1e-6)
    # a learnt irregular shape: one displacement per kernel element, the same at every pixel
    shape_offsets = rng.uniform(-2.5, 2.5, (3, 3, 2)).astype("float32")
    layer.shape_offsets.assign(shape_offsets)
    offsets = np.broadcast_to(shape_offsets.reshape(9, 2), (2, 4, 4, 9, 2))
    expected = _deform_conv_np(x, layer.kernel.numpy(), offsets, 2, "same", 1)
    np.testing.assert_allclose(layer(x).numpy(), expected + layer.bias.numpy(), rtol=1e-4,
                               atol=1e-4)
    grid = np.stack(np.meshgrid(np.arange(3), np.arange(3), indexing="ij"), -1)
    np.testing.assert_allclose(layer.positions().numpy(), grid + shape_offsets, atol=1e-6)


def test_irregular_conv_is_deformable_conv_with_image_constant_offsets(rng):
    x = rng.standard_normal((1, 6, 7, 2)).astype("float32")
    irregular = IrregularConv2D(3, 3, dilation_rate=2, padding="same")
    deformable = DeformableConv2D(3, 3, dilation_rate=2, padding="same")
    irregular(x), deformable(x)
    shape_offsets = rng.uniform(-1.5, 1.5, (3, 3, 2)).astype("float32")
    irregular.shape_offsets.assign(shape_offsets)
    deformable.kernel.assign(irregular.kernel)
    deformable.offset_bias.assign(shape_offsets.reshape(-1))
    np.testing.assert_allclose(irregular(x).numpy(), deformable(x).numpy(), rtol=1e-5,
                               atol=1e-5)


def test_irregular_conv_trains_its_shape_round_trips_and_converts_to_tflite(rng,
                                                                            save_and_reload):
    x = rng.standard_normal((2, 8, 8, 3)).astype("float32")
    inputs = keras.Input((8, 8, 3))
    layer = IrregularConv2D(4, 3, padding="same", name="irregular")
    model = keras.Model(inputs, layer(inputs))
    assert len(layer.trainable_weights) == 3 and model.count_params() == 9 * 3 * 4 + 4 + 18
    losses = _train(model, x, np.zeros((2, 8, 8, 4), "float32") + 0.5)
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert np.abs(layer.shape_offsets.numpy()).max() > 0  # the kernel shape learnt
    _round_trip(model, layer, x, save_and_reload)
    assert {"GATHER", "CONV_2D"} <= set(_tflite_ops(model, x))
    assert layer.count_flops((None, 8, 8, 3), (None, 8, 8, 4)) == 2 * 9 * 3 * 4 * 64
    with pytest.raises(ValueError, match="`kernel_size`"):
        IrregularConv2D(4, kernel_size=(3, 3, 3))


@pytest.mark.parametrize("layer_class", [DeformableConv2D, IrregularConv2D])
def test_sampling_convolutions_take_inputs_of_unknown_size(rng, layer_class):
    """Traced with unknown height and width (the geometry from tf.shape), the same result."""
    layer = layer_class(3, 3, strides=2, padding="same")
    x = rng.standard_normal((1, 7, 9, 2)).astype("float32")
    layer(x)
    for weight in layer.weights[2:]:  # offsets: the offset conv / the kernel shape
        weight.assign(rng.normal(0, 0.7, weight.shape))
    traced = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 2))])
    np.testing.assert_allclose(traced(x).numpy(), layer(x).numpy(), rtol=1e-6, atol=1e-6)


# -- DeformableRoIPooling ----------------------------------------------------------------------
BOXES = np.array([[[0, 0, 16, 16], [4, 2, 14, 18], [-3, 5, 9, 30]],
                  [[2, 2, 8, 8], [0, 6, 18, 12], [5, 5, 6, 7]]], "float32")  # input pixels


def test_deformable_roi_pooling_zero_offsets_is_roi_average_pooling(rng):
    features = rng.standard_normal((2, 9, 10, 3)).astype("float32")
    layer = DeformableRoIPooling(3, spatial_scale=0.5, sampling_ratio=2)
    batched = layer([features, BOXES]).numpy()
    assert batched.shape == (2, 3, 3, 3, 3)
    flat = layer([features, BOXES.reshape(-1, 4), np.array([0, 0, 0, 1, 1, 1])]).numpy()
    np.testing.assert_array_equal(flat, batched.reshape(6, 3, 3, 3))
    expected = _roi_pool_np(features, BOXES.reshape(-1, 4), [0, 0, 0, 1, 1, 1], 3, 0.5, 2)
    np.testing.assert_allclose(flat, expected, rtol=1e-5, atol=1e-5)
    # a box covering whole pixels with one sample per pixel is the plain average of them
    one = DeformableRoIPooling(2, sampling_ratio=2)([features, np.array([[[2, 4, 6, 8]]],
                                                                         "float32")])
    blocks = features[:1, 2:6, 4:8].reshape(1, 2, 2, 2, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(one.numpy()[:, 0], blocks, rtol=1e-5, atol=1e-6)


def test_deformable_roi_pooling_matches_numpy_with_learnt_offsets(rng):
    features = rng.standard_normal((2, 9, 10, 3)).astype("float32")
    boxes, indices = BOXES.reshape(-1, 4), np.array([1, 0, 0, 1, 0, 1])
    layer = DeformableRoIPooling(3, spatial_scale=0.5, sampling_ratio=2, gamma=0.1)
    layer([features, boxes, indices])
    kernel = rng.normal(0, 1.0, layer.offset_kernel.shape).astype("float32")
    bias = rng.normal(0, 2.0, layer.offset_bias.shape).astype("float32")
    layer.offset_kernel.assign(kernel)
    layer.offset_bias.assign(bias)
    expected = _roi_pool_np(features, boxes, indices, 3, 0.5, 2, 0.1, kernel, bias)
    np.testing.assert_allclose(layer([features, boxes, indices]).numpy(), expected, rtol=1e-4,
                               atol=1e-4)
    assert layer.normalised_offsets([features, boxes, indices]).shape == (6, 3, 3, 2)


def test_deformable_roi_pooling_trains_round_trips_and_converts_to_tflite(rng,
                                                                          save_and_reload):
    features = rng.standard_normal((2, 9, 10, 3)).astype("float32")
    feature_input, box_input = keras.Input((9, 10, 3)), keras.Input((3, 4))
    layer = DeformableRoIPooling(2, spatial_scale=0.5, sampling_ratio=2, name="droi")
    model = keras.Model([feature_input, box_input], layer([feature_input, box_input]))
    losses = _train(model, [features, BOXES], np.ones((2, 3, 2, 2, 3), "float32"))
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert np.abs(layer.offset_kernel.numpy()).max() > 0  # the offset fc learnt
    _round_trip(model, layer, [features, BOXES], save_and_reload)
    assert {"GATHER", "FLOOR"} <= set(_tflite_ops(model, [features, BOXES]))
    assert layer.count_flops((None, 9, 10, 3), (None, 3, 2, 2, 3)) == 3 * 2 * 4 * 3 * 8
    with pytest.raises(ValueError, match="boxes must be"):
        DeformableRoIPooling(2)([features, BOXES.reshape(-1, 4)])
    with pytest.raises(ValueError, match="`gamma`"):
        DeformableRoIPooling(2, gamma=-1)


# -- SpatialTransformer -------------------------------------------------------------------------
def test_spatial_transformer_identity_reproduces_the_input_exactly(rng):
    x = rng.standard_normal((2, 12, 10, 3)).astype("float32")
    layer = SpatialTransformer()
    np.testing.assert_array_equal(layer(x).numpy(), x)
    np.testing.assert_array_equal(layer.theta(x).numpy(), np.tile([1, 0, 0, 0, 1, 0], (2, 1)))


def test_spatial_transformer_sampler_matches_numpy_for_a_known_affine(rng):
    x = rng.standard_normal((2, 9, 11, 2)).astype("float32")
    angle, scale = 0.4, 0.8  # rotate, zoom in, shift: parts of the grid fall outside
    theta = np.array([[scale * np.cos(angle), -scale * np.sin(angle), 0.1,
                       scale * np.sin(angle), scale * np.cos(angle), -0.2],
                      [1.3, 0.0, 0.0, 0.0, 0.7, 0.3]], "float32")
    layer = SpatialTransformer(output_size=(7, 8),
                               localization=[keras.layers.GlobalAveragePooling2D()])
    layer(x)
    kernel = np.zeros((2, 6), "float32")
    kernel[0, 2] = 0.5  # theta depends on the input too (t13 += mean of channel 0)
    layer.regression.set_weights([kernel, theta[0]])
    expected_theta = theta[[0, 0]] + np.outer(x[..., 0].mean(axis=(1, 2)), [0, 0, 0.5, 0, 0, 0])
    np.testing.assert_allclose(layer.theta(x).numpy(), expected_theta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer(x).numpy(), _affine_np(x, expected_theta, 7, 8),
                               rtol=1e-4, atol=1e-4)
    layer.regression.set_weights([np.zeros((2, 6), "float32"), theta[1]])
    np.testing.assert_allclose(layer(x).numpy(), _affine_np(x, theta[[1, 1]], 7, 8),
                               rtol=1e-4, atol=1e-4)
    # a quarter turn of a square image is np.rot90, exactly
    square = rng.standard_normal((1, 6, 6, 2)).astype("float32")
    layer = SpatialTransformer(localization=[keras.layers.GlobalAveragePooling2D()])
    layer(square)
    layer.regression.set_weights([np.zeros((2, 6), "float32"),
                                  np.array([0, -1, 0, 1, 0, 0], "float32")])
    np.testing.assert_array_equal(layer(square).numpy()[0], np.rot90(square[0]))


def test_spatial_transformer_trains_round_trips_and_converts_to_tflite(rng, save_and_reload):
    x = rng.uniform(0, 1, (4, 12, 12, 1)).astype("float32")
    inputs = keras.Input((12, 12, 1))
    localization = [keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
                    keras.layers.Flatten(), keras.layers.Dense(8, activation="tanh")]
    layer = SpatialTransformer(output_size=(8, 8), localization=localization, name="stn")
    model = keras.Model(inputs, layer(inputs))
    target = np.asarray(tf.image.resize(x[:, 2:10, 2:10], (8, 8)))  # zoom in on the centre
    losses = _train(model, x, target)
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert np.abs(layer.regression.kernel.numpy()).max() > 0  # theta left the identity
    _round_trip(model, layer, x, save_and_reload)
    assert {"GATHER", "FLOOR", "CONV_2D", "FULLY_CONNECTED"} <= set(_tflite_ops(model, x))
    assert layer.count_flops((None, 12, 12, 1), (None, 8, 8, 1)) == (
        2 * 9 * 1 * 4 * 25 + 2 * 100 * 8 + 2 * 8 * 6)
    default = SpatialTransformer()
    default.build((None, 16, 16, 3))
    assert default.get_config()["localization"] is None and len(default.trainable_weights) == 8
    with pytest.raises(ValueError, match="`localization` must be None or a list"):
        SpatialTransformer(localization=keras.layers.Dense(3))
    with pytest.raises(ValueError, match="`output_size`"):
        SpatialTransformer(output_size=(0, 4))
