"""What a saved ``.keras`` file of one of our models needs to load.

A file names each layer's class. Keras' own classes load anywhere Keras is installed; our
layers (``GroupConv2D``, ``ChannelShuffle``, ``LocalResponseNormalization``, ...) load after
``import keras_convnets``, which registers them. Batch normalisation is recorded as Keras' own
layer (:class:`~keras_convnets.layers.batch_norm.BatchNormalization`), so a ResNet, VGG-16 or
DenseNet file loads in a process that never imported this package:

>>> import keras_convnets as kc
>>> kc.saving.package_layers(kc.ResNet50())
[]
>>> kc.saving.package_layers(kc.ShuffleNetV2_1x())
['ChannelShuffle', 'ChannelSplit']
"""

from .backend import keras


def _layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _layers(layer)


def package_layers(model):
    """Sorted class names of the layers in ``model`` whose saved file needs
    ``import keras_convnets`` to load (empty: the file loads with Keras alone)."""
    names = set()
    for layer in _layers(model):
        config = keras.saving.serialize_keras_object(layer)
        module = config.get("module") or ""
        if module.split(".")[0] == __package__:
            names.add(config["class_name"])
    return sorted(names)


def loads_without_package(model):
    """True when ``model``'s ``.keras`` file loads where this package was never imported."""
    return not package_layers(model)


__all__ = ["package_layers", "loads_without_package"]
