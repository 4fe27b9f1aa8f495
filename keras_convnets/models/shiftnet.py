"""ShiftResNet: CIFAR ResNets whose 3x3 convolutions are replaced by conv-shift-conv modules.

Wu, Wan, Yue, Jin, Zhao, Golmant, Gholaminejad, Gonzalez, Keutzer. "Shift: A Zero FLOP, Zero
Parameter Alternative to Spatial Convolutions", 2017 (CVPR 2018), arXiv:1711.08141, Sec. 4.1
(the CSC module in ResNet, expansion rate epsilon) and its CIFAR-10/100 table of
ShiftResNet-20/56/110 at epsilon = 1, 3, 6, 9.

Each basic block of the CIFAR ResNet (He et al. 2015, 6n + 2 layers, 16/32/64 channels) becomes
one CSC module: 1x1 conv to ``epsilon * C`` channels, BN, ReLU, shift (3x3 directions), 1x1
conv back to ``C`` (strided where the block down-samples), BN, the shortcut (identity, or a
strided 1x1 conv + BN where the shape changes), ReLU -- the authors' code
(github.com/alvinwan/shiftresnet-cifar, ``models/shiftresnet.py``).
"""

import dataclasses

from ..applications import build_model
from ..layers import Shift
from ..layers.shift import LAYOUTS
from ..registry import Paper, no_reference, register
from ..utils import check_choice, check_positive_int, check_rate

SHIFT = Paper("Shift: A Zero FLOP, Zero Parameter Alternative to Spatial Convolutions", 2017,
              "1711.08141")
CIFAR = dict(default_size=32, min_size=8, stage_strides=(1, 2, 4), default_classes=10)
EXPANSIONS = (1, 3, 6, 9)


@dataclasses.dataclass(frozen=True)
class ShiftResNetConfig:
    depths: tuple
    widths: tuple = (16, 32, 64)


def csc_block(ctx, x, out_channels, expansion, stride, name, drop_path_rate=0.0,
              shift_layout="grouped", out_name=None):
    """conv 1x1 (x expansion) -> BN -> ReLU -> shift -> conv 1x1 (stride) -> BN, + shortcut."""
    in_channels = int(x.shape[-1])
    shortcut = x
    if stride != 1 or in_channels != out_channels:
        shortcut = ctx.conv(x, out_channels, 1, name + "_shortcut_conv", strides=stride)
        shortcut = ctx.norm(shortcut, name + "_shortcut_bn")
    y = ctx.conv_norm_act(x, int(out_channels * expansion), 1, name, suffix="1")
    y = Shift(3, layout=shift_layout, name=ctx.name(name + "_shift"))(y)
    y = ctx.conv_norm_act(y, out_channels, 1, name, strides=stride, act=False, suffix="2")
    y = ctx.drop_path(y, drop_path_rate, name + "_drop_path")
    return ctx.relu(ctx.add([shortcut, y], name + "_add"), out_name or name + "_out")


def _body(cfg, expansion, shift_layout, drop_path_rate):
    total = sum(cfg.depths)

    def body(ctx, x):
        x = ctx.conv_norm_act(x, cfg.widths[0], 3, "stem")
        index = 0
        for stage, (depth, width) in enumerate(zip(cfg.depths, cfg.widths), start=1):
            for block in range(1, depth + 1):
                rate = drop_path_rate * index / max(1, total - 1)
                x = csc_block(ctx, x, width, expansion, 2 if block == 1 and stage > 1 else 1,
                              f"stage{stage}_block{block}", rate, shift_layout,
                              f"stage{stage}_out" if block == depth else None)
                index += 1
        return x

    return body


def build_shift_resnet(model_name, cfg, *, expansion=3, shift_layout="grouped",
                       drop_path_rate=0.0, **kwargs):
    """Builds a CIFAR ShiftResNet (arXiv:1711.08141).

    Architecture options:
        expansion: the expansion rate epsilon of the CSC modules (the paper: 1, 3, 6, 9; any
            positive integer works).
        shift_layout: ``"grouped"`` (the paper's contiguous channel groups) or
            ``"interleaved"`` (the authors' CUDA kernel: channel c moves in direction
            c mod 9), see :class:`~keras_convnets.layers.Shift`.
        drop_path_rate: stochastic depth on the residual branches, rising linearly from 0 at
            the first module to this rate at the last.
    """
    check_positive_int("expansion", expansion)
    check_choice("shift_layout", shift_layout, LAYOUTS)
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    return build_model(model_name, _body(cfg, expansion, shift_layout, drop_path_rate),
                       **kwargs)


#: The paper's parameter counts (millions, 10 classes) for epsilon = 1, 3, 6, 9, matched to
#: their 0.01M by ``tests/test_lightweight_tables.py``.
PAPER_PARAMS = {
    20: {1: 0.03, 3: 0.10, 6: 0.19, 9: 0.28},
    56: {1: 0.10, 3: 0.29, 6: 0.58, 9: 0.87},
    110: {1: 0.20, 3: 0.59, 6: 1.18, 9: 1.76},
}
#: What the ShiftResNet registrations share. ``expansion`` epsilon defaults to 3, the setting
#: behind the abstract's "better CIFAR accuracy with 60% fewer parameters"; ``paper_params`` is
#: that column of the table, to 0.1M. The tiny build has one CSC module per stage (two in the
#: first).
SHIFTRESNETS = dict(
    family="shift", paper=SHIFT, **CIFAR, tiny=ShiftResNetConfig((2, 1, 1)),
    generic_builder="build_shift_resnet",
    options={"expansion": 3, "shift_layout": "grouped", "drop_rate": 0.0, "drop_path_rate": 0.0,
             "norm": "batch"},
    reference=no_reference("the authors' shiftresnet-cifar (PyTorch + CUDA); paper counts "
                           "checked"))


@register(**SHIFTRESNETS, config=ShiftResNetConfig((3, 3, 3)), paper_params=0.1)
def ShiftResNet20(config, **kwargs):
    """ShiftResNet-20 (Wu et al. 2017, arXiv:1711.08141, the CIFAR-10/100 table): the CIFAR
    ResNet-20 (3 blocks per stage, 16/32/64 channels) with a CSC module (1x1 to epsilon C,
    shift, 1x1) for each basic block; 0.03/0.10/0.19/0.28M parameters at epsilon 1/3/6/9."""
    return build_shift_resnet("shiftresnet20", config, **kwargs)


@register(**SHIFTRESNETS, config=ShiftResNetConfig((9, 9, 9)), paper_params=0.3)
def ShiftResNet56(config, **kwargs):
    """ShiftResNet-56 (arXiv:1711.08141, CIFAR experiments): 9 CSC modules per stage. At the
    default epsilon = 3 it has 0.29M parameters against ResNet-56's 0.86M, the abstract's "60%
    fewer parameters"; 0.10/0.58/0.87M at epsilon 1/6/9."""
    return build_shift_resnet("shiftresnet56", config, **kwargs)


@register(**SHIFTRESNETS, config=ShiftResNetConfig((18, 18, 18)), paper_params=0.6)
def ShiftResNet110(config, **kwargs):
    """ShiftResNet-110 (arXiv:1711.08141), the deepest of the paper's CIFAR table: 18 CSC
    modules per stage, 0.20/0.59/1.18/1.76M parameters at epsilon = 1/3/6/9."""
    return build_shift_resnet("shiftresnet110", config, **kwargs)
