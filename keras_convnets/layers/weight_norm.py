"""Weight normalisation (Salimans & Kingma, "Weight Normalization: A Simple Reparameterization to
Accelerate Training of Deep Neural Networks", NIPS 2016, arXiv:1602.07868).

Each output unit's weight vector is reparameterised as ``w = g * v / ||v||`` (Eq. 2): the
direction ``v`` (the layer's ``kernel``) and the length ``g`` (a per-output-channel scalar, the
layer's ``g``) are trained instead of ``w``; no statistics of the data are computed, so the
output of one example never depends on the others in its batch (any batch size, and the
training and inference computations are the same).

How it fits ``norm=``: ``norm="weight"`` has no normalisation *layer*. The builders put a
:class:`ChannelBias` in every normalisation slot (the paper's ``b`` of ``y = phi(w . x + b)``:
the slot follows a convolution that has no bias of its own, as batch norm's ``beta`` does),
and :func:`weight_normalize` then replaces every ``Conv2D``, ``DepthwiseConv2D``,
``SeparableConv2D`` and :class:`~keras_convnets.layers.GroupConv2D` of the finished model --
whoever created it, BuildContext or a family's own code -- by its weight-normalised twin here
(same name, configuration and kernel layout). Where a slot follows a convolution one-to-one the
trainable count equals the batch-norm build's (``g`` + ``b`` in place of ``gamma`` + ``beta``);
there are no non-trainable statistics. Dense layers (classifiers) stay plain, as they stay
un-normalised with the other choices.

Initialisation: ``g`` starts at ``||v||`` of the initial kernel, so the reparameterised network
computes exactly what the plain one would at initialisation (and :func:`weight_normalize` with
``copy_weights=True`` turns a trained plain model into an identical weight-normalised one).
:func:`data_dependent_init` is the paper's Section 3 initialisation from a batch of data.
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_choice
from .group_conv import GroupConv2D, _pair

#: below this squared length a direction counts as zero (tf.nn.l2_normalize's epsilon)
_EPSILON = 1e-12


def _normalized(v, g, axes):
    """``g * v / ||v||`` over ``axes`` (g broadcast over the remaining axes)."""
    return tf.nn.l2_normalize(v, axis=axes, epsilon=_EPSILON) * g


def _length(v, axes):
    return tf.sqrt(tf.reduce_sum(tf.square(v), axis=axes))


@register_serializable
class WeightNormConv2D(GroupConv2D):
    """A (grouped) 2-D convolution whose kernel is ``g * v / ||v||`` per output filter.

    Same arguments and kernel layout ``(kh, kw, in_channels // groups, filters)`` as
    :class:`~keras_convnets.layers.GroupConv2D` (``groups=1``: a plain ``Conv2D``); the kernel
    variable holds ``v``, the ``g`` variable one length per filter.
    """

    _AXES = (0, 1, 2)

    def build(self, input_shape):
        super().build(input_shape)
        self.g = self.add_weight(name="g", shape=(self.filters,), initializer="ones")
        self.g.assign(_length(self.kernel, self._AXES))

    def normalized_kernel(self):
        """The effective kernel ``w = g * v / ||v||``."""
        return _normalized(self.kernel, self.g, self._AXES)

    def call(self, inputs):
        from .group_conv import grouped_conv2d, native_grouped_kernels  # noqa: PLC0415

        kernel = tf.cast(self.normalized_kernel(), inputs.dtype)
        outputs = grouped_conv2d(inputs, kernel, strides=(1, *self.strides, 1),
                                 padding=self.padding.upper(),
                                 dilations=(1, *self.dilation_rate, 1), groups=self.groups)
        if self.groups > 1 and not native_grouped_kernels():
            outputs = tf.ensure_shape(outputs, outputs.shape)  # see GroupConv2D.call
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, tf.cast(self.bias, inputs.dtype))
        return outputs


class _WeightNormDepthwiseBase(keras.layers.Layer):
    """What the weight-normalised depthwise and separable convolutions share: the depthwise
    step's arguments (Keras' names), its weights ``(kh, kw, C, M)`` with lengths ``(C, M)``,
    the convolution itself and the optional bias."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 dilation_rate=1, use_bias=False, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.strides = _pair("strides", strides)
        self.padding = check_choice("padding", padding, ("valid", "same"))
        self.depth_multiplier = int(depth_multiplier)
        self.dilation_rate = _pair("dilation_rate", dilation_rate)
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _add_depthwise_weights(self, input_shape, name, initializer):
        """Adds the depthwise direction ``name`` ``(kh, kw, C, M)``; returns ``(C, kernel)``."""
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel dimension of the input must be known.")
        channels = int(channels)
        kernel = self.add_weight(name=name, shape=(*self.kernel_size, channels,
                                                   self.depth_multiplier),
                                 initializer=initializer)
        return channels, kernel

    def _add_bias(self, size):
        self.bias = self.add_weight(name="bias", shape=(size,),
                                    initializer=self.bias_initializer) if self.use_bias else None

    def _depthwise(self, inputs, kernel):
        return tf.nn.depthwise_conv2d(inputs, tf.cast(kernel, inputs.dtype),
                                      strides=(1, *self.strides, 1),
                                      padding=self.padding.upper(), dilations=self.dilation_rate)

    def _biased(self, outputs):
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, tf.cast(self.bias, outputs.dtype))
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
            depth_multiplier=self.depth_multiplier, dilation_rate=self.dilation_rate,
            use_bias=self.use_bias,
            bias_initializer=keras.initializers.serialize(self.bias_initializer))
        return config


@register_serializable
class WeightNormDepthwiseConv2D(_WeightNormDepthwiseBase):
    """A depthwise convolution (Keras' ``DepthwiseConv2D`` layout: kernel ``(kh, kw, channels,
    depth_multiplier)``) whose every ``(channel, multiplier)`` filter is ``g * v / ||v||``;
    ``g`` has shape ``(channels, depth_multiplier)``."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 dilation_rate=1, use_bias=False, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, dilation_rate,
                         use_bias, bias_initializer, **kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        channels, self.kernel = self._add_depthwise_weights(input_shape, "kernel",
                                                            self.kernel_initializer)
        self._add_bias(channels * self.depth_multiplier)
        self.g = self.add_weight(name="g", shape=(channels, self.depth_multiplier),
                                 initializer="ones")
        self.g.assign(_length(self.kernel, (0, 1)))
        super().build(input_shape)

    def normalized_kernel(self):
        return _normalized(self.kernel, self.g, (0, 1))

    def call(self, inputs):
        return self._biased(self._depthwise(inputs, self.normalized_kernel()))

    def compute_output_shape(self, input_shape):
        return _conv_output_shape(self, input_shape, int(input_shape[-1]) * self.depth_multiplier)

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds: every output sees kh * kw inputs."""
        return (2 * self.kernel_size[0] * self.kernel_size[1] * int(output_shape[1])
                * int(output_shape[2]) * int(output_shape[3]))

    def get_config(self):
        config = super().get_config()
        config.update(kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config


@register_serializable
class WeightNormSeparableConv2D(_WeightNormDepthwiseBase):
    """A separable convolution (Keras' ``SeparableConv2D``: depthwise kernel ``(kh, kw, C, M)``
    then pointwise ``(1, 1, C * M, filters)``) with both kernels weight-normalised: lengths
    ``depthwise_g`` ``(C, M)`` and ``pointwise_g`` ``(filters,)``."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 dilation_rate=1, use_bias=False, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, dilation_rate,
                         use_bias, bias_initializer, **kwargs)
        self.filters = int(filters)
        self.depthwise_initializer = keras.initializers.get(depthwise_initializer)
        self.pointwise_initializer = keras.initializers.get(pointwise_initializer)

    def build(self, input_shape):
        channels, self.depthwise_kernel = self._add_depthwise_weights(
            input_shape, "depthwise_kernel", self.depthwise_initializer)
        self.pointwise_kernel = self.add_weight(
            name="pointwise_kernel", shape=(1, 1, channels * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer)
        self._add_bias(self.filters)
        self.depthwise_g = self.add_weight(name="depthwise_g",
                                           shape=(channels, self.depth_multiplier),
                                           initializer="ones")
        self.pointwise_g = self.add_weight(name="pointwise_g", shape=(self.filters,),
                                           initializer="ones")
        self.depthwise_g.assign(_length(self.depthwise_kernel, (0, 1)))
        self.pointwise_g.assign(_length(self.pointwise_kernel, (0, 1, 2)))
        super().build(input_shape)

    def call(self, inputs):
        depthwise = _normalized(self.depthwise_kernel, self.depthwise_g, (0, 1))
        pointwise = _normalized(self.pointwise_kernel, self.pointwise_g, (0, 1, 2))
        outputs = self._depthwise(inputs, depthwise)
        outputs = tf.nn.conv2d(outputs, tf.cast(pointwise, inputs.dtype), strides=1,
                               padding="VALID")
        return self._biased(outputs)

    def compute_output_shape(self, input_shape):
        return _conv_output_shape(self, input_shape, self.filters)

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds of the depthwise and the pointwise convolution."""
        positions = int(output_shape[1]) * int(output_shape[2])
        middle = int(input_shape[-1]) * self.depth_multiplier
        return 2 * positions * (self.kernel_size[0] * self.kernel_size[1] * middle
                                + middle * self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            depthwise_initializer=keras.initializers.serialize(self.depthwise_initializer),
            pointwise_initializer=keras.initializers.serialize(self.pointwise_initializer))
        return config


def _conv_output_shape(layer, input_shape, channels):
    def length(size, axis):
        if size is None:
            return None
        k = (layer.kernel_size[axis] - 1) * layer.dilation_rate[axis] + 1
        if layer.padding == "valid":
            size = size - k + 1
        return (size + layer.strides[axis] - 1) // layer.strides[axis]

    return (input_shape[0], length(input_shape[1], 0), length(input_shape[2], 1), channels)


@register_serializable
class ChannelBias(keras.layers.Layer):
    """``x + b``: one learned offset per channel (last axis), zeros at first. The normalisation
    slot of a ``norm="weight"`` build: weight normalisation's ``b``."""

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel dimension of the input must be known.")
        self.bias = self.add_weight(name="bias", shape=(int(channels),), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        return inputs + tf.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


# -- whole models ----------------------------------------------------------------------------
WEIGHT_NORM_LAYERS = (WeightNormConv2D, WeightNormDepthwiseConv2D, WeightNormSeparableConv2D)


def _is_linear(layer):
    activation = getattr(layer, "activation", None)
    return activation is None or getattr(activation, "__name__", "") == "linear"


def _fresh(initializer):
    """A new instance of ``initializer`` (legacy Keras warns when one is used twice)."""
    return keras.initializers.get(keras.initializers.serialize(initializer))


def _common(layer):
    return dict(name=layer.name, trainable=layer.trainable, dtype=layer.dtype_policy)


def _twin(layer):
    """The weight-normalised twin of a plain convolution layer, or None for any other layer."""
    kind = type(layer)
    if kind not in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                    keras.layers.SeparableConv2D, GroupConv2D):
        return None
    if getattr(layer, "data_format", "channels_last") != "channels_last" or not _is_linear(layer):
        return None  # left as it is: unnormalized_convolutions() names it
    if kind is keras.layers.DepthwiseConv2D:
        return WeightNormDepthwiseConv2D(
            layer.kernel_size, strides=layer.strides, padding=layer.padding,
            depth_multiplier=layer.depth_multiplier, dilation_rate=layer.dilation_rate,
            use_bias=layer.use_bias, kernel_initializer=_fresh(layer.depthwise_initializer),
            bias_initializer=_fresh(layer.bias_initializer), **_common(layer))
    if kind is keras.layers.SeparableConv2D:
        return WeightNormSeparableConv2D(
            layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
            depth_multiplier=layer.depth_multiplier, dilation_rate=layer.dilation_rate,
            use_bias=layer.use_bias, depthwise_initializer=_fresh(layer.depthwise_initializer),
            pointwise_initializer=_fresh(layer.pointwise_initializer),
            bias_initializer=_fresh(layer.bias_initializer), **_common(layer))
    if layer.padding not in ("valid", "same"):
        return None
    return WeightNormConv2D(
        layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
        groups=getattr(layer, "groups", 1), dilation_rate=layer.dilation_rate,
        use_bias=layer.use_bias, kernel_initializer=_fresh(layer.kernel_initializer),
        bias_initializer=_fresh(layer.bias_initializer), **_common(layer))


def _copy_into_twin(plain, twin):
    """Sets the twin's directions to the plain kernels and its lengths to their norms, so both
    compute the same function."""
    weights = plain.get_weights()
    if isinstance(twin, WeightNormSeparableConv2D):
        twin.depthwise_kernel.assign(weights[0])
        twin.pointwise_kernel.assign(weights[1])
        twin.depthwise_g.assign(_length(twin.depthwise_kernel, (0, 1)))
        twin.pointwise_g.assign(_length(twin.pointwise_kernel, (0, 1, 2)))
        rest = weights[2:]
    else:
        twin.kernel.assign(weights[0])
        axes = (0, 1) if isinstance(twin, WeightNormDepthwiseConv2D) else (0, 1, 2)
        twin.g.assign(_length(twin.kernel, axes))
        rest = weights[1:]
    if rest:
        twin.bias.assign(rest[0])


def unnormalized_convolutions(model):
    """Names of the convolution layers of ``model`` (nested layers included) that are not
    weight-normalised."""
    convs = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
             keras.layers.Conv2DTranspose, GroupConv2D)
    names = []
    for layer in model._flatten_layers(include_self=False, recursive=True):  # both Keras worlds
        if isinstance(layer, convs) and not isinstance(layer, WEIGHT_NORM_LAYERS):
            names.append(layer.name)
    return names


def weight_normalize(model, copy_weights=True, input_tensors=None):
    """A copy of the functional ``model`` whose ``Conv2D``, ``DepthwiseConv2D``,
    ``SeparableConv2D`` and ``GroupConv2D`` layers are their weight-normalised twins (same
    names); every other layer is re-created from its config. With ``copy_weights`` every
    weight is copied and each twin starts at ``v = w``, ``g = ||w||``: the copy computes what
    ``model`` does. Layers shared between several calls stay shared."""
    twins = {}

    def clone(layer):
        if id(layer) not in twins:
            twin = _twin(layer)
            twins[id(layer)] = (layer, twin if twin is not None
                                else layer.__class__.from_config(layer.get_config()))
        return twins[id(layer)][1]

    kwargs = {} if input_tensors is None else {"input_tensors": input_tensors}
    copy = keras.models.clone_model(model, clone_function=clone, **kwargs)
    if copy_weights:
        for plain, new in twins.values():
            if isinstance(new, WEIGHT_NORM_LAYERS):
                _copy_into_twin(plain, new)
            elif plain.weights:
                new.set_weights(plain.get_weights())
    return copy


def _rescale(v, g, scale, axes):
    """``g *= scale``, and ``v`` rescaled to the new lengths (same direction, same function)."""
    g.assign(g * scale)
    v.assign(tf.nn.l2_normalize(v, axis=axes, epsilon=_EPSILON) * g)


def data_dependent_init(model, images, epsilon=1e-6):
    """The paper's initialisation (Section 3) from a batch of ``images``, layer by layer in the
    model's order: each weight-normalised convolution's ``g`` is divided by the standard
    deviation of its output channels (and its own bias, if any, set to minus their mean over
    that standard deviation), and each :class:`ChannelBias` is set to minus the mean of its
    input, so every pre-activation starts at zero mean and unit variance on the batch. Each
    direction ``v`` is rescaled to its new length ``g`` (the function is unchanged): the
    gradient step on ``v`` scales with ``g / ||v||``, so this keeps a plain optimizer's (SGD's)
    effective step on the directions what it is on a plain kernel -- without it a stem whose
    ``g`` grew tenfold diverged at once in tools/norm_comparison.py. Layers called more than
    once (shared) keep their initial values. Returns the number of layers
    initialised."""
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    done = 0
    for layer in model.layers:
        if not isinstance(layer, (*WEIGHT_NORM_LAYERS, ChannelBias)):
            continue
        if len(layer._inbound_nodes) != 1:
            continue
        probe = layer.input if isinstance(layer, ChannelBias) else layer.output
        values = keras.Model(inputs, probe)(images, training=False)
        values = tf.reshape(tf.cast(values, tf.float32), (-1, values.shape[-1]))
        mean, variance = tf.nn.moments(values, axes=[0])
        if isinstance(layer, ChannelBias):
            layer.bias.assign(layer.bias - mean)
        else:
            if layer.use_bias:  # statistics of the output without the current bias
                mean = mean - layer.bias
            scale = 1.0 / tf.sqrt(variance + epsilon)
            if isinstance(layer, WeightNormSeparableConv2D):
                _rescale(layer.pointwise_kernel, layer.pointwise_g, scale, (0, 1, 2))
            elif isinstance(layer, WeightNormDepthwiseConv2D):
                _rescale(layer.kernel, layer.g, tf.reshape(scale, layer.g.shape), (0, 1))
            else:
                _rescale(layer.kernel, layer.g, scale, (0, 1, 2))
            if layer.use_bias:
                layer.bias.assign(-mean * scale)
        done += 1
    return done


__all__ = ["WeightNormConv2D", "WeightNormDepthwiseConv2D", "WeightNormSeparableConv2D",
           "ChannelBias", "weight_normalize", "unnormalized_convolutions", "data_dependent_init",
           "WEIGHT_NORM_LAYERS"]
