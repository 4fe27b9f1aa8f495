"""Grouped convolution, as AlexNet (two GPUs), ResNeXt (cardinality) and ShuffleNet use it.

Keras' own ``Conv2D(groups=g)`` runs grouped convolutions through an XLA-compiled function on
TensorFlow (its source says the plain TF kernel used to be broken on CPU), which on CPU costs
about four times an ordinary convolution of the same shape and leaves ``_XlaMustCompile`` in
exported graphs. TensorFlow 2.21's ``tf.nn.conv2d`` accepts a grouped kernel directly on CPU,
and it differentiates it where oneDNN is on (by default only on CPUs with AVX-512 class
features) and on GPU; ``GroupConv2D`` calls it, keeping Keras' kernel layout so weights move
freely between the two. Where the grouped gradient kernels are missing (a CPU without oneDNN:
"Gradients for grouped convolutions are not supported on CPU"), the same forward op carries a
custom gradient of per-group backprop convolutions (:func:`grouped_conv2d`).

Which formulation, measured (``tools/bench_grouped_conv.py`` -> ``docs/benchmarks/
grouped_conv.md``): on CPU the grouped ``tf.nn.conv2d`` is the fastest exact one, or within
noise of it, for every ShuffleNet, ResNeXt, IGCNet and clcNet shape measured, in inference and
in training. Per-group convolutions + concat, batched matmuls (1x1), depthwise-based sums and
block-diagonal dense kernels are 1.2-38x slower (the rare cells below 1.0 are within the
run's noise and do not hold in both modes); Keras' XLA path is 1.1-24x slower in inference and
6-770x slower in a training step; a whole model compiled with XLA is 1.7-7x slower. Even for
``groups`` = channels, ``tf.nn.depthwise_conv2d`` on the reshaped kernel measures the same
(0.97-1.02x). So ``GroupConv2D`` uses the one formulation everywhere; it converts to a single
builtin TFLite ``CONV_2D`` with a grouped filter.

Without oneDNN (TensorFlow's default on CPUs without AVX-512; ``TF_ENABLE_ONEDNN_OPTS=0``
elsewhere) the same study (``docs/benchmarks/grouped_conv_no_onednn.md``) finds Eigen's
grouped kernels 3-12x slower than its depthwise ones for groups of 1-2 input channels and 2x
for 4, so a training step computes such narrow groups as a depthwise convolution + a sum per
group (:func:`depthwise_grouped_conv2d`); inference graphs keep the grouped op.
"""

import functools

from ..backend import keras, register_serializable, tf
from ..utils import check_choice, check_groups, check_positive_int


@functools.lru_cache(maxsize=None)
def native_grouped_kernels():
    """True where TensorFlow has every grouped-convolution kernel: on GPU (cuDNN), and on CPU
    only with oneDNN on. TensorFlow turns oneDNN on by default only on CPUs with AVX-512 class
    features (or with ``TF_ENABLE_ONEDNN_OPTS=1``); without it the CPU kernels of
    ``Conv2DBackpropInput`` / ``Conv2DBackpropFilter`` reject a grouped filter ("Gradients for
    grouped convolutions are not supported on CPU"), and so does the ``_FusedConv2D`` that
    grappler makes of a convolution followed by ``BiasAdd`` in a graph ("Fused conv
    implementation does not support grouped convolutions")."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled() or tf.config.list_physical_devices("GPU"))


#: Input channels per group up to which, on a CPU without oneDNN, a training step computes the
#: grouped convolution as a depthwise one (:func:`depthwise_grouped_conv2d`).
NARROW_GROUP_CHANNELS = 4


def depthwise_form_applies(in_channels, groups, dilations):
    """Whether :func:`depthwise_grouped_conv2d` is the faster exact form of a training step on a
    CPU without oneDNN: groups of at most :data:`NARROW_GROUP_CHANNELS` input channels (so its
    intermediate map, ``C_in / g x C_out`` channels, is at most 4x the output) and no dilation.
    Measured (docs/benchmarks/grouped_conv_no_onednn.md): forward + gradients 0.08-0.12x the
    per-group path's time at 1 input channel per group, 0.22-0.25x at 2, 0.48x at 4 (ResNeXt
    32x4d's first stage, batch 4; 0.8x at batch 16) and 1.0x at 8, where it stops paying."""
    return in_channels // groups <= NARROW_GROUP_CHANNELS and all(d == 1 for d in dilations)


def depthwise_grouped_conv2d(inputs, kernel, strides, padding, groups):
    """The grouped convolution as ``tf.nn.depthwise_conv2d`` (channel multiplier ``C_out / g``)
    followed by a sum over each group's ``C_in / g`` inputs: the same sums of products in
    another order (equal to float rounding). Without oneDNN, TensorFlow's CPU depthwise kernels
    and their gradients are many times faster than its grouped ones for narrow groups."""
    kh, kw, group_in, filters = kernel.shape
    multiplier = filters // groups
    depthwise_kernel = tf.reshape(
        tf.transpose(tf.reshape(kernel, (kh, kw, group_in, groups, multiplier)), (0, 1, 3, 2, 4)),
        (kh, kw, group_in * groups, multiplier))
    outputs = tf.nn.depthwise_conv2d(inputs, depthwise_kernel, strides, padding)
    if group_in == 1:
        return outputs
    shape = tf.shape(outputs)
    # channel (group * group_in + i) * multiplier + j of the depthwise output -> output
    # channel group * multiplier + j, summed over i
    outputs = tf.reshape(outputs, tf.concat([shape[:3], [groups, group_in, multiplier]], 0))
    return tf.reshape(tf.reduce_sum(outputs, axis=4), tf.concat([shape[:3], [filters]], 0))


def grouped_conv2d(inputs, kernel, strides, padding, dilations, groups, native_gradients=None,
                   training=False):
    """The grouped ``tf.nn.conv2d`` forward pass (kernel ``(kh, kw, C_in / g, C_out)``).

    Where TensorFlow cannot differentiate it (see :func:`native_grouped_kernels`), the same
    forward pass carries a custom gradient made of ``groups`` ordinary per-group backprop
    convolutions, so training works everywhere; elsewhere the graph is the plain op. There, in
    a training step (``training=True``) of narrow groups (:func:`depthwise_form_applies`), the
    convolution is computed as a depthwise one instead (:func:`depthwise_grouped_conv2d`), up
    to 12x faster; inference graphs, and so exported SavedModels and TFLite files, always hold the
    plain grouped op."""
    if native_gradients is None:
        native_gradients = native_grouped_kernels()
    if (training is True and groups > 1 and not native_gradients
            and depthwise_form_applies(int(inputs.shape[-1]), groups, dilations)):
        return depthwise_grouped_conv2d(inputs, kernel, strides, padding, groups)
    if groups == 1 or native_gradients:
        return tf.nn.conv2d(inputs, kernel, strides=strides, padding=padding,
                            dilations=dilations)

    @tf.custom_gradient
    def conv(x, k):
        def grad(dy):
            xs = tf.split(x, groups, axis=-1)
            ks = tf.split(k, groups, axis=-1)
            if any(d > 1 for d in dilations):
                # The CPU backprop kernels take no dilation either; tf.nn.convolution dilates
                # through space-to-batch, whose gradient they compute.
                with tf.GradientTape() as tape:
                    tape.watch(xs + ks)
                    y = tf.concat([tf.nn.convolution(xi, ki, strides=strides[1:3],
                                                     padding=padding,
                                                     dilations=dilations[1:3])
                                   for xi, ki in zip(xs, ks)], axis=-1)
                grads = tape.gradient(y, xs + ks, output_gradients=dy)
                return tf.concat(grads[:groups], axis=-1), tf.concat(grads[groups:], axis=-1)
            dys = tf.split(dy, groups, axis=-1)
            dx = [tf.compat.v1.nn.conv2d_backprop_input(
                tf.shape(xi), ki, dyi, strides=strides, padding=padding, dilations=dilations)
                for xi, ki, dyi in zip(xs, ks, dys)]
            dk = [tf.compat.v1.nn.conv2d_backprop_filter(
                xi, tf.shape(ki), dyi, strides=strides, padding=padding, dilations=dilations)
                for xi, ki, dyi in zip(xs, ks, dys)]
            return tf.concat(dx, axis=-1), tf.concat(dk, axis=-1)

        return tf.nn.conv2d(x, k, strides=strides, padding=padding, dilations=dilations), grad

    return conv(inputs, kernel)


def _pair(argument, value):
    if isinstance(value, int):
        value = (value, value)
    value = tuple(value)
    if len(value) != 2:
        raise ValueError(f"`{argument}` must be an int or a pair of ints; got {value!r}.")
    for v in value:
        check_positive_int(argument, v)
    return value


@register_serializable
class GroupConv2D(keras.layers.Layer):
    """2-D convolution with ``groups`` independent channel groups (NHWC).

    The kernel has Keras' ``Conv2D(groups=...)`` shape ``(kh, kw, in_channels // groups,
    filters)``: output channels ``[j * filters/groups, (j + 1) * filters/groups)`` see only input
    group ``j``.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", groups=1,
                 dilation_rate=1, use_bias=False, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.strides = _pair("strides", strides)
        self.padding = check_choice("padding", padding, ("valid", "same"))
        self.groups = check_groups("groups", groups, filters, "filters")
        self.dilation_rate = _pair("dilation_rate", dilation_rate)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        if in_channels is None:
            raise ValueError(f"{self.name}: the channel dimension of the input must be known.")
        check_groups("groups", self.groups, int(in_channels), "input channels")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, int(in_channels) // self.groups, self.filters),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(
            name="bias", shape=(self.filters,), initializer=self.bias_initializer
        ) if self.use_bias else None
        super().build(input_shape)

    def call(self, inputs, training=None):
        outputs = grouped_conv2d(
            inputs, tf.cast(self.kernel, inputs.dtype), strides=(1, *self.strides, 1),
            padding=self.padding.upper(), dilations=(1, *self.dilation_rate, 1),
            groups=self.groups, training=training)
        if self.groups > 1 and not native_grouped_kernels():
            # Without oneDNN, grappler would fuse the convolution with a following BiasAdd or
            # (legacy Keras) FusedBatchNorm into a _FusedConv2D that rejects grouped filters;
            # an EnsureShape (a no-op check) between them keeps them apart.
            outputs = tf.ensure_shape(outputs, outputs.shape)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, tf.cast(self.bias, inputs.dtype))
        return outputs

    def _output_length(self, length, axis):
        if length is None:
            return None
        k = (self.kernel_size[axis] - 1) * self.dilation_rate[axis] + 1
        if self.padding == "valid":
            length = length - k + 1
        return (length + self.strides[axis] - 1) // self.strides[axis]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self._output_length(input_shape[1], 0),
                self._output_length(input_shape[2], 1), self.filters)

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds: every output sees kh * kw * in_channels / groups inputs."""
        per_output = self.kernel_size[0] * self.kernel_size[1] * int(input_shape[-1]) // self.groups
        return 2 * per_output * int(output_shape[1]) * int(output_shape[2]) * self.filters

    @property
    def prunable_weights(self):
        return [self.kernel]

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
            padding=self.padding, groups=self.groups, dilation_rate=self.dilation_rate,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer))
        return config
