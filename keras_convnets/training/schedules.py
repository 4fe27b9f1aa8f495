"""Learning-rate schedules of the large-batch and paper recipes.

- Linear scaling rule (Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1
  Hour", 2017, arXiv:1706.02677, Sec. 2.1): when the minibatch is multiplied by k, multiply the
  learning rate by k -- :func:`linear_scaling`.
- Gradual warm-up (ibid. Sec. 2.2): start from the small-batch rate and raise it by a constant
  amount every iteration until it reaches the scaled rate after a few epochs.
- After warm-up: cosine decay (Loshchilov & Hutter, SGDR, arXiv:1608.03983), step decay (the
  ResNet/AlexNet "divide by 10" schedule), polynomial decay (LARS, You et al. 2017,
  arXiv:1708.03888, Algorithm 1: ``gamma_0 * (1 - t/T)^2``), exponential decay (Inception v3 /
  MobileNet: 0.94 every 2 epochs) or constant.

:class:`WarmupSchedule` is a ``LearningRateSchedule`` of both Keras worlds and serialises into
``.keras`` files.
"""

import math

from ..backend import keras, register_serializable, tf
from ..utils import check_choice

DECAYS = ("cosine", "step", "polynomial", "exponential", "constant")


def linear_scaling(learning_rate, batch_size, base_batch_size=256):
    """Goyal et al.'s linear scaling rule: ``learning_rate * batch_size / base_batch_size``."""
    for name, value in (("batch_size", batch_size), ("base_batch_size", base_batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be an integer >= 1; got {value!r}.")
    return learning_rate * batch_size / base_batch_size


@register_serializable
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``warmup_from`` to ``peak`` over ``warmup_steps``, then ``decay``.

    Args:
        peak: the rate reached at the end of warm-up (the linearly scaled rate).
        total_steps: the length of training; cosine and polynomial decay reach ``end`` there.
        warmup_steps: gradual warm-up length (Goyal et al.: 5 epochs); 0 for none.
        warmup_from: the rate at step 0 (Goyal et al.: the small-batch rate, ``peak / k``).
        decay: one of ``"cosine"``, ``"step"``, ``"polynomial"``, ``"exponential"``,
            ``"constant"``.
        boundaries: steps at which ``"step"`` multiplies the rate by ``factor`` (absolute steps).
        factor: the step-decay multiplier (0.1 divides by 10).
        power: the polynomial decay's power (LARS: 2).
        decay_every: ``"exponential"`` multiplies by ``factor`` every ``decay_every`` steps.
        end: the final rate of cosine and polynomial decay.
    """

    def __init__(self, peak, total_steps, warmup_steps=0, warmup_from=0.0, decay="cosine",
                 boundaries=(), factor=0.1, power=2.0, decay_every=1, end=0.0, name=None):
        super().__init__()
        check_choice("decay", decay, DECAYS)
        if not peak > 0:
            raise ValueError(f"`peak` must be a positive learning rate; got {peak!r}.")
        if int(total_steps) < 1:
            raise ValueError(f"`total_steps` must be >= 1; got {total_steps!r}.")
        if not 0 <= int(warmup_steps) <= int(total_steps):
            raise ValueError(f"`warmup_steps` must be in [0, total_steps={total_steps}]; got "
                             f"{warmup_steps!r}.")
        if int(decay_every) < 1:
            raise ValueError(f"`decay_every` must be >= 1; got {decay_every!r}.")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.warmup_from = float(warmup_from)
        self.decay = decay
        self.boundaries = tuple(int(b) for b in boundaries)
        if list(self.boundaries) != sorted(self.boundaries):
            raise ValueError(f"`boundaries` must be increasing; got {boundaries!r}.")
        self.factor = float(factor)
        self.power = float(power)
        self.decay_every = int(decay_every)
        self.end = float(end)
        self.name = name

    def _decayed(self, step):
        peak, end = self.peak, self.end
        if self.decay == "constant":
            return tf.constant(peak, tf.float32)
        if self.decay == "step":
            passed = tf.add_n([tf.cast(step >= b, tf.float32) for b in self.boundaries]) \
                if self.boundaries else tf.constant(0.0)
            return peak * tf.pow(self.factor, passed)
        span = float(max(1, self.total_steps - self.warmup_steps))
        t = tf.clip_by_value((step - self.warmup_steps) / span, 0.0, 1.0)
        if self.decay == "cosine":
            return end + (peak - end) * 0.5 * (1.0 + tf.cos(math.pi * t))
        if self.decay == "polynomial":
            return end + (peak - end) * tf.pow(1.0 - t, self.power)
        # exponential, staircase
        periods = tf.floor(tf.maximum(step - self.warmup_steps, 0.0) / self.decay_every)
        return peak * tf.pow(self.factor, periods)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        decayed = self._decayed(step)
        if not self.warmup_steps:
            return decayed
        warm = self.warmup_from + (self.peak - self.warmup_from) * step / self.warmup_steps
        return tf.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "warmup_from": self.warmup_from,
                "decay": self.decay, "boundaries": list(self.boundaries), "factor": self.factor,
                "power": self.power, "decay_every": self.decay_every, "end": self.end,
                "name": self.name}


__all__ = ["DECAYS", "linear_scaling", "WarmupSchedule"]
