"""The normalisation choice every builder takes through ``norm=``.

- ``"batch"``: batch normalisation (Ioffe & Szegedy, arXiv:1502.03167), on TensorFlow's fused
  kernel under Keras 3 (:class:`~keras_convnets.layers.batch_norm.BatchNormalization`, which
  ``.keras`` files record as Keras' own layer).
- ``"sync_batch"``: batch normalisation whose statistics are reduced across all replicas of a
  ``tf.distribute`` strategy (Keras' ``BatchNormalization(synchronized=True)``).
- ``"group"``: group normalisation (Wu & He, "Group Normalization", ECCV 2018,
  arXiv:1803.08494), Keras' own ``GroupNormalization``; 32 groups, or the largest divisor of
  the channel count below that.
- ``"layer"``: layer normalisation as the GN paper defines it for images -- statistics over
  (H, W, C) with a per-channel affine -- i.e. group normalisation with one group.
- ``"batch_renorm"``: batch renormalisation (Ioffe, arXiv:1702.03275) with the paper's
  clipping schedule, :class:`~keras_convnets.layers.batch_renorm.BatchRenormalization`; under
  legacy ``tf_keras`` its own ``BatchNormalization(renorm=True)`` with the schedule's final
  bounds (rmax 3, dmax 5), which it has no schedule for.
- ``"weight"``: weight normalisation (Salimans & Kingma, arXiv:1602.07868), a reparameterisation
  of the convolutions, not a layer: the slot gets a per-channel bias
  (:class:`~keras_convnets.layers.weight_norm.ChannelBias`) and ``build_model`` makes every
  convolution weight-normalised (:mod:`keras_convnets.layers.weight_norm`).

docs/normalization.md says which to choose when, with a measured comparison.
"""

from ..backend import USE_LEGACY_KERAS, keras
from ..utils import check_choice
from .batch_norm import BatchNormalization
from .batch_renorm import BatchRenormalization
from .weight_norm import ChannelBias

#: tf_keras' own BatchNormalization already runs the fused kernel, and tfmot's QAT transforms
#: recognise it by class name; under Keras 3 the fused subclass is the faster equivalent.
_BATCH_NORM = keras.layers.BatchNormalization if USE_LEGACY_KERAS else BatchNormalization

NORMS = ("batch", "sync_batch", "group", "layer", "batch_renorm", "weight")
#: the choices whose layer computes statistics of the data (all but weight normalisation)
STATISTICS_NORMS = NORMS[:5]
#: batch renormalisation's final clipping bounds (the paper's Section 4), used as fixed bounds
#: by tf_keras' renorm, which has no schedule
RENORM_CLIPPING = {"rmax": 3.0, "rmin": 1.0 / 3.0, "dmax": 5.0}
DEFAULT_GROUPS = 32


def group_count(channels, groups=DEFAULT_GROUPS):
    """The largest divisor of ``channels`` that is <= ``groups``."""
    groups = min(groups, channels)
    while channels % groups:
        groups -= 1
    return groups


def check_norm(norm):
    return check_choice("norm", norm, NORMS)


def normalization(norm, channels, name, epsilon=1e-5, momentum=0.9, zero_init=False):
    """Returns a new normalisation layer for a ``channels``-wide NHWC feature map.

    ``momentum`` is Keras' convention (0.9 == PyTorch's 0.1); ``zero_init`` starts the scale at
    zero (Goyal et al.'s trick for the last norm of a residual branch). ``"weight"`` returns
    the slot's :class:`ChannelBias`, which has no scale (``zero_init`` does not apply: a zero
    ``g`` would stop every gradient of the convolution's direction).
    """
    check_norm(norm)
    gamma = "zeros" if zero_init else "ones"
    if norm == "weight":
        return ChannelBias(name=name)
    if norm == "batch_renorm":
        if USE_LEGACY_KERAS:
            return keras.layers.BatchNormalization(
                epsilon=epsilon, momentum=momentum, gamma_initializer=gamma, renorm=True,
                renorm_clipping=dict(RENORM_CLIPPING), renorm_momentum=momentum, name=name)
        return BatchRenormalization(epsilon=epsilon, momentum=momentum,
                                    gamma_initializer=gamma, name=name)
    if norm in ("batch", "sync_batch"):
        return _BATCH_NORM(
            epsilon=epsilon, momentum=momentum, gamma_initializer=gamma,
            synchronized=norm == "sync_batch", name=name)
    groups = 1 if norm == "layer" else group_count(channels)
    return keras.layers.GroupNormalization(
        groups=groups, epsilon=epsilon, gamma_initializer=gamma, name=name)
