"""Custom layers: one concept per module, each registered and serializable."""

from .activations import HardSigmoid, HardSwish
from .batch_norm import FusedBatchNormalization
from .channel_gather import ChannelGather
from .channel_shuffle import ChannelShuffle
from .channel_split import ChannelSplit
from .context_module import ContextModule
from .dense_bottleneck import DenseBottleneck
from .dilated_residual import DilatedResidual
from .drop_path import DropPath
from .fractal_join import FractalColumnSampler, FractalJoin
from .group_conv import GroupConv2D
from .learned_group_conv import ChannelMask, LearnedGroupConv
from .lrn import LocalResponseNormalization
from .normalization import NORMS, normalization
from .padded_max_pool import PaddedMaxPool2D
from .padded_avg_pool import PaddedAveragePooling2D
from .se_block import SEBlock
from .shift import Shift
from .context_encoding import ContextEncoding, se_loss, se_loss_targets
from .global_conv import BoundaryRefinement, GlobalConvBlock
from .max_unpooling import MaxPoolingWithArgmax2D, MaxUnpooling2D
from .pixel_shuffle import ICNR, PixelShuffle
from .resize_conv import ResizeConv2D
from .transposed_conv import BilinearUpsampling, bilinear_upsampling_kernel
from .deformable_conv import DeformableConv2D
from .deformable_roi_pooling import DeformableRoIPooling
from .irregular_conv import IrregularConv2D
from .spatial_transformer import SpatialTransformer
from .batch_renorm import BatchRenormalization
from .weight_norm import (ChannelBias, WeightNormConv2D, WeightNormDepthwiseConv2D,
                          WeightNormSeparableConv2D)

__all__ = ["ChannelSplit", "DropPath", "GroupConv2D", "SEBlock", "NORMS", "normalization",
           "HardSigmoid", "HardSwish", "PaddedMaxPool2D", "PaddedAveragePooling2D",
           "LocalResponseNormalization",
           "ChannelShuffle", "Shift", "FusedBatchNormalization", "DenseBottleneck",
           "FractalJoin", "FractalColumnSampler", "ChannelGather", "LearnedGroupConv",
           "ChannelMask", "ContextModule", "DilatedResidual",
           "GlobalConvBlock", "BoundaryRefinement", "bilinear_upsampling_kernel",
           "BilinearUpsampling", "ResizeConv2D", "PixelShuffle", "ICNR", "MaxPoolingWithArgmax2D",
           "MaxUnpooling2D", "ContextEncoding", "se_loss", "se_loss_targets",
           "DeformableConv2D", "DeformableRoIPooling", "IrregularConv2D", "SpatialTransformer",
           "BatchRenormalization", "ChannelBias", "WeightNormConv2D", "WeightNormDepthwiseConv2D",
           "WeightNormSeparableConv2D"]
