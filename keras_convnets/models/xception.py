"""Xception: Inception modules taken to the limit, as depthwise-separable convolutions.

Chollet. "Xception: Deep Learning with Depthwise Separable Convolutions", 2016,
arXiv:1610.02357, Fig. 5: an entry flow (two unpadded 3x3 convolutions, three max-pooled
residual blocks), a middle flow (eight residual blocks of three 728-wide separable
convolutions) and an exit flow (a max-pooled residual block, two separable convolutions to
1536 and 2048), every convolution followed by BatchNorm. 22,855,952 trainable parameters, as
keras.applications' Xception and timm's ``legacy_xception``.

The layout is timm's ``legacy_xception`` (the Keras layout), so its weights port layer for
layer: the stem convolutions are unpadded, the 3x3 max-poolings pad one pixel on every side
with -inf (PyTorch's ``MaxPool2d(3, 2, 1)``; Keras' ``"same"`` pads only the bottom/right),
BatchNorm epsilon 1e-5 (keras.applications uses 1e-3).

Feature maps: ``<model>_stage<N>_out`` at strides 4 (entry block 1, 128 channels), 8 (entry
block 2, 256), 16 (end of the middle flow, 728) and 32 (after the exit flow, 2048). The two
unpadded stem convolutions take 3 pixels off the input, so the maps are exactly input / stride
for inputs of size 32k + 3 (and a pixel or two larger otherwise; 299 gives 74, 37, 19, 10).
There is no stride-2 stage: the stem's map is input / 2 - 2. The minimum input, 67 = 2 x 32 + 3,
is the smallest size at which every map is exactly input / stride and the exit flow still 2x2;
keras.applications asks for 71.
"""

import dataclasses

from ..applications import build_model
from ..applications.builder import CONV_INITIALIZER
from ..backend import keras
from ..layers import PaddedMaxPool2D
from ..registry import KerasTwin, Paper, Reference, register
from ..utils import check_positive_int, check_rate, make_divisible

XCEPTION = Paper("Xception: Deep Learning with Depthwise Separable Convolutions", 2016,
                 "1610.02357")


@dataclasses.dataclass(frozen=True)
class XceptionConfig:
    """Fig. 5's widths: the two stem convolutions, the entry blocks, the middle flow, the exit
    block's two separable convolutions and the final two."""

    stem: tuple = (32, 64)
    entry: tuple = (128, 256, 728)
    middle_blocks: int = 8
    exit_block: tuple = (728, 1024)
    exit: tuple = (1536, 2048)
    drop_rate: float = 0.5


def _separable(ctx, x, filters, name):
    """3x3 depthwise -> 1x1 pointwise, no bias, stride 1 ("same" is symmetric there)."""
    return keras.layers.SeparableConv2D(
        filters, 3, padding="same", use_bias=False,
        depthwise_initializer=CONV_INITIALIZER, pointwise_initializer=CONV_INITIALIZER,
        name=ctx.name(name))(x)


def _block(ctx, x, widths, name, start_with_relu, pool, drop_path_rate, out_name=None):
    """[ReLU] -> (sep conv -> BN) with ReLUs between -> [3x3/2 max-pool], plus the shortcut:
    a 1x1 convolution (stride 2) + BN where the block pools, the identity otherwise."""
    if pool:
        shortcut = ctx.conv_norm_act(x, widths[-1], 1, name + "_shortcut", strides=2, act=False)
    else:
        shortcut = x
    y = x
    for i, width in enumerate(widths, start=1):
        if i > 1 or start_with_relu:
            y = ctx.relu(y, f"{name}_relu{i}")
        y = ctx.norm(_separable(ctx, y, width, f"{name}_sepconv{i}"), f"{name}_bn{i}")
    if pool:
        y = PaddedMaxPool2D(3, 2, 1, name=ctx.name(name + "_pool"))(y)
    y = ctx.drop_path(y, drop_path_rate, name + "_drop_path")
    return ctx.add([shortcut, y], out_name or name + "_add")


def build_xception(model_name, cfg, *, drop_rate=None, drop_path_rate=0.0, **kwargs):
    """Builds Xception (arXiv:1610.02357, Fig. 5) from ``cfg``.

    Architecture options:
        drop_rate: dropout before the classifier; default 0.5, the paper's ImageNet setting
            (Section 4.3).
        drop_path_rate: stochastic depth on the residual branch of the twelve blocks (not in
            the paper), rising linearly over the blocks.
        norm: ``"batch"``, ``"sync_batch"``, ``"group"``, ``"layer"``, ``"batch_renorm"``,
            ``"weight"``.
    """
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    check_positive_int("middle_blocks", cfg.middle_blocks)
    total = len(cfg.entry) + cfg.middle_blocks + 1

    def rate(index):
        return drop_path_rate * index / max(1, total - 1)

    def body(ctx, x):
        # Entry flow: unpadded stride-2 and stride-1 3x3 convolutions.
        for i, (width, stride) in enumerate(zip(cfg.stem, (2, 1)), start=1):
            x = keras.layers.Conv2D(width, 3, strides=stride, use_bias=False,
                                    kernel_initializer=CONV_INITIALIZER,
                                    name=ctx.name(f"stem_conv{i}"))(x)
            x = ctx.relu(ctx.norm(x, f"stem_bn{i}"), f"stem_relu{i}")
        index = 0
        last_entry = len(cfg.entry)
        for i, width in enumerate(cfg.entry, start=1):
            # The last entry block's output opens the middle flow; stage 3 ends after it.
            out_name = f"stage{i}_out" if i < last_entry else None
            x = _block(ctx, x, (width, width), f"entry{i}", start_with_relu=i > 1, pool=True,
                       drop_path_rate=rate(index), out_name=out_name)
            index += 1
        width = cfg.entry[-1]
        for i in range(1, cfg.middle_blocks + 1):
            out_name = f"stage{last_entry}_out" if i == cfg.middle_blocks else None
            x = _block(ctx, x, (width,) * 3, f"middle{i}", start_with_relu=True, pool=False,
                       drop_path_rate=rate(index), out_name=out_name)
            index += 1
        # Exit flow: the last pooled block, then two separable convolutions with BN and ReLU.
        x = _block(ctx, x, cfg.exit_block, "exit", start_with_relu=True, pool=True,
                   drop_path_rate=rate(index))
        for i, width in enumerate(cfg.exit, start=1):
            x = ctx.norm(_separable(ctx, x, width, f"exit_sepconv{i + 2}"), f"exit_bn{i + 2}")
            relu_name = (f"stage{last_entry + 1}_out" if i == len(cfg.exit)
                         else f"exit_relu{i + 2}")
            x = ctx.relu(x, relu_name)
        return x

    drop_rate = cfg.drop_rate if drop_rate is None else drop_rate
    return build_model(model_name, body, drop_rate=drop_rate, **kwargs)


def tiny_config(cfg):
    """One middle block, 1/8 of the widths (multiples of 8)."""

    def shrink(widths):
        return tuple(make_divisible(w / 8, 8) for w in widths)

    return dataclasses.replace(cfg, stem=shrink(cfg.stem), entry=shrink(cfg.entry),
                               middle_blocks=1, exit_block=shrink(cfg.exit_block),
                               exit=shrink(cfg.exit))


@register(family="xception", paper=XCEPTION, config=XceptionConfig(), tiny=tiny_config,
          default_size=299, min_size=67, stage_strides=(4, 8, 16, 32), params=22_855_952,
          flops=16_714_806_992, reference=Reference("timm", "legacy_xception"),
          keras_twin=KerasTwin("Xception"),
          options={"drop_rate": None, "drop_path_rate": 0.0, "norm": "batch"},
          generic_builder="build_xception")
def Xception(config, **kwargs):
    """Xception (Chollet 2016, arXiv:1610.02357, Fig. 5): 36 convolutional layers in 14
    modules, 22,855,952 trainable parameters (timm legacy_xception, keras.applications), default
    input 299, minimum 67 (see the module docstring)."""
    return build_xception("xception", config, **kwargs)
