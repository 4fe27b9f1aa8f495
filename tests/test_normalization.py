"""The ``norm=`` choice: batch renormalisation against the paper's equations, weight
normalisation against plain TF convolutions, both on the builders, and the builders' refusals.

The shared routine (tests/test_models.py) builds and trains one non-default norm per family;
docs/normalization.md has the measured comparison."""

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import USE_LEGACY_KERAS, keras, tf
from keras_convnets.layers import GroupConv2D
from keras_convnets.layers.batch_renorm import BatchRenormalization, renorm_bounds
from keras_convnets.layers.normalization import NORMS, RENORM_CLIPPING, normalization
from keras_convnets.layers.weight_norm import (
    ChannelBias, WeightNormConv2D, WeightNormDepthwiseConv2D, WeightNormSeparableConv2D,
    data_dependent_init, unnormalized_convolutions, weight_normalize)
from keras_convnets.optimize import tflite

SMALL = (32, 32, 3)
#: a short schedule so that a few steps cross it: plain BN for 2 steps, dmax full at 4, rmax at 6
SCHEDULE = dict(rmax=3.0, dmax=5.0, warmup_steps=2, rmax_steps=6, dmax_steps=4)


# -- batch renormalisation --------------------------------------------------------------------
def _bounds(step, rmax, dmax, warmup_steps, rmax_steps, dmax_steps):
    def progress(end):
        return float(np.clip((step - warmup_steps) / (end - warmup_steps), 0.0, 1.0))
    return 1.0 + (rmax - 1.0) * progress(rmax_steps), dmax * progress(dmax_steps)


def _renorm_reference(batches, gamma, beta, momentum, epsilon, schedule):
    """Algorithm 1 of arXiv:1702.03275 in NumPy: the training outputs, the r and d used, and
    the moving mean and standard deviation after every step."""
    mu = np.zeros(gamma.shape)
    sigma = np.ones(gamma.shape)
    steps = []
    for step, x in enumerate(batches):
        rmax, dmax = _bounds(step, **schedule)
        axes = tuple(range(x.ndim - 1))
        mean = x.mean(axis=axes)
        stddev = np.sqrt(x.var(axis=axes) + epsilon)
        r_raw, d_raw = stddev / sigma, (mean - mu) / sigma
        r = np.clip(r_raw, 1.0 / rmax, rmax)
        d = np.clip(d_raw, -dmax, dmax)
        y = gamma * ((x - mean) / stddev * r + d) + beta
        mu = mu + (1 - momentum) * (mean - mu)
        sigma = sigma + (1 - momentum) * (stddev - sigma)
        steps.append(dict(y=y, r=r, d=d, clipped=(r != r_raw).sum() + (d != d_raw).sum(),
                          mean=mean, stddev=stddev, mu=mu.copy(), sigma=sigma.copy()))
    return steps


def test_renorm_schedule_is_the_papers():
    # Section 4: rmax 1 and dmax 0 for 5k steps, then rmax 3 at 40k and dmax 5 at 25k.
    for step, expected in ((0, (1, 0)), (5000, (1, 0)), (15000, (1 + 4 / 7, 2.5)),
                           (25000, (2 + 1 / 7, 5)), (40000, (3, 5)), (90000, (3, 5))):
        rmax, dmax = renorm_bounds(step)
        np.testing.assert_allclose([float(rmax), float(dmax)], expected, rtol=1e-6)


@pytest.mark.legacy
def test_batch_renorm_matches_the_papers_equations(rng):
    """Training: outputs, input/scale/offset gradients (r and d held constant) and the moving
    statistics step by step through the clipping schedule; inference: the moving statistics."""
    momentum, epsilon, channels = 0.5, 1e-3, 4
    # each batch from another distribution than the moving statistics: r and d get clipped
    batches = [(rng.standard_normal((3, 2, 2, channels)) * (1 + 2 * rng.random(channels))
                + 3 * rng.standard_normal(channels)) for _ in range(8)]
    layer = BatchRenormalization(momentum=momentum, epsilon=epsilon, **SCHEDULE,
                                 gamma_initializer=keras.initializers.Constant(1.5),
                                 beta_initializer=keras.initializers.Constant(-0.5))
    layer.build((None, 2, 2, channels))
    gamma, beta = np.full(channels, 1.5), np.full(channels, -0.5)
    reference = _renorm_reference(batches, gamma, beta, momentum, epsilon, SCHEDULE)
    assert sum(s["clipped"] for s in reference[:2]) == 2 * 2 * channels  # r = 1, d = 0
    assert 0 < sum(s["clipped"] for s in reference[2:]) < 6 * 2 * channels
    for step, (x, ref) in enumerate(zip(batches, reference)):
        weights = rng.standard_normal(x.shape)
        x = tf.constant(x, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * weights)
        dx, dgamma, dbeta = tape.gradient(loss, [x, layer.gamma, layer.beta])
        np.testing.assert_allclose(y.numpy(), ref["y"], rtol=1e-4, atol=1e-4, err_msg=step)
        np.testing.assert_allclose(layer.moving_mean.numpy(), ref["mu"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(layer.moving_stddev.numpy(), ref["sigma"], rtol=1e-5)
        # batch norm's backward pass scaled by r: r and d carry no gradient
        xhat = (x.numpy() - ref["mean"]) / ref["stddev"]
        g = weights * gamma * ref["r"]
        axes = (0, 1, 2)
        expected_dx = (g - g.mean(axis=axes) - xhat * (g * xhat).mean(axis=axes)) / ref["stddev"]
        np.testing.assert_allclose(dx.numpy(), expected_dx, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(dgamma.numpy(), (weights * (xhat * ref["r"] + ref["d"])).sum(
            axis=axes), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(dbeta.numpy(), weights.sum(axis=axes), rtol=1e-5, atol=1e-5)
    assert float(layer.step.numpy()) == len(batches)
    x = batches[0]
    expected = gamma * (x - reference[-1]["mu"]) / reference[-1]["sigma"] + beta
    np.testing.assert_allclose(layer(x, training=False).numpy(), expected, rtol=1e-4, atol=1e-4)
    assert float(layer.step.numpy()) == len(batches)  # inference counts no step
    layer.trainable = False  # frozen: inference computation, nothing updated
    np.testing.assert_allclose(layer(x, training=True).numpy(), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.moving_mean.numpy(), reference[-1]["mu"], rtol=1e-5)


def test_batch_renorm_refuses_bad_arguments():
    for kwargs, argument in ((dict(rmax=0.5), "rmax"), (dict(dmax=-1), "dmax"),
                             (dict(momentum=1.0), "momentum"), (dict(warmup_steps=1.5),
                                                                "warmup_steps")):
        with pytest.raises(ValueError, match=f"`{argument}`"):
            BatchRenormalization(**kwargs)


# -- weight normalisation ---------------------------------------------------------------------
def _unit(v, axes):
    return v / np.sqrt((v ** 2).sum(axis=axes, keepdims=True))


def test_weight_norm_layers_match_plain_tf_convolutions(rng):
    """``w = g v / ||v||`` per output filter, then the plain TF convolution; g starts at ||v||
    (the layer computes what a plain convolution with kernel v would)."""
    x = tf.constant(rng.standard_normal((2, 7, 7, 4)), tf.float32)
    conv = WeightNormConv2D(6, 3, strides=2, padding="same", groups=2, use_bias=True)
    depthwise = WeightNormDepthwiseConv2D(3, padding="same", depth_multiplier=2)
    separable = WeightNormSeparableConv2D(5, 3, padding="valid")
    for layer in (conv, depthwise, separable):
        layer.build(x.shape)
    start = conv(x).numpy()
    np.testing.assert_allclose(start, tf.nn.bias_add(tf.nn.conv2d(
        x, conv.kernel, 2, "SAME"), conv.bias).numpy(), rtol=1e-5, atol=1e-5)
    for layer in (conv, depthwise, separable):  # lengths away from ||v||
        for weight in layer.weights:
            if weight.name.endswith("g"):
                weight.assign(rng.uniform(0.5, 2.0, weight.shape))
    conv.bias.assign(rng.standard_normal(6))
    kernel = _unit(conv.kernel.numpy(), (0, 1, 2)) * conv.g.numpy()
    expected = tf.nn.conv2d(x, kernel, 2, "SAME").numpy() + conv.bias.numpy()
    np.testing.assert_allclose(conv(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    kernel = _unit(depthwise.kernel.numpy(), (0, 1)) * depthwise.g.numpy()
    expected = tf.nn.depthwise_conv2d(x, kernel, (1, 1, 1, 1), "SAME").numpy()
    np.testing.assert_allclose(depthwise(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    dw = _unit(separable.depthwise_kernel.numpy(), (0, 1)) * separable.depthwise_g.numpy()
    pw = _unit(separable.pointwise_kernel.numpy(), (0, 1, 2)) * separable.pointwise_g.numpy()
    expected = tf.nn.separable_conv2d(x, dw, pw, (1, 1, 1, 1), "VALID").numpy()
    np.testing.assert_allclose(separable(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    # the reparameterisation: scaling v changes nothing
    before = conv(x).numpy()
    conv.kernel.assign(conv.kernel * 3.0)
    np.testing.assert_allclose(conv(x).numpy(), before, rtol=1e-5, atol=1e-5)


def _plain_model():
    inputs = keras.Input((8, 8, 6))
    shared = keras.layers.Conv2D(6, 3, padding="same", use_bias=True, name="shared")
    x = shared(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(x)
    x = keras.layers.SeparableConv2D(6, 3, padding="same", name="sep")(x)
    x = GroupConv2D(6, 1, groups=3, name="group")(x)
    x = keras.layers.Add(name="add")([x, shared(x)])  # the same layer called twice
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="fc")(x))


def test_weight_normalize_keeps_the_function_and_shared_layers(rng):
    model = _plain_model()
    x = rng.standard_normal((2, 8, 8, 6)).astype("float32")
    converted = weight_normalize(model)
    kinds = {layer.name: type(layer) for layer in converted.layers}
    assert (kinds["shared"], kinds["dw"], kinds["sep"], kinds["group"], kinds["fc"]) == (
        WeightNormConv2D, WeightNormDepthwiseConv2D, WeightNormSeparableConv2D,
        WeightNormConv2D, keras.layers.Dense)
    assert len(converted.get_layer("shared")._inbound_nodes) == 2
    assert unnormalized_convolutions(converted) == [] and len(unnormalized_convolutions(model)) == 4
    np.testing.assert_allclose(converted(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.legacy
def test_norm_weight_on_a_builder(rng):
    """ResNet-18 with norm="weight": every convolution weight-normalised, every norm slot a
    bias; trainable count and FLOPs equal the batch-norm build's (g and b for gamma and beta),
    no non-trainable weights; the paper's data-dependent initialisation standardises every
    pre-activation on its batch."""
    model = kc.ResNet18.tiny(input_shape=SMALL, classes=3, norm="weight")
    plain = kc.ResNet18.tiny(input_shape=SMALL, classes=3)
    assert unnormalized_convolutions(model) == []
    slots = [layer for layer in model.layers if "_bn" in layer.name]
    assert slots and all(isinstance(layer, ChannelBias) for layer in slots)
    (trainable, frozen), (plain_trainable, _) = kc.count_params(model), kc.count_params(plain)
    assert (trainable, frozen, kc.count_flops(model)) == (plain_trainable, 0,
                                                          kc.count_flops(plain))
    x = rng.standard_normal((8, *SMALL)).astype("float32")
    assert data_dependent_init(model, x) == len(slots) + len(
        [layer for layer in model.layers if isinstance(layer, WeightNormConv2D)])
    for layer in model.layers:  # each direction rescaled to its new length
        if isinstance(layer, WeightNormConv2D):
            np.testing.assert_allclose(np.sqrt((layer.kernel.numpy() ** 2).sum(axis=(0, 1, 2))),
                                       layer.g.numpy(), rtol=1e-4)
    for layer in slots[:4]:
        values = keras.Model(model.inputs[0], layer.output)(x).numpy()
        values = values.reshape(-1, values.shape[-1])
        np.testing.assert_allclose(values.mean(axis=0), 0, atol=1e-3)
        np.testing.assert_allclose(values.std(axis=0), 1, rtol=1e-2)


@pytest.mark.legacy
def test_norm_batch_renorm_on_a_builder():
    model = kc.ResNet18.tiny(input_shape=SMALL, classes=3, norm="batch_renorm")
    slots = [layer for layer in model.layers if "_bn" in layer.name]
    if USE_LEGACY_KERAS:  # tf_keras' own renorm, with the schedule's final bounds
        assert all(layer.renorm and layer.renorm_clipping == RENORM_CLIPPING for layer in slots)
    else:
        assert all(isinstance(layer, BatchRenormalization) for layer in slots)
        assert slots[0].momentum == 0.9 and slots[0].epsilon == 1e-5  # the family's
    assert slots


def test_new_layers_save_and_convert_to_builtin_tflite(rng, save_and_reload):
    inputs = keras.Input((8, 8, 4))
    x = WeightNormConv2D(8, 3, padding="same", groups=2)(inputs)
    x = BatchRenormalization(**SCHEDULE)(x)
    x = ChannelBias()(x)
    x = WeightNormDepthwiseConv2D(3, strides=2, padding="same", use_bias=True)(x)
    x = WeightNormSeparableConv2D(4, 3, padding="same")(x)
    model = keras.Model(inputs, x)
    images = rng.standard_normal((4, 8, 8, 4)).astype("float32")
    model(images, training=True)  # moving statistics away from their initial values
    for weight in model.weights:  # and every other weight too
        if weight.name in ("bias", "beta", "g"):
            weight.assign(rng.uniform(0.5, 1.5, weight.shape))
    expected = model(images[:1], training=False).numpy()
    reloaded = save_and_reload(model)
    np.testing.assert_allclose(reloaded(images[:1], training=False).numpy(), expected, rtol=1e-6)
    assert [type(layer).__name__ for layer in reloaded.layers[1:]] == [
        "WeightNormConv2D", "BatchRenormalization", "ChannelBias", "WeightNormDepthwiseConv2D",
        "WeightNormSeparableConv2D"]
    assert reloaded.layers[2].get_config()["rmax_steps"] == 6
    flatbuffer = tflite.convert(model)
    ops = tflite.op_names(flatbuffer)
    assert {"CONV_2D", "DEPTHWISE_CONV_2D"} <= set(ops)
    assert not [op for op in ops if op in ("CUSTOM", "DELEGATE") or op.startswith("Flex")]
    assert tflite.check(model, flatbuffer, images[:1]) < 1e-4


# -- the choice on the builders ---------------------------------------------------------------
def test_every_norm_value_is_a_layer_choice():
    assert NORMS == ("batch", "sync_batch", "group", "layer", "batch_renorm", "weight")
    assert isinstance(normalization("weight", 8, "w"), ChannelBias)
    with pytest.raises(ValueError, match="`norm` must be one of 'batch', .*'weight'; got 'x'"):
        normalization("x", 8, "x")


@pytest.mark.parametrize("builder, kwargs, norm, reason", [
    ("CondenseNet74_C4_G4", {}, "group", "batch norm only"),
    ("GoogLeNet", {}, "layer", "has no normalisation layers"),
    ("DenseNet121", {"memory_efficient": True}, "weight", "memory_efficient"),
])
def test_refusals_name_norm_and_the_reason(builder, kwargs, norm, reason):
    with pytest.raises(ValueError, match=f"`norm`(=| must).*'{norm}'|norm='{norm}'") as error:
        getattr(kc, builder).tiny(norm=norm, **kwargs)
    assert reason in str(error.value)


def test_weight_norm_on_a_layout_without_norm_layers():
    """GoogLeNet's paper layout has no batch norm: "weight" still applies (its convolutions,
    which keep their biases)."""
    model = kc.GoogLeNet.tiny(input_shape=(64, 64, 3), classes=3, norm="weight")
    assert unnormalized_convolutions(model) == []
    convs = [layer for layer in model.layers if isinstance(layer, WeightNormConv2D)]
    assert convs and all(layer.use_bias for layer in convs)
