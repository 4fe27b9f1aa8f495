"""Callbacks of the paper recipes."""

from ..backend import USE_LEGACY_KERAS, keras


def batch_norm_layers(model):
    """Every BatchNormalization layer of ``model``, nested models and layers included."""
    layers = model._flatten_layers(include_self=False, recursive=True)  # both Keras worlds
    return [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]


class FreezeBatchNorm(keras.callbacks.Callback):
    """Freezes every BatchNorm layer for the last ``last_epochs`` of ``epochs`` epochs.

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


__all__ = ["FreezeBatchNorm", "EpochRecorder", "batch_norm_layers"]
