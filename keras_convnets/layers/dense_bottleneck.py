"""DenseNet's bottleneck input, recomputed in the backward pass (memory-efficient DenseNet).

Pleiss, Chen, Huang, Li, van der Maaten, Weinberger. "Memory-Efficient Implementation of
DenseNets", 2017, arXiv:1707.06990; torchvision's ``DenseNet(memory_efficient=True)``.
A dense layer's input is the concatenation of every earlier feature map of its block; stored
as such, with its batch-normalised and rectified copies, it makes a block's activation memory
quadratic in its depth. This layer computes concatenation -> batch norm -> ReLU -> 1x1
convolution as one function whose intermediates are recomputed (``tf.recompute_grad``) when
the gradient needs them instead of being kept from the forward pass.
"""

from ..backend import keras, register_serializable, tf


@register_serializable
class DenseBottleneck(keras.layers.Layer):
    """``Concatenate -> BatchNormalization -> ReLU -> Conv2D(filters, 1, use_bias=False)`` on a
    list of NHWC maps, with the intermediates recomputed in the backward pass while training
    (``recompute=True``).

    Its weights are those of the four layers, in their order (``gamma, beta, moving_mean,
    moving_variance, kernel``), so ``get_weights()``/``set_weights()`` move weights between it
    and the plain layers. The batch statistics are computed outside the recomputed function
    and the moving statistics updated once per step (Keras 3's convention: biased batch
    variance, ``moving = moving * momentum + batch * (1 - momentum)``), so the recomputation
    never updates them a second time.
    """

    def __init__(self, filters, epsilon=1e-5, momentum=0.9, recompute=True,
                 kernel_initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        self.recompute = bool(recompute)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        # The kernel lives in a (never called) Conv2D sublayer so that the layer's weights come
        # in the plain layers' order under Keras 3 (own variables first, then sublayers').
        self.conv = keras.layers.Conv2D(self.filters, 1, use_bias=False,
                                        kernel_initializer=self.kernel_initializer, name="conv")

    @staticmethod
    def _shapes(input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(
                input_shape[0], (list, tuple)) or (
                isinstance(input_shape, (list, tuple)) and input_shape
                and hasattr(input_shape[0], "as_list")):
            return [tuple(s) for s in input_shape]
        return [tuple(input_shape)]

    def build(self, input_shape):
        channels = sum(int(s[-1]) for s in self._shapes(input_shape))
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")
        self.moving_mean = self.add_weight(name="moving_mean", shape=(channels,),
                                           initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=(channels,),
                                               initializer="ones", trainable=False)
        self.conv.build((None, None, None, channels))
        self.built = True

    @property
    def kernel(self):
        return self.conv.kernel

    @property
    def prunable_weights(self):
        """The 1x1 kernel: what magnitude pruning masks (:mod:`keras_convnets.optimize.pruning`)."""
        return [self.kernel]

    @property
    def weights(self):
        """The plain layers' order in both Keras worlds (tf_keras would list the trainable
        kernel before the moving statistics)."""
        if not self.built:
            return super().weights
        return [self.gamma, self.beta, self.moving_mean, self.moving_variance, self.kernel]

    def call(self, inputs, training=None):
        xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        dtype = xs[0].dtype
        if training:
            moments = [tf.nn.moments(x, axes=[0, 1, 2]) for x in xs]
            mean = tf.concat([m for m, _ in moments], 0)
            variance = tf.concat([v for _, v in moments], 0)
            momentum = self.momentum
            self.moving_mean.assign(self.moving_mean * momentum
                                    + tf.cast(mean, self.moving_mean.dtype) * (1.0 - momentum))
            self.moving_variance.assign(
                self.moving_variance * momentum
                + tf.cast(variance, self.moving_variance.dtype) * (1.0 - momentum))
        else:
            mean = tf.cast(tf.convert_to_tensor(self.moving_mean), dtype)
            variance = tf.cast(tf.convert_to_tensor(self.moving_variance), dtype)
        gamma = tf.cast(tf.convert_to_tensor(self.gamma), dtype)
        scale = gamma * tf.math.rsqrt(variance + self.epsilon)
        shift = tf.cast(tf.convert_to_tensor(self.beta), dtype) - mean * scale
        kernel = tf.cast(tf.convert_to_tensor(self.kernel), dtype)

        def bottleneck(scale, shift, kernel, *maps):
            x = tf.concat(maps, -1) if len(maps) > 1 else maps[0]
            x = tf.nn.relu(x * scale + shift)
            return tf.nn.conv2d(x, kernel, 1, "VALID")

        if training and self.recompute:
            bottleneck = tf.recompute_grad(bottleneck)
        return bottleneck(scale, shift, kernel, *xs)

    def compute_output_shape(self, input_shape):
        return self._shapes(input_shape)[0][:-1] + (self.filters,)

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds of the 1x1 convolution (the norm is not counted, as elsewhere)."""
        channels = int(self.kernel.shape[2])
        return 2 * channels * int(output_shape[1]) * int(output_shape[2]) * self.filters

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, epsilon=self.epsilon, momentum=self.momentum,
                      recompute=self.recompute,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config
