"""Callbacks of the paper recipes, and the replica-consistency one the train job adds."""

from ..backend import USE_LEGACY_KERAS, keras, tf


def batch_norm_layers(model):
    """Every batch-statistics layer of ``model`` (Keras' BatchNormalization and our
    BatchRenormalization), nested models and layers included."""
    from ..layers.batch_renorm import BatchRenormalization

    layers = model._flatten_layers(include_self=False, recursive=True)  # both Keras worlds
    kinds = (keras.layers.BatchNormalization, BatchRenormalization)
    return [layer for layer in layers if isinstance(layer, kinds)]


class FreezeBatchNorm(keras.callbacks.Callback):
    """Freezes every BatchNorm (and batch renormalisation) layer for the last ``last_epochs`` of
    ``epochs`` epochs.

    The SENet recipe (Hu et al., "Squeeze-and-Excitation Networks", arXiv:1709.01507, ILSVRC
    2017 entry): "BN parameters frozen for the last few epochs", so that training ends with the
    normalisation the network is tested with. A frozen layer (``trainable=False``) normalises
    with its moving statistics, stops updating them and keeps its scale and offset fixed; the
    training step is retraced once for the change. Works when training resumes from a backup
    inside the frozen epochs, too.
    """

    def __init__(self, last_epochs, epochs):
        super().__init__()
        if isinstance(last_epochs, bool) or not isinstance(last_epochs, int) or last_epochs < 0:
            raise ValueError(f"`last_epochs` must be an integer >= 0; got {last_epochs!r}.")
        self.last_epochs = last_epochs
        self.first_frozen_epoch = epochs - last_epochs
        self.frozen_at = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.frozen_at is not None or not self.last_epochs or epoch < self.first_frozen_epoch:
            return
        for layer in batch_norm_layers(self.model):
            layer.trainable = False
        self.frozen_at = epoch
        # fit() calls model.train_function every step: rebuild it so the change is traced.
        if USE_LEGACY_KERAS:
            self.model.train_function = self.model.make_train_function(force=True)
        else:
            self.model.make_train_function(force=True)


class EpochRecorder(keras.callbacks.Callback):
    """Records the epochs this ``fit`` actually ran (to see where a resumed run started)."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


class AverageMovingStatistics(keras.callbacks.Callback):
    """Makes every replica's non-trainable state -- batch norm's moving mean and variance, and
    any other floating-point non-trainable variable -- the mean over all replicas (all devices
    of all workers) at the end of every epoch and of training, before anything is saved.

    Why: Keras 3 creates batch norm's moving statistics as mirrored variables that each replica
    updates from its own shard of the batch (aggregation NONE), so under a multi-worker (or
    multi-device) strategy they drift apart and each worker saves different ones (legacy
    ``tf_keras`` makes them sync-on-read, averaged when read). After this callback the saved
    models, the backups and the evaluation that follows are identical on every worker. The
    mean of the replicas' moving averages equals the moving average of their mean batch
    statistics, so the result is what one replica seeing every shard would track (exactly for
    the mean; for the variance up to the spread between shards' means). ``norm="sync_batch"``
    synchronises the batch statistics themselves in every step instead. Put it before
    ``BackupAndRestore`` so that backups hold the averaged values.
    """

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy
        self._average = None

    def _variables(self):
        return [v for v in self.model.non_trainable_weights
                if tf.as_dtype(v.dtype).is_floating]

    def _build(self):
        variables = [getattr(v, "value", v) for v in self._variables()]  # Keras 3: tf.Variable
        if not variables:
            return None
        sizes = [int(tf.size(v)) for v in variables]

        def local_values():  # this replica's copies, as one vector
            return tf.concat([tf.reshape(tf.cast(v, tf.float32), [-1]) for v in variables], 0)

        @tf.function
        def average():
            mean = self.strategy.reduce("MEAN", self.strategy.run(local_values), axis=None)
            for variable, part in zip(variables, tf.split(mean, sizes)):
                variable.assign(tf.cast(tf.reshape(part, variable.shape), variable.dtype))

        return average

    def synchronize(self):
        if self.strategy.num_replicas_in_sync < 2:
            return
        if self._average is None:
            self._average = self._build() or (lambda: None)
        self._average()

    def on_epoch_end(self, epoch, logs=None):
        self.synchronize()

    def on_train_end(self, logs=None):
        self.synchronize()


__all__ = ["FreezeBatchNorm", "EpochRecorder", "AverageMovingStatistics", "batch_norm_layers"]
