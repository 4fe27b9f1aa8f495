"""Porting PyTorch reference weights (timm, torchvision) onto our models.

Convolution kernels go from PyTorch's OIHW to Keras' HWIO (grouped kernels keep their
per-group slice, which both lay out the same way), dense and 1x1-conv classifiers are
transposed, BatchNorm's weight/bias/running_mean/running_var become gamma/beta/moving_mean/
moving_variance with the epsilon checked equal, and squeeze-and-excitation FCs stored as 1x1
convolutions become matrices. Every reference tensor must be used exactly once and every one of
our weights assigned; anything else is an error. Only ``num_batches_tracked`` counters, which
carry no model state, are ignored.
"""

import dataclasses
import datetime
import json
import os
import re

import numpy as np

from ..backend import keras
from ..layers import ChannelGather, GroupConv2D, SEBlock
from ..registry import get_spec
from . import store

_LIBRARIES = ("timm", "torchvision", "pretrainedmodels", "pytorchcv")
_TORCHVISION_LIBRARY = None  # keeps the torchvision op definitions alive for the process


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            "Porting weights needs PyTorch and timm: pip install 'keras_convnets[port]'") from exc
    return torch


def _import_torchvision():
    """torchvision's CUDA wheel ships compiled ops that do not load with CPU torch; its model
    code only needs the two detection ops to exist, so define them before importing it."""
    global _TORCHVISION_LIBRARY
    torch = _import_torch()
    try:
        torch.ops.torchvision.nms  # defined by a working torchvision build, or by us earlier
    except (AttributeError, RuntimeError):
        library = torch.library.Library("torchvision", "DEF")
        library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _TORCHVISION_LIBRARY = library
    import torchvision
    return torchvision


def parse_source(source):
    """``"timm:legacy_seresnet50.in1k"`` -> ``("timm", "legacy_seresnet50", "in1k")``.

    Libraries: ``timm``, ``torchvision``, ``pretrainedmodels`` (Cadene's BN-Inception, PolyNet,
    NASNet-Mobile) and ``pytorchcv``. Constructor arguments the reference needs follow the name
    in parentheses (``"torchvision:googlenet(aux_logits=True)"``, see
    :func:`reference_arguments`)."""
    library, sep, model = str(source).partition(":")
    model, _, arguments = model.partition("(")
    if (not sep or library not in _LIBRARIES or not model
            or (arguments and not arguments.endswith(")"))):
        raise ValueError(
            f"`source` must look like 'timm:MODEL[.TAG]', 'torchvision:MODEL', "
            f"'pretrainedmodels:MODEL' or 'pytorchcv:MODEL', optionally followed by constructor "
            f"arguments in parentheses; got {source!r}.")
    model, _, tag = model.partition(".")
    return library, model, tag or None


def reference_arguments(source):
    """The constructor keyword arguments a source names: ``"torchvision:googlenet(aux_logits=
    True, init_weights=False)"`` -> ``{"aux_logits": True, "init_weights": False}`` (values are
    Python literals)."""
    import ast

    _, _, arguments = str(source).partition("(")
    call = ast.parse(f"f({arguments}", mode="eval").body if arguments else None
    return {} if call is None else {k.arg: ast.literal_eval(k.value) for k in call.keywords}


def create_reference(source, pretrained=False):
    """Builds the reference PyTorch model in eval mode (random init unless ``pretrained``)."""
    library, model, tag = parse_source(source)
    kwargs = reference_arguments(source)
    torchvision = _import_torchvision()  # timm, pretrainedmodels and pytorchcv import it
    if library == "timm":
        import timm
        name = f"{model}.{tag}" if tag else model
        return timm.create_model(name, pretrained=pretrained, **kwargs).eval()
    if library == "pretrainedmodels":
        import pretrainedmodels
        return getattr(pretrainedmodels, model)(
            pretrained=(tag or "imagenet") if pretrained else None, **kwargs).eval()
    if library == "pytorchcv":
        from pytorchcv.model_provider import get_model
        return _global_final_pool(get_model(model, pretrained=pretrained, **kwargs).eval())
    weights = (tag or "DEFAULT") if pretrained else None
    return torchvision.models.get_model(model, weights=weights, **kwargs).eval()


def _global_final_pool(reference):
    """pytorchcv's models end in ``features.final_pool``, an unpadded stride-1 average pool as
    large as the last map at their training size (7x7 at 224; DRN's 28x28, CIFAR nets' 8x8),
    i.e. a global average pool there; made global (``AdaptiveAvgPool2d(1)``) so that the
    reference runs at any input size, with the same outputs at that size."""
    torch = _import_torch()
    pool = getattr(getattr(reference, "features", None), "final_pool", None)
    if (isinstance(pool, torch.nn.AvgPool2d) and pool.stride in (1, (1, 1))
            and pool.padding in (0, (0, 0))):
        reference.features.final_pool = torch.nn.AdaptiveAvgPool2d(1)
    return reference


def source_tag(source, reference=None, pretrained=True):
    """The weight tag a pretrained reference resolves to (the library's default when ``source``
    names none), e.g. ``"in1k"`` for timm or ``"IMAGENET1K_V2"`` for torchvision; None for a
    randomly initialised reference."""
    if not pretrained:
        return None
    library, model, tag = parse_source(source)
    if library == "timm":
        cfg = getattr(reference, "pretrained_cfg", None) or {}
        return cfg.get("tag") or tag
    if library in ("pretrainedmodels", "pytorchcv"):
        return tag or "imagenet"
    torchvision = _import_torchvision()
    return torchvision.models.get_model_weights(model)[tag or "DEFAULT"].name


def reference_license(source):
    library, model, tag = parse_source(source)
    if library == "timm":
        import timm
        cfg = timm.models.get_pretrained_cfg(f"{model}.{tag}" if tag else model)
        return getattr(cfg, "license", None) or "unknown: see the timm model card"
    if library == "pretrainedmodels":
        return "BSD-3-Clause (pretrainedmodels code); weights: see the pretrainedmodels README"
    if library == "pytorchcv":
        return "MIT (pytorchcv code); weights: see the pytorchcv model documentation"
    return "BSD-3-Clause (torchvision code); weights: see the torchvision model documentation"


@dataclasses.dataclass(frozen=True)
class MappingSource:
    source: str
    rules: list
    model_kwargs: dict
    #: the input size the model must be built and checked at, for a classifier that flattens
    #: its last map (AlexNet); None: any size from the model's minimum.
    input_size: int | None = None


def family_sources():
    """Our model name -> :class:`MappingSource`, from the mapping module of every registered
    family (``weights/mappings/<family module>.py``)."""
    from .mappings import mapping_modules

    return {name: MappingSource(source, module.KEY_RULES[rules], dict(kwargs), *size)
            for module in mapping_modules()
            for name, (source, rules, kwargs, *size) in getattr(module, "SOURCES", {}).items()}


def not_portable():
    """Models with a reference that cannot be created by name -> why (every family's
    ``NOT_PORTABLE``)."""
    from .mappings import collected

    return collected("NOT_PORTABLE")


def mapping_for(model_name):
    sources = family_sources()
    if model_name not in sources:
        raise ValueError(
            f"No weight mapping for {model_name!r}; models with one: {', '.join(sorted(sources))}.")
    return sources[model_name]


def _torch_path(layer_key, rules):
    for pattern, template in rules:
        match = re.fullmatch(pattern, layer_key)
        if match:
            values = {}
            for group, text in match.groupdict().items():
                values[group] = text
                if text.isdigit():
                    values[group + "0"] = int(text) - 1
            return template.format(**values)
    return None


def _conv_kernel(tensor):
    return np.transpose(tensor, (2, 3, 1, 0))  # OIHW -> HWIO


def _matrix(tensor):
    return tensor.reshape(tensor.shape[0], -1).T  # (out, in[,1,1]) -> (in, out)


def _flattened_map_shape(layer):
    """(H, W, C) of the feature map a Flatten layer turned into ``layer``'s input, else None."""
    history = getattr(layer.input, "_keras_history", None)
    producer = history[0] if history else None
    if isinstance(producer, keras.layers.Flatten) and len(producer.input.shape) == 4:
        return tuple(int(d) for d in producer.input.shape[1:])
    return None


def _flattened_matrix(tensor, map_shape):
    """A PyTorch Linear fed by a channels-first flatten, for our channels-last Flatten."""
    height, width, channels = map_shape
    out = tensor.shape[0]
    return tensor.reshape(out, channels, height, width).transpose(0, 2, 3, 1).reshape(out, -1).T


def _layer_tensors(layer, prefix, modules):
    """Our layer's weights, in ``layer.weights`` order, as (name of reference tensor, array)."""
    if isinstance(layer, keras.layers.BatchNormalization):
        module = modules.get(prefix)
        if module is not None and abs(module.eps - layer.epsilon) > 1e-12:
            raise ValueError(f"{layer.name}: epsilon {layer.epsilon} but {prefix} uses {module.eps}.")
        names = ["weight", "bias", "running_mean", "running_var"]
        return [(f"{prefix}.{n}", None) for n in names]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        multiplier = layer.depth_multiplier
        convert = lambda t: t.reshape(-1, multiplier, *t.shape[2:]).transpose(2, 3, 0, 1)  # noqa
        out = [(f"{prefix}.weight", convert)]
        return out + ([(f"{prefix}.bias", None)] if layer.use_bias else [])
    if isinstance(layer, keras.layers.SeparableConv2D):
        # depthwise (C, 1, kh, kw) -> (kh, kw, C, 1); pointwise as a 1x1 convolution
        out = [(f"{prefix}.conv1.weight", lambda t: t.transpose(2, 3, 0, 1)),
               (f"{prefix}.pointwise.weight", _conv_kernel)]
        return out + ([(f"{prefix}.pointwise.bias", None)] if layer.use_bias else [])
    if isinstance(layer, (keras.layers.Conv2D, GroupConv2D)):
        out = [(f"{prefix}.weight", _conv_kernel)]
        return out + ([(f"{prefix}.bias", None)] if layer.use_bias else [])
    if isinstance(layer, keras.layers.Dense):
        map_shape = _flattened_map_shape(layer)
        convert = _matrix if map_shape is None else (
            lambda t: _flattened_matrix(t, map_shape))
        return [(f"{prefix}.weight", convert), (f"{prefix}.bias", None)]
    if isinstance(layer, ChannelGather):  # an index buffer (CondenseNet's converted layers)
        return [(f"{prefix}.index", None)]
    if isinstance(layer, SEBlock):
        if layer.use_bn:
            raise ValueError(f"{layer.name}: porting an SEBlock with BN is not supported.")
        fc1, fc2 = _se_paths(prefix, modules)
        return [(f"{prefix}.{fc1}.weight", _matrix), (f"{prefix}.{fc1}.bias", None),
                (f"{prefix}.{fc2}.weight", _matrix), (f"{prefix}.{fc2}.bias", None)]
    raise ValueError(f"{layer.name}: no porting rule for a {type(layer).__name__} layer.")


def execution_order(reference, input_size=64):
    """Names of the reference's convolution, norm and linear modules in the order a forward
    pass runs them (each once)."""
    torch = _import_torch()
    kinds = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.modules.batchnorm._BatchNorm)
    order, handles = [], []
    for module_name, module in reference.named_modules():
        if isinstance(module, kinds):
            handles.append(module.register_forward_hook(
                lambda *_, n=module_name: order.append(n) if n not in order else None))
    try:
        with torch.no_grad():
            reference(torch.zeros(1, 3, input_size, input_size))
    finally:
        for handle in handles:
            handle.remove()
    return order


def _module_prefixes(model, reference, rules):
    """Our weighted layers paired with the reference module path each one takes its tensors
    from (for an SEBlock or a separable convolution, the path of the module holding both)."""
    layers = [layer for layer in model.layers if layer.weights]
    if rules != "execution_order":
        pairs = []
        for layer in layers:
            key = layer.name[len(model.name) + 1:]
            prefix = _torch_path(key, rules)
            if prefix is None:
                raise ValueError(f"No mapping rule for our layer {layer.name!r} ({key}).")
            pairs.append((layer, prefix))
        return pairs
    order = iter(execution_order(reference))
    pairs = []
    for layer in layers:
        module_name = next(order, None)
        if module_name is None:
            raise ValueError(f"The reference has no module left for our layer {layer.name!r}.")
        if isinstance(layer, SEBlock):  # fc1 then fc2 of one squeeze-excitation module
            second = next(order, None) or ""
            parent = module_name.rpartition(".")[0]
            if second.rpartition(".")[0] != parent:
                raise ValueError(f"{layer.name}: expected two FCs of one SE module in the "
                                 f"reference, got {module_name!r} and {second!r}.")
            pairs.append((layer, parent))
        else:
            pairs.append((layer, module_name))
    return pairs


def _se_paths(prefix, modules):
    """The reference's SE FC names: fc1/fc2 (timm, Cadene, torchvision) or conv_reduce/expand."""
    for first, second in (("fc1", "fc2"), ("conv_reduce", "conv_expand")):
        if f"{prefix}.{first}" in modules:
            return first, second
    raise ValueError(f"{prefix}: no squeeze-excitation FCs found in the reference.")


def assign(model, reference, rules):
    """Copies the reference's state dict onto ``model``; refuses unmapped or unused tensors.

    ``rules`` is a list of (our layer name pattern, reference module path) rules, or
    ``"execution_order"`` to pair layers with the reference's modules in forward order."""
    state = {k: v.detach().cpu().numpy() for k, v in reference.state_dict().items()}
    modules = dict(reference.named_modules())
    unused = {k for k in state if not k.endswith("num_batches_tracked")}
    for layer, prefix in _module_prefixes(model, reference, rules):
        tensors = _layer_tensors(layer, prefix, modules)
        if len(tensors) != len(layer.weights):
            raise ValueError(f"{layer.name}: {len(layer.weights)} weights, {len(tensors)} mapped.")
        values = []
        for (torch_key, convert), weight in zip(tensors, layer.weights):
            if torch_key not in state:
                raise ValueError(f"{layer.name}: the reference has no tensor {torch_key!r}.")
            if torch_key not in unused:
                raise ValueError(f"{layer.name}: reference tensor {torch_key!r} used twice.")
            value = convert(state[torch_key]) if convert else state[torch_key]
            if tuple(value.shape) != tuple(weight.shape):
                raise ValueError(f"{layer.name}: {torch_key} has shape {value.shape}, "
                                 f"ours {tuple(weight.shape)}.")
            values.append(value)
            unused.discard(torch_key)
        layer.set_weights(values)
    if unused:
        raise ValueError(f"Reference tensors not used by any layer: {sorted(unused)[:10]}"
                         f"{' ...' if len(unused) > 10 else ''} ({len(unused)} in all).")


def _height_width(size):
    """``size`` (a square's side, or None for any) or ``(height, width)`` -> ``(height,
    width)``."""
    if size is None:
        return None, None
    return (int(size), int(size)) if np.ndim(size) == 0 else tuple(int(s) for s in size)


def compare(model, reference, size=64, batch=2, seed=0):
    """Max |logit difference| / max |reference logit| on random inputs (eval mode) of ``size``
    (a side, or ``(height, width)``), computed in the model's dtype (float64 models are
    compared with a float64 reference)."""
    torch = _import_torch()
    input_dtype = model.inputs[0].dtype
    dtype = "float64" if getattr(input_dtype, "name", input_dtype) == "float64" else "float32"
    x = np.random.default_rng(seed).standard_normal(
        (batch, *_height_width(size), 3)).astype(dtype)
    reference = reference.double() if dtype == "float64" else reference
    with torch.no_grad():
        # contiguous NCHW: a channels-last view would break references that .view() the map
        expected = reference(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
        expected = expected.numpy()
    actual = model(x, training=False)
    if isinstance(actual, (list, tuple)):  # auxiliary classifiers follow the main output
        actual = actual[0]
    actual = np.asarray(actual)
    scale = max(1e-12, float(np.abs(expected).max()))
    return float(np.abs(actual - expected).max() / scale), float(np.abs(expected).max())


def randomize_normalization(reference, seed=0):
    """Gives every BatchNorm of a randomly initialised reference random statistics and affine
    parameters, so that a parity check sees every tensor (timm zero-initialises the last norm
    of each residual branch, which would hide that whole branch)."""
    torch = _import_torch()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                module.weight.copy_(0.5 + torch.rand(n, generator=generator))
                module.bias.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
    return reference


class float64_models:
    """Builds models in float64 inside the block (both Keras worlds); parity checks use it
    because rounding differences grow through a deep randomly initialised network."""

    def __enter__(self):
        self._saved = (keras.mixed_precision.global_policy(), keras.backend.floatx())
        keras.backend.set_floatx("float64")
        keras.mixed_precision.set_global_policy("float64")
        return self

    def __exit__(self, *exc):
        keras.mixed_precision.set_global_policy(self._saved[0])
        keras.backend.set_floatx(self._saved[1])


def build_ported(model_name, source=None, pretrained=False, input_size=None, randomize=False):
    """(our model with the reference's weights, the reference, the mapping) without saving;
    ``input_size`` is a side or ``(height, width)``.

    ``randomize`` (random-init references only) randomises the reference's normalisation
    parameters first, as parity tests want."""
    spec = get_spec(model_name)
    mapping = mapping_for(spec.name)
    if source is not None and parse_source(source)[:2] != parse_source(mapping.source)[:2]:
        raise ValueError(
            f"{spec.name} ports from {mapping.source.split('.')[0]}; got `source`={source!r}.")
    source = source or mapping.source
    input_size = input_size or mapping.input_size
    reference = create_reference(source, pretrained=pretrained)
    if randomize and not pretrained:
        randomize_normalization(reference)
    classes = int(getattr(reference, "num_classes", 1000))
    model = spec.builder(input_shape=(*_height_width(input_size), 3), classes=classes,
                         classifier_activation=None,
                         name=spec.name, **mapping.model_kwargs)
    assign(model, reference, mapping.rules)
    return model, reference, dataclasses.replace(mapping, source=source)


def _download_failed(source, exc):
    library = parse_source(source)[0]
    caches = {"timm": "$HF_HOME (Hugging Face hub cache)"}.get(library, "$TORCH_HOME/hub")
    return ValueError(
        f"pretrained weights for {source} come from {library}'s own download, which failed "
        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no message'}). "
        f"Offline: copy the library's weight file into {caches} on this machine and port "
        f"again, or port a randomly initialised reference with --random-init (tag "
        f"{store.RANDOM_INIT_TAG!r}: for checks, not pretrained).")


def port(model_name, source=None, *, tag=None, pretrained=True, directory=None,
         check_size=64):
    """Ports reference weights onto ``model_name`` and saves them as a named weight set.

    Writes ``<model>.<tag>.weights.h5`` and the ``.json`` sidecar into ``directory`` (the
    local Keras cache by default, where ``weights=tag`` finds them) and returns the sidecar.
    ``tag`` defaults to ``"imagenet"`` for pretrained weights and to ``"random-init"`` for a
    randomly initialised reference (``pretrained=False``), which may not be saved as
    ``"imagenet"``.
    """
    if tag is None:
        tag = store.PRETRAINED_TAG if pretrained else store.RANDOM_INIT_TAG
    if not store.is_named(tag):
        raise ValueError(f"`tag` must be a simple name such as 'imagenet'; got {tag!r}.")
    if not pretrained and tag == store.PRETRAINED_TAG:
        raise ValueError(f"`tag`={tag!r} names pretrained weights; a randomly initialised "
                         f"reference is saved under another tag (default "
                         f"{store.RANDOM_INIT_TAG!r}).")
    spec = get_spec(model_name)
    try:
        model, reference, mapping = build_ported(spec.name, source, pretrained=pretrained)
    except OSError as exc:  # URLError, requests' ConnectionError, socket.gaierror, ...
        if not pretrained:
            raise
        raise _download_failed(source or mapping_for(spec.name).source, exc) from None
    # e.g. Xception's minimum 67; AlexNet's flattening classifier fixes the size (224)
    check_size = mapping.input_size or max(int(check_size), spec.min_size)
    difference, scale = compare(model, reference, size=check_size)
    if difference > 1e-4:
        raise ValueError(f"Ported {spec.name} differs from {mapping.source} by {difference:.2e} "
                         f"of the logit scale; refusing to save.")
    directory = directory or store.cache_dir()
    os.makedirs(directory, exist_ok=True)
    weights_path, sidecar_path = store.paths(spec.name, tag, directory)
    model.save_weights(weights_path)
    record = {
        "model": spec.name, "tag": tag, "source": mapping.source,
        "source_tag": source_tag(mapping.source, reference, pretrained), "pretrained": pretrained,
        "license": reference_license(mapping.source), "sha256": store.sha256(weights_path),
        "mapping_version": store.MAPPING_VERSION, "model_kwargs": mapping.model_kwargs,
        "classes": int(model.outputs[0].shape[-1]),
        "max_logit_difference": difference, "logit_scale": scale, "check_size": check_size,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with open(sidecar_path, "w") as f:
        json.dump(record, f, indent=2)
    return dict(record, path=weights_path)
