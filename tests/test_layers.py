"""Unit tests for every custom layer, against NumPy or hand-derived references."""

import numpy as np
import pytest

from keras_convnets.backend import USE_LEGACY_KERAS, keras, tf
from keras_convnets.layers import ChannelSplit, DropPath, GroupConv2D, SEBlock, normalization
from numpy_reference import grouped_conv_numpy

pytestmark = pytest.mark.legacy


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _round_trip(layer, x, save_and_reload):
    """The layer inside a model survives a .keras save/load with identical outputs."""
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    reloaded = save_and_reload(model)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


# -- SEBlock ----------------------------------------------------------------------------------
def _se_numpy(x, w1, b1, w2, b2, gate):
    s = x.mean(axis=(1, 2)) @ w1 + b1
    s = np.maximum(s, 0) @ w2 + b2
    g = _sigmoid(s) if gate == "sigmoid" else np.clip(s + 3, 0, 6) / 6
    return x * g[:, None, None, :]


@pytest.mark.parametrize("gate", ["sigmoid", "hard_sigmoid"])
def test_se_block_matches_numpy(rng, gate):
    x = rng.standard_normal((2, 5, 4, 32)).astype("float32")
    layer = SEBlock(reduction=4, gate=gate)
    layer(x)
    w1, b1 = rng.standard_normal((32, 8)), rng.standard_normal(8)
    w2, b2 = rng.standard_normal((8, 32)), rng.standard_normal(32)
    layer.set_weights([w1, b1, w2, b2])
    np.testing.assert_allclose(layer(x), _se_numpy(x, w1, b1, w2, b2, gate), rtol=1e-5, atol=1e-5)


def test_se_block_widths():
    assert SEBlock(reduction=16).squeezed_width(64) == 4          # Cadene / Caffe: C // r
    assert SEBlock(reduction=16, divisor=8).squeezed_width(64) == 8  # timm: make_divisible
    assert SEBlock(reduction=4, divisor=8).squeezed_width(72) == 24  # MobileNetV3 (18 -> 24)
    assert SEBlock(squeeze_channels=5).squeezed_width(64) == 5


def test_se_block_with_bn_has_no_first_bias(rng, save_and_reload):
    layer = SEBlock(reduction=2, use_bn=True)
    x = rng.standard_normal((3, 4, 4, 8)).astype("float32")
    layer(x)
    names = sorted(w.name.split("/")[-1].split(":")[0] for w in layer.weights)
    assert "reduce_bias" not in names and len(layer.weights) == 3 + 4  # 3 own + BN's 4
    _round_trip(layer, x, save_and_reload)


def test_se_block_flops_and_round_trip(rng, save_and_reload):
    layer = SEBlock(reduction=4)
    assert layer.count_flops((None, 7, 7, 32), (None, 7, 7, 32)) == 2 * 2 * 32 * 8
    _round_trip(layer, rng.standard_normal((2, 3, 3, 32)).astype("float32"), save_and_reload)


@pytest.mark.parametrize("kwargs, match", [
    ({"reduction": 0}, "reduction"), ({"gate": "tanh"}, "gate"),
    ({"activation": "elu"}, "activation"), ({"squeeze_channels": -1}, "squeeze_channels"),
])
def test_se_block_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SEBlock(**kwargs)


# -- DropPath ---------------------------------------------------------------------------------
def test_drop_path_is_identity_at_inference(rng):
    x = rng.standard_normal((8, 3, 3, 4)).astype("float32")
    np.testing.assert_array_equal(DropPath(0.5)(x, training=False), x)
    np.testing.assert_array_equal(DropPath(0.5)(x), x)


def test_drop_path_drops_whole_samples_and_rescales():
    x = np.ones((4000, 2, 2, 3), "float32")
    y = DropPath(0.25, seed=1)(x, training=True).numpy()
    per_sample = y.reshape(len(y), -1)
    # every sample is either dropped whole or kept whole, scaled by 1 / (1 - rate)
    values = np.unique(per_sample)
    assert len(values) == 2 and values[0] == 0.0
    np.testing.assert_allclose(values[1], 1 / 0.75, rtol=1e-6)
    assert np.all(per_sample.min(axis=1) == per_sample.max(axis=1))
    kept = (per_sample[:, 0] > 0).mean()
    assert abs(kept - 0.75) < 0.03
    assert abs(y.mean() - 1.0) < 0.05  # unbiased in expectation


def test_drop_path_validates_rate_and_round_trips(rng, save_and_reload):
    with pytest.raises(ValueError, match="rate"):
        DropPath(1.0)
    _round_trip(DropPath(0.2), rng.standard_normal((2, 3, 3, 4)).astype("float32"), save_and_reload)


# -- GroupConv2D ------------------------------------------------------------------------------
@pytest.mark.parametrize("groups, stride", [(1, 1), (4, 1), (4, 2), (8, 2)])
def test_group_conv_matches_numpy(rng, groups, stride):
    x = rng.standard_normal((2, 9, 9, 16)).astype("float32")
    layer = GroupConv2D(24, 3, strides=stride, groups=groups)
    y = layer(x).numpy()
    expected = grouped_conv_numpy(x, layer.kernel.numpy(), groups, stride)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    assert layer.compute_output_shape(x.shape) == y.shape[:0] + (2,) + y.shape[1:]


def test_group_conv_matches_keras_conv2d_groups_and_trains(rng):
    x = rng.standard_normal((2, 8, 8, 32)).astype("float32")
    ours = GroupConv2D(64, 3, padding="same", groups=8, use_bias=True)
    ours(x)
    reference = keras.layers.Conv2D(64, 3, padding="same", groups=8)
    reference(x)
    reference.set_weights(ours.get_weights())  # same kernel layout as Keras' grouped Conv2D
    np.testing.assert_allclose(ours(x), reference(x), rtol=1e-4, atol=1e-4)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(ours(x) ** 2)
    grads = tape.gradient(loss, ours.trainable_weights)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)


@pytest.mark.parametrize("stride, dilation, padding", [(1, 1, "SAME"), (2, 1, "SAME"),
                                                       (2, 1, "VALID"), (1, 2, "SAME")])
def test_group_conv_gradient_fallback_matches_per_group_convolutions(rng, stride, dilation,
                                                                      padding):
    """The custom gradient used where TensorFlow has no grouped backprop kernels (a CPU without
    oneDNN) equals the autodiff gradient of per-group ordinary convolutions + concat."""
    from keras_convnets.layers.group_conv import grouped_conv2d

    groups = 4
    x = tf.constant(rng.standard_normal((2, 9, 9, 16)).astype("float32"))
    kernel = tf.constant(rng.standard_normal((3, 3, 4, 24)).astype("float32"))
    target = tf.constant(rng.standard_normal((2, 9, 9, 24)).astype("float32"))
    options = dict(strides=(1, stride, stride, 1), padding=padding,
                   dilations=(1, dilation, dilation, 1))

    def loss(y):  # a loss whose gradient differs per output element
        return tf.reduce_sum(y * target[:, :y.shape[1], :y.shape[2]]) + tf.reduce_sum(y ** 2)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, kernel])
        ours = grouped_conv2d(x, kernel, groups=groups, native_gradients=False, **options)
        # tf.nn.convolution: its dilated case (space-to-batch) differentiates on any CPU
        parts = [tf.nn.convolution(xi, ki, strides=stride, padding=padding, dilations=dilation)
                 for xi, ki in zip(tf.split(x, groups, -1), tf.split(kernel, groups, -1))]
        reference = tf.concat(parts, -1)
        ours_loss, reference_loss = loss(ours), loss(reference)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)
    for ours_grad, reference_grad in zip(tape.gradient(ours_loss, [x, kernel]),
                                         tape.gradient(reference_loss, [x, kernel])):
        np.testing.assert_allclose(ours_grad, reference_grad, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("in_channels, filters, groups, stride, padding", [
    (16, 16, 16, 1, "SAME"),   # depthwise (1 input channel per group)
    (16, 32, 8, 2, "VALID"),   # 2 per group, strided
    (16, 24, 4, 1, "SAME"),    # 4 per group (ResNeXt 32x4d's first stage)
])
def test_group_conv_training_step_depthwise_form(rng, in_channels, filters, groups, stride,
                                                 padding):
    """On a CPU without oneDNN a training step computes narrow groups as a depthwise
    convolution + a sum per group: the same outputs and gradients as per-group convolutions
    (to float rounding); inference keeps the plain grouped op."""
    from keras_convnets.layers.group_conv import depthwise_form_applies, grouped_conv2d

    x = tf.constant(rng.standard_normal((2, 9, 9, in_channels)).astype("float32"))
    kernel = tf.constant(rng.standard_normal((3, 3, in_channels // groups, filters))
                         .astype("float32"))
    options = dict(strides=(1, stride, stride, 1), padding=padding, dilations=(1, 1, 1, 1))
    assert depthwise_form_applies(in_channels, groups, options["dilations"])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, kernel])
        ours = grouped_conv2d(x, kernel, groups=groups, native_gradients=False, training=True,
                              **options)
        parts = [tf.nn.conv2d(xi, ki, **options)
                 for xi, ki in zip(tf.split(x, groups, -1), tf.split(kernel, groups, -1))]
        reference = tf.concat(parts, -1)
        weights = tf.constant(rng.standard_normal(reference.shape).astype("float32"))
        ours_loss = tf.reduce_sum(ours * weights)
        reference_loss = tf.reduce_sum(reference * weights)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)
    for ours_grad, reference_grad in zip(tape.gradient(ours_loss, [x, kernel]),
                                         tape.gradient(reference_loss, [x, kernel])):
        np.testing.assert_allclose(ours_grad, reference_grad, rtol=1e-4, atol=1e-3)

    @tf.function
    def inference(images):
        return grouped_conv2d(images, kernel, groups=groups, native_gradients=False, **options)

    ops = {op.type for op in inference.get_concrete_function(x).graph.get_operations()}
    assert "Conv2D" in ops and "DepthwiseConv2dNative" not in ops


def test_group_conv_depthwise_form_only_for_narrow_groups():
    from keras_convnets.layers.group_conv import depthwise_form_applies

    assert depthwise_form_applies(128, 32, (1, 1, 1, 1))        # 4 per group
    assert not depthwise_form_applies(256, 32, (1, 1, 1, 1))    # 8 per group
    assert depthwise_form_applies(900, 450, (1, 1, 1, 1))       # 2 per group
    assert not depthwise_form_applies(128, 32, (1, 2, 2, 1))    # dilated


def test_group_conv_errors_name_the_argument():
    with pytest.raises(ValueError, match="groups.*does not divide the 30 filters"):
        GroupConv2D(30, 3, groups=4)
    layer = GroupConv2D(32, 3, groups=4)
    with pytest.raises(ValueError, match="groups.*does not divide the 6 input channels"):
        layer(np.zeros((1, 5, 5, 6), "float32"))
    with pytest.raises(ValueError, match="padding"):
        GroupConv2D(8, 3, padding="causal")


def test_group_conv_flops_and_round_trip(rng, save_and_reload):
    layer = GroupConv2D(16, 3, groups=4, padding="same")
    assert layer.count_flops((None, 5, 5, 8), (None, 5, 5, 16)) == 2 * 9 * 2 * 16 * 25
    _round_trip(layer, rng.standard_normal((2, 5, 5, 8)).astype("float32"), save_and_reload)


# -- ChannelSplit -----------------------------------------------------------------------------
def test_channel_split(rng, save_and_reload):
    x = rng.standard_normal((2, 3, 3, 12)).astype("float32")
    parts = ChannelSplit(3)(x)
    assert len(parts) == 3
    for i, part in enumerate(parts):
        np.testing.assert_array_equal(part, x[..., 4 * i:4 * (i + 1)])
    with pytest.raises(ValueError, match="parts"):
        ChannelSplit(5)(x)
    inputs = keras.Input((3, 3, 12))
    model = keras.Model(inputs, keras.layers.Concatenate()(ChannelSplit(4)(inputs)[::-1]))
    reloaded = save_and_reload(model)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))


# -- normalisation choice ---------------------------------------------------------------------
def _normalized(x, axes):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5)


@pytest.mark.parametrize("norm", ["batch", "sync_batch", "group", "layer"])
def test_normalization_choice_matches_numpy(rng, norm):
    x = (rng.standard_normal((4, 5, 5, 64)) * 3 + 1).astype("float32")
    layer = normalization(norm, 64, name="n")
    y = layer(x, training=True).numpy()
    if norm in ("batch", "sync_batch"):
        expected = _normalized(x, (0, 1, 2))
        assert layer.synchronized == (norm == "sync_batch")
    else:
        groups = 32 if norm == "group" else 1
        grouped = x.reshape(4, 5, 5, groups, 64 // groups)
        expected = _normalized(grouped, (1, 2, 4)).reshape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-3, atol=1e-3)


def test_group_norm_groups_divide_channels():
    assert normalization("group", 48, name="g").groups == 24
    assert normalization("group", 8, name="g").groups == 8
    with pytest.raises(ValueError, match="`norm` must be one of"):
        normalization("instance", 8, name="x")


def test_zero_init_scale():
    layer = normalization("batch", 4, name="b", zero_init=True)
    layer.build((None, 2, 2, 4))
    np.testing.assert_array_equal(layer.gamma.numpy(), np.zeros(4))


def test_keras_world_is_the_one_selected():
    assert ("tf_keras" in keras.__name__) == USE_LEGACY_KERAS
