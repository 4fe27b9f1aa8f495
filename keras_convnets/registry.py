"""The model registry: what every named architecture is, where it comes from, and how to build it.

>>> import keras_convnets as kc
>>> kc.list_models("seresnext*")
['seresnext101', 'seresnext50']
>>> kc.model_info("resnet50")["paper"]["arxiv"]
'1512.03385'

A family module declares each public model once, as an explicit, documented function whose body
is one call to the family's generic builder, decorated with :func:`register`::

    @register(family="resnet", paper=RESNET, config=ResNetConfig((2, 2, 2, 2), block="basic"),
              tiny=tiny_config, params=11_689_512, flops=3_628_146_688,
              reference=Reference("torchvision", "resnet18"))
    def ResNet18(config, **kwargs):
        \"\"\"ResNet-18 v1 (He et al. 2015, arXiv:1512.03385, Table 1).\"\"\"
        return build_resnet("resnet18", config, **kwargs)

The registry passes ``config`` (the full configuration, or the ``tiny`` one for behaviour tests)
and every other argument as a keyword. Everything the rest of the package needs -- tests, the
weight porter, the benchmark, the README table -- is read from the :class:`ModelSpec` built here.
"""

import dataclasses
import difflib
import fnmatch
import functools
import inspect
import numbers

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
class Reference:
    """The implementation a model's reference counts come from.

    ``framework`` and ``model`` name it as ``../shared/reference/params.tsv`` does (``"timm"``,
    ``"resnet18"``); ``in_params_tsv`` says whether that table has the row (otherwise the
    counts were measured on the implementation the same way, and the tests measure them
    again). ``framework=None`` means no implementation exists; ``note`` then says what is
    checked instead (usually the paper's rounded count).
    """

    framework: str | None
    model: str = ""
    in_params_tsv: bool = True
    note: str = ""

    def __post_init__(self):
        if self.framework is None and not self.note:
            raise ValueError("A Reference without an implementation needs a `note`.")

    def __str__(self):
        if self.framework is None:
            return self.note
        text = f"{self.framework} {self.model}"
        if not self.in_params_tsv:
            text += " (measured; not in params.tsv)"
        return f"{text}; {self.note}" if self.note else text


def measured(framework, model, note=""):
    """A reference count measured on ``framework``'s ``model`` (not a params.tsv row)."""
    return Reference(framework, model, in_params_tsv=False, note=note)


def no_reference(note):
    """No reference implementation: ``note`` says what is checked instead."""
    return Reference(None, note=note)


@dataclasses.dataclass(frozen=True)
class KerasTwin:
    """The ``keras.applications`` builder of the same architecture, with the arguments that
    make it comparable and a note on what still differs (benchmark rows)."""

    builder: str
    kwargs: dict = dataclasses.field(default_factory=dict)
    note: str = ""
    #: our builder options that build keras' layout where our default differs
    layout_options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one named model.

    ``params`` and ``flops`` are the reference implementation's trainable parameter count and
    FLOPs (2 x multiply-adds of convolutions and dense layers) at ``default_size`` with 1000
    classes; ``reference`` names that implementation. ``stage_strides`` gives the stride of
    each ``<model>_stage<N>_out`` feature map, ``stage_margins`` the pixels that unpadded layers
    before it take off the input (its map is ``(size - margin) // stride``; empty: every map is
    exactly ``size // stride``). ``config`` is the configuration the public
    builder builds, ``tiny`` the same topology at a fraction of the cost (behaviour tests).
    ``module`` is the family module's short name: the weight mapping, if any, lives in
    ``keras_convnets/weights/mappings/<module>.py``.
    """

    name: str
    builder: object
    function: object
    family: str
    module: str
    paper: Paper
    default_size: int
    min_size: int
    stage_strides: tuple
    stage_margins: tuple = ()
    config: object = None
    tiny: object = None
    params: int | None = None
    flops: int | None = None
    reference: Reference | None = None
    default_classes: int = 1000
    paper_params: float | None = None
    paper_params_scope: str = "trainable"
    keras_twin: KerasTwin | None = None
    options: tuple = ()
    #: the paper's loss weight of each auxiliary classifier (GoogLeNet 0.3, Inception-v3 0.4);
    #: None for a model without them
    aux_loss_weight: float | None = None
    #: builder options of the build that ``params``/``flops`` count, where the reference's
    #: network is not the default build (CondenseNet: ``{"condensed": True}``, the deployed
    #: network; its default build is the training network)
    count_options: dict = dataclasses.field(default_factory=dict)

    def build_tiny(self, **kwargs):
        """The ``tiny`` configuration, built with the generic builder's own defaults."""
        return self.function(self.tiny, **kwargs)

    def info(self):
        return {
            "name": self.name, "family": self.family,
            "paper": {**dataclasses.asdict(self.paper), "url": self.paper.link},
            "default_size": self.default_size, "min_size": self.min_size,
            "stage_strides": self.stage_strides, "stage_margins": self.stage_margins,
            "params": self.params, "flops": self.flops,
            "reference": str(self.reference or ""), "default_classes": self.default_classes,
            "paper_params_millions": self.paper_params,
            "paper_params_scope": self.paper_params_scope,
            "keras_twin": self.keras_twin.builder if self.keras_twin else None,
            "builder": self.builder.__name__, "aux_loss_weight": self.aux_loss_weight,
            "count_options": dict(self.count_options),
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


#: ``build_model``'s own options, which every builder passes on whether or not its signature
#: lists them
PASSED_THROUGH = ("norm", "drop_rate", "aux_logits", "bn_epsilon", "bn_momentum",
                  "strided_padding")


def _check_arguments(builder, options, extra, given):
    """Unknown keywords (with the closest known one), and option values whose type differs
    from the default's: a boolean option takes only True/False, an integer one an integer, a
    float one a number (options defaulting to None are checked by the builders)."""
    known = [name for name, _ in COMMON_PARAMETERS] + list(options)
    for name in extra:
        if name not in PASSED_THROUGH:
            close = difflib.get_close_matches(name, known + list(PASSED_THROUGH), n=1,
                                              cutoff=0.5)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            raise TypeError(f"{builder}() got an unexpected argument `{name}`.{hint} Its "
                            f"options: {', '.join(options) or 'none'}.")
    for name, default in options.items():
        if name not in given or given[name] is None:
            continue
        value = given[name]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"`{name}` must be True or False; got {value!r}.")
        elif isinstance(default, int) and (isinstance(value, bool)
                                           or not isinstance(value, numbers.Integral)):
            raise ValueError(f"`{name}` must be an integer; got {value!r}.")
        elif isinstance(default, float) and (isinstance(value, bool)
                                             or not isinstance(value, numbers.Real)):
            raise ValueError(f"`{name}` must be a number; got {value!r}.")


_ARGUMENTS_DOC = """

    Takes the ``keras.applications`` arguments (``include_top, weights, input_tensor,
    input_shape, pooling, classes, classifier_activation, name``) and the architecture options
    of :func:`{builder}`. Returns a functional ``keras.Model``."""


def register(*, family, paper, config=None, tiny=None, default_size=224, min_size=32,
             stage_strides=(4, 8, 16, 32), stage_margins=(), params=None, flops=None,
             reference=None, default_classes=1000, paper_params=None,
             paper_params_scope="trainable", options=None, keras_twin=None, generic_builder=None,
             aux_loss_weight=None, count_options=None):
    """Registers ``def Name(config, **kwargs)`` under its lower-cased function name.

    The public builder takes the ``keras.applications`` arguments (positionally in their order,
    or as keywords) and the architecture ``options`` (name -> default, shown in its signature),
    and calls the decorated function with ``config`` and every argument as a keyword. ``tiny``
    is the small configuration behaviour tests build, or a function of ``config`` returning it.
    ``paper_params`` is the paper's own (rounded, millions) count where no reference
    implementation gives an exact one; ``paper_params_scope`` says what the paper counted
    (``"trainable"``, or ``"conv"`` for convolution weights only). ``generic_builder`` names the
    family's builder in the generated argument documentation. ``aux_loss_weight`` is the
    paper's training loss weight of each auxiliary classifier, for a model that declares them
    (built with ``aux_logits=True``; :func:`keras_convnets.training.aux_loss_weights`).
    ``count_options`` are the builder options of the build ``params``/``flops`` count, where
    that is not the default build (the count tests build it so).
    """
    if reference is not None and not isinstance(reference, Reference):
        raise TypeError(f"`reference` must be a Reference; got {reference!r}.")

    def decorate(function):
        name = function.__name__.lower()
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        signature = _signature(options or {}, default_classes)

        @functools.wraps(function)
        def build(*args, **kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{function.__name__}(): {exc}") from None
            explicit = set(bound.arguments) | set(bound.arguments.get("kwargs", {}))
            _check_arguments(function.__name__, options or {},
                             bound.arguments.get("kwargs", {}), bound.arguments)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.update(arguments.pop("kwargs", {}))
            from .applications.weights import build_with_weights  # the builder resolves tags
            return build_with_weights(spec, arguments, explicit)

        build.__signature__ = signature
        if generic_builder:
            build.__doc__ = (function.__doc__ or "").rstrip() + _ARGUMENTS_DOC.format(
                builder=generic_builder)
        tiny_config = tiny(config) if callable(tiny) else tiny
        spec = ModelSpec(
            name=name, builder=build, function=function, family=family,
            module=function.__module__.rsplit(".", 1)[-1], paper=paper,
            default_size=default_size, min_size=min_size, stage_strides=tuple(stage_strides),
            stage_margins=tuple(stage_margins),
            config=config, tiny=tiny_config, params=params, flops=flops, reference=reference,
            default_classes=default_classes, paper_params=paper_params,
            paper_params_scope=paper_params_scope, keras_twin=keras_twin,
            options=tuple(options or {}), aux_loss_weight=aux_loss_weight,
            count_options=dict(count_options or {}))
        build.spec = spec
        build.config = config
        build.tiny = spec.build_tiny
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


def all_specs():
    """Every registered :class:`ModelSpec`, sorted by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_model(name, *args, **kwargs):
    """Builds the model registered under ``name`` with the builder's arguments."""
    return get_spec(name).builder(*args, **kwargs)


def model_info(name):
    """A dict describing the named model: paper, family, sizes, reference counts, strides."""
    return get_spec(name).info()


#: The registry's table as the console command's ``list`` reads it (``model_index.json``,
#: written by ``tools/update_readme.py``; a test keeps it equal to :func:`model_index`).
INDEX_FILE = "model_index.json"


def model_index():
    """One row per registered name -- what ``keras-convnets list`` shows without importing
    TensorFlow."""
    return [{"name": spec.name, "family": spec.family, "params": spec.params,
             "paper_params": spec.paper_params, "default_size": spec.default_size,
             "reference": str(spec.reference)} for spec in all_specs()]
