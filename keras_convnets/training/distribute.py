"""Choosing a ``tf.distribute`` strategy, and where each worker may write.

>>> from keras_convnets.training import strategy
>>> s = strategy()                      # TPU, multi-worker, mirrored or default: what is there
>>> s = strategy("mirrored", devices=2) # forced by name; 2 GPUs, or 2 logical CPUs without GPUs

The strategy must exist before the model (build it inside ``with s.scope():``). A
``MultiWorkerMirroredStrategy`` must be created before TensorFlow initialises its runtime (the
first op), and so must the logical CPU devices that ``devices=N`` creates on a machine without
GPUs; :func:`strategy` says so clearly when it is too late.
"""

import json
import logging
import os

from ..backend import USE_LEGACY_KERAS, tf
from . import multiworker_fix

log = logging.getLogger(__name__)

#: Names :func:`strategy` accepts.
STRATEGIES = ("auto", "tpu", "multi_worker", "mirrored", "default")


def _runtime_initialised():
    from tensorflow.python.eager import context  # noqa: PLC0415

    return context.context()._context_handle is not None


def cluster_spec():
    """The ``TF_CONFIG`` cluster as a dict (``{}`` when unset), validated."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"`TF_CONFIG` is not valid JSON ({exc}); got {raw[:200]!r}.") from None
    if not isinstance(config, dict):
        raise ValueError(f"`TF_CONFIG` must be a JSON object; got {raw[:200]!r}.")
    return config


def _names_a_cluster(config):
    cluster = config.get("cluster") or {}
    hosts = sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))
    return hosts > 1


def worker_info(strategy_=None):
    """``{"index", "count", "is_chief"}`` for this process.

    The chief is ``chief:0`` if the cluster has one, otherwise ``worker:0`` -- the process that
    writes the real checkpoints, logs and model; the others write under their own directory.
    """
    config = cluster_spec()
    cluster = config.get("cluster") or {}
    task = config.get("task") or {}
    count = sum(len(cluster.get(k, ())) for k in ("chief", "worker")) or 1
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    if not (isinstance(strategy_, tf.distribute.MultiWorkerMirroredStrategy)
            or (strategy_ is None and _names_a_cluster(config))):
        return {"index": 0, "count": 1, "is_chief": True}
    has_chief = bool(cluster.get("chief"))
    is_chief = kind == "chief" or (kind == "worker" and index == 0 and not has_chief)
    # Number the workers so that the chief is 0.
    rank = index + (1 if has_chief and kind == "worker" else 0)
    return {"index": rank, "count": count, "is_chief": is_chief}


def use_logical_cpus(count):
    """Splits the host CPU into ``count`` logical devices (for MirroredStrategy without GPUs).

    Must run before TensorFlow initialises its runtime; afterwards it only succeeds if the
    devices already match.
    """
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != count:
            raise ValueError(
                f"`devices`={count} needs {count} logical CPU devices, but TensorFlow already "
                f"initialised {have}; choose the devices before any TensorFlow op runs (for "
                f"example in a fresh process).") from None


def _tpu_resolver(tpu):
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return resolver


def _tpu_hinted(tpu):
    return bool(tpu or os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR")
                or os.path.exists("/dev/accel0") or os.path.exists("/dev/vfio/0"))


def _local_devices(devices):
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if devices is not None and devices > len(gpus):
            raise ValueError(f"`devices`={devices} but only {len(gpus)} GPUs are visible.")
        names = [f"/gpu:{i}" for i in range(devices or len(gpus))]
        return names
    if devices and devices > 1:
        use_logical_cpus(devices)
        return [f"/cpu:{i}" for i in range(devices)]
    return ["/cpu:0"]


def choose(name="auto", devices=None, tpu=None, skip_tpu=False):
    """The strategy name :func:`strategy` would use, without creating anything."""
    if name not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {', '.join(map(repr, STRATEGIES))}; "
                         f"got {name!r}.")
    if name != "auto":
        return name
    if not skip_tpu and _tpu_hinted(tpu):
        return "tpu"
    if _names_a_cluster(cluster_spec()):
        return "multi_worker"
    if (devices or 0) > 1 or len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


_CREATED = {}


def strategy(name="auto", devices=None, tpu=None, communication="auto"):
    """Returns a ``tf.distribute.Strategy``.

    ``name="auto"`` picks, in order: ``TPUStrategy`` when a TPU resolves (``tpu`` names it, or
    ``TPU_NAME`` / a local TPU says there is one), ``MultiWorkerMirroredStrategy`` when
    ``TF_CONFIG`` names a cluster of several workers, ``MirroredStrategy`` when several local
    devices are there (GPUs, or ``devices`` > 1 logical CPUs), the default strategy otherwise.
    Any of ``"tpu"``, ``"multi_worker"``, ``"mirrored"``, ``"default"`` forces the choice.
    ``devices`` limits (GPUs) or creates (logical CPUs) the local devices of a mirrored
    strategy. ``communication`` is the multi-worker collective implementation (``"auto"``,
    ``"ring"``, ``"nccl"``).

    Under Keras 3 a multi-worker strategy also installs :mod:`.multiworker_fix` (the
    keras-team/keras#20585 work-around), which patches nothing once Keras is fixed.

    A strategy is created once per process and returned again for the same arguments:
    TensorFlow allows one multi-worker strategy per process, and two mirrored strategies in
    one process would mix up their collective operations.
    """
    if devices is not None and (isinstance(devices, bool) or not isinstance(devices, int)
                                or devices < 1):
        raise ValueError(f"`devices` must be None or an integer >= 1; got {devices!r}.")
    key = (choose(name, devices, tpu), devices, tpu, communication)
    if key in _CREATED:
        return _CREATED[key]
    made = _create(name, devices, tpu, communication)
    if made is not tf.distribute.get_strategy():  # the default strategy is not ours to keep
        _CREATED[key] = made
    return made


def _create(name, devices, tpu, communication):
    chosen = choose(name, devices, tpu)
    if chosen == "tpu":
        try:
            resolver = _tpu_resolver(tpu)
        except (ValueError, RuntimeError, tf.errors.OpError) as exc:
            if name == "tpu":
                raise ValueError(f"`strategy`='tpu' but no TPU resolves ({exc}).") from None
            log.warning("no TPU resolved (%s); choosing another strategy", exc)
            return _create(choose("auto", devices, skip_tpu=True), devices, None, communication)
        return tf.distribute.TPUStrategy(resolver)
    if chosen == "multi_worker":
        if not _names_a_cluster(cluster_spec()):
            raise ValueError(
                "`strategy`='multi_worker' needs TF_CONFIG naming a cluster of two or more "
                "workers, e.g. {\"cluster\": {\"worker\": [\"host1:port\", \"host2:port\"]}, "
                "\"task\": {\"type\": \"worker\", \"index\": 0}}.")
        if _runtime_initialised():
            raise ValueError(
                "`strategy`='multi_worker' must be created before TensorFlow runs its first "
                "op; create it at the start of the program.")
        implementation = {
            "auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
            "ring": tf.distribute.experimental.CommunicationImplementation.RING,
            "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL,
        }.get(communication)
        if implementation is None:
            raise ValueError(f"`communication` must be one of 'auto', 'ring', 'nccl'; got "
                             f"{communication!r}.")
        if not USE_LEGACY_KERAS:
            multiworker_fix.install()
        options = tf.distribute.experimental.CommunicationOptions(implementation=implementation)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if chosen == "mirrored":
        return tf.distribute.MirroredStrategy(_local_devices(devices))
    if devices not in (None, 1):
        raise ValueError(f"`devices`={devices} needs the 'mirrored' strategy; got "
                         f"strategy={name!r}.")
    return tf.distribute.get_strategy()


def describe(strategy_):
    """A short description, e.g. ``MirroredStrategy (2 replicas)``."""
    return f"{type(strategy_).__name__} ({strategy_.num_replicas_in_sync} replicas)"


__all__ = ["STRATEGIES", "strategy", "choose", "worker_info", "cluster_spec",
           "use_logical_cpus", "describe"]
