"""Momentum SGD with L2 weight decay that skips BatchNorm and biases, and LARS.

Both optimizers work in Keras 3 and in legacy ``tf_keras``, under any ``tf.distribute``
strategy, and serialise into ``.keras`` files.

Weight decay here is the papers' L2 term added to the gradient (``g + wd * w``), as in Caffe,
Torch and Goyal et al. -- not Keras' *decoupled* ``weight_decay`` argument, which subtracts
``lr * wd * w`` outside the momentum and so, at momentum 0.9, decays about ten times less for
the same number. Rank-1 variables -- BatchNorm scales and offsets, biases -- are not decayed
by default (Goyal et al. 2017, arXiv:1706.02677, Sec. 5.1: "we do not apply weight decay on the
learnable BN coefficients"); ``exclude_from_weight_decay(var_list=..., var_names=...)``
excludes more (MobileNet's depthwise kernels).
"""

from ..backend import USE_LEGACY_KERAS, keras, register_serializable, tf


def _check(name, value, low=0.0, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (
            high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"`{name}` must be a number {bound}; got {value!r}.")
    return float(value)


class _DecayingMomentum(keras.optimizers.Optimizer):
    """Shared plumbing: one momentum slot per variable, the decay rule, both Keras APIs."""

    def __init__(self, learning_rate, momentum, weight_decay, decay_vectors, name, **kwargs):
        kwargs.pop("weight_decay", None)
        if USE_LEGACY_KERAS:  # tf_keras' base optimizer leaves the rate to subclasses
            super().__init__(name=name, **kwargs)
            self._learning_rate = self._build_learning_rate(learning_rate)
        else:
            super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.momentum = _check("momentum", momentum, 0.0, 1.0)
        self.coupled_weight_decay = _check("weight_decay", weight_decay)
        self.decay_vectors = bool(decay_vectors)

    # -- Keras 3 / tf_keras differences ------------------------------------------------------
    def build(self, var_list):
        if USE_LEGACY_KERAS:
            super().build(var_list)
            if getattr(self, "_built", False):
                return
            self._built = True
        else:
            if self.built:
                return
            super().build(var_list)
        self.momentums = [self.add_variable_from_reference(v, "momentum") for v in var_list]

    def _slot(self, variable):
        if USE_LEGACY_KERAS:
            return self.momentums[self._index_dict[self._var_key(variable)]]
        return self.momentums[self._get_variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate=None):
        if learning_rate is None:  # tf_keras passes no learning rate
            learning_rate = self.learning_rate
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        dtype = variable.dtype
        self._update(tf.cast(gradient, dtype), variable, self._slot(variable),
                     tf.cast(learning_rate, dtype))

    # -- the decay rule ----------------------------------------------------------------------
    def decays(self, variable):
        """Whether ``variable`` gets weight decay (and, for LARS, layer-wise adaptation)."""
        if not self.decay_vectors and len(variable.shape) <= 1:
            return False
        return self._use_weight_decay(variable)

    def get_config(self):
        config = super().get_config()
        if USE_LEGACY_KERAS:
            config["learning_rate"] = self._serialize_hyperparameter(self._learning_rate)
        config.update(momentum=self.momentum, weight_decay=self.coupled_weight_decay,
                      decay_vectors=self.decay_vectors)
        return config


@register_serializable
class SGD(_DecayingMomentum):
    """Momentum SGD with coupled L2 weight decay on kernels only.

    The update (Goyal et al. 2017, arXiv:1706.02677, Eqs. 9-10)::

        u <- m * u + (g + wd * w)        # wd only where decays(w)
        w <- w - lr * u                  # Nesterov: w <- w - lr * (g + wd * w + m * u)

    keeps the velocity in gradient units, so a learning-rate change takes effect at once:
    this is the "momentum correction" of Goyal et al. Sec. 2.3 built in (with a constant rate
    it is the same as Keras' SGD).
    """

    def __init__(self, learning_rate=0.1, momentum=0.9, nesterov=False, weight_decay=0.0,
                 decay_vectors=False, name="SGD", **kwargs):
        super().__init__(learning_rate, momentum, weight_decay, decay_vectors, name, **kwargs)
        self.nesterov = bool(nesterov)

    def _update(self, g, w, u, lr):
        if self.coupled_weight_decay and self.decays(w):
            g = g + tf.cast(self.coupled_weight_decay, g.dtype) * w
        m = tf.cast(self.momentum, g.dtype)
        u.assign(m * u + g)
        step = g + m * u if self.nesterov else u
        w.assign_sub(lr * step)

    def get_config(self):
        config = super().get_config()
        config["nesterov"] = self.nesterov
        return config


@register_serializable
class LARS(_DecayingMomentum):
    """Layer-wise Adaptive Rate Scaling (You, Gitman, Ginsburg, "Large Batch Training of
    Convolutional Networks", 2017, arXiv:1708.03888, Algorithm 1).

    For every variable ("layer") ``w`` with gradient ``g``, at global rate ``lr`` (give it a
    :class:`~keras_convnets.training.schedules.WarmupSchedule` with ``decay="polynomial"``,
    ``power=2`` for the paper's ``gamma_0 * (1 - t/T)^2``; it is evaluated at the step count
    ``t`` before the update)::

        local = eta * ||w|| / (||g|| + wd * ||w||)      # 1 where ||w|| or ||g|| is 0
        v <- m * v + lr * local * (g + wd * w)
        w <- w - v

    ``eta`` is the trust coefficient. Variables that :meth:`decays` excludes (by default the
    rank-1 BatchNorm parameters and biases) take a plain momentum step, ``local = 1`` and no
    decay, as the common LARS implementations do.
    """

    def __init__(self, learning_rate=1.0, momentum=0.9, weight_decay=5e-4, eta=0.001,
                 epsilon=0.0, decay_vectors=False, name="LARS", **kwargs):
        super().__init__(learning_rate, momentum, weight_decay, decay_vectors, name, **kwargs)
        self.eta = _check("eta", eta)
        self.epsilon = _check("epsilon", epsilon)

    def local_rate(self, w, g):
        """The layer-wise rate ``eta * ||w|| / (||g|| + wd * ||w|| + epsilon)``."""
        w_norm = tf.norm(w)
        g_norm = tf.norm(g)
        wd = tf.cast(self.coupled_weight_decay, w.dtype)
        ratio = self.eta * w_norm / (g_norm + wd * w_norm + self.epsilon)
        return tf.where((w_norm > 0) & (g_norm > 0), ratio, tf.ones_like(ratio))

    def _update(self, g, w, v, lr):
        if self.decays(w):
            scale = lr * self.local_rate(w, g)
            g = g + tf.cast(self.coupled_weight_decay, g.dtype) * w
        else:
            scale = lr
        v.assign(tf.cast(self.momentum, g.dtype) * v + scale * g)
        w.assign_sub(v)

    def get_config(self):
        config = super().get_config()
        config.update(eta=self.eta, epsilon=self.epsilon)
        return config


@register_serializable
class RMSprop(keras.optimizers.RMSprop):
    """Keras' RMSprop with the same coupled L2 weight decay (``g + wd * w`` where
    :meth:`decays`), for the Inception-v3 / MobileNet recipes (Szegedy et al. 2015,
    arXiv:1512.00567, Sec. 8: decay 0.9, epsilon 1.0)."""

    def __init__(self, learning_rate=0.045, rho=0.9, momentum=0.9, epsilon=1.0,
                 weight_decay=0.0, decay_vectors=False, name="RMSprop", **kwargs):
        kwargs.pop("weight_decay", None)
        super().__init__(learning_rate=learning_rate, rho=rho, momentum=momentum,
                         epsilon=epsilon, name=name, **kwargs)
        self.coupled_weight_decay = _check("weight_decay", weight_decay)
        self.decay_vectors = bool(decay_vectors)

    decays = _DecayingMomentum.decays

    def update_step(self, gradient, variable, *learning_rate):
        if self.coupled_weight_decay and self.decays(variable):
            if isinstance(gradient, tf.IndexedSlices):
                gradient = tf.convert_to_tensor(gradient)
            gradient = tf.cast(gradient, variable.dtype) + tf.cast(
                self.coupled_weight_decay, variable.dtype) * variable
        return super().update_step(gradient, variable, *learning_rate)

    def get_config(self):
        config = super().get_config()
        config.update(weight_decay=self.coupled_weight_decay, decay_vectors=self.decay_vectors)
        return config


__all__ = ["SGD", "LARS", "RMSprop"]
