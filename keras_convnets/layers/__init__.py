"""Custom layers: one concept per module, each registered and serializable."""

from .channel_split import ChannelSplit
from .drop_path import DropPath
from .group_conv import GroupConv2D
from .normalization import NORMS, normalization
from .se_block import SEBlock

__all__ = ["ChannelSplit", "DropPath", "GroupConv2D", "SEBlock", "NORMS", "normalization"]
