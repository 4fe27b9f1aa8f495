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


def transfer(source, target, skip=("logits",)):
    """Copies weights layer by layer between two builds of one architecture, matching layer
    names without the model-name prefix; layers named in ``skip`` are left as initialised."""
    source_layers = {layer.name[len(source.name) + 1:]: layer for layer in source.layers}
    copied = 0
    for layer in target.layers:
        key = layer.name[len(target.name) + 1:]
        if not layer.weights or key in skip:
            continue
        if key not in source_layers:
            raise ValueError(f"transfer: {source.name} has no layer for {layer.name}.")
        layer.set_weights(source_layers[key].get_weights())
        copied += 1
    return copied


def load_named(spec, tag, arguments, explicit):
    """Builds ``spec`` with ``arguments`` and the named weight set ``tag``.

    The set's builder options (e.g. ``stride_in_1x1``) are applied; an explicit conflicting
    option is an error. A different ``classes`` or ``include_top=False`` keeps every weight but
    the classifier's.
    """
    record = store.resolve(spec.name, tag)
    for option, value in record.get("model_kwargs", {}).items():
        if option in explicit and arguments.get(option) != value:
            raise ValueError(
                f"`{option}`={arguments.get(option)!r} conflicts with weights {tag!r}, which "
                f"were ported for {option}={value!r}.")
        arguments[option] = value

    def build(**kwargs):
        return spec.function(spec.config, **kwargs)

    classes = record.get("classes", 1000)
    if arguments.get("include_top", True) and arguments.get("classes") == classes:
        arguments["weights"] = record["path"]
        return build(**arguments)
    arguments["weights"] = None
    model = build(**arguments)
    full = build(**dict(arguments, include_top=True, classes=classes, weights=record["path"],
                        pooling=None, input_tensor=None, name=model.name + "_source"))
    transfer(full, model)
    return model
