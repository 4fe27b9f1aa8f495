"""Deep Layer Aggregation (Yu, Wang, Shelhamer, Darrell, "Deep Layer Aggregation", 2017,
arXiv:1707.06484), and the Res2Net-DLA hosts of Res2Net (Gao et al., "Res2Net: A New Multi-scale
Backbone Architecture", 2019, arXiv:1904.01169).

The networks of Table 1 of arXiv:1707.06484 in the layout of the authors' code as timm keeps
it: a 7x7 base layer at stride 1, two plain 3x3 conv levels (level0 at stride 1, level1 at
stride 2), then levels 2-5, each a hierarchical deep aggregation (HDA, Fig. 3) tree of
``levels[i]`` levels that halves the resolution:

- a tree of one level is two blocks whose outputs a *root* node aggregates (concatenation,
  1x1 conv, norm, [+ its first input,] ReLU); its first block is strided, and its shortcut is
  the input max-pooled (2x2, stride 2) and, where the width changes, projected (1x1 + norm);
- a tree of n > 1 levels is two trees of n - 1 levels; the first's output, and with
  iterative deep aggregation (IDA) into the tree's start (``level_root``, levels 3-5) the
  downsampled input itself, become extra inputs of the deepest root of the second tree.

So the root of a tree's last leaf aggregates ``[block 2, block 1, (downsampled input,)
the output of every first subtree on the way down]``, which is how the paper's HDA feeds
aggregation nodes back into the backbone. Blocks: basic (two 3x3s, DLA-34), bottleneck (a
1x1 / 3x3 / 1x1 at half the output width, DLA-46-C ... DLA-169), ResNeXt bottleneck
(``cardinality`` 32 groups of ``base_width`` 4; 64 for DLA-X-102 64 "x2"), and the Res2Net
bottleneck (four scales, timm's ``DlaBottle2neck``, sharing
:func:`keras_convnets.models.resnet.res2net_multiscale`). DLA-102/102x/102x2/169 add the
root's residual connection (``root_shortcut``). The classifier is timm's 1x1 convolution on
the pooled features, here a Dense layer (the porter transposes it).

Counts: the registry's integers are timm's (params.tsv). The paper's Table 2 counts are a little
higher: the authors' code also creates projection layers in trees of more than one level that
it never uses; timm drops them, as does this implementation.

The downsampling shortcut (a floor-mode 2x2 max-pool) and the strided 3x3 must agree, so an
input side must be a multiple of 32 (or one less), as for the reference.
"""

import dataclasses

from ..applications import build_model
from ..backend import keras
from ..registry import Paper, Reference, measured, register
from ..utils import check_choice, check_positive_int, check_rate
from .resnet import RES2NET, res2net_multiscale

DLA = Paper("Deep Layer Aggregation", 2017, "1707.06484")

BLOCKS = ("basic", "bottleneck", "res2net")


@dataclasses.dataclass(frozen=True)
class DLAConfig:
    """One DLA of Table 1: ``levels`` per level 0-5 (convs for levels 0-1, tree depth for the
    aggregation levels 2-5) and ``channels`` per level; ``cardinality`` / ``base_width`` set the
    bottleneck's (grouped) 3x3 width, ``floor(out * base_width / 64) * cardinality / 2``;
    ``scales`` is Res2Net's s; ``root_shortcut`` adds the root's residual connection."""

    levels: tuple
    channels: tuple
    block: str = "bottleneck"
    cardinality: int = 1
    base_width: int = 64
    scales: int = 4
    root_shortcut: bool = False

    def __post_init__(self):
        check_choice("block", self.block, BLOCKS)
        if len(self.levels) != 6 or len(self.channels) != 6:
            raise ValueError(f"`levels` and `channels` need six entries (levels 0-5); got "
                             f"{self.levels!r} and {self.channels!r}.")
        for value in (*self.levels, *self.channels):
            check_positive_int("levels/channels", value)
        check_positive_int("cardinality", self.cardinality)
        check_positive_int("base_width", self.base_width)
        check_positive_int("scales", self.scales)

    def bottleneck_width(self, out_channels):
        return out_channels * self.base_width // 64 * self.cardinality // 2

    def num_blocks(self):
        """Blocks in levels 2-5: a tree of n levels holds 2**n."""
        return sum(2 ** n for n in self.levels[2:])


def _finish(ctx, residual, shortcut, name, rate):
    residual = ctx.drop_path(residual, rate, name + "_drop_path")
    return ctx.relu(ctx.add([residual, shortcut], name + "_add"), name + "_out")


def _basic(ctx, cfg, x, shortcut, out_channels, stride, name, rate):
    y = ctx.conv_norm_act(x, out_channels, 3, name, strides=stride, suffix="1")
    y = ctx.conv_norm_act(y, out_channels, 3, name, act=False, suffix="2")
    return _finish(ctx, y, shortcut, name, rate)


def _bottleneck(ctx, cfg, x, shortcut, out_channels, stride, name, rate):
    width = cfg.bottleneck_width(out_channels)
    y = ctx.conv_norm_act(x, width, 1, name, suffix="1")
    y = ctx.conv_norm_act(y, width, 3, name, strides=stride, groups=cfg.cardinality, suffix="2")
    y = ctx.conv_norm_act(y, out_channels, 1, name, act=False, suffix="3")
    return _finish(ctx, y, shortcut, name, rate)


def _res2net(ctx, cfg, x, shortcut, out_channels, stride, name, rate):
    # DLA's strided first block is the only one whose hierarchy is off (timm's is_first)
    y = res2net_multiscale(ctx, x, cfg.bottleneck_width(out_channels), cfg.scales, stride,
                           cfg.cardinality, stride > 1, name)
    y = ctx.conv_norm_act(y, out_channels, 1, name, act=False, suffix="3")
    return _finish(ctx, y, shortcut, name, rate)


_BLOCK_FUNCTIONS = {"basic": _basic, "bottleneck": _bottleneck, "res2net": _res2net}


class _Tree:
    """Builds the HDA trees of one network; ``rates`` hands out the blocks' drop-path rates."""

    def __init__(self, ctx, cfg, drop_path_rate):
        self.ctx, self.cfg = ctx, cfg
        self.block = _BLOCK_FUNCTIONS[cfg.block]
        total = cfg.num_blocks()
        self.rates = iter([drop_path_rate * i / max(1, total - 1) for i in range(total)])

    def __call__(self, x, levels, out_channels, stride, path, level_root=False, children=None,
                 out_name=None):
        ctx = self.ctx
        children = [] if children is None else children
        in_channels = int(x.shape[-1])
        bottom = x
        if stride > 1 and (level_root or levels == 1):
            bottom = keras.layers.MaxPooling2D(stride, stride,
                                               name=ctx.name(path + "_downsample"))(x)
        if level_root:  # IDA: the level's (downsampled) input joins the deepest root
            children.append(bottom)
        if levels > 1:
            x1 = self(x, levels - 1, out_channels, stride, path + "_tree1")
            children.append(x1)
            return self(x1, levels - 1, out_channels, 1, path + "_tree2", children=children,
                        out_name=out_name)
        shortcut = bottom
        if in_channels != out_channels:
            shortcut = ctx.conv(bottom, out_channels, 1, path + "_project_conv")
            shortcut = ctx.norm(shortcut, path + "_project_bn")
        x1 = self.block(ctx, self.cfg, x, shortcut, out_channels, stride, path + "_tree1",
                        next(self.rates))
        x2 = self.block(ctx, self.cfg, x1, x1, out_channels, 1, path + "_tree2",
                        next(self.rates))
        return self.root([x2, x1, *children], path + "_root", out_name)

    def root(self, inputs, name, out_name):
        ctx = self.ctx
        x = keras.layers.Concatenate(name=ctx.name(name + "_concat"))(inputs)
        x = ctx.conv(x, int(inputs[0].shape[-1]), 1, name + "_conv")
        x = ctx.norm(x, name + "_bn")
        if self.cfg.root_shortcut:
            x = ctx.add([x, inputs[0]], name + "_add")
        return ctx.relu(x, out_name or name + "_relu")


def build_dla(model_name, cfg, *, drop_path_rate=0.0, **kwargs):
    """Builds a DLA from ``cfg`` (a :class:`DLAConfig`).

    Architecture options:
        drop_path_rate: stochastic depth on every block's residual branch, rising linearly
            from 0 to this over the blocks (not in the paper; none by default).
        drop_rate: dropout before the classifier.
        norm: the normalisation layers (batch, sync_batch, group, layer, batch_renorm, weight).
    """
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)

    def body(ctx, x):
        sides = [int(d) for d in x.shape[1:3] if d is not None]
        if any(side % 32 not in (0, 31) for side in sides):
            raise ValueError(
                f"{model_name}: input sides must be multiples of 32 (or one less), where the "
                f"trees' 2x2 max-pool shortcuts and strided 3x3s agree; got input_shape with "
                f"spatial dimensions {tuple(x.shape[1:3])}.")
        channels, levels = cfg.channels, cfg.levels
        x = ctx.conv_norm_act(x, channels[0], 7, "base_layer")
        for level, stride in ((0, 1), (1, 2)):  # plain conv levels (stride 1, then 2)
            for i in range(1, levels[level] + 1):
                x = ctx.conv(x, channels[level], 3, f"level{level}_conv{i}",
                             strides=stride if i == 1 else 1)
                x = ctx.norm(x, f"level{level}_bn{i}")
                last = level == 1 and i == levels[level]
                x = ctx.relu(x, "stage1_out" if last else f"level{level}_relu{i}")
        tree = _Tree(ctx, cfg, drop_path_rate)
        for level in range(2, 6):
            x = tree(x, levels[level], channels[level], 2, f"level{level}",
                     level_root=level > 2, out_name=f"stage{level}_out")
        return x

    return build_model(model_name, body, **kwargs)


def tiny_config(cfg):
    """The same block, grouping and root for behaviour tests: widths of DLA-34 / 8 (2 ... 64),
    one level per tree but a two-level tree in level 3 (its IDA and first-subtree inputs to the
    root), 4 groups of width 16 for the grouped blocks."""
    grouped = dict(cardinality=4, base_width=16) if cfg.cardinality > 1 else {}
    if cfg.block == "res2net" and cfg.cardinality == 1:
        grouped = dict(base_width=64)
    return dataclasses.replace(cfg, levels=(1, 1, 1, 2, 1, 1), channels=(2, 4, 8, 16, 32, 64),
                               **grouped)


DLAS = dict(family="dla", paper=DLA, tiny=tiny_config, min_size=32,
            stage_strides=(2, 4, 8, 16, 32), generic_builder="build_dla",
            options={"drop_rate": 0.0, "drop_path_rate": 0.0, "norm": "batch"})
WIDE = (16, 32, 128, 256, 512, 1024)
COMPACT = (16, 32, 64, 64, 128, 256)
X32 = dict(cardinality=32, base_width=4)


@register(**DLAS, config=DLAConfig((1, 1, 1, 2, 2, 1), (16, 32, 64, 128, 256, 512), "basic"),
          params=15_742_104, flops=6_120_087_552, reference=Reference("timm", "dla34"))
def DLA34(config, **kwargs):
    """DLA-34 (Yu et al. 2017, arXiv:1707.06484, Table 1): basic blocks, trees of 1, 2, 2, 1
    levels, widths 64-512. Weights: timm:dla34."""
    return build_dla("dla34", config, **kwargs)


@register(**DLAS, config=DLAConfig((1, 1, 1, 2, 2, 1), COMPACT),
          params=1_301_400, flops=1_148_538_880, reference=Reference("timm", "dla46_c"))
def DLA46_C(config, **kwargs):
    """DLA-46-C (Yu et al. 2017, arXiv:1707.06484, Table 1): the compact bottleneck network,
    widths 64-256. Weights: timm:dla46_c."""
    return build_dla("dla46_c", config, **kwargs)


@register(**DLAS, config=DLAConfig((1, 1, 1, 2, 2, 1), COMPACT, **X32),
          params=1_068_440, flops=1_065_447_424, reference=Reference("timm", "dla46x_c"))
def DLA46X_C(config, **kwargs):
    """DLA-X-46-C (Yu et al. 2017, arXiv:1707.06484, Table 1): DLA-46-C with ResNeXt
    bottlenecks (32 groups). Weights: timm:dla46x_c."""
    return build_dla("dla46x_c", config, **kwargs)


@register(**DLAS, config=DLAConfig((1, 1, 1, 2, 3, 1), WIDE),
          params=22_036_632, flops=8_471_756_800, reference=Reference("timm", "dla60"))
def DLA60(config, **kwargs):
    """DLA-60 (Yu et al. 2017, arXiv:1707.06484, Table 1): bottlenecks, trees of 1, 2, 3, 1
    levels, widths 128-1024. Weights: timm:dla60."""
    return build_dla("dla60", config, **kwargs)


@register(**DLAS, config=DLAConfig((1, 1, 1, 2, 3, 1), WIDE, **X32),
          params=17_352_344, flops=7_033_110_528, reference=Reference("timm", "dla60x"))
def DLA60X(config, **kwargs):
    """DLA-X-60 (Yu et al. 2017, arXiv:1707.06484, Table 1): DLA-60 with ResNeXt bottlenecks
    (32 groups of width 4 per 64 channels). Weights: timm:dla60x."""
    return build_dla("dla60x", config, **kwargs)


@register(**DLAS, config=DLAConfig((1, 1, 1, 2, 3, 1), COMPACT, **X32),
          params=1_319_832, flops=1_162_588_160, reference=Reference("timm", "dla60x_c"))
def DLA60X_C(config, **kwargs):
    """DLA-X-60-C (Yu et al. 2017, arXiv:1707.06484, Table 1): the compact DLA-X-60, widths
    64-256. Weights: timm:dla60x_c."""
    return build_dla("dla60x_c", config, **kwargs)


@register(**DLAS, config=DLAConfig((1, 1, 1, 3, 4, 1), WIDE, root_shortcut=True),
          params=33_268_888, flops=14_329_102_336, reference=Reference("timm", "dla102"))
def DLA102(config, **kwargs):
    """DLA-102 (Yu et al. 2017, arXiv:1707.06484, Table 1): bottlenecks, trees of 1, 3, 4, 1
    levels and residual roots. Weights: timm:dla102."""
    return build_dla("dla102", config, **kwargs)


@register(**DLAS, config=DLAConfig((1, 1, 1, 3, 4, 1), WIDE, root_shortcut=True, **X32),
          params=26_309_272, flops=11_695_865_856, reference=Reference("timm", "dla102x"))
def DLA102X(config, **kwargs):
    """DLA-X-102 (Yu et al. 2017, arXiv:1707.06484, Table 1): DLA-102 with ResNeXt
    bottlenecks (32 groups). Weights: timm:dla102x."""
    return build_dla("dla102x", config, **kwargs)


@register(**DLAS, config=DLAConfig((1, 1, 1, 3, 4, 1), WIDE, root_shortcut=True,
                                   cardinality=64, base_width=4),
          params=41_282_200, flops=18_567_970_816, reference=Reference("timm", "dla102x2"))
def DLA102X2(config, **kwargs):
    """DLA-X-102 64 (Yu et al. 2017, arXiv:1707.06484, Table 1): DLA-X-102 with 64 groups,
    twice its bottleneck width. Weights: timm:dla102x2."""
    return build_dla("dla102x2", config, **kwargs)


@register(**DLAS, config=DLAConfig((1, 1, 2, 3, 5, 1), WIDE, root_shortcut=True),
          params=53_389_720, flops=23_115_120_640, reference=Reference("timm", "dla169"))
def DLA169(config, **kwargs):
    """DLA-169 (Yu et al. 2017, arXiv:1707.06484, Table 1): bottlenecks, trees of 2, 3, 5, 1
    levels and residual roots. Weights: timm:dla169. (Counted as the other names are -- stem and
    level 0-1 convs, block convs, roots, classifier -- this network has 165 weighted layers, not
    169; the structure is the authors' code's, which timm keeps.)"""
    return build_dla("dla169", config, **kwargs)


R2 = dict(DLAS, paper=RES2NET)


@register(**R2, config=DLAConfig((1, 1, 1, 2, 3, 1), WIDE, "res2net", base_width=28),
          params=20_848_072, flops=8_245_362_688, reference=measured("timm", "dla60_res2net"))
def DLA60_Res2Net(config, **kwargs):
    """Res2Net-DLA-60 (Gao et al. 2019, "Res2Net: A New Multi-scale Backbone Architecture",
    arXiv:1904.01169, Sec. 4; host: DLA-60 of Yu et al. 2017, arXiv:1707.06484, Table 1):
    DLA-60 with Res2Net bottlenecks of 4 scales, 28 channels wide per 64. Weights:
    timm:dla60_res2net."""
    return build_dla("dla60_res2net", config, **kwargs)


@register(**R2, config=DLAConfig((1, 1, 1, 2, 3, 1), WIDE, "res2net", cardinality=8,
                                 base_width=4),
          params=17_032_984, flops=6_917_505_024, reference=measured("timm", "dla60_res2next"))
def DLA60_Res2NeXt(config, **kwargs):
    """Res2NeXt-DLA-60 (Gao et al. 2019, "Res2Net: A New Multi-scale Backbone Architecture",
    arXiv:1904.01169, Sec. 4; host: DLA-60 of Yu et al. 2017, arXiv:1707.06484, Table 1):
    DLA-60 with Res2NeXt bottlenecks, 4 scales of 8 groups of width 4. Weights:
    timm:dla60_res2next."""
    return build_dla("dla60_res2next", config, **kwargs)
