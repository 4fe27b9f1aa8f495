"""LARS (You, Gitman, Ginsburg 2017, arXiv:1708.03888, Algorithm 1) against a NumPy
transcription of the algorithm, step by step, with its polynomial learning-rate decay."""

import numpy as np
import pytest

from keras_convnets.backend import USE_LEGACY_KERAS, keras, tf
from keras_convnets.training import LARS, WarmupSchedule

STEPS = 6
LR0, MOMENTUM, BETA, ETA = 2.0, 0.9, 5e-4, 0.001


def _variable(value, name):
    if USE_LEGACY_KERAS:
        return tf.Variable(value, name=name)
    return keras.Variable(value, name=name)


def lars_numpy(weights, gradients, lr0, total_steps, momentum, beta, eta, adapt):
    """Algorithm 1 of You et al., written out with NumPy.

    ``gradients[t][l]`` is layer l's gradient at step t. For every layer:
    gamma_t = lr0 (1 - t/T)^2; local = eta ||w|| / (||g|| + beta ||w||);
    v <- m v + gamma_t local (g + beta w); w <- w - v. Layers with ``adapt[l]`` False (BN
    parameters, biases) take v <- m v + gamma_t g. Returns the weights after every step.
    """
    w = [np.array(x, np.float64) for x in weights]
    v = [np.zeros_like(x) for x in w]
    history = []
    for t, step_gradients in enumerate(gradients):
        gamma = lr0 * (1.0 - t / total_steps) ** 2
        for layer, g in enumerate(step_gradients):
            g = np.asarray(g, np.float64)
            if adapt[layer]:
                w_norm, g_norm = np.linalg.norm(w[layer]), np.linalg.norm(g)
                local = eta * w_norm / (g_norm + beta * w_norm) if w_norm > 0 and g_norm > 0 \
                    else 1.0
                v[layer] = momentum * v[layer] + gamma * local * (g + beta * w[layer])
            else:
                v[layer] = momentum * v[layer] + gamma * g
            w[layer] = w[layer] - v[layer]
        history.append([x.copy() for x in w])
    return history


@pytest.mark.legacy
def test_lars_matches_numpy_step_by_step(rng):
    kernel0 = rng.normal(size=(5, 4)).astype("float32")
    bias0 = rng.normal(size=(4,)).astype("float32")
    zero0 = np.zeros((3, 3), "float32")  # ||w|| = 0: the local rate falls back to 1
    gradients = [[rng.normal(size=x.shape).astype("float32") * scale
                  for x, scale in ((kernel0, 0.3), (bias0, 1.0), (zero0, 0.5))]
                 for _ in range(STEPS)]
    expected = lars_numpy([kernel0, bias0, zero0], gradients, LR0, STEPS, MOMENTUM, BETA, ETA,
                          adapt=[True, False, True])

    variables = [_variable(kernel0, "kernel"), _variable(bias0, "bias"),
                 _variable(zero0, "zero_kernel")]
    schedule = WarmupSchedule(LR0, STEPS, decay="polynomial", power=2.0)
    optimizer = LARS(schedule, momentum=MOMENTUM, weight_decay=BETA, eta=ETA)
    for t in range(STEPS):
        optimizer.apply_gradients(zip([tf.constant(g) for g in gradients[t]], variables))
        for got, want in zip(variables, expected[t]):
            np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=1e-7,
                                       err_msg=f"step {t}")
    # the kernel moved by LARS' tiny trust-scaled steps; the bias by plain momentum SGD
    assert np.abs(np.asarray(variables[0]) - kernel0).max() < 0.05
    assert np.abs(np.asarray(variables[1]) - bias0).max() > 0.5


@pytest.mark.legacy
def test_lars_local_rate_formula():
    optimizer = LARS(1.0, weight_decay=0.1, eta=0.01)
    w = tf.constant([[3.0, 4.0]])   # ||w|| = 5
    g = tf.constant([[0.0, 2.0]])   # ||g|| = 2
    assert float(optimizer.local_rate(w, g)) == pytest.approx(0.01 * 5 / (2 + 0.1 * 5))
    assert float(optimizer.local_rate(tf.zeros((2, 2)), g[:, :2])) == 1.0
    assert float(optimizer.local_rate(w, tf.zeros((1, 2)))) == 1.0


def test_lars_can_adapt_vectors_too(rng):
    bias0 = rng.normal(size=(4,)).astype("float32")
    gradient = rng.normal(size=(4,)).astype("float32")
    expected = lars_numpy([bias0], [[gradient]], 1.0, 1, MOMENTUM, BETA, ETA, adapt=[True])
    variable = _variable(bias0, "bias")
    LARS(1.0, momentum=MOMENTUM, weight_decay=BETA, eta=ETA, decay_vectors=True) \
        .apply_gradients([(tf.constant(gradient), variable)])
    np.testing.assert_allclose(np.asarray(variable), expected[0][0], rtol=2e-5)


def test_lars_config_round_trip_and_errors():
    optimizer = LARS(WarmupSchedule(3.0, 100, warmup_steps=10, decay="polynomial"),
                     momentum=0.8, weight_decay=1e-4, eta=0.002)
    config = optimizer.get_config()
    assert (config["eta"], config["momentum"], config["weight_decay"]) == (0.002, 0.8, 1e-4)
    clone = LARS.from_config(config)
    assert (clone.eta, clone.momentum, clone.coupled_weight_decay) == (0.002, 0.8, 1e-4)
    assert clone.weight_decay is None  # no decoupled Keras decay on top of the L2 term
    with pytest.raises(ValueError, match="`eta` must be a number >= 0.0; got -1"):
        LARS(eta=-1)
    with pytest.raises(ValueError, match="`momentum` must be a number in"):
        LARS(momentum=1.5)


def test_lars_trains_and_saves_in_a_keras_file(tmp_path, rng):
    import keras_convnets as kc

    x = rng.random((16, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 16)
    model = kc.ResNet18.tiny(input_shape=(32, 32, 3), classes=10)
    model.compile(LARS(WarmupSchedule(1.0, 4, decay="polynomial"), eta=0.01),
                  "sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    path = tmp_path / "lars.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.optimizer, LARS)
    assert int(loaded.optimizer.iterations) == 4
