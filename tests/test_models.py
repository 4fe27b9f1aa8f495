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
    assert spec.paper.link and spec.paper.title and 2012 <= spec.paper.year <= 2025
    # The docstring cites the paper: its arXiv id, or its year where it has none (AlexNet).
    doc = spec.builder.__doc__
    assert doc and (f"arXiv:{spec.paper.arxiv}" in doc if spec.paper.arxiv
                    else str(spec.paper.year) in doc), name
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
    # Grouped convolutions are GroupConv2D (grouped tf.nn.conv2d, see
    # docs/benchmarks/grouped_conv.md), never Keras' XLA-compiled Conv2D(groups > 1).
    assert not [layer.name for layer in model.layers
                if isinstance(layer, keras.layers.Conv2D) and getattr(layer, "groups", 1) > 1]

    # Two instances in one outer model build, run and survive a .keras round trip (safe_mode,
    # no custom_objects) with identical outputs.
    second = _tiny(spec, classes=7)
    assert second.name != model.name
    inputs = keras.Input(x.shape[1:])
    outer = keras.Model(inputs, keras.layers.Average()([model(inputs), second(inputs)]))
    expected = (probs + _run(second, x)) / 2
    np.testing.assert_allclose(_run(outer, x), expected, rtol=1e-5, atol=1e-6)
    reloaded = save_and_reload(outer)
    np.testing.assert_allclose(_run(reloaded, x), expected, rtol=1e-5, atol=1e-6)
    inner = reloaded.get_layer(model.name)
    np.testing.assert_allclose(_run(inner, x), probs, rtol=1e-5, atol=1e-6)

    # Feature extractor on the reloaded model: one map per stage, with the registry's strides.
    maps = _run(kc.feature_extractor(inner), x)
    maps = maps if isinstance(maps, list) else [maps]
    assert len(maps) == len(spec.stage_strides)
    for fmap, stride in zip(maps, spec.stage_strides):
        assert fmap.shape[1] == x.shape[1] // stride and fmap.shape[2] == x.shape[2] // stride

    # Backbone: the last stage's map at any input size (pooling choices: test_builder.py).
    keras.backend.clear_session()
    backbone = _tiny(spec, include_top=False, input_shape=(None, None, 3))
    out = _run(backbone, x)
    assert out.shape == (2, x.shape[1] // spec.stage_strides[-1],
                         x.shape[2] // spec.stage_strides[-1], maps[-1].shape[-1])
