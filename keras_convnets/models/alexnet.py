"""AlexNet: five convolutions, three max-poolings and three fully-connected layers.

Krizhevsky, Sutskever, Hinton. "ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012, Sec. 3 and Fig. 2: conv1 96 11x11/4, conv2 256 5x5, conv3 384 3x3, conv4
384 3x3, conv5 256 3x3, every convolution followed by ReLU; local response normalisation
(:class:`~keras_convnets.layers.LocalResponseNormalization`) after conv1 and conv2; 3x3/2
overlapping max-pooling after both normalisations and after conv5; fc6 and fc7 of 4096 with
dropout 0.5, fc8 with the classes. The network was split over two GPUs: conv2, conv4 and conv5
see only the half of their input on their own GPU, i.e. they are grouped convolutions with two
groups (``groups=2``, the default; ``groups=1`` gives the dense single-tower layout).

Geometry. The paper says 224x224 inputs, but its 55x55 first map needs 227 without padding; we
pad conv1 by 2 as torchvision does, which gives the paper's 55 -> 27 -> 13 -> 6 maps from 224
(fc6 then sees 6 x 6 x 256 = 9216 values, as in the paper). The poolings are unpadded, so a map
is exactly input / stride for inputs of size 32k + 31; the minimum input, 95, is the smallest
such size with a 2x2 last map (63 is the smallest that computes). With ``include_top=True`` fc6
takes the flattened last map, so the input size must be fixed and sets fc6's width.

:func:`AlexNetOWT` is the single-tower variant of Krizhevsky's "One weird trick for
parallelizing convolutional neural networks" (2014, arXiv:1404.5997) that torchvision ships as
``alexnet``: 64-192-384-256-256 filters, no response normalisation.

Feature maps: ``<model>_stage<N>_out`` after conv1 (stride 4), conv2 (8), conv5 (16) and
pool5 (32).

:func:`ZFNet` is Zeiler and Fergus' revision of it ("Visualizing and Understanding
Convolutional Networks", 2013, arXiv:1311.2901), as a configuration of the same builder: one
tower, conv1 7x7/2 and conv2 5x5/2 (Fig. 3), conv3-5 of 512-1024-512 filters (Table 2's model
(b), Table 3's "layers 3,4,5: 512,1024,512 maps"), poolings rounding up and the normalisation
after the pooling; see its docstring.
"""

import dataclasses

from ..applications import Head, build_model
from ..applications.builder import CONV_INITIALIZER, fully_connected
from ..backend import keras
from ..layers import GroupConv2D, LocalResponseNormalization
from ..layers.normalization import NORMS
from ..registry import Paper, Reference, measured, register
from ..utils import check_choice, check_drop_path, check_positive_int, make_divisible

ALEXNET = Paper("ImageNet Classification with Deep Convolutional Neural Networks", 2012, None,
                url="https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-"
                    "convolutional-neural-networks")
ZFNET = Paper("Visualizing and Understanding Convolutional Networks", 2013, "1311.2901")
ONE_WEIRD_TRICK = Paper("One weird trick for parallelizing convolutional neural networks", 2014,
                        "1404.5997")

#: ``norm`` choices: the paper's response normalisation after conv1 and conv2, none, or one of
#: the package's normalisations after every convolution.
ALEXNET_NORMS = ("lrn", "none") + NORMS
#: ``lrn_style`` choices: the paper's response normalisation (b = a / (2 + 1e-4 sum a^2)^0.75,
#: where the configuration puts it), or pytorchcv's (before the pooling, with torch's
#: ``local_response_norm``, which divides alpha by the window size: 2e-5 on the plain sum).
LRN_STYLES = ("paper", "pytorchcv")


@dataclasses.dataclass(frozen=True)
class ConvSpec:
    filters: int
    kernel_size: int
    strides: int = 1
    padding: int | None = None  # explicit zero padding; None: PyTorch's k // 2
    grouped: bool = False       # split over the two GPUs in the paper
    lrn: bool = False           # response normalisation after the ReLU (or after the pooling)
    pool: bool = False          # 3x3/2 max-pooling after the block
    stage: int | None = None    # the block, before its pooling, ends stage N (<model>_stageN_out)
    pool_stage: int | None = None  # the pooling (and a normalisation after it) ends stage N


@dataclasses.dataclass(frozen=True)
class AlexNetConfig:
    """Fig. 2 (or ZFNet's Fig. 3) as data: the five convolutions, the two hidden fully-connected
    widths, and where the pooling rounds and the normalisation sits."""

    convs: tuple = (
        ConvSpec(96, 11, strides=4, padding=2, lrn=True, pool=True, stage=1),
        ConvSpec(256, 5, grouped=True, lrn=True, pool=True, stage=2),
        ConvSpec(384, 3),
        ConvSpec(384, 3, grouped=True),
        ConvSpec(256, 3, grouped=True, pool=True, stage=3, pool_stage=4),
    )
    fc: tuple = (4096, 4096)
    groups: int = 2
    norm: str = "lrn"
    #: the poolings round the map size up (Caffe's and PyTorch's ``ceil_mode``; ZFNet)
    ceil_pool: bool = False
    #: the response normalisation follows the pooling (ZFNet's Fig. 3), not the ReLU
    lrn_after_pool: bool = False


ALEXNET_CONFIG = AlexNetConfig()
ALEXNET_OWT_CONFIG = AlexNetConfig(
    convs=(ConvSpec(64, 11, strides=4, padding=2, pool=True, stage=1),
           ConvSpec(192, 5, pool=True, stage=2),
           ConvSpec(384, 3),
           ConvSpec(256, 3),
           ConvSpec(256, 3, pool=True, stage=3, pool_stage=4)),
    groups=1, norm="none")
#: Zeiler & Fergus' Fig. 3 with Table 2's conv3-5 of model (b). Fig. 3's maps, 224 -> 110 ->
#: 55 -> 26 -> 13 -> 6, fix conv1's padding at 1, conv2's at 0 and the poolings' rounding up.
ZFNET_CONFIG = AlexNetConfig(
    convs=(ConvSpec(96, 7, strides=2, padding=1, lrn=True, pool=True, pool_stage=1),
           ConvSpec(256, 5, strides=2, padding=0, lrn=True, pool=True),
           ConvSpec(512, 3),
           ConvSpec(1024, 3),
           ConvSpec(512, 3, pool=True, stage=2, pool_stage=3)),
    groups=1, ceil_pool=True, lrn_after_pool=True)


def build_alexnet(model_name, cfg, *, groups=None, norm=None, lrn_style="paper", drop_rate=0.5,
                  drop_path_rate=0.0, **kwargs):
    """Builds AlexNet from ``cfg`` (the paper's Fig. 2, or ZFNet's Fig. 3; see the module
    docstring).

    Architecture options:
        groups: the group count of the convolutions the paper split over its two GPUs (conv2,
            conv4, conv5); default the configuration's (2 for AlexNet); 1 is the dense layout.
            ZFNet has no split convolution, so it changes nothing there.
        norm: ``"lrn"`` (the paper's response normalisation after conv1 and conv2), ``"none"``,
            or ``"batch"``, ``"sync_batch"``, ``"group"``, ``"layer"``, ``"batch_renorm"``,
            ``"weight"`` after every convolution
            (before its ReLU) instead.
        lrn_style: ``"paper"`` (Krizhevsky's normalisation, b = a / (2 + 1e-4 sum a^2)^0.75,
            where the configuration's paper puts it: after the ReLU for AlexNet, after the
            pooling for ZFNet) or ``"pytorchcv"`` (before the pooling, alpha divided by the
            window of 5 as torch's ``local_response_norm`` does: the layout pytorchcv's
            ``alexnet`` and ``zfnetb`` weights were trained in).
        drop_rate: the dropout after fc6 and after fc7 (the paper's 0.5).
        drop_path_rate: accepted for a uniform interface; AlexNet has no residual branch, so
            only 0 is valid.
    """
    groups = cfg.groups if groups is None else check_positive_int("groups", groups)
    norm = check_choice("norm", cfg.norm if norm is None else norm, ALEXNET_NORMS)
    lrn_style = check_choice("lrn_style", lrn_style, LRN_STYLES)
    layer_norm = norm if norm in NORMS else "batch"  # build_model's own choice is unused then
    check_drop_path(drop_path_rate, False, "AlexNet",
                    "use drop_rate for the dropout after fc6 and fc7")
    after_pool = cfg.lrn_after_pool and lrn_style == "paper"
    lrn_alpha = 1e-4 if lrn_style == "paper" else 1e-4 / 5

    def convolution(ctx, x, conv, name):
        conv_groups = groups if conv.grouped else 1
        if conv.padding is None:  # PyTorch's k // 2
            return ctx.conv(x, conv.filters, conv.kernel_size, name, strides=conv.strides,
                            groups=conv_groups, use_bias=norm not in NORMS)
        if conv.padding:  # torchvision's 2 for AlexNet's conv1 (see the module docstring)
            x = keras.layers.ZeroPadding2D(conv.padding, name=ctx.name(name + "_pad"))(x)
        layer_class, extra = ((keras.layers.Conv2D, {}) if conv_groups == 1
                              else (GroupConv2D, {"groups": conv_groups}))
        return layer_class(conv.filters, conv.kernel_size, strides=conv.strides,
                           use_bias=norm not in NORMS, kernel_initializer=CONV_INITIALIZER,
                           name=ctx.name(name), **extra)(x)

    def body(ctx, x):
        for index, conv in enumerate(cfg.convs, start=1):
            name = f"conv{index}"
            x = convolution(ctx, x, conv, name)
            if norm in NORMS:
                x = ctx.norm(x, name + "_bn")
            lrn = conv.lrn and norm == "lrn"
            # The block's last layer before its pooling (ReLU, or the response normalisation)
            # ends stage N if the block has ``stage=N``; the pooling, or the normalisation
            # after it, ends ``pool_stage``.
            stage_out = f"stage{conv.stage}_out" if conv.stage else None
            lrn_here = lrn and not (after_pool and conv.pool)
            x = ctx.relu(x, stage_out if stage_out and not lrn_here else name + "_relu")
            if lrn_here:
                x = LocalResponseNormalization(alpha=lrn_alpha,
                                               name=ctx.name(stage_out or name + "_lrn"))(x)
            if conv.pool:
                pool_out = f"stage{conv.pool_stage}_out" if conv.pool_stage else None
                lrn_next = lrn and not lrn_here
                pool_name = pool_out if pool_out and not lrn_next else f"pool{index}"
                if cfg.ceil_pool:  # rounds up: one more row and column (post-ReLU, so >= 0)
                    x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)),
                                                   name=ctx.name(f"pool{index}_pad"))(x)
                x = keras.layers.MaxPooling2D(3, 2, name=ctx.name(pool_name))(x)
                if lrn_next:
                    x = LocalResponseNormalization(
                        alpha=lrn_alpha, name=ctx.name(pool_out or name + "_lrn"))(x)
        return x

    return build_model(model_name, body, drop_rate=drop_rate, norm=layer_norm,
                       head=Head(pool="flatten", hidden=fully_connected(cfg.fc, drop_rate)),
                       **kwargs)


def tiny_config(cfg):
    """The same layers at 1/8 of the widths (multiples of 8)."""
    convs = tuple(dataclasses.replace(c, filters=make_divisible(c.filters / 8, 8))
                  for c in cfg.convs)
    return dataclasses.replace(cfg, convs=convs, fc=tuple(w // 8 for w in cfg.fc))


#: what every registration shares
ALEXNETS = dict(family="alexnet", min_size=95, tiny=tiny_config, generic_builder="build_alexnet",
                options={"groups": None, "norm": None, "lrn_style": "paper", "drop_rate": 0.5,
                         "drop_path_rate": 0.0})


@register(**ALEXNETS, config=ALEXNET_CONFIG, paper=ALEXNET, params=60_965_224,
          reference=Reference("patched-pytorchcv",
                              "alexnet + groups=2 on conv2/4/5 (paper 2-GPU layout)"))
def AlexNet(config, **kwargs):
    """AlexNet (Krizhevsky et al., "ImageNet Classification with Deep Convolutional Neural
    Networks", NIPS 2012, Sec. 3 and Fig. 2; no arXiv id): the paper's two-GPU layout,
    60,965,224 trainable parameters at 224 and 1000 classes, as pytorchcv's ``alexnet`` with
    conv2/4/5 grouped (``groups=1``: 62,378,344, pytorchcv's dense ``alexnet``). Keras adds no
    BatchNorm statistics here (the response normalisation has no weights). FLOPs: 1,448,813,632
    at 224, 7,596,864 more than params.tsv's 1,441,216,768: pytorchcv's conv1 is unpadded (a
    54x54 map), ours pads 2 as torchvision (55x55).
    """
    return build_alexnet("alexnet", config, **kwargs)


@register(**ALEXNETS, config=ALEXNET_OWT_CONFIG, paper=ONE_WEIRD_TRICK, params=61_100_840,
          flops=1_428_376_960, reference=Reference("torchvision", "alexnet"))
def AlexNetOWT(config, **kwargs):
    """AlexNet as in "One weird trick for parallelizing convolutional neural networks"
    (Krizhevsky 2014, arXiv:1404.5997): one tower of 64-192-384-256-256 filters, no response
    normalisation -- torchvision's ``alexnet``, 61,100,840 trainable parameters. torchvision
    pools adaptively to 6x6 before fc6; at 224 the map is already 6x6, so the two agree there
    (other sizes change fc6's width here), and torchvision's weights port into it with equal
    logits (``keras-convnets port alexnetowt``; ``tests/test_port.py``). Its two dropouts sit
    before fc6 and fc7, ours after fc6 and fc7 (the paper's places): the same at inference.
    """
    return build_alexnet("alexnetowt", config, **kwargs)


@register(**{**ALEXNETS, "min_size": 79}, stage_strides=(4, 16, 32), config=ZFNET_CONFIG,
          paper=ZFNET, params=107_627_624, flops=4_953_409_792,
          reference=measured("pytorchcv", "zfnetb"))
def ZFNet(config, **kwargs):
    """ZFNet (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", 2013,
    arXiv:1311.2901, Fig. 3, with conv3-5 of 512-1024-512 filters: Table 2's model (b), Table
    3's "Adjust layers 3,4,5: 512,1024,512 maps"). AlexNet on one tower with conv1 7x7/2 (96
    filters, padding 1) and conv2 5x5/2 (256, unpadded); 3x3/2 poolings that round up, so a 224
    input gives Fig. 3's 110 -> 55 -> 26 -> 13 -> 6 maps and fc6 takes 6 x 6 x 512; dropout 0.5
    after fc6 and fc7. 107,627,624 trainable parameters and 4,953,409,792 FLOPs at 224 with
    1000 classes, equal to pytorchcv's ``zfnetb`` (measured; the paper gives no count).

    Where the two differ we follow the paper: Fig. 3 normalises "across feature maps" after
    the pooling (ReLU, pool, normalise), with no constants given, so we use AlexNet's
    (size 5, k 2, alpha 1e-4 on the sum, beta 0.75). pytorchcv normalises before the pooling
    and with torch's alpha / 5; ``lrn_style="pytorchcv"`` builds that layout, which its weights
    port into with equal logits (``keras-convnets port zfnet``; ``tests/test_port.py``).

    The minimum input is 79, the smallest with a 2x2 last map whose feature maps are exactly
    input / stride (sizes 16k + 15). Feature maps: ``stage1_out`` after pool1 and its
    normalisation (stride 4), ``stage2_out`` after conv5 (16), ``stage3_out`` after pool5 (32);
    conv1's and conv2's own maps (strides 2 and 8) lose a border to their padding, so no stage
    ends there.
    """
    return build_alexnet("zfnet", config, **kwargs)
