"""SavedModel export in TensorFlow Serving's layout, with a uint8 serving signature.

>>> kc.export.saved_model(model, "serving", version=1)       # serving/<model name>/1/
'serving/resnet50/1'

The directory ``<base_dir>/<name>/<version>/`` is what ``tensorflow/serving`` loads with
``--model_base_path=<base_dir>/<name>`` (the newest numeric version is served). Two signatures:

- ``serving_default``: ``images``, uint8 ``[batch, height, width, 3]`` of any size (one size per
  request). The graph resizes them (bilinear) to the model's input size, applies the model's
  preprocessing (see :mod:`keras_convnets.export.preprocessing`) and returns ``probabilities``
  ``[batch, classes]`` float32, ``top_k_classes`` ``[batch, k]`` int64 (best first) and
  ``top_k_scores`` ``[batch, k]`` float32.
- ``predict_raw``: ``images``, float32 ``[batch, H, W, C]`` at the model's size, already
  preprocessed; the same three outputs.

A model whose classifier has no activation (``classifier_activation=None``: logits) gets a
softmax in the graph, so ``probabilities`` are always probabilities; sigmoid and softmax
outputs are returned as they are. The version is written under a temporary name and renamed
when complete, so a server watching ``<base_dir>/<name>`` never sees half a model. What was
exported (input size, preprocessing, classes, Keras version) is recorded in
``assets.extra/keras_convnets.json``, where TF Serving ignores it.
"""

import json
import os
import re
import shutil
import tempfile

from ..applications import inference_model
from ..backend import describe, keras, tf
from ..utils import check_positive_int
from . import preprocessing as _preprocessing

SERVING_SIGNATURE = "serving_default"
RAW_SIGNATURE = "predict_raw"
OUTPUTS = ("probabilities", "top_k_classes", "top_k_scores")
METADATA = os.path.join("assets.extra", "keras_convnets.json")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_classifier(model):
    """Raises a ValueError unless ``model`` is a single-input image classifier; returns
    ``(height, width, channels, classes)`` of its input (height/width may be None)."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a Keras model ({keras.__name__}.Model); got "
                         f"{type(model).__name__}.")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"`model` must have one input and one output; {model.name} has "
                         f"{len(model.inputs)} and {len(model.outputs)}.")
    in_shape, out_shape = tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)
    if len(in_shape) != 4:
        raise ValueError(f"`model` must take image batches (batch, height, width, channels); "
                         f"{model.name} takes {in_shape}.")
    if len(out_shape) != 2 or out_shape[1] is None:
        raise ValueError(
            f"`model` must be a classifier with outputs (batch, classes); {model.name} returns "
            f"{out_shape} (a model built with include_top=False has no classes to serve).")
    last = type(model.layers[-1]).__name__
    if last.startswith(("GlobalAveragePooling", "GlobalMaxPooling")):
        raise ValueError(
            f"`model` must be a classifier; {model.name} ends in a {last} layer: pooled "
            f"features (include_top=False), not class scores.")
    return in_shape[1], in_shape[2], in_shape[3], int(out_shape[1])


def _image_size(model, image_size, height, width):
    if image_size is None:
        if height is None or width is None:
            raise ValueError(
                f"`image_size` is needed: {model.name} takes images of any size "
                f"{(height, width)}; pass image_size=N or (height, width) to serve at.")
        return int(height), int(width)
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        size = (image_size, image_size)
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        size = tuple(image_size)
    else:
        size = None
    if size is None or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size):
        raise ValueError(f"`image_size` must be None, a positive int or (height, width); got "
                         f"{image_size!r}.")
    if (height is not None and height != size[0]) or (width is not None and width != size[1]):
        raise ValueError(f"`image_size` {image_size!r} differs from {model.name}'s fixed input "
                         f"size {height}x{width}; leave image_size=None or rebuild the model.")
    return size


def _needs_softmax(model):
    """True when the output layer applies no activation (logits)."""
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", None) == "linear"


def _tf_variables(model):
    # Keras 3 wraps each tf.Variable (``.value``); legacy Keras variables are tf.Variables.
    return [v if isinstance(v, tf.Variable) else v.value for v in model.variables]


def _serving_module(model, size, channels, top_k, resolved, softmax):
    module = tf.Module()
    # Tracking the variables (not the Keras model) saves exactly what the functions capture.
    module.model_variables = _tf_variables(model)
    dtype = model.inputs[0].dtype
    dtype = dtype if isinstance(dtype, tf.DType) else tf.as_dtype(dtype)

    def outputs(images):
        scores = tf.cast(model(tf.cast(images, dtype), training=False), tf.float32)
        if softmax:
            scores = tf.nn.softmax(scores, axis=-1)
        best = tf.math.top_k(scores, k=top_k)
        return {"probabilities": scores, "top_k_classes": tf.cast(best.indices, tf.int64),
                "top_k_scores": best.values}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, "images")])
    def serve(images):
        resized = tf.image.resize(images, size, method="bilinear")  # float32 in [0, 255]
        return outputs(_preprocessing.apply(resized, resolved))

    @tf.function(input_signature=[
        tf.TensorSpec([None, size[0], size[1], channels], tf.float32, "images")])
    def predict_raw(images):
        return outputs(images)

    module.serve, module.predict_raw = serve, predict_raw
    return module


def saved_model(model, base_dir, *, name=None, version=1, top_k=5, image_size=None,
                preprocessing=_preprocessing.DEFAULT_PREPROCESSING, overwrite=False):
    """Exports ``model`` for TensorFlow Serving to ``<base_dir>/<name>/<version>/``.

    Args:
        model: a single-input classifier (Keras 3 or legacy Keras), e.g. any registry model
            with ``include_top=True``; auxiliary classifiers (``aux_logits=True``) are left out.
        base_dir: the model base directory (created if missing).
        name: the served model name (default: ``model.name``); letters, digits, ``_.-``.
        version: positive integer version directory.
        top_k: how many best classes ``top_k_classes``/``top_k_scores`` return (at most the
            number of classes).
        image_size: the size the serving graph resizes to, an int or ``(height, width)``;
            needed only when the model takes any size.
        preprocessing: ``"unit"`` (pixel / 255, the default: what ``keras-convnets train``
            trains on), ``"imagenet"`` (ImageNet mean/std: the ImageNet recipes and ported
            weights), ``"inception"`` ([-1, 1]), ``"none"`` (raw 0-255) or
            ``{"mean": ..., "std": ...}``; see :mod:`keras_convnets.export.preprocessing`.
        overwrite: replace an existing version directory instead of refusing.

    Returns:
        The version directory's path (str).
    """
    model = inference_model(model)  # auxiliary classifiers are for training only
    height, width, channels, classes = check_classifier(model)
    if channels != 3:
        raise ValueError(f"`model` must take RGB images (3 channels) to serve uint8 RGB "
                         f"images; {model.name} takes {channels}.")
    size = _image_size(model, image_size, height, width)
    check_positive_int("version", version)
    check_positive_int("top_k", top_k)
    if top_k > classes:
        raise ValueError(f"`top_k` must be at most the number of classes ({classes}); got "
                         f"{top_k}.")
    resolved = _preprocessing.resolve(preprocessing)
    name = model.name if name is None else name
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"`name` must be a model name of letters, digits, '_', '.' and '-' "
                         f"(no path separators); got {name!r}.")
    if not isinstance(base_dir, (str, os.PathLike)) or not os.fspath(base_dir):
        raise ValueError(f"`base_dir` must be a directory path; got {base_dir!r}.")
    model_dir = os.path.join(os.fspath(base_dir), name)
    target = os.path.join(model_dir, str(version))
    if os.path.exists(target) and not overwrite:
        raise ValueError(f"`version` {version} already exists at {target}; pass overwrite=True "
                         f"(CLI: --overwrite) to replace it, or export a new version.")
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise ValueError(f"`base_dir`/`name`: {model_dir} exists and is not a directory.")
    os.makedirs(model_dir, exist_ok=True)

    softmax = _needs_softmax(model)
    module = _serving_module(model, size, channels, top_k, resolved, softmax)
    # A non-numeric temporary name: TF Serving only loads numeric version directories.
    staging = tempfile.mkdtemp(prefix=f".{version}.partial-", dir=model_dir)
    try:
        tf.saved_model.save(module, staging, signatures={
            SERVING_SIGNATURE: module.serve.get_concrete_function(),
            RAW_SIGNATURE: module.predict_raw.get_concrete_function()})
        metadata = {
            "model": model.name, "name": name, "version": version,
            "input_size": list(size), "channels": channels, "classes": classes,
            "top_k": top_k, "preprocessing": resolved, "softmax_added": softmax,
            "resize": "bilinear",
            "signatures": {
                SERVING_SIGNATURE: {"images": "uint8 [batch, height, width, 3], any size",
                                    "outputs": list(OUTPUTS)},
                RAW_SIGNATURE: {"images": f"float32 [batch, {size[0]}, {size[1]}, {channels}]"
                                          f", preprocessed", "outputs": list(OUTPUTS)}},
            "keras": describe(),
        }
        os.makedirs(os.path.join(staging, "assets.extra"), exist_ok=True)
        with open(os.path.join(staging, METADATA), "w") as f:
            json.dump(metadata, f, indent=2)
        os.chmod(staging, 0o755)  # mkdtemp makes it private
        if os.path.exists(target):
            shutil.rmtree(target)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def read_metadata(version_dir):
    """The ``assets.extra/keras_convnets.json`` record of an exported version directory."""
    with open(os.path.join(os.fspath(version_dir), METADATA)) as f:
        return json.load(f)


__all__ = ["saved_model", "read_metadata", "check_classifier", "SERVING_SIGNATURE",
           "RAW_SIGNATURE", "OUTPUTS"]
