"""Magnitude pruning of any registry model, in both Keras worlds.

Magnitude pruning (Zhu & Gupta 2017, "To prune, or not to prune", arXiv:1710.01878): during
training, every ``frequency`` steps from ``begin_step`` to ``end_step``, each prunable kernel's
smallest-magnitude weights are masked to zero so that the kernel reaches the schedule's sparsity
at that step; the mask is applied before every training step, so pruned weights stay zero.

>>> from keras_convnets.optimize import pruning
>>> schedule = pruning.PolynomialDecay(0.0, 0.75, begin_step=0, end_step=400, frequency=20)
>>> pruned = pruning.prune(model, schedule)           # compile and fit *this* model
>>> pruned.compile(...)
>>> pruned.fit(data, epochs=4, callbacks=[pruning.UpdatePruningStep()])
>>> plain = pruning.strip_pruning(pruned)             # a plain model: save, convert to TFLite
>>> print(pruning.format_report(pruning.sparsity_report(plain)))

What is pruned: the kernel of every ``Conv2D``, ``Dense`` and ``DepthwiseConv2D``, both kernels
of ``SeparableConv2D``, and, for custom layers, the weights the layer lists in its
``prunable_weights`` attribute (a property or a method, as tfmot's ``PrunableLayer``
``get_prunable_weights()``): ``GroupConv2D``'s grouped kernel, ``SEBlock``'s two FC kernels.
Biases, BatchNorm and other weights are never pruned.

The schedules follow tensorflow-model-optimization's semantics exactly (same arguments, same
numbers): ``schedule(step)`` is ``(prune_now, sparsity)``; the step counter is 0 before training
and is incremented before each training batch, so the first batch runs at step 1; a mask is
recomputed at step ``s`` when ``begin_step <= s <= end_step`` (or ``end_step == -1``) and
``(s - begin_step) % frequency == 0``, keeping the ``max(1, round(n * (1 - sparsity)))`` largest
magnitudes of each kernel. :class:`PolynomialDecay` is ``final + (initial - final) *
(1 - p) ** power`` with ``p = clip((step - begin) / (end - begin), 0, 1)`` and power 3.

Two implementations, one API:

- **Keras 3** (tfmot does not support it): a small mask mechanism. :func:`prune` records a
  mask per prunable weight beside the model (the model itself is unchanged, still a plain
  functional model), :class:`UpdatePruningStep` advances the step, updates the masks on the
  schedule and multiplies every weight by its mask before each batch and after each epoch.
- **legacy Keras** (``TF_USE_LEGACY_KERAS=1``): tfmot's ``prune_low_magnitude`` wraps every
  ``Conv2D`` and ``Dense`` layer (and ``SeparableConv2D``, whose pointwise kernel tfmot
  prunes); tfmot leaves ``DepthwiseConv2D`` kernels and depthwise halves of separable
  convolutions dense and does not know our custom layers, so those kernels get the mask
  mechanism above, driven by the same schedule from the same callback (which also runs tfmot's
  own ``UpdatePruningStep``). :func:`strip_pruning` removes tfmot's wrappers.

Export only the stripped model (``kc.export.tflite`` refuses one still set up for pruning). A
TFLite flatbuffer stores the zeros like any weight: the saving shows once the file is
compressed, or with int8 on top.
"""

import weakref

import numpy as np

from ..backend import USE_LEGACY_KERAS, import_tfmot, keras, tf
from ..flops import leaf_layers

__all__ = ["ConstantSparsity", "PolynomialDecay", "prune", "UpdatePruningStep", "strip_pruning",
           "is_pruning", "sparsity_report", "format_report", "prunable_weights"]


# -- schedules ----------------------------------------------------------------------------------
def _check_steps(begin_step, end_step, frequency):
    for argument, value in (("begin_step", begin_step), ("end_step", end_step),
                            ("frequency", frequency)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"`{argument}` must be an int; got {value!r}.")
    if begin_step < 0:
        raise ValueError(f"`begin_step` must be >= 0; got {begin_step}.")
    if end_step != -1 and end_step < begin_step:
        raise ValueError(f"`end_step` must be -1 (prune forever) or >= begin_step "
                         f"({begin_step}); got {end_step}.")
    if frequency < 1:
        raise ValueError(f"`frequency` must be >= 1; got {frequency}.")


def _check_sparsity(argument, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"`{argument}` must be a number in [0, 1); got {value!r}.")
    return float(value)


class _Schedule:
    def should_prune(self, step):
        in_range = step >= self.begin_step and (self.end_step == -1 or step <= self.end_step)
        return in_range and (step - self.begin_step) % self.frequency == 0

    def __call__(self, step):
        """``(prune_now, sparsity)`` at training step ``step``, as tfmot's schedules return."""
        return self.should_prune(step), self.sparsity(step)

    @property
    def target_sparsity(self):
        return self.final_sparsity


class ConstantSparsity(_Schedule):
    """Prunes to ``target_sparsity`` every ``frequency`` steps from ``begin_step`` to
    ``end_step`` (tfmot's ``ConstantSparsity``)."""

    def __init__(self, target_sparsity, begin_step, end_step=-1, frequency=100):
        _check_steps(begin_step, end_step, frequency)
        self.final_sparsity = _check_sparsity("target_sparsity", target_sparsity)
        self.begin_step, self.end_step, self.frequency = begin_step, end_step, frequency

    def sparsity(self, step):
        return self.final_sparsity

    def to_tfmot(self):
        tfmot = import_tfmot()
        return tfmot.sparsity.keras.ConstantSparsity(
            self.final_sparsity, self.begin_step, self.end_step, self.frequency)

    def __repr__(self):
        return (f"ConstantSparsity({self.final_sparsity}, begin_step={self.begin_step}, "
                f"end_step={self.end_step}, frequency={self.frequency})")


class PolynomialDecay(_Schedule):
    """Sparsity rising from ``initial_sparsity`` to ``final_sparsity`` between ``begin_step``
    and ``end_step`` as ``final + (initial - final) * (1 - p) ** power`` (Zhu & Gupta 2017,
    arXiv:1710.01878; tfmot's ``PolynomialDecay``), pruning every ``frequency`` steps."""

    def __init__(self, initial_sparsity, final_sparsity, begin_step, end_step, power=3,
                 frequency=100):
        _check_steps(begin_step, end_step, frequency)
        if end_step <= begin_step:
            raise ValueError(f"`end_step` must be > begin_step ({begin_step}) for a decay; "
                             f"got {end_step}.")
        if isinstance(power, bool) or not isinstance(power, (int, float)) or power <= 0:
            raise ValueError(f"`power` must be a positive number; got {power!r}.")
        self.initial_sparsity = _check_sparsity("initial_sparsity", initial_sparsity)
        self.final_sparsity = _check_sparsity("final_sparsity", final_sparsity)
        self.begin_step, self.end_step = begin_step, end_step
        self.power, self.frequency = power, frequency

    def sparsity(self, step):
        p = min(1.0, max(0.0, (step - self.begin_step) / (self.end_step - self.begin_step)))
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (
            1.0 - p) ** self.power

    def to_tfmot(self):
        tfmot = import_tfmot()
        return tfmot.sparsity.keras.PolynomialDecay(
            self.initial_sparsity, self.final_sparsity, self.begin_step, self.end_step,
            power=self.power, frequency=self.frequency)

    def __repr__(self):
        return (f"PolynomialDecay({self.initial_sparsity}, {self.final_sparsity}, "
                f"begin_step={self.begin_step}, end_step={self.end_step}, power={self.power}, "
                f"frequency={self.frequency})")


# -- which weights are prunable ----------------------------------------------------------------
_TFMOT_LAYERS = ("Conv2D", "Dense", "SeparableConv2D")  # pruned by tfmot under legacy Keras


def _declared(layer):
    """The weights a layer *class* declares prunable, or None.

    Only class attributes count: tfmot's ``prune_low_magnitude`` attaches a
    ``get_prunable_weights`` method to the *instances* of the standard layers it wraps (for
    ``SeparableConv2D`` it lists the pointwise kernel alone), which must not hide the
    depthwise kernels this module prunes itself.
    """
    kind = type(layer)
    if getattr(kind, "prunable_weights", None) is not None:
        declared = layer.prunable_weights
    elif callable(getattr(kind, "get_prunable_weights", None)):
        declared = layer.get_prunable_weights
    else:
        return None
    return list(declared() if callable(declared) else declared)


def prunable_weights(layer):
    """The weights of ``layer`` that pruning masks: see the module docstring."""
    declared = _declared(layer)
    if declared is not None:
        return declared
    kind = type(layer)
    if issubclass(kind, keras.layers.DepthwiseConv2D):  # Keras 3 names it kernel
        return [layer.depthwise_kernel if hasattr(layer, "depthwise_kernel") else layer.kernel]
    if issubclass(kind, keras.layers.SeparableConv2D):
        return [layer.depthwise_kernel, layer.pointwise_kernel]
    if issubclass(kind, (keras.layers.Conv2D, keras.layers.Dense)):
        return [layer.kernel]
    return []


def _tfmot_prunes(layer):
    """Layers that tfmot's ``prune_low_magnitude`` wraps (under legacy Keras)."""
    return type(layer).__name__ in _TFMOT_LAYERS and _declared(layer) is None and \
        type(layer).__module__.startswith(("tf_keras", "keras"))


def _variable(weight):
    return weight if isinstance(weight, tf.Variable) else weight.value


# -- the mask mechanism ------------------------------------------------------------------------
class _MaskState:
    """Masks for a list of ``(layer name, weight)`` pairs, updated on ``schedule``."""

    def __init__(self, weights, schedule):
        self.schedule = schedule
        self.names = [name for name, _ in weights]
        self.weights = [_variable(w) for _, w in weights]
        self.masks = [tf.Variable(tf.ones_like(w), trainable=False, name="prune_mask")
                      for w in self.weights]
        self.step = 0  # tfmot's pruning_step once training begins
        self._apply = tf.function(self._apply_masks, autograph=False)
        self._update = tf.function(self._update_masks, autograph=False)

    def _apply_masks(self):
        for weight, mask in zip(self.weights, self.masks):
            weight.assign(weight * mask)

    def _update_masks(self, sparsity):
        for weight, mask in zip(self.weights, self.masks):
            magnitudes = tf.reshape(tf.abs(weight), [-1])
            size = tf.size(magnitudes)
            keep = tf.maximum(tf.cast(tf.round(tf.cast(size, tf.float32) * (1.0 - sparsity)),
                                      tf.int32), 1)
            values, indices = tf.math.top_k(magnitudes, k=size)
            threshold, position = values[keep - 1], indices[keep - 1]
            new_mask = tf.logical_or(magnitudes >= threshold,
                                     tf.one_hot(position, size, on_value=True, off_value=False))
            mask.assign(tf.reshape(tf.cast(new_mask, mask.dtype), tf.shape(weight)))

    def apply(self):
        if self.weights:
            self._apply()

    def advance(self):
        """One training batch: step += 1, masks updated on the schedule, then applied."""
        self.step += 1
        prune_now, sparsity = self.schedule(self.step)
        if prune_now and self.weights:
            self._update(tf.constant(sparsity, tf.float32))
        self.apply()


_STATES = weakref.WeakKeyDictionary()


def _state_of(model):
    state = _STATES.get(model)
    if state is None:
        raise ValueError(f"`model` {model.name!r} was not made by pruning.prune(); prune it "
                         f"first (the callback and strip_pruning need its masks).")
    return state


def is_pruning(model):
    """True while ``model`` is set up for pruning: made by :func:`prune`, not yet stripped."""
    return model in _STATES or _has_tfmot_wrappers(model)


def prune(model, schedule=None, *, target_sparsity=None):
    """Prepares ``model`` for magnitude pruning during ``fit``.

    Args:
        model: a Keras functional model (any registry model), Keras 3 or legacy.
        schedule: a :class:`ConstantSparsity` or :class:`PolynomialDecay`.
        target_sparsity: shorthand for ``ConstantSparsity(target_sparsity, begin_step=0,
            frequency=1)`` when ``schedule`` is not given.

    Returns:
        The model to compile and train with :class:`UpdatePruningStep` among the callbacks:
        ``model`` itself under Keras 3; under legacy Keras a clone sharing ``model``'s layers in
        which tfmot's pruning wrappers replace the standard layers.
    """
    if schedule is None and target_sparsity is None:
        raise ValueError("prune() needs `schedule` (ConstantSparsity or PolynomialDecay) or "
                         "`target_sparsity`; got neither.")
    if schedule is not None and target_sparsity is not None:
        raise ValueError(f"Pass `schedule` or `target_sparsity`, not both; got "
                         f"schedule={schedule!r} and target_sparsity={target_sparsity!r}.")
    if schedule is None:
        schedule = ConstantSparsity(target_sparsity, begin_step=0, frequency=1)
    if not isinstance(schedule, _Schedule):
        raise ValueError(f"`schedule` must be pruning.ConstantSparsity or "
                         f"pruning.PolynomialDecay; got {schedule!r}.")
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a Keras model; got {type(model).__name__}.")
    if model in _STATES:
        raise ValueError(f"`model` {model.name!r} is already pruned.")
    mask_weights, tfmot_layers = [], set()
    for layer in leaf_layers(model):
        for weight in prunable_weights(layer):
            if USE_LEGACY_KERAS and _tfmot_prunes(layer) and (
                    weight is getattr(layer, "kernel", None) or
                    weight is getattr(layer, "pointwise_kernel", None)):
                tfmot_layers.add(layer.name)
            else:
                mask_weights.append((layer.name, weight))
    if not mask_weights and not tfmot_layers:
        raise ValueError(f"`model` {model.name!r} has no prunable layer (Conv2D, Dense, "
                         f"DepthwiseConv2D, SeparableConv2D or a layer with prunable_weights).")
    pruned = model
    if tfmot_layers:
        pruned = _wrap_with_tfmot(model, tfmot_layers, schedule)
    _STATES[pruned] = _MaskState(mask_weights, schedule)
    return pruned


def _wrap_with_tfmot(model, layer_names, schedule):
    tfmot = import_tfmot()

    tfmot_schedule = schedule.to_tfmot()

    def wrap(layer):
        if layer.name in layer_names:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=tfmot_schedule)
        return layer

    if any(isinstance(layer, keras.Model) for layer in model.layers):
        raise ValueError(f"`model` {model.name!r} nests models; under legacy Keras prune() "
                         f"takes flat functional models (every registry model is one).")
    return keras.models.clone_model(model, clone_function=wrap)


class UpdatePruningStep(keras.callbacks.Callback):
    """Advances the pruning step and updates/applies the masks during ``fit``.

    Needed by any model returned by :func:`prune` (like tfmot's callback of the same name, which
    it also runs under legacy Keras).
    """

    def __init__(self):
        super().__init__()
        self._tfmot = None

    def set_model(self, model):
        super().set_model(model)
        self._state = _state_of(model)
        if USE_LEGACY_KERAS and _has_tfmot_wrappers(model):
            tfmot = import_tfmot()
            self._tfmot = tfmot.sparsity.keras.UpdatePruningStep()
            self._tfmot.set_model(model)

    def on_train_begin(self, logs=None):
        if self._tfmot:
            self._tfmot.on_train_begin(logs)

    def on_train_batch_begin(self, batch, logs=None):
        if self._tfmot:
            self._tfmot.on_train_batch_begin(batch, logs)
        self._state.advance()

    def on_epoch_end(self, epoch, logs=None):
        if self._tfmot:
            self._tfmot.on_epoch_end(epoch, logs)
        self._state.apply()

    def on_train_end(self, logs=None):
        self._state.apply()


def _has_tfmot_wrappers(model):
    return any(type(layer).__name__ == "PruneLowMagnitude" for layer in model.layers)


def strip_pruning(model):
    """A plain model with the final sparse weights, for saving and TFLite conversion.

    Under Keras 3 that is ``model`` itself, its masks applied and forgotten; under legacy Keras
    tfmot's ``strip_pruning`` removes the wrappers (after applying the masks).
    """
    state = _state_of(model)
    state.apply()
    if _has_tfmot_wrappers(model):
        tfmot = import_tfmot()
        for layer in model.layers:
            if type(layer).__name__ == "PruneLowMagnitude":
                layer.pruning_obj.weight_mask_op()
        stripped = tfmot.sparsity.keras.strip_pruning(model)
    else:
        stripped = model
    del _STATES[model]
    return stripped


# -- the report --------------------------------------------------------------------------------
def _report_layers(model):
    for layer in leaf_layers(model):
        if type(layer).__name__ == "PruneLowMagnitude":
            inner = layer.layer
            yield inner, [w for w in prunable_weights(inner)]
        else:
            yield layer, prunable_weights(layer)


def sparsity_report(model):
    """One row per prunable weight: ``{"layer", "weight", "type", "shape", "size", "zeros",
    "sparsity"}`` (sparsity = fraction of exact zeros)."""
    rows = []
    for layer, weights in _report_layers(model):
        for weight in weights:
            values = np.asarray(weight.numpy() if hasattr(weight, "numpy") else weight)
            zeros = int(np.sum(values == 0))
            name = getattr(weight, "path", None) or weight.name
            rows.append({"layer": layer.name, "weight": name.split("/")[-1].split(":")[0],
                         "type": type(layer).__name__, "shape": tuple(values.shape),
                         "size": int(values.size), "zeros": zeros,
                         "sparsity": zeros / max(1, values.size)})
    return rows


def format_report(rows):
    """The report as a fixed-width text table with a total line."""
    header = f"{'layer':<40} {'weight':<18} {'type':<16} {'size':>10} {'sparsity':>9}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row['layer'][:40]:<40} {row['weight'][:18]:<18} {row['type'][:16]:<16} "
                     f"{row['size']:>10,} {row['sparsity']:>9.2%}")
    size = sum(row["size"] for row in rows)
    zeros = sum(row["zeros"] for row in rows)
    lines.append("-" * len(header))
    lines.append(f"{'total':<76} {size:>10,} {zeros / max(1, size):>9.2%}")
    return "\n".join(lines)

