"""Spatial Transformer: a localisation net predicts an affine map; the input is resampled by it.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu. "Spatial Transformer Networks", NIPS 2015,
arXiv:1506.02025, Sec. 3 and Fig. 2. Three parts:

1. Localisation network (Sec. 3.1): any form, "such as a fully-connected network or a
   convolutional network", ending in "a final regression layer to produce the transformation
   parameters theta" (6 for an affine map).
2. Grid generator (Sec. 3.2, Eq. 1): for every point of a regular output grid, in normalised
   coordinates ``-1 <= x_t, y_t <= 1`` (the extreme pixel centres),
   ``(x_s, y_s) = [[t11, t12, t13], [t21, t22, t23]] (x_t, y_t, 1)``.
3. Sampler (Sec. 3.3, Eq. 5): bilinear interpolation of the input at ``(x_s, y_s)``, zero
   outside; differentiable in the input and in theta.

The regression layer starts at the identity transform (zero kernel, bias ``(1, 0, 0, 0, 1,
0)``), as the paper's experiments initialise it, so an untrained transformer returns its
input. With the output size equal to the input's the identity reproduces the input *exactly*:
the grid is computed in input pixels as ``centre + t11 * u * (W - 1) / (Wo - 1) + ...`` with
``u`` the offset from the output centre, which for ``t = identity`` is the integer pixel grid
without rounding (normalised coordinates would round).

``theta`` is ``(t11, t12, t13, t21, t22, t23)``, ``x`` the column and ``y`` the row
coordinate, as in the paper's Eq. (1).
"""

import math

import numpy as np

from ..backend import keras, register_serializable, tf
from ..utils import check_positive_int
from .bilinear import bilinear_sample

#: The identity affine transform, as the regression layer's initial bias.
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def affine_grid_sample(images, theta, output_size=None):
    """Samples ``images`` (N, H, W, C) on the affine grid of ``theta`` (N, 6) (Eq. 1 and 5).

    ``output_size``: (Ho, Wo) of the output grid; default the input's size (which needs the
    input's spatial size known). Returns (N, Ho, Wo, C).
    """
    height, width = images.shape[1], images.shape[2]
    if output_size is None:
        if height is None or width is None:
            raise ValueError("affine_grid_sample needs `output_size` where the input's spatial "
                             "size is unknown.")
        output_size = (int(height), int(width))
    out_h, out_w = output_size
    dtype = images.dtype
    if height is None or width is None:
        shape = tf.shape(images)
        height, width = tf.cast(shape[1], "float64"), tf.cast(shape[2], "float64")
    u = np.arange(out_w, dtype="float64") - (out_w - 1) / 2   # columns from the centre
    v = np.arange(out_h, dtype="float64") - (out_h - 1) / 2   # rows from the centre

    def axis_terms(size):
        """Pixel coordinates (centre, per-u factor, per-v factor, per-1 factor) of an input
        axis of ``size`` pixels: normalised -1..1 maps to 0..size-1."""
        half = (size - 1) / 2
        per_u = (size - 1) / (out_w - 1) if out_w > 1 else 0 * size
        per_v = (size - 1) / (out_h - 1) if out_h > 1 else 0 * size
        return [tf.cast(t, dtype) for t in (half, per_u, per_v, half)]

    theta = tf.cast(theta, dtype)
    t = [theta[:, i][:, None, None] for i in range(6)]
    u = tf.constant(u[None, None, :], dtype)
    v = tf.constant(v[None, :, None], dtype)
    cx, xu, xv, x1 = axis_terms(width)
    cy, yu, yv, y1 = axis_terms(height)
    x = cx + (t[0] * (u * xu) + t[1] * (v * xv) + t[2] * x1)
    y = cy + (t[3] * (u * yu) + t[4] * (v * yv) + t[5] * y1)
    return bilinear_sample(images, y + tf.zeros_like(x), x + tf.zeros_like(y))


def default_localization():
    """A small convolutional localisation net (the paper's differ per experiment): two 3x3
    conv + ReLU + 2x2 max-pool stages (8 and 16 filters) and a 32-unit ReLU dense layer."""
    layers = keras.layers
    return [layers.Conv2D(8, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
            layers.Flatten(), layers.Dense(32, activation="relu")]


def _sublayer_flops(layer, in_shape, out_shape):
    """2 x multiply-adds of a localisation layer (Conv2D, Dense, or one with count_flops)."""
    if hasattr(layer, "count_flops"):
        return int(layer.count_flops(in_shape, out_shape))
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        spatial = math.prod(int(d) for d in out_shape[1:-1])
        return 2 * kh * kw * int(in_shape[-1]) // layer.groups * int(out_shape[-1]) * spatial
    if isinstance(layer, keras.layers.Dense):
        return 2 * math.prod(int(d) for d in in_shape[1:]) * layer.units
    return 0


def _serialize(layer):
    """A layer's serialised config without its build state (the transformer builds it)."""
    config = dict(keras.layers.serialize(layer))
    config.pop("build_config", None)
    return config


@register_serializable
class SpatialTransformer(keras.layers.Layer):
    """Spatial transformer (Jaderberg et al. 2015): localisation net, affine grid, bilinear
    sampler.

    Args:
        output_size: (Ho, Wo) of the output grid; default the input's spatial size.
        localization: the localisation net as a list of Keras layers applied in order (their
            output is flattened into the regression layer); default
            :func:`default_localization`. ``[]`` regresses theta from the flattened input.

    The final regression layer (``theta``, a ``Dense(6)`` starting at the identity) belongs to
    the transformer. :meth:`theta` returns the transform predicted for an input.
    """

    def __init__(self, output_size=None, localization=None, **kwargs):
        super().__init__(**kwargs)
        if output_size is not None:
            if not isinstance(output_size, (list, tuple)) or len(output_size) != 2:
                raise ValueError(f"`output_size` must be None or (height, width); got "
                                 f"{output_size!r}.")
            output_size = tuple(check_positive_int("output_size", d) for d in output_size)
        self.output_size = output_size
        self._default_localization = localization is None
        if localization is None:
            localization = default_localization()
        if not isinstance(localization, (list, tuple)):
            raise ValueError(f"`localization` must be None or a list of Keras layers; got "
                             f"{type(localization).__name__}.")
        layers = []
        for item in localization:
            if isinstance(item, dict):
                item = keras.layers.deserialize(item)
            if not isinstance(item, keras.layers.Layer):
                raise ValueError(f"`localization` must be None or a list of Keras layers; it "
                                 f"holds {item!r}.")
            layers.append(item)
        self.localization = layers
        self.flatten = keras.layers.Flatten()
        self.regression = keras.layers.Dense(6, kernel_initializer="zeros", name="theta")

    def _shapes(self, input_shape):
        """The input shape of every localisation layer, then of the flatten and regression."""
        shapes, shape = [], tuple(input_shape)
        for layer in self.localization + [self.flatten]:
            shapes.append(shape)
            shape = tuple(layer.compute_output_shape(shape))
        return shapes + [shape]

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if self.output_size is None and (input_shape[1] is None or input_shape[2] is None):
            raise ValueError(f"{self.name}: give `output_size` where the input's spatial size "
                             f"is unknown; input shape {input_shape}.")
        shape = input_shape
        for layer in self.localization + [self.flatten]:
            if not layer.built:
                layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        if shape[-1] is None:
            raise ValueError(f"{self.name}: the localisation net's flattened output has unknown "
                             f"size {shape}; end it with a fixed-size layer (Flatten of a known "
                             f"size, global pooling or Dense).")
        self.regression.build(shape)
        self.regression.bias.assign(np.asarray(IDENTITY, "float32"))
        super().build(input_shape)

    def theta(self, inputs):
        """The affine parameters (N, 6) the localisation net predicts for ``inputs``."""
        features = inputs
        for layer in self.localization:
            features = layer(features)
        return self.regression(self.flatten(features))

    def call(self, inputs):
        return affine_grid_sample(inputs, self.theta(inputs), self.output_size)

    def compute_output_shape(self, input_shape):
        size = self.output_size or tuple(input_shape[1:3])
        return (input_shape[0], *size, input_shape[-1])

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds of the localisation net's Conv2D / Dense layers and the regression
        layer; the grid and the bilinear sampler are not counted, like pooling."""
        shapes = self._shapes(input_shape)
        flops = sum(_sublayer_flops(layer, shapes[i], shapes[i + 1])
                    for i, layer in enumerate(self.localization))
        return flops + 2 * int(shapes[-1][-1]) * 6

    def get_config(self):
        config = super().get_config()
        config.update(
            output_size=list(self.output_size) if self.output_size else None,
            localization=None if self._default_localization else [
                _serialize(layer) for layer in self.localization])
        return config


__all__ = ["SpatialTransformer", "affine_grid_sample", "default_localization", "IDENTITY"]
