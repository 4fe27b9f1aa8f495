"""GradNorm (arXiv:1711.02257) on a tiny two-head model: the weight update against the paper's
equations, the balancing it does, and its use on a network with auxiliary classifiers."""

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras, tf
from keras_convnets.training.grad_norm import GradNorm, shared_kernel


def _two_heads(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 3))
    shared = keras.layers.ReLU()(keras.layers.Conv2D(4, 3, name="shared")(inputs))
    a = keras.layers.Dense(3, name="head_a")(keras.layers.GlobalAveragePooling2D()(shared))
    b = keras.layers.Conv2D(4, 1, name="head_b_conv")(shared)
    b = keras.layers.Dense(3, name="head_b")(keras.layers.GlobalAveragePooling2D()(b))
    return keras.Model(inputs, [a, b], name="two_heads")


def _data(seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((8, 6, 6, 3)).astype("float32"), rng.integers(0, 3, 8)


def _scaled(factor):
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return lambda y, p: factor * loss(y, p)


@pytest.mark.legacy
def test_one_step_follows_the_papers_update():
    """Step 1 (L_i(0) = L_i, so r_i = 1): w_i <- w_i - lr sign(G_i - mean G) ||grad_W L_i||,
    then renormalised to the initial sum; the network takes its step on sum w_i L_i."""
    network = _two_heads()
    x, y = _data()
    losses = [_scaled(1.0), _scaled(4.0)]
    trainer = GradNorm(network, losses, alpha=1.5, weight_learning_rate=0.1,
                       initial_weights=[1.0, 0.5])
    assert [id(w) for w in trainer.shared_weights] == [id(network.get_layer("shared").kernel)]
    with tf.GradientTape(persistent=True) as tape:
        a, b = network(x, training=True)
        task = [tf.reduce_mean(losses[0](y, a)), tf.reduce_mean(losses[1](y, b))]
        weighted = 1.0 * task[0] + 0.5 * task[1]
    norms = np.array([float(tf.linalg.global_norm(tape.gradient(t, trainer.shared_weights)))
                      for t in task])
    total_grads = tape.gradient(weighted, network.trainable_variables)
    before = [v.numpy() for v in network.trainable_variables]
    trainer.compile(optimizer=keras.optimizers.SGD(0.05))
    history = trainer.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    weights = np.array([1.0, 0.5])
    grad_norms = weights * norms
    expected = weights - 0.1 * np.sign(grad_norms - grad_norms.mean()) * norms
    expected *= 1.5 / expected.sum()
    np.testing.assert_allclose(trainer.task_weights.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose([history["weight_0"][0], history["weight_1"][0]], expected,
                               rtol=1e-5)
    np.testing.assert_allclose(history["loss"][0], 1.0 * float(task[0]) + 0.5 * float(task[1]),
                               rtol=1e-5)
    np.testing.assert_allclose(trainer.initial_losses.numpy(), [float(t) for t in task],
                               rtol=1e-5)
    for variable, old, grad in zip(network.trainable_variables, before, total_grads):
        np.testing.assert_allclose(variable.numpy(), old - 0.05 * grad.numpy(), rtol=1e-4,
                                   atol=1e-6)


def test_it_balances_the_heads_gradient_norms():
    """A head whose loss is 10x larger has ~10x the gradient on the shared layer: with
    alpha=0 GradNorm moves the weights towards equal weighted norms (w_b falls, w_a rises),
    keeping their sum."""
    network = _two_heads()
    x, y = _data()
    trainer = GradNorm(network, [_scaled(1.0), _scaled(10.0)], alpha=0.0,
                       weight_learning_rate=0.05)
    trainer.compile(optimizer=keras.optimizers.SGD(0.01))
    trainer.fit(x, y, batch_size=8, epochs=6, verbose=0)
    w_a, w_b = trainer.task_weights.numpy()
    assert w_b < 0.9 < 1.1 < w_a and w_a + w_b == pytest.approx(2.0)


def test_on_a_network_with_auxiliary_classifiers():
    model = kc.GoogLeNet.tiny(input_shape=(80, 80, 3), classes=3, aux_logits=True,
                              layout="torchvision")
    trainer = GradNorm(model, "sparse_categorical_crossentropy")
    np.testing.assert_allclose(trainer.task_weights.numpy(), kc.aux_loss_weights(model))
    # the last kernel all three outputs reach: in inception 4a, where aux1 branches off
    (kernel,) = shared_kernel(model)
    assert "4a" in getattr(kernel, "path", kernel.name)
    with pytest.raises(ValueError, match="several outputs"):
        GradNorm(kc.inference_model(model), "sparse_categorical_crossentropy")
