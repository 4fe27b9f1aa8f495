"""The package's main job: build a registry model, train it (on any strategy), evaluate, save.

``keras-convnets train MODEL [--recipe R] [--dataset digits|DIR|tfds:NAME] ...`` calls
:func:`train`. The run writes, under ``out_dir`` (default ``runs/<model>``):

- ``logs/``: TensorBoard logs;
- ``checkpoints/best.weights.h5``: the weights with the best validation accuracy;
- ``backup/``: the fault-tolerance backup (``BackupAndRestore``), deleted when training ends --
  an interrupted run started again with the same command resumes from the epoch it lost;
- ``<model>.keras``: the final model (without auxiliary classifiers: the inference model; a
  CondenseNet, which condenses on the paper's schedule during the run, as its deployed
  network once fully condensed);
  ``results.json``: the numbers of the summary line.

A model with auxiliary classifiers (GoogLeNet, Inception-v3) trains with them, as its paper
did: each adds its loss at the paper's weight (:func:`~keras_convnets.aux_loss_weights`), and
the history logs every output's loss (``<model>_predictions_loss``,
``<model>_aux1_predictions_loss``, ...) beside the total.

In a multi-worker run the chief (worker 0) writes those; every other worker writes its own
under ``workers/worker-<i>/``.
"""

import json
import logging
import os
import time

from ..applications import aux_loss_weights, inference_model
from ..backend import USE_LEGACY_KERAS, describe, keras, tf
from ..data import load_dataset, pipeline
from ..flops import count_params
from ..layers import LearnedGroupConv
from ..models.condensenet import CondensationSchedule, condense_model
from ..registry import get_spec
from ..utils import check_bool, check_positive_int
from . import distribute, multiworker_fix
from .callbacks import AverageMovingStatistics, EpochRecorder, FreezeBatchNorm
from .optimizers import LARS, SGD, RMSprop
from .recipe import load_recipe
from .schedules import WarmupSchedule

log = logging.getLogger(__name__)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``fit``: says in which epoch, and whether the backup lets the same
    command resume (the console command prints that as one line)."""

    def __init__(self, epochs_started, epochs, resumable):
        self.epoch = epochs_started[-1] + 1 if epochs_started else None
        self.resumable = resumable
        self.where = (f"in epoch {self.epoch} of {epochs}" if self.epoch else "before the first "
                      "epoch") + ("" if resumable else " (no backup: --no-backup)")
        super().__init__(self.where)

#: A smoke run: two optimizer steps on tiny data, to check that a recipe still runs.
SMOKE = {"epochs": 2, "steps_per_epoch": 1, "batch_size": 8, "images": 16}


def _model_spec(model, recipe):
    name = model or recipe.model
    if not name:
        raise ValueError(f"`model` is required: recipe {recipe.name!r} names no default model.")
    try:
        return get_spec(name)
    except ValueError as exc:
        if model is None:  # the recipe's own model is missing from the registry
            raise ValueError(
                f"Recipe {recipe.name!r} trains {name!r}, which is not available yet in the "
                f"registry; pass another MODEL to train with this recipe ({exc})") from None
        raise


def schedule_for(recipe, steps_per_epoch, epochs, scaling_batch):
    """The recipe's learning-rate schedule for a run of ``epochs`` x ``steps_per_epoch``."""
    total = max(1, epochs * steps_per_epoch)
    peak = recipe.peak_learning_rate(scaling_batch)
    warmup = min(int(round(recipe.warmup_epochs * steps_per_epoch)), total - 1)
    if recipe.warmup_from is not None:
        warmup_from = recipe.warmup_from
    elif recipe.base_batch_size is not None:  # Goyal et al.: warm up from the small-batch rate
        warmup_from = min(peak, recipe.learning_rate)
    else:
        warmup_from = 0.0
    return WarmupSchedule(
        peak, total, warmup_steps=warmup, warmup_from=warmup_from, decay=recipe.schedule,
        boundaries=[int(round(e * steps_per_epoch)) for e in recipe.step_epochs],
        factor=recipe.step_factor, power=recipe.decay_power,
        decay_every=max(1, int(round(recipe.decay_every_epochs * steps_per_epoch))))


def make_optimizer(recipe, schedule, model=None):
    """The recipe's optimizer, with weight decay skipping BN/biases and excluded layers."""
    common = dict(weight_decay=recipe.weight_decay, decay_vectors=recipe.decay_vectors)
    if recipe.optimizer == "sgd":
        optimizer = SGD(schedule, momentum=recipe.momentum, nesterov=recipe.nesterov, **common)
    elif recipe.optimizer == "lars":
        optimizer = LARS(schedule, momentum=recipe.momentum, eta=recipe.lars_eta, **common)
    else:
        optimizer = RMSprop(schedule, rho=recipe.rmsprop_rho, momentum=recipe.momentum,
                            epsilon=recipe.rmsprop_epsilon, **common)
    if recipe.decay_exclude_layers and model is not None:
        excluded = [w for layer in model._flatten_layers(include_self=False, recursive=True)
                    if type(layer).__name__ in recipe.decay_exclude_layers
                    for w in layer.trainable_weights]
        if excluded:
            optimizer.exclude_from_weight_decay(var_list=excluded)
    return optimizer


def build_model(spec, recipe, *, classes, image_size, tiny=False, model_kwargs=None):
    """Builds ``spec``'s model (its ``.tiny`` variant when ``tiny``) for the recipe.

    Under a mixed-precision policy the classifier's ``<model>_logits`` layer is rebuilt in
    float32 (same class, configuration and name; everything before it -- a pre-logits hidden
    layer, the dropout -- is the builder's own), so the logits, the softmax and the loss are
    float32 while the body computes in float16 / bfloat16.
    """
    builder = spec.build_tiny if tiny else spec.builder
    kwargs = dict(recipe.model_kwargs)
    kwargs.update(model_kwargs or {})
    if recipe.norm is not None:
        kwargs.setdefault("norm", recipe.norm)
    if recipe.drop_rate is not None:
        kwargs.setdefault("drop_rate", recipe.drop_rate)
    model = builder(input_shape=(image_size, image_size, 3), classes=classes, **kwargs)
    if keras.mixed_precision.global_policy().compute_dtype == "float32":
        return model
    return float32_logits(model)


def float32_logits(model):
    """``model`` with each classifier's ``<name>_logits`` and ``<name>_predictions`` layers
    (the main one and any auxiliary ``<name>_aux<i>_...`` pair) rebuilt in float32.

    The new layers take the old ones' configuration and name; the old logits layers' weights
    are not copied (this is for models about to be trained).
    """
    prefix = model.name + "_"
    outputs = list(model.outputs) if isinstance(model.outputs, (list, tuple)) else [model.outputs]
    producers = [o._keras_history[0] for o in outputs]
    if not producers[0].name == prefix + "predictions" or not all(
            p.name.endswith("predictions") for p in producers):
        raise ValueError(
            f"Mixed precision needs the classifier of {model.name!r} to end in layers "
            f"{prefix}logits and {prefix}predictions (the builders' head); its outputs come "
            f"from {[p.name for p in producers]}.")

    def float32(layer):
        return type(layer).from_config(dict(layer.get_config(), dtype="float32"))

    rebuilt = []
    for predictions in producers:
        logits = model.get_layer(predictions.name[:-len("predictions")] + "logits")
        if predictions.input is not logits.output:
            raise ValueError(f"Mixed precision: {predictions.name} does not take "
                             f"{logits.name}'s output in {model.name!r}.")
        rebuilt.append(float32(predictions)(float32(logits)(logits.input)))
    return keras.Model(model.input, rebuilt if len(rebuilt) > 1 else rebuilt[0], name=model.name)


def _loss_and_metrics(recipe, classes):
    if recipe.label_smoothing:
        # Label smoothing regularisation (Szegedy et al., arXiv:1512.00567, Sec. 7).
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if classes >= 20:
            metrics.append(keras.metrics.TopKCategoricalAccuracy(5, name="top5"))
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if classes >= 20:
            metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5"))
    return loss, metrics


def _backup_dir(out_dir, worker):
    if USE_LEGACY_KERAS:
        # tf_keras' BackupAndRestore is multi-worker aware: the chief's backup is the one
        # every worker restores; the others write theirs to temporary subdirectories.
        return os.path.join(out_dir, "backup")
    # Keras 3's is not: one backup per worker, so workers never overwrite each other's files.
    return os.path.join(out_dir, "backup", f"worker-{worker['index']}")


def _condensation_schedule(network, epochs, steps_per_epoch):
    """CondenseNet's training networks condense on the paper's schedule during the run."""
    if not any(isinstance(layer, LearnedGroupConv) for layer in network.layers):
        return None
    return CondensationSchedule(epochs, steps_per_epoch)


def _fully_condensed(network):
    return all(layer.stage == layer.final_stage for layer in network.layers
               if isinstance(layer, LearnedGroupConv))


def _strategy_name(dist):
    if isinstance(dist, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"  # TF's class is CollectiveAllReduceStrategy
    return type(dist).__name__.lstrip("_")


def train(model=None, *, recipe=None, dataset=None, data_dir=None, epochs=None,
          batch_size=None, image_size=None, learning_rate=None, optimizer=None,
          strategy="auto", devices=None, norm=None, precision=None, out_dir=None, seed=0,
          verbose=1, smoke=False, tiny=False, steps_per_epoch=None, validation_steps=None,
          backup=True, callbacks=None, model_kwargs=None, aux_logits=None):
    """Trains a registry model with a recipe and returns a dict of results.

    Args:
        model: registry name (default: the recipe's model).
        recipe: a :class:`~keras_convnets.training.Recipe`, a recipe name (``recipes/NAME.py``)
            or a path; default: the quick digits recipe.
        dataset: ``"digits"``, a directory of class folders, or ``"tfds:NAME"`` (with
            ``data_dir``); default: the recipe's.
        epochs, batch_size (global, over all replicas), image_size, learning_rate (at the
            recipe's base batch size), optimizer, norm, precision: override the recipe.
        strategy: ``"auto"``, ``"tpu"``, ``"multi_worker"``, ``"mirrored"``, ``"default"``,
            or a ``tf.distribute.Strategy``; ``devices``: local devices for ``"mirrored"``.
        smoke: two steps on 16 digits images (unless ``dataset`` is given) with the model's
            ``.tiny`` variant: checks that the recipe runs, not that it learns.
        tiny: build the model's ``.tiny`` variant.
        steps_per_epoch: default, one pass over the training split.
        validation_steps: batches of the test split to validate on after each epoch and to
            evaluate on at the end; default, all of it.
        backup: keep a ``BackupAndRestore`` backup so an interrupted run resumes.
        callbacks: extra Keras callbacks.
        aux_logits: train with the model's auxiliary classifiers at the paper's loss weights;
            default: whenever the model has them. The saved model never includes them.
    """
    recipe = load_recipe(recipe)
    recipe = recipe.replace(dataset=dataset, epochs=epochs, batch_size=batch_size,
                            image_size=image_size, learning_rate=learning_rate,
                            optimizer=optimizer, norm=norm, precision=precision)
    spec = _model_spec(model, recipe)
    check_positive_int("seed", seed, minimum=0)
    if aux_logits is None:
        aux_logits = spec.aux_loss_weight is not None
    elif check_bool("aux_logits", aux_logits) and spec.aux_loss_weight is None:
        raise ValueError(f"`aux_logits`=True: {spec.name} has no auxiliary classifiers.")
    if steps_per_epoch is not None:
        check_positive_int("steps_per_epoch", steps_per_epoch)
    # The strategy comes first: multi-worker and logical devices need TensorFlow untouched.
    dist = (strategy if isinstance(strategy, tf.distribute.Strategy)
            else distribute.strategy(strategy, devices=devices))
    worker = distribute.worker_info(dist)

    scaling_batch = recipe.batch_size
    run_epochs, run_batch, limit = recipe.epochs, recipe.batch_size, None
    run_dataset = recipe.dataset
    if smoke:
        run_epochs, run_batch = SMOKE["epochs"], SMOKE["batch_size"]
        steps_per_epoch = SMOKE["steps_per_epoch"]
        limit, tiny = SMOKE["images"], True
        if dataset is None:
            run_dataset = "digits"
    size = recipe.image_size
    if smoke and image_size is None:
        size = max(spec.min_size, 32)
    if size < spec.min_size:
        raise ValueError(
            f"`image_size` {size} is below {spec.name}'s minimum input of {spec.min_size}.")
    if run_batch % dist.num_replicas_in_sync:
        raise ValueError(f"`batch_size` {run_batch} must be a multiple of the "
                         f"{dist.num_replicas_in_sync} replicas.")

    out_dir = out_dir or os.path.join("runs", spec.name)
    own_dir = out_dir if worker["is_chief"] else os.path.join(
        out_dir, "workers", f"worker-{worker['index']}")

    previous_policy = keras.mixed_precision.global_policy()
    if recipe.precision:
        keras.mixed_precision.set_global_policy(recipe.precision)
    try:
        keras.utils.set_random_seed(seed)
        data = load_dataset(run_dataset, image_size=size, data_dir=data_dir,
                            augment=recipe.augment, seed=seed, limit=limit)
        if data.train_size is not None and data.train_size < run_batch:
            raise ValueError(f"`batch_size` {run_batch} exceeds the {data.train_size} "
                             f"training images of {data.name!r}.")
        if steps_per_epoch is None:
            if data.train_size is None:
                raise ValueError(f"`steps_per_epoch` is required: the size of {data.name!r} "
                                 f"is unknown.")
            steps_per_epoch = data.train_size // run_batch
        os.makedirs(os.path.join(own_dir, "checkpoints"), exist_ok=True)
        one_hot = data.classes if recipe.label_smoothing else None
        shared = dict(image_size=size, augment=recipe.augment, crop_area=recipe.crop_area,
                      normalize=recipe.normalize, one_hot_classes=one_hot, seed=seed)
        train_split, test_split = data.arrays or data.files or (data.train, data.test)
        train_data = pipeline(train_split, batch_size=run_batch, training=True, **shared)
        test_data = pipeline(test_split, batch_size=min(run_batch, 256), training=False,
                             **shared)
        if smoke:
            validation_steps = 1
        elif validation_steps is not None:
            check_positive_int("validation_steps", validation_steps)

        schedule = schedule_for(recipe, steps_per_epoch, run_epochs, scaling_batch)
        model_kwargs = dict(model_kwargs or {}, **({"aux_logits": True} if aux_logits else {}))
        with dist.scope():
            network = build_model(spec, recipe, classes=data.classes, image_size=size,
                                  tiny=tiny, model_kwargs=model_kwargs)
            loss, metrics = _loss_and_metrics(recipe, data.classes)
            loss_weights = aux_loss_weights(network, spec.aux_loss_weight)
            heads = len(loss_weights)
            if heads > 1:  # every head learns the labels; accuracy is the main head's
                loss, metrics = [loss] * heads, [metrics] + [[]] * (heads - 1)
            network.compile(optimizer=make_optimizer(recipe, schedule, network), loss=loss,
                            metrics=metrics, loss_weights=loss_weights if heads > 1 else None)
        # Keras names a multi-output model's metrics after the output layer.
        accuracy = "accuracy" if heads == 1 else f"{network.name}_predictions_accuracy"
        if heads > 1:
            train_data, test_data = (
                split.map(lambda x, y: (x, (y,) * heads)) for split in (train_data, test_data))

        recorder = EpochRecorder()
        fit_callbacks = [
            keras.callbacks.TensorBoard(os.path.join(own_dir, "logs")),
            keras.callbacks.ModelCheckpoint(
                os.path.join(own_dir, "checkpoints", "best.weights.h5"),
                monitor="val_" + accuracy, mode="max", save_best_only=True,
                save_weights_only=True),
            recorder,
        ]
        if backup:
            fit_callbacks.insert(
                0, keras.callbacks.BackupAndRestore(_backup_dir(out_dir, worker)))
        if dist.num_replicas_in_sync > 1 and not USE_LEGACY_KERAS:
            # first: backups, checkpoints and the saved model get the replicas' mean
            fit_callbacks.insert(0, AverageMovingStatistics(dist))
        freeze = None
        if recipe.freeze_bn_epochs:
            freeze = FreezeBatchNorm(recipe.freeze_bn_epochs, run_epochs)
            fit_callbacks.append(freeze)
        condensation = _condensation_schedule(network, run_epochs, steps_per_epoch)
        if condensation is not None:
            fit_callbacks.append(condensation)
        fit_callbacks += list(callbacks or ())

        start = time.perf_counter()
        try:
            history = network.fit(
                train_data, epochs=run_epochs, steps_per_epoch=steps_per_epoch,
                validation_data=test_data, validation_steps=validation_steps,
                callbacks=fit_callbacks, verbose=verbose if worker["is_chief"] else 0,
                **({} if USE_LEGACY_KERAS else {"shuffle": False}))  # the pipeline shuffles
        except KeyboardInterrupt as exc:
            raise TrainingInterrupted(recorder.epochs, run_epochs, backup) from exc
        seconds = time.perf_counter() - start
        scores = network.evaluate(test_data, steps=validation_steps, verbose=0,
                                  return_dict=True)
        model_path = os.path.join(own_dir, f"{spec.name}.keras")
        saved = inference_model(network)
        if condensation is not None and _fully_condensed(network):
            saved = condense_model(saved)  # the deployed network: same outputs, fewer weights
        saved.save(model_path)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    results = {
        "model": spec.name, "recipe": recipe.name, "dataset": data.name,
        "epochs": run_epochs, "first_epoch": recorder.epochs[0] if recorder.epochs else None,
        "steps_per_epoch": steps_per_epoch, "batch_size": run_batch, "image_size": size,
        "learning_rate": schedule.peak, "optimizer": recipe.optimizer,
        "precision": recipe.precision or "float32", "tiny": bool(tiny), "smoke": bool(smoke),
        "strategy": _strategy_name(dist), "replicas": dist.num_replicas_in_sync,
        "worker": worker["index"], "workers": worker["count"],
        "train_images": data.train_size, "test_images": data.test_size,
        "test_accuracy": float(scores[accuracy]), "test_loss": float(scores["loss"]),
        "aux_loss_weights": loss_weights[1:],
        "params": count_params(network)[0], "train_seconds": round(seconds, 1),
        "model_path": model_path, "keras": describe(),
        "multiworker_fix": sorted(multiworker_fix.installed() or ()),
        "condensed": condensation is not None and _fully_condensed(network),
        "batch_norm_frozen_at": None if freeze is None else freeze.frozen_at,
        "history": {k: [float(v) for v in values] for k, values in history.history.items()},
    }
    top5 = "top5" if heads == 1 else f"{network.name}_predictions_top5"
    if top5 in scores:
        results["test_top5"] = float(scores[top5])
    with open(os.path.join(own_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    return results


def summary_line(results):
    """The one line the command prints at the end of a run."""
    where = f"{results['strategy']}, {results['replicas']} replica(s)"
    if results["workers"] > 1:
        where += f", worker {results['worker']} of {results['workers']}"
    resumed = (f", resumed at epoch {results['first_epoch'] + 1}"
               if results.get("first_epoch") else "")
    top5 = f", top-5 {results['test_top5']:.4f}" if "test_top5" in results else ""
    return (f"trained {results['model']} with recipe {results['recipe']} on "
            f"{results['dataset']} for {results['epochs']} epochs ({where}{resumed}): test "
            f"accuracy {results['test_accuracy']:.4f}{top5} in {results['train_seconds']:.0f}s, "
            f"saved {results['model_path']}")


__all__ = ["train", "summary_line", "schedule_for", "make_optimizer", "build_model",
           "float32_logits", "SMOKE"]
