import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_convnets.backend import USE_LEGACY_KERAS, keras  # noqa: E402


#: The Keras world this test process chose. Child processes (training jobs, multi-worker
#: clusters) inherit os.environ, so a test or an import that flips the variable would make
#: every later child run the other Keras -- tfmot's own import does exactly that.
_KERAS_SWITCH = os.environ.get("TF_USE_LEGACY_KERAS")


def _keras_switch_changed(when):
    """The complaint if TF_USE_LEGACY_KERAS differs from the process's choice (then restored),
    else None."""
    value = os.environ.get("TF_USE_LEGACY_KERAS")
    if value == _KERAS_SWITCH:
        return None
    if _KERAS_SWITCH is None:
        os.environ.pop("TF_USE_LEGACY_KERAS")
    else:
        os.environ["TF_USE_LEGACY_KERAS"] = _KERAS_SWITCH
    return (f"{when} changed TF_USE_LEGACY_KERAS from {_KERAS_SWITCH!r} to {value!r}; import "
            f"tensorflow_model_optimization through keras_convnets.backend.import_tfmot")


def pytest_collection_finish(session):
    complaint = _keras_switch_changed("collecting the tests")
    if complaint:
        raise pytest.UsageError(complaint)


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
    complaint = _keras_switch_changed("this test")
    if complaint:
        pytest.fail(complaint, pytrace=False)


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
