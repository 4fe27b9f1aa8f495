"""Plumbing every family's builder shares: argument checks, the input, the layer vocabulary
(convolution with PyTorch-compatible padding, normalisation, activations, pooling), the
classification head, naming and weight loading.

A family module describes its body as a function ``body(ctx, x) -> x`` written with the
:class:`BuildContext` helpers and hands it, with a :class:`Head` where the classifier is not
the default (global average pooling, dropout, a dense classifier with bias), to
:func:`build_model`.
"""

import dataclasses
import os

from ..backend import keras
from ..layers import DropPath, GroupConv2D, SEBlock
from ..layers.padded_max_pool import PaddedMaxPool2D
from ..layers.normalization import check_norm, normalization
from ..layers.weight_norm import unnormalized_convolutions, weight_normalize
from ..registry import all_specs, get_spec
from ..utils import check_bool, check_choice, check_positive_int, check_rate

POOLINGS = (None, "avg", "max")
#: ``strided_padding=``: PyTorch's symmetric ``k // 2`` (the default: ported weights give the
#: reference's outputs) or TensorFlow's ``"same"`` (bottom/right only)
STRIDED_PADDINGS = ("symmetric", "same")
#: He-style initialisation (fan-out, as torchvision's ResNets): keeps activations well scaled
#: when training from scratch.
CONV_INITIALIZER = {"class_name": "VarianceScaling",
                    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}


class BuildContext:
    """Creates layers named ``<model name>_<layer name>`` with the model's shared options."""

    def __init__(self, prefix, norm="batch", bn_epsilon=1e-5, bn_momentum=0.9,
                 aux_classes=None, aux_activation="softmax", strided_padding="symmetric"):
        self.prefix = prefix
        self.strided_padding = check_choice("strided_padding", strided_padding,
                                            STRIDED_PADDINGS)
        #: how many strided convolutions :meth:`symmetric_pad` padded (build_model refuses
        #: ``strided_padding="same"`` where it would change nothing)
        self.strided_pad_count = 0
        self.norm_kind = check_norm(norm)
        self.bn_epsilon = bn_epsilon
        self.bn_momentum = bn_momentum
        self.aux_classes = aux_classes
        self.aux_activation = aux_activation
        #: the auxiliary classifiers' outputs, in the order the body declared them
        self.aux_outputs = []
        #: how many normalisation layers :meth:`norm` made (build_model refuses a ``norm=``
        #: that a configuration without any would ignore)
        self.norm_count = 0

    def name(self, suffix):
        """The full layer name: the model's prefix and ``suffix``."""
        return self.prefix + suffix

    # -- convolutions ------------------------------------------------------------------------
    def symmetric_pad(self, x, kernel_size, strides, name, dilation_rate=1):
        """``(x, padding)`` for a convolution padded like PyTorch's ``padding=k // 2``.

        Keras' ``"same"`` padding with stride 2 pads only the bottom/right; explicit symmetric
        zero-padding (a ``<name>_pad`` layer) keeps the arithmetic identical to the reference
        implementations, so ported weights give identical outputs. At stride 1 the two agree.
        With ``strided_padding="same"`` the strided convolutions pad as TensorFlow's
        ``"same"`` instead (TF-Slim's and keras.applications' arithmetic, no pad layer).
        """
        pad = dilation_rate * (kernel_size - 1) // 2
        if strides > 1 and pad:
            self.strided_pad_count += 1
            if self.strided_padding == "same":
                return x, "same"
            return keras.layers.ZeroPadding2D(pad, name=self.name(name + "_pad"))(x), "valid"
        return x, "same"

    def conv(self, x, filters, kernel_size, name, strides=1, groups=1, use_bias=False,
             dilation_rate=1):
        """A convolution (a :class:`GroupConv2D` when ``groups > 1``) padded like PyTorch's
        ``padding=k // 2`` (see :meth:`symmetric_pad`)."""
        x, padding = self.symmetric_pad(x, kernel_size, strides, name, dilation_rate)
        layer_class = keras.layers.Conv2D if groups == 1 else GroupConv2D
        extra = {} if groups == 1 else {"groups": groups}
        return layer_class(
            filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
            dilation_rate=dilation_rate, kernel_initializer=CONV_INITIALIZER,
            name=self.name(name), **extra)(x)

    def depthwise_conv(self, x, kernel_size, name, strides=1, depth_multiplier=1,
                       dilation_rate=1, use_bias=False):
        """A depthwise convolution padded like PyTorch's ``padding=k // 2``."""
        x, padding = self.symmetric_pad(x, kernel_size, strides, name, dilation_rate)
        return keras.layers.DepthwiseConv2D(
            kernel_size, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
            dilation_rate=dilation_rate, use_bias=use_bias,
            depthwise_initializer=CONV_INITIALIZER, name=self.name(name))(x)

    def norm(self, x, name, zero_init=False):
        """The model's normalisation (``norm=``: batch, sync_batch, group, layer,
        batch_renorm, weight) over the channels of ``x``, with the family's epsilon and
        momentum; ``zero_init`` starts its scale at zero (the last norm of a residual branch,
        Goyal et al.). ``"weight"`` puts a per-channel bias here (weight normalisation's ``b``)
        and :func:`build_model` weight-normalises the convolutions."""
        self.norm_count += 1
        layer = normalization(self.norm_kind, int(x.shape[-1]), self.name(name),
                              epsilon=self.bn_epsilon, momentum=self.bn_momentum,
                              zero_init=zero_init)
        return layer(x)

    def relu(self, x, name):
        """A ReLU layer named ``name``."""
        return keras.layers.ReLU(name=self.name(name))(x)

    def conv_norm_act(self, x, filters, kernel_size, name, strides=1, groups=1, act=True,
                      zero_init=False, suffix=""):
        """conv -> norm -> ReLU, named ``<name>_conv<suffix>``, ``_bn<suffix>``,
        ``_relu<suffix>``."""
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
        """A squeeze-and-excitation block (:class:`~keras_convnets.layers.SEBlock`) on ``x``;
        ``kwargs`` go to the layer (``divisor``, ``gate``, ...)."""
        return SEBlock(reduction=reduction, name=self.name(name), **kwargs)(x)

    def drop_path(self, x, rate, name):
        """Stochastic depth on a residual branch at ``rate``; no layer at all when it is 0."""
        return DropPath(rate, name=self.name(name))(x) if rate > 0 else x

    def add(self, tensors, name):
        """The elementwise sum of ``tensors`` (a residual connection)."""
        return keras.layers.Add(name=self.name(name))(tensors)

    # -- auxiliary classifiers ---------------------------------------------------------------
    def auxiliary_classifier(self, x, name, head, drop_rate=0.0):
        """Declares an auxiliary classifier on ``x`` (GoogLeNet, Inception-v3, NASNet).

        ``head(ctx, x) -> features`` builds its hidden layers (names under ``name``); the
        classifier ``<name>_logits`` / ``<name>_predictions`` follows. Built only when the
        model is built with ``aux_logits=True`` and its top, so the inference model and the
        backbone carry none of its weights; layer names do not depend on it (weights port).
        """
        if self.aux_classes is None:
            return
        features = head(self, x)
        self.aux_outputs.append(_classifier(self, Head(), features, self.aux_classes,
                                            self.aux_activation, drop_rate, prefix=name + "_"))


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


@dataclasses.dataclass(frozen=True)
class Head:
    """The classification head ``build_model`` puts on a body, as data.

    ``pool``: ``"avg"`` (global average pooling, named ``avg_pool``) or ``"flatten"`` (the last
    map flattened, named ``flatten``: the input size must then be fixed; AlexNet, VGG).
    ``hidden(ctx, x) -> x``: layers between the pooling and the classifier's dropout (AlexNet's
    fc6-fc7, MobileNetV3's 1280-wide layer); part of the top. ``bias``: whether the classifier
    (``logits``) has a bias (the authors' ShuffleNets have none).
    """

    pool: str = "avg"
    hidden: object = None
    bias: bool = True

    def __post_init__(self):
        check_choice("Head.pool", self.pool, ("avg", "flatten"))


def fully_connected(widths, drop_rate, first=6):
    """A :class:`Head` ``hidden`` function of stacked fully-connected layers (AlexNet's and
    VGG's fc6, fc7): ``fc<first>``, ``fc<first + 1>``, ... each Dense -> ReLU, with dropout at
    ``drop_rate`` after every one but the last (build_model's own dropout follows that one)."""
    def hidden(ctx, x):
        last = first + len(widths) - 1
        for index, width in enumerate(widths, start=first):
            x = keras.layers.Dense(width, name=ctx.name(f"fc{index}"))(x)
            x = keras.layers.ReLU(name=ctx.name(f"fc{index}_relu"))(x)
            if index < last and drop_rate:
                x = keras.layers.Dropout(drop_rate, name=ctx.name(f"fc{index}_dropout"))(x)
        return x

    return hidden


def _pool_for_classifier(ctx, head, x, model_name):
    if head.pool == "avg":
        return keras.layers.GlobalAveragePooling2D(name=ctx.name("avg_pool"))(x)
    if None in tuple(x.shape[1:3]):
        raise ValueError(
            f"{model_name}: include_top=True flattens the last feature map into the classifier, "
            f"so the input size must be fixed; got input_shape with spatial dimensions "
            f"{tuple(x.shape[1:3])} at the last map. Pass input_shape=(H, W, 3) or use "
            f"include_top=False.")
    return keras.layers.Flatten(name=ctx.name("flatten"))(x)


def _classifier(ctx, head, x, classes, classifier_activation, drop_rate, prefix=""):
    if drop_rate:
        x = keras.layers.Dropout(drop_rate, name=ctx.name(prefix + "head_dropout"))(x)
    x = keras.layers.Dense(classes, use_bias=head.bias, name=ctx.name(prefix + "logits"))(x)
    # float32 probabilities even under a mixed-precision policy.
    return keras.layers.Activation(classifier_activation, dtype="float32",
                                   name=ctx.name(prefix + "predictions"))(x)


def build_model(model_name, body, *, include_top=True, weights=None, input_tensor=None,
                input_shape=None, pooling=None, classes=1000, classifier_activation="softmax",
                name=None, drop_rate=0.0, norm="batch", bn_epsilon=1e-5, bn_momentum=0.9,
                head=Head(), aux_logits=False, strided_padding="symmetric", **unexpected):
    """Builds the registered model ``model_name`` around ``body(ctx, x) -> features``.

    ``head`` (a :class:`Head`) describes the classifier on top. Auxiliary classifiers are
    declared by the body with :meth:`BuildContext.auxiliary_classifier`; with
    ``aux_logits=True`` and ``include_top=True`` the model returns ``[predictions, aux1, ...]``
    (for training: :func:`inference_model` drops them), otherwise they are not built at all.

    ``strided_padding="same"`` pads the strided convolutions that the shared builder makes as
    TensorFlow's ``"same"`` (bottom/right) instead of PyTorch's symmetric ``k // 2``: the
    arithmetic of TF-Slim and keras.applications, whose weights then give their outputs, and
    graphs without pad layers (the MobileNets' batch-1 latency in Keras 5-13% lower; TFLite
    unchanged, XNNPACK fuses the pads: BENCHMARKS.md's MobileNet notes).
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
    if check_bool("aux_logits", aux_logits) and not include_top:
        raise ValueError(
            f"`aux_logits`=True needs include_top=True: the auxiliary classifiers are part of "
            f"{spec.name}'s classification top (for training); a backbone "
            f"(include_top=False) has none.")
    if name is None:
        name = _unique_model_name(spec.name)
    elif not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string; got {name!r}.")

    inputs, user_tensor = _resolve_input(spec, input_tensor, input_shape, include_top)
    ctx = BuildContext(name + "_", norm=norm, bn_epsilon=bn_epsilon, bn_momentum=bn_momentum,
                       aux_classes=classes if include_top and aux_logits else None,
                       aux_activation=classifier_activation, strided_padding=strided_padding)
    x = body(ctx, inputs)
    if ctx.strided_padding == "same" and not ctx.strided_pad_count:
        raise ValueError(
            f"`strided_padding`='same': {spec.name} has no strided convolution padded by the "
            f"shared builder (its layers pad themselves, or none strides), so the choice would "
            f"change nothing; leave it 'symmetric'.")
    if aux_logits and not ctx.aux_outputs:
        raise ValueError(
            f"`aux_logits`=True: {spec.name} has no auxiliary classifiers; models with them: "
            f"{', '.join(s.name for s in all_specs() if s.aux_loss_weight) or 'none'}.")

    if include_top:
        x = _pool_for_classifier(ctx, head, x, spec.name)
        if head.hidden is not None:
            x = head.hidden(ctx, x)
        x = _classifier(ctx, head, x, classes, classifier_activation, drop_rate)
        if ctx.aux_outputs:
            x = [x, *ctx.aux_outputs]
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name=ctx.name("avg_pool"))(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name=ctx.name("max_pool"))(x)

    model_inputs = inputs
    if user_tensor is not None:
        sources = keras.utils.get_source_inputs(user_tensor)
        model_inputs = sources[0] if len(sources) == 1 else sources
    model = keras.Model(model_inputs, x, name=name)
    if ctx.norm_kind == "weight":
        model = _weight_normalized(model, spec.name, model_inputs if user_tensor is not None
                                   else None)
    elif ctx.norm_kind != "batch" and not ctx.norm_count:
        raise ValueError(
            f"`norm`={ctx.norm_kind!r}: {spec.name} as configured has no normalisation layers "
            f"(e.g. a paper layout without batch normalisation), so the choice would change "
            f"nothing; leave norm as 'batch' (unused), choose 'weight' (weight normalisation of "
            f"its convolutions), or a configuration with normalisation layers.")
    if weights is not None:
        from .weights import load_file  # noqa: PLC0415 - weights imports this module

        def build_source(file_classes):  # the model a file with another classifier came from
            return build_model(
                model_name, body, include_top=True, input_shape=tuple(inputs.shape[1:]),
                classes=file_classes, classifier_activation=classifier_activation,
                name=f"{name}_source", drop_rate=drop_rate, norm=norm, bn_epsilon=bn_epsilon,
                bn_momentum=bn_momentum, head=head, strided_padding=strided_padding)

        load_file(model, weights, build_source)
    return model


def _weight_normalized(model, model_name, input_tensors):
    """``norm="weight"``: the model with every convolution weight-normalised (its norm slots are
    already :class:`~keras_convnets.layers.weight_norm.ChannelBias`); refuses a model with a
    convolution it cannot reach (inside a custom layer), naming it."""
    model = weight_normalize(model, copy_weights=True, input_tensors=input_tensors)
    left = unnormalized_convolutions(model)
    if left:
        raise ValueError(
            f"`norm`='weight': {model_name} as configured has convolutions that weight "
            f"normalisation cannot reparameterise (inside custom layers, or with an activation "
            f"or layout of their own): {', '.join(left[:5])}{' ...' if len(left) > 5 else ''}; "
            f"choose another `norm`.")
    return model


def inference_model(model):
    """``model`` without its auxiliary classifiers: the same layers and weights, one output (the
    main predictions). A model without auxiliary classifiers is returned as it is."""
    outputs = getattr(model, "outputs", None)  # anything else is for the caller to refuse
    if not isinstance(outputs, (list, tuple)) or len(outputs) == 1:
        return model
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, model.outputs[0], name=model.name)


def aux_loss_weights(model, weight=None):
    """The loss weights that train ``model`` as its paper did: 1.0 for the main predictions and
    the paper's weight for each auxiliary classifier (GoogLeNet 0.3, Inception-v3 0.4), in the
    order of ``model.outputs``::

        model = kc.InceptionV3(aux_logits=True, classes=10)
        weights = kc.aux_loss_weights(model)                      # [1.0, 0.4]
        model.compile("sgd", loss=["sparse_categorical_crossentropy"] * len(weights),
                      loss_weights=weights)
        model.fit(images, [labels] * len(weights))

    The weight comes from the registry entry of the model's name (``googlenet``,
    ``googlenet_1``, ...); pass ``weight`` for a model built under another ``name``. A model
    without auxiliary outputs gets ``[1.0]``.
    """
    outputs = model.outputs if isinstance(model.outputs, (list, tuple)) else [model.outputs]
    if len(outputs) == 1:
        return [1.0]
    if weight is None:
        base = model.name
        candidates = [base, base.rsplit("_", 1)[0] if base.rsplit("_", 1)[-1].isdigit() else base]
        specs = [s for s in all_specs() if s.name in candidates and s.aux_loss_weight]
        if not specs:
            raise ValueError(
                f"aux_loss_weights: {model.name!r} is not the name of a registered model with "
                f"auxiliary classifiers ({', '.join(s.name for s in all_specs() if s.aux_loss_weight)}); "
                f"pass weight=, e.g. 0.3.")
        weight = specs[0].aux_loss_weight
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
        raise ValueError(f"`weight` must be a positive number; got {weight!r}.")
    return [1.0] + [float(weight)] * (len(outputs) - 1)
