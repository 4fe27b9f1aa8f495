"""``weights=``: None, a local file, or the tag of a ported weight set in the local cache.

The registry hands every call of a public builder here. A file path goes to the family's
builder: :func:`~keras_convnets.applications.build_model` checks it and loads it with
:func:`load_file` -- a file saved with another class count (or given to a backbone) gives every
weight but the classifier's, like a named set; a file that does not fit is one error. A tag
such as
``"imagenet"`` is resolved and verified by :mod:`keras_convnets.weights.store` and built with
the builder options the set was ported for.
"""

import io
import os
import zipfile

import numpy as np

from ..weights import store


def build_with_weights(spec, arguments, explicit):
    """Builds ``spec``'s full configuration with ``arguments`` (every argument as a keyword);
    ``explicit`` names the arguments the caller gave."""
    if store.is_named(arguments["weights"]):
        tag = arguments.pop("weights")
        return load_named(spec, tag, arguments, explicit)
    return spec.function(spec.config, **arguments)


def _file_shapes(path):
    """The shapes of the tensors a Keras weights file (``.weights.h5``, ``.h5`` or ``.keras``)
    holds; a clear error for a file that is not one (truncated, another format)."""
    import h5py  # noqa: PLC0415 - a Keras dependency

    try:
        if path.endswith(".keras"):
            if not zipfile.is_zipfile(path):
                raise OSError("not a zip archive")
            with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as member:
                return _h5_shapes(h5py.File(io.BytesIO(member.read()), "r"))
        with h5py.File(path, "r") as f:
            return _h5_shapes(f)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(
            f"`weights`: {path} is not a readable Keras weights file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'}); it may be truncated "
            f"(an interrupted copy or download) -- save or copy it again.") from None


def _h5_shapes(h5file):
    import h5py  # noqa: PLC0415

    shapes = []
    h5file.visititems(lambda _, item: shapes.append(tuple(item.shape))
                      if isinstance(item, h5py.Dataset) else None)
    return shapes


def _classifier(model):
    """Our classifier's (kernel, bias) shapes: the ``<name>_logits`` layer's, or None."""
    layer = next((layer for layer in model.layers if layer.name == f"{model.name}_logits"), None)
    return None if layer is None else [tuple(w.shape) for w in layer.weights]


def load_file(model, path, build_source):
    """Loads the weights file ``path`` into ``model``. A file whose only difference is the
    classifier (another class count, or a backbone given a classifier's file) loads every weight
    but the classifier's, as named weight sets do: ``build_source(classes)`` builds the model
    the file was saved from. Anything else is one error naming the file, what it holds and what
    the model expects."""
    found = sorted(_file_shapes(path))
    expected = sorted(tuple(w.shape) for w in model.weights)
    if found == expected:
        model.load_weights(path)
        return
    remaining = list(found)
    for shape in expected:
        if shape in remaining:
            remaining.remove(shape)
    missing = [shape for shape in expected if shape not in found]
    classifier = _classifier(model) or []
    file_classes = None
    if len(remaining) == 2 and sorted(len(shape) for shape in remaining) == [1, 2]:
        kernel, bias = sorted(remaining, key=len, reverse=True)
        if kernel[1] == bias[0] and all(shape in classifier for shape in missing):
            file_classes = bias[0]
    if file_classes is None:
        raise ValueError(
            f"`weights`: {path} does not fit {model.name} as built: the file holds "
            f"{len(found)} tensors ({_count(found):,} values), the model {len(expected)} "
            f"({_count(expected):,}); it was saved from another architecture or with other "
            f"options (first unmatched shapes: file {remaining[:2]}, model {missing[:2]}).")
    source = build_source(file_classes)
    source.load_weights(path)
    transfer(source, model)


def _count(shapes):
    return sum(int(np.prod(shape)) for shape in shapes)


#: builder options a weight set may have been ported with that do not change the network
#: a user gets, only what is built for training: applied to the source build, never forced
TRAINING_ONLY_OPTIONS = ("aux_logits",)


def transfer(source, target, skip=("logits",)):
    """Copies weights layer by layer between two builds of one architecture, matching layer
    names without the model-name prefix; layers named in ``skip``, or ending in ``_<name>``
    for a name in ``skip`` (``aux1_logits``), are left as initialised, as are the auxiliary
    classifiers of a target whose source has none."""
    source_layers = {layer.name[len(source.name) + 1:]: layer for layer in source.layers}
    suffixes = tuple("_" + name for name in skip)
    copied = 0
    for layer in target.layers:
        key = layer.name[len(target.name) + 1:]
        if not layer.weights or key in skip or (suffixes and key.endswith(suffixes)):
            continue
        if key not in source_layers:
            if key.startswith("aux"):
                continue
            raise ValueError(f"transfer: {source.name} has no layer for {layer.name}.")
        layer.set_weights(source_layers[key].get_weights())
        copied += 1
    return copied


def load_named(spec, tag, arguments, explicit):
    """Builds ``spec`` with ``arguments`` and the named weight set ``tag``.

    The set's builder options (e.g. ``stride_in_1x1``) are applied; an explicit conflicting
    option is an error. Options that only add training outputs (``aux_logits``: a set ported
    with auxiliary classifiers) are not forced: the model is built as asked, and the
    auxiliary classifiers' weights are copied where it has them. A different ``classes`` or
    ``include_top=False`` keeps every weight but the classifiers'.
    """
    record = store.resolve(spec.name, tag)
    ported_with = {}
    for option, value in record.get("model_kwargs", {}).items():
        if option in TRAINING_ONLY_OPTIONS:
            ported_with[option] = value
            continue
        if option in explicit and arguments.get(option) != value:
            raise ValueError(
                f"`{option}`={arguments.get(option)!r} conflicts with weights {tag!r}, which "
                f"were ported for {option}={value!r}.")
        arguments[option] = value

    def build(**kwargs):
        return spec.function(spec.config, **kwargs)

    classes = record.get("classes", 1000)
    same_top = arguments.get("include_top", True) and arguments.get("classes") == classes
    if same_top and all(arguments.get(k, False) == v for k, v in ported_with.items()):
        arguments["weights"] = record["path"]
        return build(**arguments)
    arguments["weights"] = None
    model = build(**arguments)
    full = build(**dict(arguments, include_top=True, classes=classes, weights=record["path"],
                        pooling=None, input_tensor=None, name=model.name + "_source",
                        **ported_with))
    transfer(full, model, skip=() if same_top else ("logits",))
    return model
