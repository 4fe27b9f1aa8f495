"""EncNet's Context Encoding module and its Semantic Encoding loss (SE-loss) head.

Zhang, Dana, Shi, Zhang, Wang, Tyagi, Agrawal. "Context Encoding for Semantic Segmentation",
CVPR 2018, arXiv:1803.08904, Sec. 3.1-3.2 and Fig. 2.

The ``N = H W`` features ``x_i`` (``C`` channels) of a map are encoded against a learned
codebook of ``K`` codewords ``d_k`` with smoothing factors ``s_k`` (Eq. 1):

    r_ik = x_i - d_k,   a_ik = exp(-s_k ||r_ik||^2) / sum_j exp(-s_j ||r_ij||^2),
    e_k  = sum_i a_ik r_ik,

then aggregated as ``e = sum_k phi(e_k)`` with ``phi`` batch normalisation + ReLU. Here, as in
the authors' PyTorch-Encoding ``EncModule`` (``BatchNorm1d(K)`` over the ``K`` encoded vectors,
``ReLU``, ``Mean(dim=1)``), the aggregation is the mean over ``k`` (the paper's sum / ``K``;
the FC after it learns either scale). A fully connected layer with a sigmoid predicts channel
scales ``gamma = sigmoid(W e + b)`` and the output is ``Y = X * gamma`` (Sec. 3.2,
"Featuremap Attention"). The authors' code returns ``relu(X + X * gamma)`` instead
(``residual=True`` here) and puts a 1x1 convolution + BN + ReLU before the encoding, which this
layer leaves to the network around it.

SE-loss (Sec. 3.2, "Semantic Encoding Loss"): a second FC on ``e`` predicts which of the
``num_classes`` categories are present in the image, trained with per-class binary
cross-entropy (:func:`se_loss_targets` makes the targets from a label map; weight 0.2 in the
paper's experiments, Sec. 4). With ``num_classes`` set the layer returns ``[Y, se_logits]``.

Computation: ``||x_i - d_k||^2 = ||x_i||^2 - 2 x_i . d_k + ||d_k||^2`` and
``e_k = sum_i a_ik x_i - (sum_i a_ik) d_k`` are batched matrix products, so no
``(N, H W, K, C)`` residual tensor is formed; TFLite runs it with builtin ops
(``BATCH_MATMUL``, ``SOFTMAX``, ``MEAN`` ...). Initialisation as the authors' ``Encoding``:
codewords uniform in ``+-1 / sqrt(K C)``; smoothing factors uniform in ``(0, 1)`` (they store
``-s``, uniform in ``(-1, 0)``).
"""

import math

from ..backend import keras, register_serializable, tf
from ..utils import check_bool, check_positive_int


def se_loss_targets(labels, num_classes):
    """Per-image class presence ``(batch, num_classes)`` (float 0/1) from integer label maps
    ``(batch, H, W)`` or ``(batch, H, W, 1)``. Labels outside ``[0, num_classes)`` (an ignore
    label such as 255) count for no class."""
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank == 4:
        labels = labels[..., 0]
    present = tf.one_hot(tf.cast(labels, "int32"), num_classes, dtype="float32")
    return tf.reduce_max(present, axis=[1, 2])


def se_loss(targets, logits):
    """The SE-loss: mean binary cross-entropy of the presence ``targets`` against the head's
    ``logits`` (``keras.losses.BinaryCrossentropy(from_logits=True)`` computes the same)."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.cast(targets, logits.dtype), logits=logits))


@register_serializable
class ContextEncoding(keras.layers.Layer):
    """Context Encoding: ``x * sigmoid(FC(mean_k relu(bn(e_k))))`` (+ the SE-loss logits).

    Args:
        num_codes: ``K``, the codewords (32 in the paper's EncNet).
        num_classes: with an int, the SE-loss head: the layer returns
            ``[scaled features, presence logits (batch, num_classes)]``.
        residual: return ``relu(x + x * gamma)`` (the authors' code) instead of the paper's
            ``x * gamma``.
        bn_epsilon, bn_momentum: of the batch normalisation over the ``K`` encoded vectors.
    """

    def __init__(self, num_codes=32, num_classes=None, residual=False, bn_epsilon=1e-5,
                 bn_momentum=0.9, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.num_codes = check_positive_int("num_codes", num_codes)
        if num_classes is not None:
            check_positive_int("num_classes", num_classes)
        self.num_classes = num_classes
        self.residual = check_bool("residual", residual)
        self.bn_epsilon = bn_epsilon
        self.bn_momentum = bn_momentum
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _fresh(self):
        # A fresh instance per weight: legacy Keras repeats an unseeded instance's draws.
        return type(self.kernel_initializer).from_config(self.kernel_initializer.get_config())

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel dimension of the input must be known.")
        channels, codes = int(channels), self.num_codes
        bound = 1.0 / math.sqrt(codes * channels)
        self.codewords = self.add_weight(
            name="codewords", shape=(codes, channels),
            initializer=keras.initializers.RandomUniform(-bound, bound))
        self.smoothing = self.add_weight(
            name="smoothing", shape=(codes,),
            initializer=keras.initializers.RandomUniform(0.0, 1.0))
        self.bn = keras.layers.BatchNormalization(
            axis=1, epsilon=self.bn_epsilon, momentum=self.bn_momentum, name="bn")
        self.bn.build((None, codes, channels))
        self.fc_kernel = self.add_weight(name="fc_kernel", shape=(channels, channels),
                                         initializer=self._fresh())
        self.fc_bias = self.add_weight(name="fc_bias", shape=(channels,), initializer="zeros")
        if self.num_classes is not None:
            self.se_kernel = self.add_weight(name="se_kernel",
                                             shape=(channels, self.num_classes),
                                             initializer=self._fresh())
            self.se_bias = self.add_weight(name="se_bias", shape=(self.num_classes,),
                                           initializer="zeros")
        super().build(input_shape)

    def encode(self, inputs):
        """The ``K`` encoded vectors ``e_k``, ``(batch, K, C)``, before BN and ReLU."""
        channels = int(inputs.shape[-1])
        features = tf.reshape(inputs, [tf.shape(inputs)[0], -1, channels])  # (B, HW, C)
        codewords = tf.cast(self.codewords, inputs.dtype)
        distances = (tf.reduce_sum(tf.square(features), axis=-1, keepdims=True)
                     - 2.0 * tf.matmul(features, codewords, transpose_b=True)
                     + tf.reduce_sum(tf.square(codewords), axis=-1))  # (B, HW, K)
        assignment = tf.nn.softmax(-tf.cast(self.smoothing, inputs.dtype) * distances, axis=-1)
        weighted = tf.matmul(assignment, features, transpose_a=True)  # (B, K, C)
        return weighted - tf.reduce_sum(assignment, axis=1)[..., None] * codewords

    def call(self, inputs, training=None):
        encoded = tf.nn.relu(self.bn(self.encode(inputs), training=training))
        context = tf.reduce_mean(encoded, axis=1)  # (B, C)
        gamma = tf.sigmoid(tf.matmul(context, tf.cast(self.fc_kernel, inputs.dtype))
                           + tf.cast(self.fc_bias, inputs.dtype))
        outputs = inputs * gamma[:, None, None, :]
        if self.residual:
            outputs = tf.nn.relu(inputs + outputs)
        if self.num_classes is None:
            return outputs
        logits = (tf.matmul(context, tf.cast(self.se_kernel, inputs.dtype))
                  + tf.cast(self.se_bias, inputs.dtype))
        return [outputs, logits]

    def compute_output_shape(self, input_shape):
        if self.num_classes is None:
            return tuple(input_shape)
        return [tuple(input_shape), (input_shape[0], self.num_classes)]

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds of the distance and aggregation products (``H W K C`` each) and
        of the FCs."""
        channels = int(input_shape[-1])
        pixels = int(input_shape[1]) * int(input_shape[2])
        fcs = channels * (channels + (self.num_classes or 0))
        return 2 * (2 * pixels * self.num_codes * channels + fcs)

    def get_config(self):
        config = super().get_config()
        config.update(num_codes=self.num_codes, num_classes=self.num_classes,
                      residual=self.residual,
                      bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config
