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
"""

from ..backend import USE_LEGACY_KERAS, keras
from ..utils import check_choice
from .batch_norm import BatchNormalization

#: tf_keras' own BatchNormalization already runs the fused kernel, and tfmot's QAT transforms
#: recognise it by class name; under Keras 3 the fused subclass is the faster equivalent.
_BATCH_NORM = keras.layers.BatchNormalization if USE_LEGACY_KERAS else BatchNormalization

NORMS = ("batch", "sync_batch", "group", "layer")
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
    zero (Goyal et al.'s trick for the last norm of a residual branch).
    """
    check_norm(norm)
    gamma = "zeros" if zero_init else "ones"
    if norm in ("batch", "sync_batch"):
        return _BATCH_NORM(
            epsilon=epsilon, momentum=momentum, gamma_initializer=gamma,
            synchronized=norm == "sync_batch", name=name)
    groups = 1 if norm == "layer" else group_count(channels)
    return keras.layers.GroupNormalization(
        groups=groups, epsilon=epsilon, gamma_initializer=gamma, name=name)
