"""The input preprocessing an exported model applies inside its graph.

Our models contain no preprocessing layer: they take float32 images prepared by the data
pipeline. ``keras_convnets.data`` scales every source to [0, 1] (pixel / 255); recipes with
``normalize="imagenet"`` (the ImageNet recipes) then subtract ImageNet's mean and divide by its
standard deviation, which is also what the timm / torchvision weights ported by
``keras-convnets port`` expect. A serving signature that takes uint8 pixels must repeat that
step, so it is an explicit choice:

- ``"unit"`` (the default): ``pixel / 255`` -- what ``keras-convnets train`` with its default
  digits recipe, and every recipe without ``normalize``, trains on;
- ``"imagenet"``: ``(pixel / 255 - mean) / std`` with ImageNet's mean and std -- recipes with
  ``normalize="imagenet"`` and ported ImageNet weights;
- ``"inception"``: ``pixel / 127.5 - 1``, i.e. mean = std = 0.5 (Inception-style weights such
  as timm's ``legacy_xception``);
- ``"none"``: the raw pixel values as float32 in [0, 255];
- a dict ``{"mean": (r, g, b), "std": (r, g, b)}``: ``(pixel / 255 - mean) / std``.
"""

import numbers

from ..data import IMAGENET_MEAN, IMAGENET_STD

#: The named preprocessing choices, default first.
PREPROCESSINGS = ("unit", "imagenet", "inception", "none")
DEFAULT_PREPROCESSING = "unit"


def resolve(preprocessing):
    """Validates ``preprocessing``; returns ``{"name", "scale", "mean", "std"}``: the graph
    computes ``(pixel * scale - mean) / std`` per channel."""
    if isinstance(preprocessing, str):
        if preprocessing == "unit":
            return {"name": "unit", "scale": 1 / 255, "mean": [0.0] * 3, "std": [1.0] * 3}
        if preprocessing == "imagenet":
            return {"name": "imagenet", "scale": 1 / 255, "mean": list(IMAGENET_MEAN),
                    "std": list(IMAGENET_STD)}
        if preprocessing == "inception":
            return {"name": "inception", "scale": 1 / 255, "mean": [0.5] * 3, "std": [0.5] * 3}
        if preprocessing == "none":
            return {"name": "none", "scale": 1.0, "mean": [0.0] * 3, "std": [1.0] * 3}
    elif isinstance(preprocessing, dict) and set(preprocessing) == {"mean", "std"}:
        mean, std = (_three_numbers(preprocessing, key) for key in ("mean", "std"))
        if min(std) <= 0:
            raise ValueError(f"`preprocessing` std must be positive; got {std}.")
        return {"name": "custom", "scale": 1 / 255, "mean": mean, "std": std}
    raise ValueError(
        f"`preprocessing` must be one of {', '.join(repr(p) for p in PREPROCESSINGS)} or a dict "
        f"{{'mean': (r, g, b), 'std': (r, g, b)}} in [0, 1] units; got {preprocessing!r}.")


def _three_numbers(preprocessing, key):
    values = preprocessing[key]
    if isinstance(values, numbers.Real):
        values = (values,) * 3
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError):
        values = None
    if values is None or len(values) != 3:
        raise ValueError(f"`preprocessing` {key!r} must be a number or 3 numbers (r, g, b); got "
                         f"{preprocessing[key]!r}.")
    return values


def apply(images, resolved):
    """``images``: float32 pixels in [0, 255] (a tensor); returns the model's input."""
    from ..backend import tf

    images = images * resolved["scale"]
    if any(resolved["mean"]) or any(s != 1.0 for s in resolved["std"]):
        images = (images - tf.constant(resolved["mean"], tf.float32)) / tf.constant(
            resolved["std"], tf.float32)
    return images


__all__ = ["PREPROCESSINGS", "DEFAULT_PREPROCESSING", "resolve", "apply"]
