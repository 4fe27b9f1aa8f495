"""Scheduled drop-path: the architecture-search papers' ramp of the drop-path rate.

- NASNet (Zoph et al. 2017, arXiv:1707.07012, Section 4.1, "ScheduledDropPath"): each path of a
  cell is dropped with a probability that increases linearly over the course of training (and,
  in TF-slim's implementation, with the cell's depth: ``(cell + 1) / cells`` of the final
  rate -- the NASNet/PNASNet configurations of ``keras_convnets.models.nasnet`` build their
  layers with those depth-scaled rates).
- DARTS (Liu et al. 2018, arXiv:1806.09055, Section A.2; the authors' ``train.py``:
  ``model.drop_path_prob = args.drop_path_prob * epoch / args.epochs``): the same rate in every
  cell, rising linearly with the epoch.

The model is built with the *final* rates (``drop_path_rate=``); :class:`ScheduledDropPath`
scales every :class:`~keras_convnets.layers.DropPath` layer's rate by ``epoch / epochs`` at the
start of each epoch (DARTS' rule, and NASNet's at epoch granularity) and retraces the training
step so the new rates take effect. At the end of training the built rates are restored, so the
saved model's configuration is the one it was built with (inference ignores drop-path anyway).
"""

from ..backend import USE_LEGACY_KERAS, keras
from ..layers import DropPath


def drop_path_layers(model):
    """Every :class:`~keras_convnets.layers.DropPath` layer of ``model``, nested ones included."""
    layers = model._flatten_layers(include_self=False, recursive=True)  # both Keras worlds
    return [layer for layer in layers if isinstance(layer, DropPath)]


class ScheduledDropPath(keras.callbacks.Callback):
    """Ramps every DropPath layer's rate linearly from 0 (first epoch) towards its built rate:
    ``rate * epoch / epochs`` during epoch ``epoch`` (0-based), as DARTS' training script.

    ``epochs``: the length of the schedule (the ``fit`` run's epochs; a resumed run passes the
    same number and its ``initial_epoch`` continues the ramp). ``rates`` records the rates in
    force at each epoch (for logs and tests).
    """

    def __init__(self, epochs):
        super().__init__()
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"`epochs` must be a positive integer; got {epochs!r}.")
        self.epochs = epochs
        self.rates = {}
        self._targets = None

    def on_train_begin(self, logs=None):
        layers = drop_path_layers(self.model)
        if not layers:
            raise ValueError(
                f"ScheduledDropPath: {self.model.name} has no DropPath layers; build it with "
                f"drop_path_rate > 0.")
        self._targets = [(layer, layer.rate) for layer in layers]

    def on_epoch_begin(self, epoch, logs=None):
        fraction = min(epoch, self.epochs) / self.epochs
        for layer, target in self._targets:
            layer.rate = target * fraction
        self.rates[epoch] = [layer.rate for layer, _ in self._targets]
        # fit() calls model.train_function every step: rebuild it so the new rates are traced.
        if USE_LEGACY_KERAS:
            self.model.train_function = self.model.make_train_function(force=True)
        else:
            self.model.make_train_function(force=True)

    def on_train_end(self, logs=None):
        for layer, target in self._targets or ():
            layer.rate = target
