"""Deep merge-and-run networks (DMRNet): residual branches assembled in parallel pairs.

Zhao, Wang, Li, Tu, Zeng. "Deep Convolutional Neural Networks with Merge-and-Run Mappings",
2016, arXiv:1611.07718 (v1: "On the Connection of Deep Fusion to Ensembling"). A merge-and-run
block runs two residual branches side by side, each on its own stream; it averages the two
inputs (merge) and adds the average to each branch's output (run) -- the paper's eq. (4):

    [x_a', x_b'] = [H_a(x_a), H_b(x_b)] + 1/2 [[I, I], [I, I]] [x_a, x_b].

The layout is the authors' code (github.com/zlmzju/fusenet, ``network/cross.py``, the "DFN-MR"
nets of the paper's CIFAR/SVHN results table), a post-activation CIFAR ResNet whose pairs of
sequential blocks become merge-and-run blocks:

- a 3x3 conv-BN-ReLU stem of 16k channels (k the widen factor), both streams starting from it;
- three stages of n blocks at 16k, 32k, 64k channels; each branch is 3x3 conv-BN-ReLU-3x3
  conv-BN, the first block of stages 2 and 3 strides both 3x3s' first conv by 2 and projects
  each stream's identity with its own 1x1 stride-2 conv + BN before the average;
- after each sum a ReLU, per stream; the last block of the net adds both branches to the
  merged identity (one stream), then global average pooling and the classifier.

Depth counts a branch's layers, as the paper does: 2 + 6n (DMRNet-56: n = 9, the 3x3
convolutions of ResNet-110 in half the depth). Feature maps: ``<model>_stage<N>_out`` is the
two streams concatenated (2 x 16k * 2^(N-1) channels) for stages 1-2 -- the next stage splits
it again -- and the last block's output for stage 3. Layers: ``stem_conv``, ``stem_bn``;
``stage<S>_block<B>_{a,b}_conv1``/``_bn1``/``_conv2``/``_bn2``, ``_{a,b}_shortcut_conv``/``_bn``,
``_merge`` (the average), ``_{a,b}_add``, ``_{a,b}_out`` (the last block: ``_add``); ``logits``.
"""

import dataclasses

from ..applications import build_model
from ..backend import keras
from ..layers import ChannelSplit
from ..registry import Paper, no_reference, register
from ..utils import check_positive_int

DMRNET = Paper("Deep Convolutional Neural Networks with Merge-and-Run Mappings", 2016,
               "1611.07718")


@dataclasses.dataclass(frozen=True)
class DMRNetConfig:
    """One DMRNet: merge-and-run blocks per stage and the stages' channels (the stem has the
    first stage's)."""

    blocks: tuple
    widths: tuple = (16, 32, 64)


def dmrnet_cifar_config(depth, widen_factor=1):
    """DMRNet-d (widen factor k): d = 6n + 2, n blocks per stage at 16k/32k/64k channels; a
    ValueError names any other depth."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"`depth` of a DMRNet must be 6n + 2 with n >= 1 (e.g. 8, 32, 56); "
                         f"got {depth!r}.")
    k = check_positive_int("widen_factor", widen_factor)
    n = (depth - 2) // 6
    return DMRNetConfig((n, n, n), (16 * k, 32 * k, 64 * k))


def _branch(ctx, x, width, stride, name):
    y = ctx.conv_norm_act(x, width, 3, name, strides=stride, suffix="1")
    return ctx.conv_norm_act(y, width, 3, name, act=False, suffix="2")


def _identity(ctx, x, width, stride, name):
    if stride == 1 and int(x.shape[-1]) == width:
        return x
    return ctx.norm(ctx.conv(x, width, 1, name + "_shortcut_conv", strides=stride),
                    name + "_shortcut_bn")


def merge_and_run_block(ctx, stream_a, stream_b, width, stride, name, last=False,
                        out_name=None):
    """One merge-and-run block: both branches, the average of the two (projected) inputs,
    added to each branch's output and ReLU'd. ``last`` merges the two streams into one
    (the authors' final block: both branches added to the average). Returns ``(a, b)``, or the
    one tensor when ``last``."""
    deep_a = _branch(ctx, stream_a, width, stride, name + "_a")
    deep_b = _branch(ctx, stream_b, width, stride, name + "_b")
    merged = keras.layers.Average(name=ctx.name(name + "_merge"))(
        [_identity(ctx, stream_a, width, stride, name + "_a"),
         _identity(ctx, stream_b, width, stride, name + "_b")])
    if last:
        return ctx.relu(ctx.add([merged, deep_a, deep_b], name + "_add"),
                        out_name or name + "_out")
    return (ctx.relu(ctx.add([merged, deep_a], name + "_a_add"), name + "_a_out"),
            ctx.relu(ctx.add([merged, deep_b], name + "_b_add"), name + "_b_out"))


def build_dmrnet(model_name, cfg, *, drop_rate=0.0, **kwargs):
    """Builds a deep merge-and-run network from ``cfg`` (see the module docstring).

    Architecture options:
        drop_rate: dropout before the classifier (the paper uses none).
    """
    blocks = tuple(check_positive_int("blocks", b) for b in cfg.blocks)
    widths = tuple(check_positive_int("widths", w) for w in cfg.widths)
    if len(blocks) != len(widths):
        raise ValueError(f"`blocks` {blocks} and `widths` {widths} must have one entry per stage.")

    def body(ctx, x):
        x = ctx.conv_norm_act(x, widths[0], 3, "stem")
        stream_a = stream_b = x
        last_stage = len(blocks)
        for stage, (depth, width) in enumerate(zip(blocks, widths), start=1):
            for block in range(1, depth + 1):
                stride = 2 if block == 1 and stage > 1 else 1
                name = f"stage{stage}_block{block}"
                if stage == last_stage and block == depth:
                    return merge_and_run_block(ctx, stream_a, stream_b, width, stride, name,
                                               last=True, out_name=f"stage{stage}_out")
                stream_a, stream_b = merge_and_run_block(ctx, stream_a, stream_b, width,
                                                         stride, name)
            # the stage's feature map: both streams, split again for the next stage
            both = keras.layers.Concatenate(name=ctx.name(f"stage{stage}_out"))(
                [stream_a, stream_b])
            stream_a, stream_b = ChannelSplit(2, name=ctx.name(f"stage{stage}_split"))(both)
        raise AssertionError("unreachable: the last block returns")

    return build_model(model_name, body, drop_rate=drop_rate, **kwargs)


def tiny_config(cfg):
    """Two blocks in the first stage (an identity and, with the next stage, a projecting
    block), one in the others, 2/4/8 channels -- the same tiny net for every DMRNet."""
    return DMRNetConfig((2, 1, 1), (2, 4, 8))


DMRNETS = dict(family="dmrnet", paper=DMRNET, tiny=tiny_config, default_size=32, min_size=8,
               stage_strides=(1, 2, 4), default_classes=10,
               options={"drop_rate": 0.0, "norm": "batch"}, generic_builder="build_dmrnet")
_TABLE = ("the paper's count (arXiv:1611.07718, CIFAR/SVHN results table, as the authors' "
          "fusenet README reproduces it), to its rounding")


@register(**DMRNETS, config=dmrnet_cifar_config(56), paper_params=1.7,
          reference=no_reference(_TABLE))
def DMRNet56(config, **kwargs):
    """DMRNet-56 (Zhao et al., "Deep Convolutional Neural Networks with Merge-and-Run
    Mappings", 2016, arXiv:1611.07718; "DFN-MR1" of the CIFAR/SVHN results table): 9
    merge-and-run blocks per stage at 16/32/64 channels -- ResNet-110's convolutions in half the
    depth; 1.7M parameters (1,710,426 with 10 classes), 4.94% CIFAR-10, 24.46% CIFAR-100 and
    1.66% SVHN error.
    """
    return build_dmrnet("dmrnet56", config, **kwargs)


@register(**DMRNETS, config=dmrnet_cifar_config(32, 4), paper_params=14.9,
          reference=no_reference(_TABLE))
def DMRNetWide32(config, **kwargs):
    """DMRNet-Wide-32 (Zhao et al. 2016, arXiv:1611.07718; "DFN-MR2" of the CIFAR/SVHN
    results table): widen factor 4, 5 blocks per stage at 64/128/256 channels; 14.9M
    parameters (14,851,402 with 10 classes), 3.94% CIFAR-10, 19.25% CIFAR-100 and 1.51% SVHN
    error (the paper's best SVHN result).
    """
    return build_dmrnet("dmrnetwide32", config, **kwargs)


@register(**DMRNETS, config=dmrnet_cifar_config(50, 4),
          reference=no_reference(
              "the paper's 24.8M (CIFAR/SVHN results table) is not reproduced: the authors' "
              "code at depth 50, widen factor 4 (fusenet network/cross.py) has 24,151,882 "
              "parameters, checked by a count of that code's layers in "
              "tests/test_residual_variants.py"))
def DMRNetWide50(config, **kwargs):
    """DMRNet-Wide-50 (Zhao et al. 2016, arXiv:1611.07718; "DFN-MR3" of the CIFAR/SVHN
    results table), the paper's best CIFAR model: widen factor 4, 8 blocks per stage at
    64/128/256 channels; 3.57% CIFAR-10 and 19.00% CIFAR-100 error. 24,151,882 parameters
    with 10 classes, as the authors' code builds it; the table's 24.8M is not reproduced.
    """
    return build_dmrnet("dmrnetwide50", config, **kwargs)
