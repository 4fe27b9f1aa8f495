"""Full builds that must work in both Keras worlds (this file runs under TF_USE_LEGACY_KERAS=1
too): ResNet-50 and SE-ResNeXt-50 at the reference counts, a forward pass, a .keras round trip."""

import numpy as np
import pytest

import keras_convnets as kc

pytestmark = pytest.mark.legacy


@pytest.mark.parametrize("name, params", [("resnet50", 25_557_032), ("seresnext50", 27_559_896)])
def test_full_build_counts_and_round_trip(name, params, save_and_reload):
    model = kc.get_model(name, input_shape=(64, 64, 3))
    assert kc.count_params(model)[0] == params
    x = np.random.default_rng(0).random((1, 64, 64, 3)).astype("float32")
    probs = np.asarray(model(x, training=False))
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)
    reloaded = save_and_reload(model)
    np.testing.assert_allclose(np.asarray(reloaded(x, training=False)), probs, rtol=1e-5,
                               atol=1e-7)


def test_seresnext50_exactly_as_the_brief_writes_it():
    model = kc.SEResNeXt50(weights=None)
    assert model.name == "seresnext50" and model.output_shape == (None, 1000)
    assert kc.count_flops(model) == 8_465_989_632


def test_feature_extractor_and_tiny_models_in_both_worlds():
    model = kc.Res2Net50.tiny(input_shape=(64, 64, 3), classes=3)
    maps = kc.feature_extractor(model)(np.zeros((1, 64, 64, 3), "float32"))
    assert [m.shape[1] for m in maps] == [16, 8, 4, 2]
