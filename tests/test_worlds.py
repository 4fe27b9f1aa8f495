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
    # Under Keras 3 the file records batch norm as Keras' own (unfused) layer: the same weights,
    # other float32 rounding over 50 layers (observed 2e-5 relative on the probabilities).
    np.testing.assert_allclose(np.asarray(reloaded(x, training=False)), probs, rtol=1e-4,
                               atol=1e-7)


def test_seresnext50_exactly_as_the_brief_writes_it():
    model = kc.SEResNeXt50(weights=None)
    assert model.name == "seresnext50" and model.output_shape == (None, 1000)
    assert kc.count_flops(model) == 8_465_989_632


def test_feature_extractor_and_tiny_models_in_both_worlds():
    model = kc.Res2Net50.tiny(input_shape=(64, 64, 3), classes=3)
    maps = kc.feature_extractor(model)(np.zeros((1, 64, 64, 3), "float32"))
    assert [m.shape[1] for m in maps] == [16, 8, 4, 2]


_CHILD_WORLD = """
import os, subprocess, sys
from keras_convnets.optimize import pruning
pruning.PolynomialDecay(0.0, 0.5, 0, 10).to_tfmot()   # imports tfmot in this Keras 3 process
print(repr(os.environ.get("TF_USE_LEGACY_KERAS")))
child = "from keras_convnets.backend import describe; print(describe())"
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout)
"""


def test_importing_tfmot_does_not_switch_the_keras_of_child_processes():
    """tfmot's import sets TF_USE_LEGACY_KERAS=1 in os.environ; a Keras 3 process that used it
    (e.g. for a pruning schedule) then started every child -- a multi-worker cluster, a
    training job -- in legacy Keras. The package's import restores the variable."""
    import importlib.util
    import os
    import subprocess
    import sys

    if importlib.util.find_spec("tensorflow_model_optimization") is None:
        pytest.skip("tensorflow-model-optimization is not installed")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc = subprocess.run([sys.executable, "-c", _CHILD_WORLD], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "None" and lines[1].startswith("Keras 3"), proc.stdout
