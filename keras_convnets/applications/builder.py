"""Plumbing every family's builder shares: argument checks, the input, the layer vocabulary
(convolution with PyTorch-compatible padding, normalisation, activations, pooling), the
classification head, naming and weight loading.

A family module describes its body as a function ``body(ctx, x) -> x`` written with the
:class:`BuildContext` helpers and hands it to :func:`build_model`.
"""

import os

from ..backend import keras
from ..layers import DropPath, GroupConv2D, SEBlock
from ..layers.padded_max_pool import PaddedMaxPool2D
from ..layers.normalization import check_norm, normalization
from ..registry import get_spec
from ..utils import check_choice, check_positive_int, check_rate

POOLINGS = (None, "avg", "max")
#: He-style initialisation (fan-out, as torchvision's ResNets): keeps activations well scaled
#: when training from scratch.
CONV_INITIALIZER = {"class_name": "VarianceScaling",
                    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}


class BuildContext:
    """Creates layers named ``<model name>_<layer name>`` with the model's shared options."""

    def __init__(self, prefix, norm="batch", bn_epsilon=1e-5, bn_momentum=0.9):
        self.prefix = prefix
        self.norm_kind = check_norm(norm)
        self.bn_epsilon = bn_epsilon
        self.bn_momentum = bn_momentum

    def name(self, suffix):
        return self.prefix + suffix

    # -- convolutions ------------------------------------------------------------------------
    def conv(self, x, filters, kernel_size, name, strides=1, groups=1, use_bias=False,
             dilation_rate=1):
        """A convolution padded like PyTorch's ``padding=k // 2``.

        Keras' ``"same"`` padding with stride 2 pads only the bottom/right; explicit symmetric
        zero-padding keeps the arithmetic identical to the reference implementations (and so
        ported weights give identical outputs).
        """
        pad = dilation_rate * (kernel_size - 1) // 2
        padding = "same"
        if strides > 1 and pad:
            x = keras.layers.ZeroPadding2D(pad, name=self.name(name + "_pad"))(x)
            padding = "valid"
        if groups == 1:
            layer = keras.layers.Conv2D(
                filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                dilation_rate=dilation_rate, kernel_initializer=CONV_INITIALIZER,
                name=self.name(name))
        else:
            layer = GroupConv2D(
                filters, kernel_size, strides=strides, padding=padding, groups=groups,
                use_bias=use_bias, dilation_rate=dilation_rate,
                kernel_initializer=CONV_INITIALIZER, name=self.name(name))
        return layer(x)

    def depthwise_conv(self, x, kernel_size, name, strides=1, depth_multiplier=1,
                       dilation_rate=1, use_bias=False):
        """A depthwise convolution padded like PyTorch's ``padding=k // 2`` (see :meth:`conv`)."""
        pad = dilation_rate * (kernel_size - 1) // 2
        padding = "same"
        if strides > 1 and pad:
            x = keras.layers.ZeroPadding2D(pad, name=self.name(name + "_pad"))(x)
            padding = "valid"
        return keras.layers.DepthwiseConv2D(
            kernel_size, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
            dilation_rate=dilation_rate, use_bias=use_bias,
            depthwise_initializer=CONV_INITIALIZER, name=self.name(name))(x)

    def norm(self, x, name, zero_init=False):
        layer = normalization(self.norm_kind, int(x.shape[-1]), self.name(name),
                              epsilon=self.bn_epsilon, momentum=self.bn_momentum,
                              zero_init=zero_init)
        return layer(x)

    def relu(self, x, name):
        return keras.layers.ReLU(name=self.name(name))(x)

    def conv_norm_act(self, x, filters, kernel_size, name, strides=1, groups=1, act=True,
                      zero_init=False, suffix=""):
        """conv -> norm -> ReLU, named ``<name>_conv<suffix>``, ``_bn<suffix>``, ``_relu<suffix>``."""
        x = self.conv(x, filters, kernel_size, f"{name}_conv{suffix}", strides=strides,
                      groups=groups)
        x = self.norm(x, f"{name}_bn{suffix}", zero_init=zero_init)
        return self.relu(x, f"{name}_relu{suffix}") if act else x

    # -- pooling -----------------------------------------------------------------------------
    def max_pool(self, x, name, pool_size=3, strides=2, ceil_mode=False, signed=False):
        """Max pooling padded like PyTorch. On a non-negative (post-ReLU) map zero padding
        equals PyTorch's -inf padding and is cheapest; ``signed`` maps pad with -inf instead.

        ``ceil_mode`` reproduces Caffe's (and PyTorch's ``ceil_mode=True``) unpadded pooling,
        which rounds the output size up.
        """
        if signed:
            return PaddedMaxPool2D(pool_size, strides, pool_size // 2, name=self.name(name))(x)
        pad = ((0, 1), (0, 1)) if ceil_mode else pool_size // 2
        x = keras.layers.ZeroPadding2D(pad, name=self.name(name + "_pad"))(x)
        return keras.layers.MaxPooling2D(pool_size, strides, name=self.name(name))(x)

    def avg_pool_padded(self, x, name, pool_size=3, strides=1):
        """Average pooling whose zero padding counts in the mean (PyTorch's default)."""
        x = keras.layers.ZeroPadding2D(pool_size // 2, name=self.name(name + "_pad"))(x)
        return keras.layers.AveragePooling2D(pool_size, strides, name=self.name(name))(x)

    # -- blocks ------------------------------------------------------------------------------
    def se(self, x, name, reduction=16, **kwargs):
        return SEBlock(reduction=reduction, name=self.name(name), **kwargs)(x)

    def drop_path(self, x, rate, name):
        return DropPath(rate, name=self.name(name))(x) if rate > 0 else x

    def add(self, tensors, name):
        return keras.layers.Add(name=self.name(name))(tensors)


def _unique_model_name(base):
    # 1 for the first model of this name since the last clear_session(), then 2, 3, ...
    uid = keras.backend.get_uid("keras_convnets/" + base)
    return base if uid == 1 else f"{base}_{uid - 1}"


def _check_weights(weights):
    if weights is None:
        return None
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str):
        raise ValueError(f"`weights` must be None or the path to a weights file; got {weights!r}.")
    if os.path.isfile(weights):
        return weights
    raise ValueError(
        f"`weights`: no weights file at {weights!r}; `weights` must be None, the path to a "
        f"weights file, or the tag of a ported weight set such as 'imagenet'.")


def _check_input_shape(spec, input_shape, include_top):
    if input_shape is None:
        size = spec.default_size if include_top else None
        return (size, size, 3)
    try:
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"`input_shape` must be a (height, width, channels) tuple; got {input_shape!r}."
        ) from None
    if len(input_shape) != 3:
        raise ValueError(
            f"`input_shape` must be (height, width, channels), channels last; got {input_shape!r}.")
    height, width, channels = input_shape
    if channels is None or channels < 1:
        raise ValueError(f"`input_shape` needs a positive channel count; got {input_shape!r}.")
    for axis, size in (("height", height), ("width", width)):
        if size is not None and size < spec.min_size:
            raise ValueError(
                f"`input_shape` {axis} {size} is below the minimum of {spec.min_size} for "
                f"{spec.name}; got input_shape={input_shape!r}.")
    return input_shape


def _resolve_input(spec, input_tensor, input_shape, include_top):
    if input_tensor is None:
        shape = _check_input_shape(spec, input_shape, include_top)
        return keras.Input(shape=shape), None
    shape = getattr(input_tensor, "shape", None)
    if shape is None or len(shape) != 4:
        raise ValueError(
            f"`input_tensor` must be a 4-D (batch, height, width, channels) tensor; got "
            f"{'shape ' + str(tuple(shape)) if shape is not None else type(input_tensor).__name__}.")
    tensor_shape = _check_input_shape(spec, tuple(shape)[1:], include_top)
    if input_shape is not None and tuple(input_shape) != tensor_shape:
        raise ValueError(
            f"`input_shape` {tuple(input_shape)} does not match `input_tensor`'s shape "
            f"{tensor_shape}.")
    if not keras.backend.is_keras_tensor(input_tensor):
        input_tensor = keras.Input(tensor=input_tensor, shape=tensor_shape)
    return input_tensor, input_tensor


def build_model(model_name, body, *, include_top=True, weights=None, input_tensor=None,
                input_shape=None, pooling=None, classes=1000, classifier_activation="softmax",
                name=None, drop_rate=0.0, norm="batch", bn_epsilon=1e-5, bn_momentum=0.9,
                pre_logits=None, global_pool=None, **unexpected):
    """Builds the registered model ``model_name`` around ``body(ctx, x) -> features``.

    ``pre_logits(ctx, pooled) -> x``, where given, adds layers between the classifier's global
    pooling and its dropout (MobileNetV3's 1280-wide hidden layer); it is part of the top.
    ``global_pool(ctx, features) -> x`` replaces the classifier's global average pooling
    (AlexNet flattens its last map into fc6); ``pooling=`` without the top is unaffected.
    """
    spec = get_spec(model_name)
    if unexpected:
        raise TypeError(
            f"{spec.builder.__name__}() got unexpected argument(s): "
            f"{', '.join(sorted(unexpected))}.")
    weights = _check_weights(weights)
    check_choice("pooling", pooling, POOLINGS)
    if include_top and pooling is not None:
        raise ValueError(
            f"`pooling`={pooling!r} applies only with include_top=False; the classification "
            f"head already pools globally.")
    if include_top:
        check_positive_int("classes", classes)
        try:
            keras.activations.get(classifier_activation)
        except (ValueError, TypeError):
            raise ValueError(
                f"`classifier_activation` must be None or a Keras activation; got "
                f"{classifier_activation!r}.") from None
    drop_rate = check_rate("drop_rate", drop_rate)
    if name is None:
        name = _unique_model_name(spec.name)
    elif not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string; got {name!r}.")

    inputs, user_tensor = _resolve_input(spec, input_tensor, input_shape, include_top)
    ctx = BuildContext(name + "_", norm=norm, bn_epsilon=bn_epsilon, bn_momentum=bn_momentum)
    x = body(ctx, inputs)

    if include_top:
        if global_pool is None:
            x = keras.layers.GlobalAveragePooling2D(name=ctx.name("avg_pool"))(x)
        else:
            x = global_pool(ctx, x)
        if pre_logits is not None:
            x = pre_logits(ctx, x)
        if drop_rate:
            x = keras.layers.Dropout(drop_rate, name=ctx.name("head_dropout"))(x)
        x = keras.layers.Dense(classes, name=ctx.name("logits"))(x)
        # float32 probabilities even under a mixed-precision policy.
        x = keras.layers.Activation(classifier_activation, dtype="float32",
                                    name=ctx.name("predictions"))(x)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name=ctx.name("avg_pool"))(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name=ctx.name("max_pool"))(x)

    model_inputs = inputs
    if user_tensor is not None:
        sources = keras.utils.get_source_inputs(user_tensor)
        model_inputs = sources[0] if len(sources) == 1 else sources
    model = keras.Model(model_inputs, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model
