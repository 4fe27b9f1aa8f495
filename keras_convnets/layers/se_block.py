"""Squeeze-and-excitation.

Hu, Shen, Albanie, Sun, Wu. "Squeeze-and-Excitation Networks", CVPR 2018, arXiv:1709.01507.
Fig. 3 / Table 1: global average pool -> FC(C/r) -> ReLU -> FC(C) -> sigmoid -> channel scale.
MobileNetV3 (arXiv:1905.02244) uses the same block with a hard-sigmoid gate.
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_choice, check_positive_int, make_divisible

GATES = ("sigmoid", "hard_sigmoid")
ACTIVATIONS = ("relu", "relu6", "swish", "hard_swish")


def hard_sigmoid(x):
    """relu6(x + 3) / 6: the MobileNetV3 gate, as Keras 3 defines hard_sigmoid."""
    return tf.nn.relu6(x + 3.0) * (1.0 / 6.0)


def _activation(name, x):
    if name == "relu":
        return tf.nn.relu(x)
    if name == "relu6":
        return tf.nn.relu6(x)
    if name == "swish":
        return tf.nn.silu(x)
    return x * hard_sigmoid(x)


@register_serializable
class SEBlock(keras.layers.Layer):
    """Squeeze-and-excitation channel attention: ``x * gate(W2 act(W1 mean_hw(x)))``.

    Args:
        reduction: ratio r between the channels and the squeezed width (16 in the SENet paper).
        squeeze_channels: explicit squeezed width; overrides ``reduction``.
        divisor: round the squeezed width to a multiple of this (MobileNetV3 uses 8). With the
            default 1 the width is ``channels // reduction`` exactly, as in the reference SENets.
        use_bn: batch-normalise the squeezed vector (the "with BN" variant); the first FC then
            has no bias.
        activation: non-linearity between the two FCs, one of ``ACTIVATIONS``.
        gate: ``"sigmoid"`` or ``"hard_sigmoid"`` (relu6(x + 3) / 6).

    The two FCs are stored as ``(C, S)`` and ``(S, C)`` matrices, equivalent to the 1x1
    convolutions of the reference implementations.
    """

    def __init__(self, reduction=16, squeeze_channels=None, divisor=1, use_bn=False,
                 activation="relu", gate="sigmoid", kernel_initializer="glorot_uniform",
                 bn_epsilon=1e-5, bn_momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        if squeeze_channels is not None:
            check_positive_int("squeeze_channels", squeeze_channels)
        self.squeeze_channels = squeeze_channels
        self.divisor = check_positive_int("divisor", divisor)
        self.use_bn = bool(use_bn)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.gate = check_choice("gate", gate, GATES)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bn_epsilon = bn_epsilon
        self.bn_momentum = bn_momentum
        self.bn = None

    def squeezed_width(self, channels):
        if self.squeeze_channels is not None:
            return self.squeeze_channels
        if self.divisor == 1:
            return max(1, channels // self.reduction)
        return make_divisible(channels / self.reduction, self.divisor)

    def _initializer(self):
        # A fresh instance per weight: legacy Keras repeats an unseeded instance's draws.
        return type(self.kernel_initializer).from_config(self.kernel_initializer.get_config())

    def build(self, input_shape):
        channels = int(input_shape[-1])
        squeezed = self.squeezed_width(channels)
        self.reduce_kernel = self.add_weight(
            name="reduce_kernel", shape=(channels, squeezed), initializer=self._initializer())
        self.reduce_bias = None if self.use_bn else self.add_weight(
            name="reduce_bias", shape=(squeezed,), initializer="zeros")
        if self.use_bn:
            self.bn = keras.layers.BatchNormalization(
                epsilon=self.bn_epsilon, momentum=self.bn_momentum, name="bn")
            self.bn.build((None, squeezed))
        self.expand_kernel = self.add_weight(
            name="expand_kernel", shape=(squeezed, channels), initializer=self._initializer())
        self.expand_bias = self.add_weight(
            name="expand_bias", shape=(channels,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs, training=None):
        squeezed = tf.reduce_mean(inputs, axis=[1, 2])
        squeezed = tf.matmul(squeezed, tf.cast(self.reduce_kernel, inputs.dtype))
        if self.use_bn:
            squeezed = self.bn(squeezed, training=training)
        else:
            squeezed = squeezed + tf.cast(self.reduce_bias, inputs.dtype)
        squeezed = _activation(self.activation, squeezed)
        excited = tf.matmul(squeezed, tf.cast(self.expand_kernel, inputs.dtype))
        excited = excited + tf.cast(self.expand_bias, inputs.dtype)
        excited = tf.sigmoid(excited) if self.gate == "sigmoid" else hard_sigmoid(excited)
        return inputs * excited[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def count_flops(self, input_shape, output_shape):
        """Multiply-adds x 2 of the two FCs, as a 1x1-conv FLOP counter sees them."""
        channels = int(input_shape[-1])
        return 2 * 2 * channels * self.squeezed_width(channels)

    @property
    def prunable_weights(self):
        return [self.reduce_kernel, self.expand_kernel]

    def get_config(self):
        config = super().get_config()
        config.update(
            reduction=self.reduction, squeeze_channels=self.squeeze_channels,
            divisor=self.divisor, use_bn=self.use_bn, activation=self.activation, gate=self.gate,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum)
        return config
