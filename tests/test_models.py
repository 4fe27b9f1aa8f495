"""The shared routine every registered model goes through -- a new family gets it for free.

Behaviour is checked on each architecture's ``tiny`` configuration (same blocks, stem, head,
naming and options; fewer blocks and 1/8 of the widths), so all of it runs in minutes on two
cores. Names whose tiny networks are the same (all seven ResNeXt-50/101 names, the five scales of
a ShuffleNet v1 group count, ...) share one run: ``tiny_networks.py`` groups them. The
named configurations themselves are checked at full size by ``test_reference_counts.py``.
"""

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import USE_LEGACY_KERAS, keras, tf
from keras_convnets.layers import SEBlock
from keras_convnets.layers.normalization import NORMS

from tiny_networks import REPRESENTATIVES, TINY_NETWORKS, input_size

ALL_MODELS = kc.list_models()




def _tiny(spec, **kwargs):
    kwargs.setdefault("input_shape", (input_size(spec),) * 2 + (3,))
    return spec.build_tiny(**kwargs)


def _run(model, x):
    """Eager inference: much cheaper than predict() for a model that is called only a few times."""
    out = model(x, training=False)
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else np.asarray(out)


def _logit_magnitude(model, x):
    """The largest |logit| of a classifier built by the shared builder (``<name>_logits``)."""
    logits = keras.Model(model.inputs[0], model.get_layer(f"{model.name}_logits").output)
    return float(np.abs(_run(logits, x)).max())


def _images(spec, n=2, seed=0):
    size = input_size(spec)
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype("float32")


def test_every_name_is_in_one_tiny_network_group():
    grouped = [name for names in TINY_NETWORKS.values() for name in names]
    assert sorted(grouped) == ALL_MODELS
    assert len(REPRESENTATIVES) < len(ALL_MODELS)


@pytest.mark.parametrize("name", [n for n in REPRESENTATIVES if len(TINY_NETWORKS[n]) > 1])
def test_names_that_share_a_run_build_the_same_network(name):
    """The grouping is only a saving if it is right: every name of a group builds the same
    tiny network (the same model JSON but for the name prefix)."""
    def network(member):
        keras.backend.clear_session()  # the same auto-generated names (input_layer) each time
        spec = kc.get_spec(member)
        model = _tiny(spec, classes=7)
        return model.to_json().replace(f'"{member}', '"MODEL')

    expected = network(name)
    for member in TINY_NETWORKS[name][1:]:
        assert network(member) == expected, (name, member)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_registry_entry_is_complete(name):
    spec = kc.get_spec(name)
    assert spec.paper.link and spec.paper.title and 2012 <= spec.paper.year <= 2025
    # The docstring cites the paper: its arXiv id, or its year where it has none (AlexNet).
    doc = spec.builder.__doc__
    assert doc and (f"arXiv:{spec.paper.arxiv}" in doc if spec.paper.arxiv
                    else str(spec.paper.year) in doc), name
    assert spec.min_size <= spec.default_size
    assert list(spec.stage_strides) == sorted(spec.stage_strides)
    assert spec.reference is not None, name
    assert spec.params is not None or spec.paper_params is not None or spec.reference.note, name
    assert spec.config is not None and spec.tiny is not None, name
    # The public builder is the module-level function of that name (greppable, importable).
    module = __import__(spec.function.__module__, fromlist=["_"])
    assert getattr(module, spec.builder.__name__) is spec.builder is getattr(
        kc, spec.builder.__name__)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_shared_model_behaviour(name, save_and_reload):
    spec = kc.get_spec(name)
    x = _images(spec)

    # Classifier: shape, probabilities, names prefixed with the model's name.
    model = _tiny(spec, classes=7)
    assert model.name == name
    probs = _run(model, x)
    assert probs.shape == (2, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert all(layer.name.startswith(name + "_") for layer in model.layers[1:])
    # Grouped convolutions are GroupConv2D (grouped tf.nn.conv2d, see
    # docs/benchmarks/grouped_conv.md), never Keras' XLA-compiled Conv2D(groups > 1).
    assert not [layer.name for layer in model.layers
                if isinstance(layer, keras.layers.Conv2D) and getattr(layer, "groups", 1) > 1]

    # Two instances in one outer model (the second named <model>_1) build, run and survive a
    # .keras round trip (safe_mode, no custom_objects) with identical outputs.
    second = _tiny(spec, classes=7)
    assert second.name == name + "_1"
    inputs = keras.Input(x.shape[1:])
    outer = keras.Model(inputs, keras.layers.Average()([model(inputs), second(inputs)]))
    expected = (probs + _run(second, x)) / 2
    np.testing.assert_allclose(_run(outer, x), expected, rtol=1e-5, atol=1e-6)
    # The file reloads fused batch norm as Keras' unfused BatchNormalization: the same function
    # summed in another order, a few float32 ulps apart after a deep network (PolyNet: 2e-6).
    # Those ulps are relative to the logits, which random weights can make large (tiny
    # PNASNet's reach +-1000, where one ulp is 6e-5), and a probability moves by at most the
    # largest logit change: the tolerance follows the logits' magnitude.
    reloaded = save_and_reload(outer)
    atol = 1e-5 * max(1.0, _logit_magnitude(model, x), _logit_magnitude(second, x))
    np.testing.assert_allclose(_run(reloaded, x), expected, rtol=1e-4, atol=atol)
    inner = reloaded.get_layer(model.name)
    np.testing.assert_allclose(_run(inner, x), probs, rtol=1e-4, atol=atol)

    # Feature extractor on the reloaded model: one map per stage, with the registry's strides
    # (less the margins of unpadded layers, Inception-v4's) and the channels of the layer that
    # ends each stage.
    maps = _run(kc.feature_extractor(inner), x)
    maps = maps if isinstance(maps, list) else [maps]
    assert len(maps) == len(spec.stage_strides)
    margins = spec.stage_margins or (0,) * len(spec.stage_strides)
    for stage, (fmap, stride, margin) in enumerate(
            zip(maps, spec.stage_strides, margins), start=1):
        assert fmap.shape[1:3] == ((x.shape[1] - margin) // stride,
                                   (x.shape[2] - margin) // stride)
        assert fmap.shape[-1] == inner.get_layer(f"{name}_stage{stage}_out").output.shape[-1]

    # Backbone: the last stage's map at any input size, and each pooling.
    keras.backend.clear_session()
    backbone = _tiny(spec, include_top=False, input_shape=(None, None, 3))
    out = _run(backbone, x)
    channels = maps[-1].shape[-1]
    assert out.shape == (2, (x.shape[1] - margins[-1]) // spec.stage_strides[-1],
                         (x.shape[2] - margins[-1]) // spec.stage_strides[-1], channels)
    for pooling, reduce in (("avg", np.mean), ("max", np.max)):
        pooled = _tiny(spec, include_top=False, pooling=pooling, input_shape=x.shape[1:])
        pooled.set_weights(backbone.get_weights())
        np.testing.assert_allclose(_run(pooled, x), reduce(out, axis=(1, 2)), rtol=1e-5,
                                   atol=1e-5)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_one_training_step_reaches_every_weight(name, seeded):
    """A training-mode step: finite loss, and a finite, non-zero gradient for every trainable
    weight (a disconnected branch or a frozen-by-mistake layer shows up). The one exception:
    a 1/8-width SE block squeezes to one to three units, whose ReLUs may all be dead for a
    whole random batch (seeded, so the run is repeatable)."""
    spec = kc.get_spec(name)
    with seeded(0):
        model = _tiny(spec, classes=3)
    x = _images(spec, n=4, seed=1)
    y = np.array([0, 1, 2, 1])
    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
        loss = tf.reduce_mean(loss)
    grads = tape.gradient(loss, model.trainable_weights)
    assert np.isfinite(float(loss)) and float(loss) > 0
    narrow_se = {id(w) for layer in model.layers if isinstance(layer, SEBlock)
                 and min(w.shape[-1] for w in layer.weights) < 4 for w in layer.weights}
    for weight, grad in zip(model.trainable_weights, grads):
        assert grad is not None, f"{name}: no gradient reaches {weight.path}"
        grad = np.asarray(tf.convert_to_tensor(grad))
        assert np.isfinite(grad).all(), weight.path
        assert np.abs(grad).max() > 0 or id(weight) in narrow_se, weight.path


@pytest.mark.legacy
@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_builds_and_runs_in_both_keras_worlds(name):
    """Every family builds, names its layers and classifies under Keras 3 and under legacy
    ``tf_keras`` (run by tests/run.sh's TF_USE_LEGACY_KERAS=1 pass)."""
    if not USE_LEGACY_KERAS:
        pytest.skip("the legacy-Keras pass runs this; under Keras 3 test_shared_model_behaviour")
    spec = kc.get_spec(name)
    model = _tiny(spec, classes=5)
    assert model.__class__.__module__.startswith("tf_keras" if USE_LEGACY_KERAS else "keras")
    probs = _run(model, _images(spec))
    assert probs.shape == (2, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert all(layer.name.startswith(name + "_") for layer in model.layers[1:])


def _one_norm_per_family():
    """Each family's first representative with a non-default ``norm``: the families take the
    choices in turn (sorted by name), so every choice is trained on several families."""
    firsts = {}
    for name in REPRESENTATIVES:
        firsts.setdefault(kc.get_spec(name).family, name)
    choices = [norm for norm in NORMS if norm != "batch"]
    return [(name, choices[i % len(choices)]) for i, name in enumerate(sorted(firsts.values()))]


def _norm_layers(model, norm):
    """The layers ``norm`` puts in a model (the weight-normalised convolutions for "weight")."""
    from keras_convnets.layers.batch_renorm import BatchRenormalization
    from keras_convnets.layers.weight_norm import WEIGHT_NORM_LAYERS

    def made_by(layer):
        if norm == "weight":
            return isinstance(layer, WEIGHT_NORM_LAYERS)
        if norm == "batch_renorm":
            return isinstance(layer, BatchRenormalization) or getattr(layer, "renorm", False)
        if norm == "sync_batch":
            return getattr(layer, "synchronized", False)
        return isinstance(layer, keras.layers.GroupNormalization) and (
            (layer.groups == 1) == (norm == "layer"))
    return [layer for layer in model._flatten_layers(include_self=False) if made_by(layer)]


@pytest.mark.parametrize("name, norm", _one_norm_per_family())
def test_one_non_default_norm_per_family(name, norm, seeded):
    """Every builder takes every ``norm=`` or refuses it with a ValueError naming ``norm`` and
    why. Here each family builds its choice (or, where it refuses that one, the next it
    accepts; a family that accepts none refuses all of them) and takes a training step that
    reaches every weight."""
    spec = kc.get_spec(name)
    choices = [n for n in NORMS if n != "batch"]
    order = choices[choices.index(norm):] + choices[:choices.index(norm)]
    model = None
    for choice in order:
        try:
            with seeded(0):
                model = _tiny(spec, classes=3, norm=choice)
            break
        except ValueError as error:
            assert "norm" in str(error), (name, choice, str(error))
    if model is None:
        return  # refuses every choice but batch (CondenseNet), each time naming `norm`
    assert _norm_layers(model, choice), (name, choice)
    x = _images(spec, n=4, seed=1)
    with tf.GradientTape() as tape:
        probs = model(x, training=True)
        probs = probs[0] if isinstance(probs, (list, tuple)) else probs
        labels = np.array([0, 1, 2, 1])
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, probs))
    grads = tape.gradient(loss, model.trainable_weights)
    assert np.isfinite(float(loss))
    assert all(g is not None and np.isfinite(np.asarray(tf.convert_to_tensor(g))).all()
               for g in grads), (name, choice)
