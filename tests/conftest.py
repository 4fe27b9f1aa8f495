import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_convnets.backend import USE_LEGACY_KERAS, keras  # noqa: E402


def pytest_collection_modifyitems(config, items):
    # Under legacy Keras only the tests marked `legacy` run: the rest exercise Keras 3 only.
    if not USE_LEGACY_KERAS:
        return
    skip = pytest.mark.skip(reason="Keras 3 only (TF_USE_LEGACY_KERAS=1 runs the legacy subset)")
    for item in items:
        if "legacy" not in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    yield
    keras.backend.clear_session()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def save_and_reload(tmp_path):
    """Saves a model to a .keras file and loads it back with safe_mode and no custom_objects."""
    counter = iter(range(1_000_000))

    def round_trip(model):
        path = os.path.join(str(tmp_path), f"model{next(counter)}.keras")
        model.save(path)
        return keras.models.load_model(path, safe_mode=True)

    return round_trip
