import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib  # noqa: E402
import importlib  # noqa: E402
import ipaddress  # noqa: E402
import pathlib  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_convnets.backend import USE_LEGACY_KERAS, import_tfmot, keras, tf  # noqa: E402

from reference_tables import PARAMS_TSV  # noqa: E402


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


# -- CI: nothing skipped for a missing package or file -------------------------------------------
#: What the suite imports or reads beyond the package's own requirements. Where one is missing
#: a test skips locally; in CI (CI=true) the run fails at its start, naming it.
REQUIRED_MODULES = ("torch", "timm", "torchvision", "pytorchcv", "pretrainedmodels",
                    "tensorflow_model_optimization",
                    "psutil", "matplotlib", "ai_edge_litert", "tf_keras",
                    "tensorflow_serving.apis")
REQUIRED_FILES = (pathlib.Path(PARAMS_TSV),)
#: Skip reasons that say something is missing (pytest.importorskip's "could not import 'x'"
#: among them); "Keras 3 only" and the other skips of the Keras worlds stay skips in CI.
_MISSING = re.compile(r"could not import|no module named|not installed|not present|missing|"
                      r"not found|does not exist", re.IGNORECASE)


def _after_torchvision_ops(name):
    from keras_convnets.weights import porting  # noqa: PLC0415

    porting._import_torchvision()  # as the port does: a CUDA wheel's ops need defining first
    return importlib.import_module(name)


#: tfmot through the package: its own import flips TF_USE_LEGACY_KERAS.
_IMPORTS = {"tensorflow_model_optimization": lambda name: import_tfmot(),
            "torchvision": _after_torchvision_ops, "timm": _after_torchvision_ops,
            "pytorchcv": _after_torchvision_ops, "pretrainedmodels": _after_torchvision_ops}


def _in_ci():
    return os.environ.get("CI") == "true"


def missing_requirements():
    """What of REQUIRED_MODULES (imported) and REQUIRED_FILES is missing, as readable lines."""
    missing = []
    for name in REQUIRED_MODULES:
        try:
            _IMPORTS.get(name, importlib.import_module)(name)
        except Exception as exc:  # noqa: BLE001 - a broken install is missing too
            missing.append(f"package {name} ({exc})")
    return missing + [f"file {path}" for path in REQUIRED_FILES if not path.is_file()]


def pytest_sessionstart(session):
    if _in_ci() and (missing := missing_requirements()):
        raise pytest.UsageError(
            "CI=true and the test suite would skip for want of: " + "; ".join(missing))


def _fail_if_skipped_for_missing(report):
    if not (_in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if _MISSING.search(reason):
        report.outcome = "failed"
        report.longrepr = f"CI=true: a skip for something missing is a failure: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield  # a module-level skip (pytest.importorskip, allow_module_level=True)
    _fail_if_skipped_for_missing(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _fail_if_skipped_for_missing(report)
    return report


# -- nothing downloads at run time ---------------------------------------------------------------
class NetworkRefused(RuntimeError):
    """A test process tried to reach a host other than this machine. Not an OSError, so that
    no library's offline fallback swallows it: the test fails."""


def _text(host):
    return host.decode() if isinstance(host, bytes) else host


def _ip(host):
    try:
        return ipaddress.ip_address(host.split("%")[0])  # "fe80::1%eth0": the zone goes
    except ValueError:
        return None


def _loopback(host):
    ip = _ip(host)
    if ip is not None and ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return host == "localhost" or ip is not None and ip.is_loopback


def _refuse(what, address):
    raise NetworkRefused(f"the test suite may not use the network: {what} {address!r} refused "
                         f"(tests/conftest.py)")


def _guarded_connect(connect):
    def guarded(sock, address, *args):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(_text(address[0])):
            _refuse("connecting to", address)
        return connect(sock, address, *args)

    return guarded


def _guarded_getaddrinfo(getaddrinfo):
    def guarded(host, *args, **kwargs):
        name = _text(host)
        if name not in (None, "", "localhost", socket.gethostname()) and not _ip(name):
            _refuse("looking up", host)  # before any DNS query
        return getaddrinfo(host, *args, **kwargs)

    return guarded


_network_guard = pytest.MonkeyPatch()


def pytest_configure(config):
    # From before collection to the end: connections to loopback only (127.0.0.0/8, ::1,
    # localhost), so the multi-worker clusters on 127.0.0.1 work and anything that would
    # download fails; no host name but this machine's is looked up. Child processes
    # (training jobs, workers) are not covered.
    for name in ("connect", "connect_ex"):
        _network_guard.setattr(socket.socket, name,
                               _guarded_connect(getattr(socket.socket, name)))
    _network_guard.setattr(socket, "getaddrinfo", _guarded_getaddrinfo(socket.getaddrinfo))


def pytest_unconfigure(config):
    _network_guard.undo()


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


# -- global state: restored after every test ----------------------------------------------------
def _tf_global_seed():
    from tensorflow.python.eager import context  # noqa: PLC0415 - no public getter

    return context.global_seed()


def _global_rng_state():
    return random.getstate(), np.random.get_state(), _tf_global_seed()


def _restore_global_rng(state):
    random.setstate(state[0])
    np.random.set_state(state[1])
    if _tf_global_seed() != state[2]:  # setting it clears TensorFlow's kernel cache
        tf.random.set_seed(state[2])


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    rng_state = _global_rng_state()
    yield
    _restore_global_rng(rng_state)
    keras.backend.clear_session()
    complaint = _keras_switch_changed("this test")
    if complaint:
        pytest.fail(complaint, pytrace=False)


@contextlib.contextmanager
def _seeded(seed):
    state = _global_rng_state()
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        _restore_global_rng(state)


@pytest.fixture(scope="session")
def seeded():
    """``with seeded(0):`` runs its block under ``keras.utils.set_random_seed(0)`` and then
    restores Python's, NumPy's and TensorFlow's global random state: for module fixtures,
    whose seeding would otherwise reach every later test of the session."""
    return _seeded


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
