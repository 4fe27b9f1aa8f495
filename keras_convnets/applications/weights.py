"""``weights=``: None, a local file, or the tag of a ported weight set in the local cache.

The registry hands every call of a public builder here. A file path (or None) goes straight to
the family's builder, which checks it in :func:`~keras_convnets.applications.build_model`; a tag
such as ``"imagenet"`` is resolved and verified by :mod:`keras_convnets.weights.store` and
built with the builder options the set was ported for.
"""

from ..weights import store


def build_with_weights(spec, arguments, explicit):
    """Builds ``spec``'s full configuration with ``arguments`` (every argument as a keyword);
    ``explicit`` names the arguments the caller gave."""
    if store.is_named(arguments["weights"]):
        tag = arguments.pop("weights")
        return load_named(spec, tag, arguments, explicit)
    return spec.function(spec.config, **arguments)


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
