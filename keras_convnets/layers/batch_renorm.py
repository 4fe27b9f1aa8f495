"""Batch renormalisation (Ioffe, "Batch Renormalization: Towards Reducing Minibatch Dependence
in Batch-Normalized Models", NIPS 2017, arXiv:1702.03275), with the paper's clipping schedule.

Algorithm 1 of the paper, per channel, for a training minibatch ``B``::

    mu_B = mean(x)                 sigma_B = sqrt(var(x) + eps)
    r = stop_gradient(clip(sigma_B / sigma, 1 / rmax, rmax))
    d = stop_gradient(clip((mu_B - mu) / sigma, -dmax, dmax))
    y = gamma * ((x - mu_B) / sigma_B * r + d) + beta
    mu    <- mu    + (1 - momentum) * (mu_B - mu)
    sigma <- sigma + (1 - momentum) * (sigma_B - sigma)

and at inference ``y = gamma * (x - mu) / sigma + beta``: the moving averages ``mu``, ``sigma``
(``moving_mean``, ``moving_stddev``) are what training normalised towards. With ``r = 1, d = 0``
this is batch normalisation; the corrections make a training output depend less on the batch,
which is what helps with small or non-i.i.d. minibatches (the paper's experiments).

Section 4 (the schedule): ``rmax = 1, dmax = 0`` (plain batch norm) for the first 5,000 training
steps, then relaxed gradually (linearly here) to ``rmax = 3`` at 40k steps and ``dmax = 5`` at
25k. These are the defaults; ``warmup_steps``, ``rmax_steps`` and ``dmax_steps`` scale the
schedule to a shorter run. The layer counts its own training steps in a non-trainable ``step``
variable (one per training call; saved with the weights, so a resumed run continues the
schedule). ``momentum`` follows Keras' convention (0.99 == the paper's update rate 0.01).

Keras 3.15's ``BatchNormalization(renorm=True)`` clips with fixed bounds (no schedule) and keeps
separate renorm statistics; legacy ``tf_keras``' does the same, and the builders use it under
``TF_USE_LEGACY_KERAS=1`` with the schedule's final bounds (see
:func:`keras_convnets.layers.normalization.normalization`).
"""

from ..backend import USE_LEGACY_KERAS, keras, register_serializable, tf

#: variables read in float32 even under a mixed-precision policy (as Keras' batch norm)
_NO_AUTOCAST = {"experimental_autocast": False} if USE_LEGACY_KERAS else {"autocast": False}


def renorm_bounds(step, rmax=3.0, dmax=5.0, warmup_steps=5000, rmax_steps=40000,
                  dmax_steps=25000):
    """``(rmax(step), dmax(step))`` of the schedule: 1 and 0 until ``warmup_steps``, then linear
    to ``rmax`` at ``rmax_steps`` and ``dmax`` at ``dmax_steps`` (tensors or floats)."""
    step = tf.cast(step, tf.float32)

    def progress(end):
        if end <= warmup_steps:
            return tf.cast(step >= warmup_steps, tf.float32)
        return tf.clip_by_value((step - warmup_steps) / float(end - warmup_steps), 0.0, 1.0)

    return 1.0 + (rmax - 1.0) * progress(rmax_steps), dmax * progress(dmax_steps)


def _check_number(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
        raise ValueError(f"`{name}` must be a number >= {minimum}; got {value!r}.")
    return float(value)


def _check_steps(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"`{name}` must be an integer >= 0; got {value!r}.")
    return value


@register_serializable
class BatchRenormalization(keras.layers.Layer):
    """Batch renormalisation over the last axis of its input (NHWC maps, or features).

    Arguments: ``momentum`` (Keras' convention), ``epsilon``, ``center``/``scale`` (``beta`` and
    ``gamma``), ``gamma_initializer``, the clipping bounds ``rmax`` (>= 1) and ``dmax`` (>= 0)
    and their schedule ``warmup_steps``, ``rmax_steps``, ``dmax_steps`` (module docstring).
    Weights: ``gamma``, ``beta`` (trainable), ``moving_mean``, ``moving_stddev``, ``step``.
    A layer set ``trainable=False`` normalises with its moving statistics, as Keras' batch norm.
    """

    def __init__(self, momentum=0.99, epsilon=1e-3, center=True, scale=True, rmax=3.0,
                 dmax=5.0, warmup_steps=5000, rmax_steps=40000, dmax_steps=25000,
                 gamma_initializer="ones", beta_initializer="zeros", **kwargs):
        kwargs.pop("axis", None)  # always the last axis
        super().__init__(**kwargs)
        momentum = _check_number("momentum", momentum, 0.0)
        if momentum >= 1.0:
            raise ValueError(f"`momentum` must be in [0, 1); got {momentum!r}.")
        self.momentum = momentum
        self.epsilon = _check_number("epsilon", epsilon, 0.0)
        self.center = bool(center)
        self.scale = bool(scale)
        self.rmax = _check_number("rmax", rmax, 1.0)
        self.dmax = _check_number("dmax", dmax, 0.0)
        self.warmup_steps = _check_steps("warmup_steps", warmup_steps)
        self.rmax_steps = _check_steps("rmax_steps", rmax_steps)
        self.dmax_steps = _check_steps("dmax_steps", dmax_steps)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the last dimension of the input must be known.")
        shape = (int(channels),)
        self.gamma = self.add_weight(name="gamma", shape=shape, trainable=True,
                                     initializer=self.gamma_initializer,
                                     **_NO_AUTOCAST) if self.scale else None
        self.beta = self.add_weight(name="beta", shape=shape, trainable=True,
                                    initializer=self.beta_initializer,
                                    **_NO_AUTOCAST) if self.center else None
        self.moving_mean = self.add_weight(name="moving_mean", shape=shape, trainable=False,
                                           initializer="zeros", **_NO_AUTOCAST)
        self.moving_stddev = self.add_weight(name="moving_stddev", shape=shape,
                                             trainable=False, initializer="ones",
                                             **_NO_AUTOCAST)
        # float32 counts exactly to 2**24 steps, far past any schedule's end
        self.step = self.add_weight(name="step", shape=(), trainable=False, initializer="zeros",
                                    **_NO_AUTOCAST)
        super().build(input_shape)

    def bounds(self, step=None):
        """The clipping bounds ``(rmax, dmax)`` at ``step`` (default: the layer's own count)."""
        return renorm_bounds(self.step if step is None else step, self.rmax, self.dmax,
                             self.warmup_steps, self.rmax_steps, self.dmax_steps)

    def call(self, inputs, training=None):
        x = tf.cast(inputs, tf.float32)
        mu = tf.cast(self.moving_mean, tf.float32)
        sigma = tf.cast(self.moving_stddev, tf.float32)
        if training and self.trainable:
            axes = list(range(len(x.shape) - 1))
            mean, variance = tf.nn.moments(x, axes)
            stddev = tf.sqrt(variance + self.epsilon)
            rmax, dmax = self.bounds()
            r = tf.stop_gradient(tf.clip_by_value(stddev / sigma, 1.0 / rmax, rmax))
            d = tf.stop_gradient(tf.clip_by_value((mean - mu) / sigma, -dmax, dmax))
            # (x - mean) / stddev * r + d, as one scale and one offset per channel
            scale = r / stddev
            offset = d - mean * scale
            rate = 1.0 - self.momentum
            self.moving_mean.assign(mu + rate * (tf.stop_gradient(mean) - mu))
            self.moving_stddev.assign(sigma + rate * (tf.stop_gradient(stddev) - sigma))
            self.step.assign(tf.cast(self.step, tf.float32) + 1.0)
        else:
            scale = 1.0 / sigma
            offset = -mu * scale
        if self.scale:
            gamma = tf.cast(self.gamma, tf.float32)
            scale, offset = scale * gamma, offset * gamma
        if self.center:
            offset = offset + tf.cast(self.beta, tf.float32)
        return tf.cast(x * scale + offset, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            momentum=self.momentum, epsilon=self.epsilon, center=self.center, scale=self.scale,
            rmax=self.rmax, dmax=self.dmax, warmup_steps=self.warmup_steps,
            rmax_steps=self.rmax_steps, dmax_steps=self.dmax_steps,
            gamma_initializer=keras.initializers.serialize(self.gamma_initializer),
            beta_initializer=keras.initializers.serialize(self.beta_initializer))
        return config


def set_renorm_schedule(model, warmup_steps, rmax_steps, dmax_steps):
    """Rescales the clipping schedule of every :class:`BatchRenormalization` layer of ``model``
    (nested layers included), e.g. to a run of a few hundred steps; call before ``compile``/
    ``fit`` (a traced training step keeps the values it was traced with). Returns the count of
    layers changed."""
    for name, value in (("warmup_steps", warmup_steps), ("rmax_steps", rmax_steps),
                        ("dmax_steps", dmax_steps)):
        _check_steps(name, value)
    layers = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
              if isinstance(layer, BatchRenormalization)]
    for layer in layers:
        layer.warmup_steps, layer.rmax_steps, layer.dmax_steps = (
            warmup_steps, rmax_steps, dmax_steps)
    return len(layers)


__all__ = ["BatchRenormalization", "renorm_bounds", "set_renorm_schedule"]
