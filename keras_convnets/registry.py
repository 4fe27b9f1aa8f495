"""The model registry: what every named architecture is, where it comes from, and how to build it.

>>> import keras_convnets as kc
>>> kc.list_models("seresnext*")
['seresnext101_32x4d', 'seresnext50_32x4d']
>>> kc.model_info("resnet50")["paper"]["arxiv"]
'1512.03385'
"""

import dataclasses
import difflib
import fnmatch
import functools
import inspect

from .weights import store

#: The ``keras.applications`` builder signature shared by every model; architecture options
#: follow as keyword arguments.
COMMON_PARAMETERS = (
    ("include_top", True), ("weights", None), ("input_tensor", None), ("input_shape", None),
    ("pooling", None), ("classes", 1000), ("classifier_activation", "softmax"), ("name", None),
)


@dataclasses.dataclass(frozen=True)
class Paper:
    """A model's paper: its arXiv id, or (for the few with none, e.g. AlexNet) its ``url``."""

    title: str
    year: int
    arxiv: str | None
    url: str = ""

    def __post_init__(self):
        if not self.arxiv and not self.url:
            raise ValueError(f"Paper {self.title!r} needs an arXiv id or a url.")

    @property
    def link(self):
        return f"https://arxiv.org/abs/{self.arxiv}" if self.arxiv else self.url

    def cite(self):
        where = f"arXiv:{self.arxiv}" if self.arxiv else self.url
        return f'"{self.title}" ({self.year}), {where}'


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one named model.

    ``params`` and ``flops`` are the reference implementation's trainable parameter count and
    FLOPs (2 x multiply-adds of convolutions and dense layers) at ``default_size`` with 1000
    classes; ``reference`` names that implementation. ``stage_strides`` gives the stride of
    each ``<model>_stage<N>_out`` feature map.
    """

    name: str
    builder: object
    family: str
    paper: Paper
    default_size: int
    min_size: int
    stage_strides: tuple
    params: int | None = None
    flops: int | None = None
    reference: str = ""
    default_classes: int = 1000
    paper_params: float | None = None
    paper_params_scope: str = "trainable"

    def info(self):
        return {
            "name": self.name, "family": self.family,
            "paper": {**dataclasses.asdict(self.paper), "url": self.paper.link},
            "default_size": self.default_size, "min_size": self.min_size,
            "stage_strides": self.stage_strides, "params": self.params, "flops": self.flops,
            "reference": self.reference, "default_classes": self.default_classes,
            "paper_params_millions": self.paper_params,
            "paper_params_scope": self.paper_params_scope,
            "builder": self.builder.__name__,
        }


_REGISTRY = {}


def _signature(extra, default_classes):
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter(n, kind, default=default_classes if n == "classes" else d)
                  for n, d in COMMON_PARAMETERS]
    parameters += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
                   for n, d in extra.items()]
    parameters.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(parameters)


def register(*, family, paper, default_size=224, min_size=32, stage_strides=(4, 8, 16, 32),
             params=None, flops=None, reference="", default_classes=1000, paper_params=None,
             paper_params_scope="trainable", options=None):
    """Registers a builder under its lower-cased function name.

    The decorated function receives every argument as a keyword; positional use follows the
    ``keras.applications`` order (``include_top, weights, input_tensor, ...``). ``options``
    documents the architecture options the builder adds (name -> default) in its signature.
    ``paper_params`` is the paper's own (rounded, millions) count where no reference
    implementation gives an exact one; ``paper_params_scope`` says what the paper counted
    (``"trainable"``, or ``"conv"`` for convolution weights only).
    """

    def decorate(builder):
        name = builder.__name__.lower()
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        signature = _signature(options or {}, default_classes)

        @functools.wraps(builder)
        def build(*args, **kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{builder.__name__}(): {exc}") from None
            explicit = set(bound.arguments) | set(bound.arguments.get("kwargs", {}))
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.update(arguments.pop("kwargs", {}))
            if store.is_named(arguments["weights"]):
                tag = arguments.pop("weights")
                return store.load_named(builder, name, tag, arguments, explicit)
            return builder(**arguments)

        build.__signature__ = signature
        spec = ModelSpec(
            name=name, builder=build, family=family, paper=paper, default_size=default_size,
            min_size=min_size, stage_strides=tuple(stage_strides), params=params, flops=flops,
            reference=reference, default_classes=default_classes, paper_params=paper_params,
            paper_params_scope=paper_params_scope)
        build.spec = spec
        _REGISTRY[name] = spec
        return build

    return decorate


def _unknown(name):
    close = difflib.get_close_matches(str(name).lower(), list(_REGISTRY), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return ValueError(
        f"Unknown model name {name!r}.{hint} `keras_convnets.list_models()` lists all "
        f"{len(_REGISTRY)} names.")


def get_spec(name):
    """The :class:`ModelSpec` registered under ``name`` (case-insensitive)."""
    try:
        return _REGISTRY[str(name).lower()]
    except KeyError:
        raise _unknown(name) from None


def list_models(pattern="*", family=None):
    """Sorted registered names matching a shell-style ``pattern`` (case-insensitive)."""
    pattern = pattern.lower()
    return sorted(
        name for name, spec in _REGISTRY.items()
        if fnmatch.fnmatchcase(name, pattern) and (family is None or spec.family == family))


def get_model(name, *args, **kwargs):
    """Builds the model registered under ``name`` with the builder's arguments."""
    return get_spec(name).builder(*args, **kwargs)


def model_info(name):
    """A dict describing the named model: paper, family, sizes, reference counts, strides."""
    return get_spec(name).info()
