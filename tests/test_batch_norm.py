"""FusedBatchNormalization: Keras' BatchNormalization semantics on TensorFlow's fused kernel."""

import numpy as np
import pytest

from keras_convnets.backend import USE_LEGACY_KERAS, keras, tf
from keras_convnets.layers import FusedBatchNormalization, normalization
from keras_convnets.layers.batch_norm import BatchNormalization

pytestmark = pytest.mark.skipif(USE_LEGACY_KERAS, reason="Keras 3 only: tf_keras fuses itself")


def _pair(rng, shape, **kwargs):
    """A Keras BatchNormalization and a fused one with the same random weights."""
    reference = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, **kwargs)
    fused = FusedBatchNormalization(momentum=0.9, epsilon=1e-5, **kwargs)
    reference.build(shape)
    fused.build(shape)
    weights = [rng.standard_normal(w.shape).astype("float32") for w in reference.get_weights()]
    weights[-1] = np.abs(weights[-1]) + 0.5  # a positive moving variance
    reference.set_weights(weights)
    fused.set_weights(weights)
    return reference, fused


def _outputs_and_gradients(layer, x, training):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2 * tf.cast(x, tf.float32))
    grads = tape.gradient(loss, [x, *layer.trainable_variables])
    return y, grads


@pytest.mark.parametrize("training", [True, False])
def test_matches_keras_batch_norm_outputs_gradients_and_moving_statistics(rng, training):
    x = tf.constant(rng.normal(2.0, 3.0, (4, 5, 6, 8)).astype("float32"))
    reference, fused = _pair(rng, x.shape)
    moving_before = [w.numpy() for w in (fused.moving_mean, fused.moving_variance)]
    y_ref, g_ref = _outputs_and_gradients(reference, x, training)
    y, g = _outputs_and_gradients(fused, x, training)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
    # moving mean and (biased) moving variance updated exactly as Keras does -- or untouched
    for a, b in zip(fused.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    moving_after = [w.numpy() for w in (fused.moving_mean, fused.moving_variance)]
    changed = [not np.allclose(a, b) for a, b in zip(moving_before, moving_after)]
    assert changed == [training, training]


def test_runs_the_fused_kernel_in_both_modes(rng):
    fused = FusedBatchNormalization()
    spec = tf.TensorSpec((2, 4, 4, 3), tf.float32)
    fused.build(spec.shape)
    for training in (True, False):
        graph = tf.function(lambda x: fused(x, training=training)).get_concrete_function(spec).graph
        ops = {op.type for op in graph.get_operations()}
        assert "FusedBatchNormV3" in ops, sorted(ops)


def test_frozen_layer_uses_its_moving_statistics_in_training_mode(rng):
    x = tf.constant(rng.normal(1.0, 2.0, (3, 4, 4, 5)).astype("float32"))
    reference, fused = _pair(rng, x.shape)
    fused.trainable = False
    before = fused.get_weights()
    np.testing.assert_allclose(fused(x, training=True), reference(x, training=False),
                               rtol=1e-5, atol=1e-5)
    for a, b in zip(fused.get_weights(), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_mixed_precision_computes_in_float32_like_keras(rng, dtype):
    x = tf.cast(tf.constant(rng.normal(0.0, 2.0, (2, 4, 4, 6)).astype("float32")), dtype)
    policy = keras.mixed_precision.Policy("mixed_" + dtype)
    reference = keras.layers.BatchNormalization(dtype=policy)
    fused = FusedBatchNormalization(dtype=policy)
    for training in (True, False):
        y, y_ref = fused(x, training=training), reference(x, training=training)
        assert y.dtype == y_ref.dtype == dtype
        np.testing.assert_allclose(tf.cast(y, tf.float32), tf.cast(y_ref, tf.float32),
                                   rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("shape, kwargs", [((4, 6), {}), ((2, 3, 3, 4), {"axis": 1}),
                                           ((2, 3, 3, 4), {"center": False}),
                                           ((2, 3, 3, 4), {"synchronized": True}),
                                           ((2, 3, 3, 4), {"dtype": "float64",
                                                           "input_dtype": "float64"})])
def test_other_configurations_run_keras_own_code(rng, shape, kwargs):
    x = tf.constant(rng.standard_normal(shape).astype(kwargs.pop("input_dtype", "float32")))
    reference, fused = _pair(rng, x.shape, **kwargs)
    assert not fused._fusable(x, None)
    for training in (True, False):
        np.testing.assert_allclose(fused(x, training=training), reference(x, training=training),
                                   rtol=1e-5, atol=1e-5)


def test_round_trips_through_a_keras_file_in_safe_mode(rng, save_and_reload):
    x = rng.standard_normal((2, 4, 4, 3)).astype("float32")
    inputs = keras.Input((4, 4, 3))
    layer = FusedBatchNormalization(momentum=0.8, epsilon=1e-3)
    model = keras.Model(inputs, layer(inputs))
    model.layers[-1].set_weights([w + 0.5 for w in layer.get_weights()])
    reloaded = save_and_reload(model)
    assert type(reloaded.layers[-1]) is FusedBatchNormalization
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    assert FusedBatchNormalization.from_config(layer.get_config()).get_config() == \
        layer.get_config()


def test_the_builders_batch_norm_is_the_fused_layer():
    """...under the name Keras' files know (tests/test_saving.py loads it without us)."""
    layer = normalization("batch", 8, "bn")
    assert type(layer) is BatchNormalization and isinstance(layer, FusedBatchNormalization)
    assert keras.saving.serialize_keras_object(layer)["module"] == "keras.layers"
    sync = normalization("sync_batch", 8, "bn")
    assert isinstance(sync, keras.layers.BatchNormalization) and sync.synchronized
