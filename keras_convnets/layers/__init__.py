"""Custom layers: one concept per module, each registered and serializable."""

from .activations import HardSigmoid, HardSwish
from .batch_norm import FusedBatchNormalization
from .channel_shuffle import ChannelShuffle
from .channel_split import ChannelSplit
from .dense_bottleneck import DenseBottleneck
from .drop_path import DropPath
from .group_conv import GroupConv2D
from .lrn import LocalResponseNormalization
from .normalization import NORMS, normalization
from .padded_max_pool import PaddedMaxPool2D
from .se_block import SEBlock
from .shift import Shift

__all__ = ["ChannelSplit", "DropPath", "GroupConv2D", "SEBlock", "NORMS", "normalization",
           "HardSigmoid", "HardSwish", "PaddedMaxPool2D", "LocalResponseNormalization",
           "ChannelShuffle", "Shift", "FusedBatchNormalization", "DenseBottleneck"]
