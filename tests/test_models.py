"""The shared routine every registered model goes through.

Behaviour is checked on each architecture's ``tiny`` variant (same blocks, stem, head, naming and
options; fewer blocks and 1/8 of the widths), so all of it runs in minutes on two cores. The
named configurations themselves are checked at full size by ``test_reference_counts.py``.
"""

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras

ALL_MODELS = kc.list_models()


def _input_size(spec):
    # Large enough that the deepest stage is 2x2, so strides are exact.
    return max(spec.min_size, 2 * spec.stage_strides[-1])


def _tiny(spec, **kwargs):
    kwargs.setdefault("input_shape", (_input_size(spec),) * 2 + (3,))
    return spec.builder.tiny(**kwargs)


def _run(model, x):
    """Eager inference: much cheaper than predict() for a model that is called only a few times."""
    out = model(x, training=False)
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else np.asarray(out)


def _images(spec, n=2, seed=0):
    size = _input_size(spec)
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype("float32")


@pytest.mark.parametrize("name", ALL_MODELS)
def test_registry_entry_is_complete(name):
    spec = kc.get_spec(name)
    assert spec.paper.arxiv and spec.paper.title and 2012 <= spec.paper.year <= 2025
    assert spec.builder.__doc__ and "arXiv" in spec.builder.__doc__
    assert spec.min_size <= spec.default_size
    assert list(spec.stage_strides) == sorted(spec.stage_strides)
    assert spec.params is not None or spec.paper_params is not None or spec.reference, name
    assert callable(getattr(spec.builder, "tiny", None))


@pytest.mark.parametrize("name", ALL_MODELS)
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

    # .keras round trip, safe_mode, no custom_objects, identical outputs.
    reloaded = save_and_reload(model)
    np.testing.assert_allclose(_run(reloaded, x), probs, rtol=1e-5, atol=1e-6)

    # Feature extractor: one map per stage, with the registry's strides.
    features = kc.feature_extractor(reloaded)
    maps = _run(features, x)
    maps = maps if isinstance(maps, list) else [maps]
    assert len(maps) == len(spec.stage_strides)
    for fmap, stride in zip(maps, spec.stage_strides):
        assert fmap.shape[1] == x.shape[1] // stride and fmap.shape[2] == x.shape[2] // stride

    # Backbone with each pooling choice.
    keras.backend.clear_session()
    size = x.shape[1]
    for pooling, expected in ((None, 4), ("avg", 2), ("max", 2)):
        backbone = _tiny(spec, include_top=False, pooling=pooling, input_shape=(None, None, 3))
        out = _run(backbone, x)
        assert out.ndim == expected
        assert out.shape[-1] == maps[-1].shape[-1]
        if pooling is None:
            assert out.shape[1] == size // spec.stage_strides[-1]


@pytest.mark.parametrize("name", ALL_MODELS)
def test_two_instances_in_one_model(name, save_and_reload):
    spec = kc.get_spec(name)
    x = _images(spec, seed=1)
    first, second = _tiny(spec, classes=3), _tiny(spec, classes=3)
    assert first.name != second.name
    inputs = keras.Input(x.shape[1:])
    outer = keras.Model(inputs, keras.layers.Average()([first(inputs), second(inputs)]))
    expected = (_run(first, x) + _run(second, x)) / 2
    np.testing.assert_allclose(_run(outer, x), expected, rtol=1e-5, atol=1e-6)
    reloaded = save_and_reload(outer)
    np.testing.assert_allclose(_run(reloaded, x), expected, rtol=1e-5, atol=1e-6)
