"""Spatial operators (issue 16): GCN + Boundary Refinement, upsampling (bilinear transposed
conv, resize-conv, PixelShuffle + ICNR, max-unpooling) and EncNet's Context Encoding.

Each against a NumPy reference; ``.keras`` round trip in safe mode; a small SGD step; TFLite with
builtin ops only, or -- for the argmax pooling -- the converter's error naming the op and layer.
"""

import numpy as np
import pytest

from keras_convnets.backend import keras, tf
from keras_convnets.flops import count_flops
from keras_convnets.layers import (ICNR, BoundaryRefinement, ContextEncoding, GlobalConvBlock,
                                   MaxPoolingWithArgmax2D, MaxUnpooling2D, PixelShuffle,
                                   ResizeConv2D, bilinear_upsampling_kernel, se_loss,
                                   se_loss_targets)
from keras_convnets.layers.pixel_shuffle import crd_to_dcr
from keras_convnets.optimize import tflite

pytestmark = pytest.mark.legacy


# -- NumPy references and helpers -------------------------------------------------------------
def _conv_same(x, kernel, bias=None):
    """Stride-1 convolution with symmetric zero padding (odd kernels), NHWC / HWIO."""
    kh, kw = kernel.shape[:2]
    n, h, w, _ = x.shape
    padded = np.pad(x, [(0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)])
    out = np.zeros((n, h, w, kernel.shape[-1]))
    for i in range(kh):
        for j in range(kw):
            out += padded[:, i:i + h, j:j + w] @ kernel[i, j]
    return out if bias is None else out + bias


def _weights(layer):
    return {w.name.split("/")[-1].split(":")[0]: w.numpy() for w in layer.weights}


def _sgd_step_changes_every_weight(model, x, y, loss="mse"):
    """One SGD step: finite loss, a gradient for every trainable weight, every weight moves."""
    before = [w.numpy().copy() for w in model.trainable_weights]
    with tf.GradientTape() as tape:
        outputs = model(x, training=True)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        targets = y if isinstance(y, (list, tuple)) else [y]
        value = sum(tf.reduce_mean(keras.losses.get(name)(t, o))
                    for name, t, o in zip(loss if isinstance(loss, list) else [loss] * 9,
                                          targets, outputs))
    grads = tape.gradient(value, model.trainable_weights)
    missing = [w.name for w, g in zip(model.trainable_weights, grads) if g is None]
    assert not missing, f"no gradient for {missing}"
    keras.optimizers.SGD(0.1).apply_gradients(zip(grads, model.trainable_weights))
    assert np.isfinite(float(value))
    moved = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    assert all(moved), [w.name for w, m in zip(model.trainable_weights, moved) if not m]


def _round_trip(model, x, save_and_reload):
    reloaded = save_and_reload(model)
    expected = model(x, training=False)
    got = reloaded(x, training=False)
    for e, g in zip(tf.nest.flatten(expected), tf.nest.flatten(got)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-6, atol=1e-6)
    return reloaded


def _check_tflite(model, x, allowed):
    data = tflite.convert(model)
    ops = set(tflite.op_names(data))
    assert ops <= set(allowed), ops
    np.testing.assert_allclose(tflite.run(data, x), np.asarray(model(x, training=False)),
                               rtol=1e-4, atol=1e-4)
    return ops


def _config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


# -- Global Convolutional Network and Boundary Refinement --------------------------------------
def test_global_conv_block_and_boundary_refinement_match_numpy(rng):
    x = rng.standard_normal((2, 9, 7, 3)).astype("float32")
    gcn = GlobalConvBlock(4, kernel_size=5, bias_initializer="random_normal")
    y = gcn(x).numpy()
    w = _weights(gcn)
    left = _conv_same(_conv_same(x, w["left_1_kernel"], w["left_1_bias"]),
                      w["left_2_kernel"], w["left_2_bias"])
    right = _conv_same(_conv_same(x, w["right_1_kernel"], w["right_1_bias"]),
                       w["right_2_kernel"], w["right_2_bias"])
    assert w["left_1_kernel"].shape == (5, 1, 3, 4) and w["right_1_kernel"].shape == (1, 5, 3, 4)
    np.testing.assert_allclose(y, left + right, rtol=1e-4, atol=1e-5)

    br = BoundaryRefinement(bias_initializer="random_normal")
    z = br(y).numpy()
    b = _weights(br)
    inner = np.maximum(_conv_same(y, b["conv_1_kernel"], b["conv_1_bias"]), 0)
    np.testing.assert_allclose(z, y + _conv_same(inner, b["conv_2_kernel"], b["conv_2_bias"]),
                               rtol=1e-4, atol=1e-5)


def test_global_conv_block_arguments_are_checked():
    with pytest.raises(ValueError, match=r"`kernel_size` must be an odd integer.*got 4"):
        GlobalConvBlock(8, kernel_size=4)
    with pytest.raises(ValueError, match="`filters`"):
        GlobalConvBlock(0)
    with pytest.raises(ValueError, match="`use_bias`"):
        GlobalConvBlock(8, use_bias="yes")
    with pytest.raises(ValueError, match="`kernel_size`"):
        BoundaryRefinement(kernel_size=2)


def test_gcn_with_br_round_trip_counts_trains_and_converts(rng, save_and_reload):
    x = rng.standard_normal((2, 8, 8, 3)).astype("float32")
    inputs = keras.Input((8, 8, 3))
    gcn, br = GlobalConvBlock(5, kernel_size=7), BoundaryRefinement()
    model = keras.Model(inputs, br(gcn(inputs)))
    # 2 k F (C + F) + 4 F, and the BR's two 3x3 F -> F convolutions with biases
    assert gcn.count_params() == 2 * 7 * 5 * (3 + 5) + 4 * 5
    assert br.count_params() == 2 * (9 * 5 * 5 + 5)
    assert count_flops(model) == 64 * 2 * (2 * 7 * 5 * (3 + 5) + 2 * 9 * 5 * 5)
    _config_round_trip(gcn)
    _round_trip(model, x, save_and_reload)
    _sgd_step_changes_every_weight(model, x, np.zeros((2, 8, 8, 5), "float32"))
    assert "CONV_2D" in _check_tflite(model, x, {"CONV_2D", "ADD", "RELU"})


# -- transposed convolution with FCN's bilinear initialiser --------------------------------------
def test_bilinear_upsampling_kernel_is_fcns_filter():
    kernel = bilinear_upsampling_kernel((4, 3, 2, 2)).numpy()
    np.testing.assert_allclose(kernel[:, :, 0, 0], np.outer([.25, .75, .75, .25], [.5, 1, .5]))
    np.testing.assert_array_equal(kernel[:, :, 0, 1], 0)  # no mixing between channels
    np.testing.assert_array_equal(kernel[..., 1, 1], kernel[..., 0, 0])
    with pytest.raises(ValueError, match=r"as many output as input channels.*\(4, 4, 2, 3\)"):
        bilinear_upsampling_kernel((4, 4, 2, 3))


def test_bilinear_transposed_conv_is_bilinear_resize_and_round_trips(rng, save_and_reload):
    """Kernel 2s, stride s, "same": bilinear interpolation (half-pixel centres) except at the
    border (zero padding)."""
    x = rng.standard_normal((2, 6, 5, 3)).astype("float32")
    inputs = keras.Input((6, 5, 3))
    layer = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", use_bias=False,
                                         kernel_initializer=bilinear_upsampling_kernel)
    model = keras.Model(inputs, layer(inputs))
    y = model(x).numpy()
    resized = tf.image.resize(x, (12, 10), method="bilinear").numpy()
    np.testing.assert_allclose(y[:, 1:-1, 1:-1], resized[:, 1:-1, 1:-1], rtol=1e-5, atol=1e-5)
    assert not np.allclose(y[:, 0], resized[:, 0])  # the border is darkened
    config = _round_trip(model, x, save_and_reload).layers[-1].get_config()
    fresh = keras.layers.Conv2DTranspose.from_config(config)  # initialised again from config
    fresh.build((None, 6, 5, 3))
    np.testing.assert_array_equal(fresh.kernel.numpy(), layer.kernel.numpy())
    assert _check_tflite(model, x, {"TRANSPOSE_CONV"}) == {"TRANSPOSE_CONV"}


# -- resize-convolution ---------------------------------------------------------------------------
def _bilinear_numpy(x, factor):
    """Half-pixel bilinear upsampling by an integer factor, edges clamped."""
    def weights(size):
        src = np.clip((np.arange(size * factor) + 0.5) / factor - 0.5, 0, size - 1)
        low = np.floor(src).astype(int)
        high = np.minimum(low + 1, size - 1)
        frac = src - low
        matrix = np.zeros((size * factor, size))
        np.add.at(matrix, (np.arange(size * factor), low), 1 - frac)
        np.add.at(matrix, (np.arange(size * factor), high), frac)
        return matrix

    return np.einsum("Hh,nhwc,Ww->nHWc", weights(x.shape[1]), x, weights(x.shape[2]))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_resize_conv_matches_numpy(rng, interpolation):
    x = rng.standard_normal((2, 4, 5, 3)).astype("float32")
    layer = ResizeConv2D(4, kernel_size=3, size=2, interpolation=interpolation,
                         bias_initializer="random_normal")
    y = layer(x).numpy()
    resized = x.repeat(2, axis=1).repeat(2, axis=2) if interpolation == "nearest" \
        else _bilinear_numpy(x, 2)
    expected = _conv_same(resized, layer.kernel.numpy(), layer.bias.numpy())
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    assert layer.compute_output_shape((None, 4, 5, 3)) == (None, 8, 10, 4)
    with pytest.raises(ValueError, match="`interpolation`"):
        ResizeConv2D(4, interpolation="bicubic")


def test_resize_conv_round_trip_flops_trains_and_converts(rng, save_and_reload):
    x = rng.standard_normal((2, 4, 4, 3)).astype("float32")
    inputs = keras.Input((4, 4, 3))
    layer = ResizeConv2D(6, kernel_size=3, size=(2, 3), interpolation="bilinear")
    model = keras.Model(inputs, layer(inputs))
    assert model.output_shape == (None, 8, 12, 6)
    assert count_flops(model) == 2 * 8 * 12 * 9 * 3 * 6
    _config_round_trip(layer)
    _round_trip(model, x, save_and_reload)
    _sgd_step_changes_every_weight(model, x, np.zeros((2, 8, 12, 6), "float32"))
    assert _check_tflite(model, x, {"RESIZE_BILINEAR", "CONV_2D"}) == {"RESIZE_BILINEAR",
                                                                       "CONV_2D"}


# -- sub-pixel convolution: PixelShuffle and ICNR ----------------------------------------------
def _periodic_shuffle(t, r):
    """Shi et al. Eq. 4 as written: PS(T)[x, y, c] = T[x // r, y // r, C r (y % r) + C (x % r)
    + c], ``y`` the row and ``x`` the column."""
    n, h, w, depth = t.shape
    colours = depth // (r * r)
    out = np.zeros((n, h * r, w * r, colours), t.dtype)
    for y in range(h * r):
        for x in range(w * r):
            for c in range(colours):
                out[:, y, x, c] = t[:, y // r, x // r, colours * r * (y % r) + colours * (x % r)
                                    + c]
    return out


def _torch_pixel_shuffle(t, r):
    """PyTorch's nn.PixelShuffle, transcribed to NHWC: channel c r**2 + i r + j."""
    n, h, w, depth = t.shape
    colours = depth // (r * r)
    return (t.reshape(n, h, w, colours, r, r).transpose(0, 1, 4, 2, 5, 3)
            .reshape(n, h * r, w * r, colours))


@pytest.mark.parametrize("r, colours", [(2, 3), (3, 2)])
def test_pixel_shuffle_is_the_papers_periodic_shuffle(rng, r, colours):
    t = rng.standard_normal((2, 3, 4, colours * r * r)).astype("float32")
    np.testing.assert_array_equal(PixelShuffle(r)(t).numpy(), _periodic_shuffle(t, r))
    np.testing.assert_array_equal(PixelShuffle(r, channel_order="CRD")(t).numpy(),
                                  _torch_pixel_shuffle(t, r))
    np.testing.assert_array_equal(t[..., crd_to_dcr(t.shape[-1], r)][..., :colours],
                                  t[..., ::r * r])


def test_pixel_shuffle_errors():
    with pytest.raises(ValueError, match=r"`upscale_factor`=2 needs input channels divisible "
                                         r"by 4; got 6"):
        PixelShuffle(2)(np.zeros((1, 2, 2, 6), "float32"))
    with pytest.raises(ValueError, match="`channel_order`"):
        PixelShuffle(2, channel_order="NCHW")
    with pytest.raises(ValueError, match="divisible by 4"):
        ICNR(2)((3, 3, 2, 6))


@pytest.mark.parametrize("channel_order", ["DCR", "CRD"])
def test_icnr_subpixel_conv_starts_as_nearest_resize_conv(rng, channel_order,
                                                          save_and_reload):
    """Aitken et al.: with ICNR, conv (C r**2 channels) + PixelShuffle == nearest resize of conv
    (C channels) with the sub-kernel; the model round-trips, trains and converts."""
    x = rng.standard_normal((2, 5, 4, 3)).astype("float32")
    inputs = keras.Input((5, 4, 3))
    conv = keras.layers.Conv2D(2 * 4, 3, padding="same", use_bias=False,
                               kernel_initializer=ICNR(2, channel_order=channel_order))
    shuffle = PixelShuffle(2, channel_order=channel_order)
    model = keras.Model(inputs, shuffle(conv(inputs)))
    kernel = conv.kernel.numpy()
    sub = kernel[..., :2] if channel_order == "DCR" else kernel[..., ::4]
    expected = _conv_same(x, sub).repeat(2, axis=1).repeat(2, axis=2)
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-4, atol=1e-5)
    assert count_flops(model) == 2 * 20 * 9 * 3 * 8  # the shuffle is free
    if channel_order == "CRD":
        _round_trip(model, x, save_and_reload)
        _sgd_step_changes_every_weight(model, x, np.zeros((2, 10, 8, 2), "float32"))
    allowed = {"CONV_2D", "DEPTH_TO_SPACE", "GATHER"}
    assert "DEPTH_TO_SPACE" in _check_tflite(model, x, allowed)


# -- max pooling with argmax and max-unpooling (SegNet) --------------------------------------
def _pool_with_argmax_numpy(x, k, s):
    """VALID max pooling with the flat index (y W + x) C + c of each window's first maximum."""
    n, h, w, c = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    pooled, where = np.zeros((n, oh, ow, c), x.dtype), np.zeros((n, oh, ow, c), int)
    for i in range(oh):
        for j in range(ow):
            window = x[:, i * s:i * s + k, j * s:j * s + k].reshape(n, k * k, c)
            best = window.argmax(axis=1)
            pooled[:, i, j] = window.max(axis=1)
            rows, cols = i * s + best // k, j * s + best % k
            where[:, i, j] = (rows * w + cols) * c + np.arange(c)
    return pooled, where


def _unpool_numpy(values, where, shape):
    out = np.zeros(shape, values.dtype)
    for b in range(shape[0]):
        out[b].reshape(-1)[where[b].ravel()] = values[b].ravel()
    return out


@pytest.mark.parametrize("k, s, size", [(2, 2, (6, 8)), (2, 2, (7, 5)), (3, 2, (7, 7))])
def test_max_pooling_with_argmax_and_unpooling_match_numpy(rng, k, s, size):
    x = rng.standard_normal((2,) + size + (3,)).astype("float32")
    pooled, indices = MaxPoolingWithArgmax2D(k, s)(x)
    expected_pooled, expected_where = _pool_with_argmax_numpy(x, k, s)
    np.testing.assert_array_equal(pooled.numpy(), expected_pooled)
    np.testing.assert_array_equal(indices.numpy(), expected_where)
    assert indices.dtype == tf.int32
    unpooled = MaxUnpooling2D(k, s)([pooled, indices, x]).numpy()
    np.testing.assert_array_equal(unpooled, _unpool_numpy(expected_pooled, expected_where,
                                                          x.shape))
    if size == (6, 8):  # the size the geometry implies, without a reference
        np.testing.assert_array_equal(MaxUnpooling2D(k, s)([pooled, indices]).numpy(),
                                      unpooled)
    # every maximum is back in place, everything else is zero
    assert np.count_nonzero(unpooled) == sum(len(np.unique(w)) for w in expected_where)


def test_segnet_pool_unpool_round_trip_and_gradients(rng, save_and_reload):
    x = rng.standard_normal((2, 8, 6, 3)).astype("float32")
    inputs = keras.Input((8, 6, 3))
    features = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    pool = MaxPoolingWithArgmax2D(2)
    pooled, indices = pool(features)
    pooled = keras.layers.Conv2D(4, 3, padding="same")(pooled)
    unpool = MaxUnpooling2D(2)
    outputs = keras.layers.Conv2D(2, 3, padding="same")(unpool([pooled, indices]))
    model = keras.Model(inputs, outputs)
    assert model.output_shape == (None, 8, 6, 2) and count_flops(model) == 2 * 9 * (
        48 * 3 * 4 + 12 * 4 * 4 + 48 * 4 * 2)
    _config_round_trip(unpool)
    assert pool.get_config()["strides"] == (2, 2)
    _round_trip(model, x, save_and_reload)
    _sgd_step_changes_every_weight(model, x, np.ones((2, 8, 6, 2), "float32"))


def test_argmax_pooling_does_not_convert_to_builtin_tflite_and_the_error_says_why(rng):
    inputs = keras.Input((8, 8, 3))
    pooled, indices = MaxPoolingWithArgmax2D(2, name="pool1")(inputs)
    model = keras.Model(inputs, MaxUnpooling2D(2)([pooled, indices]), name="segnet_like")
    with pytest.raises(tflite.UnsupportedOpsError) as error:
        tflite.convert(model)
    assert error.value.ops == ("MaxPoolWithArgmax",)
    message = str(error.value)
    for part in ("segnet_like", "MaxPoolWithArgmax comes from layer(s) 'pool1' "
                 "(MaxPoolingWithArgmax2D)", "no builtin max pooling that returns the argmax"):
        assert part in message, message

    # The unpooling itself is builtin: converted from a two-input function and run.
    unpool = MaxUnpooling2D(2)
    function = tf.function(lambda v, i: unpool([v, i]), autograph=False).get_concrete_function(
        tf.TensorSpec((1, 4, 4, 3)), tf.TensorSpec((1, 4, 4, 3), tf.int32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    data = converter.convert()
    assert "SCATTER_ND" in tflite.op_names(data)
    x = rng.standard_normal((1, 8, 8, 3)).astype("float32")
    values, where = MaxPoolingWithArgmax2D(2)(x)
    interpreter = tflite.make_interpreter(data)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], where.numpy() if detail["dtype"] == np.int32
                               else values.numpy())
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_array_equal(got, unpool([values, where]).numpy())


# -- EncNet's Context Encoding and SE-loss ------------------------------------------------------
def _context_encoding_numpy(x, w, training, residual=False):
    """Eq. 1 with explicit residuals, BN over the K encoded vectors, ReLU, mean, FC + sigmoid."""
    n, h, wd, c = x.shape
    features = x.reshape(n, h * wd, c).astype("float64")
    residuals = features[:, :, None, :] - w["codewords"][None, None]  # (n, HW, K, C)
    logits = -w["smoothing"] * np.sum(residuals ** 2, axis=-1)
    logits -= logits.max(axis=-1, keepdims=True)
    assignment = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    encoded = np.einsum("nik,nikc->nkc", assignment, residuals)
    if training:
        mean, var = encoded.mean(axis=(0, 2)), encoded.var(axis=(0, 2))
    else:
        mean, var = w["moving_mean"], w["moving_variance"]
    normed = (encoded - mean[:, None]) / np.sqrt(var[:, None] + 1e-5)
    normed = normed * w["gamma"][:, None] + w["beta"][:, None]
    context = np.maximum(normed, 0).mean(axis=1)
    gamma = 1 / (1 + np.exp(-(context @ w["fc_kernel"] + w["fc_bias"])))
    scaled = x * gamma[:, None, None, :]
    scaled = np.maximum(x + scaled, 0) if residual else scaled
    return scaled, context @ w["se_kernel"] + w["se_bias"], encoded


@pytest.mark.parametrize("training, residual", [(False, False), (True, True)])
def test_context_encoding_matches_numpy(rng, training, residual):
    x = rng.standard_normal((3, 5, 4, 6)).astype("float32")
    layer = ContextEncoding(num_codes=4, num_classes=5, residual=residual)
    layer.build(x.shape)
    for weight in layer.weights:  # non-trivial values for every weight, BN statistics included
        value = rng.uniform(0.5, 1.5, weight.shape) if "variance" in weight.name or \
            "smoothing" in weight.name else rng.standard_normal(weight.shape) * 0.5
        weight.assign(value.astype("float32"))
    w = _weights(layer)
    outputs, logits = layer(x, training=training)
    expected, expected_logits, encoded = _context_encoding_numpy(x, w, training, residual)
    np.testing.assert_allclose(layer.encode(tf.constant(x)).numpy(), encoded, rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(outputs.numpy(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(logits.numpy(), expected_logits, rtol=1e-4, atol=1e-4)


def test_se_loss_targets_and_loss():
    labels = np.array([[[0, 2], [2, 255]], [[1, 1], [1, 1]]])  # 255: ignored
    targets = se_loss_targets(labels, 3).numpy()
    np.testing.assert_array_equal(targets, [[1, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(se_loss_targets(labels[..., None], 3).numpy(), targets)
    logits = tf.constant([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    expected = keras.losses.BinaryCrossentropy(from_logits=True)(targets, logits)
    np.testing.assert_allclose(float(se_loss(targets, logits)), float(expected), rtol=1e-6)


def test_context_encoding_round_trip_trains_with_se_loss_and_converts(rng, save_and_reload):
    x = rng.standard_normal((4, 6, 6, 8)).astype("float32")
    labels = rng.integers(0, 3, (4, 6, 6))
    inputs = keras.Input((6, 6, 8))
    layer = ContextEncoding(num_codes=4, num_classes=3)
    features, presence = layer(inputs)
    segmentation = keras.layers.Conv2D(3, 1)(features)
    model = keras.Model(inputs, [segmentation, presence])
    # codewords, smoothing, BN gamma/beta over K, FC C -> C, SE head C -> classes
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    assert trainable == 4 * 8 + 4 + 2 * 4 + 8 * 8 + 8 + 8 * 3 + 3
    assert layer.count_params() == trainable + 2 * 4  # + the BN's moving statistics
    assert count_flops(model) == 2 * (2 * 36 * 4 * 8 + 8 * 8 + 8 * 3) + 2 * 36 * 8 * 3
    _config_round_trip(layer)
    _round_trip(model, x, save_and_reload)
    one_hot = np.eye(3, dtype="float32")[labels]
    _sgd_step_changes_every_weight(
        model, x, [one_hot, se_loss_targets(labels, 3)],
        loss=["mse", lambda t, o: se_loss(t, o) * 0.2])

    plain = keras.Model(inputs, ContextEncoding(num_codes=4)(inputs))
    assert {"BATCH_MATMUL", "SOFTMAX"} <= _check_tflite(plain, x, {
        "BATCH_MATMUL", "SOFTMAX", "SUM", "MEAN", "MUL", "ADD", "SUB", "RELU", "LOGISTIC",
        "RESHAPE", "FULLY_CONNECTED", "SQUARE", "NEG", "TRANSPOSE", "EXPAND_DIMS",
        "STRIDED_SLICE", "SHAPE", "PACK"})


def test_layers_take_unknown_spatial_sizes(rng):
    """Segmentation networks run at any size: every layer on a (None, None, C) input."""
    x = rng.standard_normal((2, 6, 4, 8)).astype("float32")
    inputs = keras.Input((None, None, 8))
    y = BoundaryRefinement()(GlobalConvBlock(8, kernel_size=3)(inputs))
    y = ContextEncoding(num_codes=2)(y)
    pooled, indices = MaxPoolingWithArgmax2D(2)(y)
    y = MaxUnpooling2D(2)([pooled, indices, y])
    y = PixelShuffle(2)(ResizeConv2D(8, size=2)(y))
    model = keras.Model(inputs, y)
    assert model.output_shape == (None, None, None, 2)
    assert model(x).shape == (2, 24, 16, 2)


def test_context_encoding_and_pooling_arguments_are_checked():
    for kwargs, name in [({"num_codes": 0}, "num_codes"), ({"num_classes": 0}, "num_classes"),
                         ({"residual": "yes"}, "residual")]:
        with pytest.raises(ValueError, match=f"`{name}`"):
            ContextEncoding(**kwargs)
    with pytest.raises(ValueError, match=r"`padding` must be one of 'valid', 'same'; got 'full'"):
        MaxUnpooling2D(2, padding="full")
    with pytest.raises(ValueError, match="`pool_size`"):
        MaxPoolingWithArgmax2D(0)
    with pytest.raises(ValueError, match=r"\[values, indices\]"):
        MaxUnpooling2D(2)(np.zeros((1, 2, 2, 1), "float32"))
