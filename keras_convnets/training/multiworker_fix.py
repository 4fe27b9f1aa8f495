"""A narrow fix that lets Keras 3's ``model.fit`` run under ``MultiWorkerMirroredStrategy``.

Keras 3 (up to at least 3.15) cannot train with ``tf.distribute.MultiWorkerMirroredStrategy``
(keras-team/keras#20585, tensorflow/tensorflow#72388). Its TensorFlow trainer
(``keras/src/backend/tensorflow/trainer.py``) has two faults that only show when the strategy
spans several workers:

1. ``TensorFlowTrainer._maybe_symbolic_build`` takes the first distributed batch -- a
   ``PerReplica`` value -- and calls ``strategy.reduce("MEAN", batch, axis=None)`` on it, only to
   learn the batch's shapes for building the compiled metrics. Under a multi-worker strategy
   that reduction is a cross-worker collective on the *input data*, and with one device per
   worker it fails outright ("Attempt to convert a value (PerReplica...) to a Tensor").
2. ``reduce_per_replica`` reduces the per-replica step outputs (loss and metric values) with
   ``strategy.reduce("MEAN", v, axis=0)`` in multi-worker mode. The values are scalars, so the
   reduction along axis 0 fails ("Invalid reduction dimension 0 for input with 0 dimensions");
   for non-scalar outputs it would also wrongly average over the value's own first axis.

The fix replaces exactly those two multi-worker branches and delegates everything else to the
original functions:

1. the symbolic build takes this worker's first local replica's batch -- its shapes are all
   that is needed -- with no communication at all;
2. step outputs are averaged across all replicas of all workers elementwise
   (``strategy.reduce("MEAN", v, axis=None)``), which is what the single-worker path
   (``tf.reduce_mean`` over the stacked local results) computes.

It switches itself off once Keras is fixed: :func:`detect` runs both original functions
against a stand-in multi-worker strategy (no cluster, no network) and reports which faults are
present; :func:`install` patches only those, and does nothing under legacy ``tf_keras`` (whose
trainer handles multi-worker strategies itself) or when Keras' internals no longer look like
the ones this fix was written for.

Importing this module changes nothing. :func:`keras_convnets.training.strategy` installs the
fix when it creates a multi-worker strategy; code that creates its own strategy calls
:func:`install` (before or after creating it: the probes use NumPy values and do not start
TensorFlow's runtime).
"""

import contextlib
import logging

import numpy as np

from ..backend import USE_LEGACY_KERAS, tf

log = logging.getLogger(__name__)

#: The Keras issue this module works around.
ISSUE = "keras-team/keras#20585"

_state = {"installed": None, "originals": None}


def _trainer_module():
    from keras.src.backend.tensorflow import trainer  # noqa: PLC0415 - Keras 3 internals

    return trainer


def _in_multi_worker_mode(strategy):
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())


# -- detection -----------------------------------------------------------------------------------
class _ProbeExtended:
    def _in_multi_worker_mode(self):
        return True


class _ProbeStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """A stand-in two-worker strategy that records how Keras reduces values through it.

    It is never initialised as a real strategy: it only answers the few calls the trainer
    functions under test make, and fails loudly on anything else.
    """

    def __init__(self):  # noqa: D107 - deliberately skips the real initialiser
        self._extended = _ProbeExtended()
        self.reduce_calls = []

    @property
    def extended(self):
        return self._extended

    @property
    def num_replicas_in_sync(self):
        return 2

    def reduce(self, reduce_op, value, axis):
        self.reduce_calls.append((str(reduce_op), value, axis))
        return value

    def experimental_local_results(self, value):
        return tuple(getattr(value, "values", (value,)))

    def scope(self):
        return contextlib.nullcontext()


class _ProbeModel:
    """Just enough of a trainer for ``_maybe_symbolic_build`` to run against."""

    def __init__(self, strategy):
        self._distribute_strategy = strategy
        self.distribute_strategy = strategy
        self.built_with = None

    def _symbolic_build(self, data_batch=None, **kwargs):
        self.built_with = data_batch


def _per_replica(value):
    from tensorflow.python.distribute import values as distribute_values  # noqa: PLC0415

    return distribute_values.PerReplica((value,))


def _symbolic_build_reduces_data(build):
    """True when the symbolic build reduces the distributed input batch across replicas."""
    probe = _ProbeStrategy()
    model = _ProbeModel(probe)
    # NumPy values: the probe must not initialise TensorFlow's runtime, because a
    # MultiWorkerMirroredStrategy can only be created before that happens.
    batch = (_per_replica(np.zeros((2, 4, 4, 3), "float32")),
             _per_replica(np.zeros((2,), "int64")))
    build(model, iterator=[(0, 0, iter([batch]))])
    return any(isinstance(leaf, tf.distribute.DistributedValues)
               for _, value, _ in probe.reduce_calls for leaf in tf.nest.flatten(value))


def _scalar_outputs_reduced_along_axis0(reduce_per_replica):
    """True when scalar step outputs are reduced along axis 0 in multi-worker mode."""
    probe = _ProbeStrategy()
    reduce_per_replica({"loss": np.float32(1.0)}, probe, reduction="auto")
    return any(axis == 0 and np.ndim(value) == 0 for _, value, axis in probe.reduce_calls)


def detect(build=None, reduce_per_replica=None):
    """Which of the two #20585 faults the installed Keras has.

    Returns ``{"symbolic_build": bool, "reduce_per_replica": bool}`` (both False under legacy
    Keras). ``build`` and ``reduce_per_replica`` default to Keras' own functions; passing
    others lets tests show that a fixed Keras switches the fix off. A probe that cannot run
    because Keras' internals changed counts as "fault absent": the fix then stays off rather
    than patching code it does not know.
    """
    if USE_LEGACY_KERAS:
        return {"symbolic_build": False, "reduce_per_replica": False}
    if build is None or reduce_per_replica is None:
        try:
            trainer = _trainer_module()
            build = build or trainer.TensorFlowTrainer._maybe_symbolic_build
            reduce_per_replica = reduce_per_replica or trainer.reduce_per_replica
        except (ImportError, AttributeError) as exc:
            log.info("%s: Keras' TensorFlow trainer has changed (%s); no fix needed.", ISSUE, exc)
            return {"symbolic_build": False, "reduce_per_replica": False}
    found = {}
    for key, probe, function in (("symbolic_build", _symbolic_build_reduces_data, build),
                                 ("reduce_per_replica", _scalar_outputs_reduced_along_axis0,
                                  reduce_per_replica)):
        try:
            found[key] = bool(probe(function))
        except Exception as exc:  # noqa: BLE001 - an unknown implementation is not the bug
            log.info("%s: probe %r did not run (%s: %s); treating it as fixed.",
                     ISSUE, key, type(exc).__name__, exc)
            found[key] = False
    return found


# -- the fix ---------------------------------------------------------------------------------------
def _make_symbolic_build(original):
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or strategy is None or not _in_multi_worker_mode(strategy):
            return original(self, iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            batch = next(it)
            break
        # Only the shapes matter here: this worker's first replica's batch, no collective.
        data_batch = tf.nest.map_structure(
            lambda v: (strategy.experimental_local_results(v)[0]
                       if isinstance(v, tf.distribute.DistributedValues) else v), batch)
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    _maybe_symbolic_build.__wrapped__ = original
    _maybe_symbolic_build.__doc__ = f"{original.__doc__ or ''}\n\nPatched for {ISSUE}."
    return _maybe_symbolic_build


def _make_reduce_per_replica(original):
    def reduce_per_replica(values, strategy, reduction):
        tpu = isinstance(strategy, tf.distribute.TPUStrategy)
        if reduction in ("auto", "mean") and not tpu and _in_multi_worker_mode(strategy):
            # Elementwise mean over every replica of every worker.
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica.__wrapped__ = original
    return reduce_per_replica


def install(faults=None):
    """Patches Keras' TensorFlow trainer where :func:`detect` finds the #20585 faults.

    Idempotent. Returns the dict of faults that are patched (empty when Keras needs no fix,
    including under legacy Keras). ``faults`` overrides detection (for tests).
    """
    if _state["installed"] is not None:
        return dict(_state["installed"])
    faults = detect() if faults is None else dict(faults)
    patched = {}
    if any(faults.values()):
        trainer = _trainer_module()
        _state["originals"] = (trainer.TensorFlowTrainer._maybe_symbolic_build,
                               trainer.reduce_per_replica)
        if faults.get("symbolic_build"):
            trainer.TensorFlowTrainer._maybe_symbolic_build = _make_symbolic_build(
                trainer.TensorFlowTrainer._maybe_symbolic_build)
            patched["symbolic_build"] = True
        if faults.get("reduce_per_replica"):
            trainer.reduce_per_replica = _make_reduce_per_replica(trainer.reduce_per_replica)
            patched["reduce_per_replica"] = True
        log.info("%s: patched Keras %s", ISSUE, ", ".join(sorted(patched)))
    _state["installed"] = patched
    return dict(patched)


def uninstall():
    """Restores Keras' original functions (for tests)."""
    if _state["originals"] is not None:
        trainer = _trainer_module()
        (trainer.TensorFlowTrainer._maybe_symbolic_build,
         trainer.reduce_per_replica) = _state["originals"]
    _state["installed"] = None
    _state["originals"] = None


def installed():
    """The faults currently patched (empty dict when none), or None before :func:`install`."""
    return None if _state["installed"] is None else dict(_state["installed"])


__all__ = ["ISSUE", "detect", "install", "uninstall", "installed"]
