"""VGG: stacks of 3x3 convolutions, five 2x2 max-poolings and three fully-connected layers.

Simonyan, Zisserman. "Very Deep Convolutional Networks for Large-Scale Image Recognition",
2014, arXiv:1409.1556. Table 1 gives six configurations, A (11 weight layers), A-LRN, B (13),
C (16, with 1x1 convolutions), D (16) and E (19); Table 2 their parameter counts, 133, 133,
133, 134, 138 and 144 million. Every convolution is followed by ReLU and padded to keep the map
size (3x3: pad 1); each of the five stages ends in a 2x2/2 max-pooling; A-LRN adds AlexNet's
local response normalisation (:class:`~keras_convnets.layers.LocalResponseNormalization`, with
AlexNet's constants as Sec. 2.1 says) after the first convolution; the classifier is fc6 and
fc7 of 4096 with dropout 0.5 (Sec. 3.1) and the class layer.

``TABLE_1`` below is the table itself, column by column; :func:`build_vgg` builds any column.
The ``*_BN`` names are torchvision's ``vgg*_bn``: BatchNorm after every convolution (before its
ReLU), the convolution's bias kept -- not in the paper.

Geometry. The poolings halve the map (rounding down), so a map is exactly input / stride at any
input size; the minimum is 32 (a 1x1 last map). With ``include_top=True`` fc6 takes the
flattened last map, so the input size must be fixed and sets fc6's width (7 x 7 x 512 = 25088 at
224, as in the paper); ``include_top=False`` takes any size from 32.

Feature maps: ``<model>_stage<N>_out`` is the N-th max-pooling (strides 2, 4, 8, 16, 32).
Layers: ``block<N>_conv<i>`` (``_bn``, ``_relu``), ``block1_lrn``, ``fc6``, ``fc7``,
``logits``.
"""

import dataclasses
import re

from ..applications import Head, build_model
from ..applications.builder import fully_connected
from ..backend import keras
from ..layers import LocalResponseNormalization
from ..layers.normalization import NORMS
from ..registry import KerasTwin, Paper, Reference, no_reference, register
from ..utils import check_choice, check_drop_path, make_divisible

VGG = Paper("Very Deep Convolutional Networks for Large-Scale Image Recognition", 2014,
            "1409.1556")

#: ``norm`` choices: none (the paper's), or a normalisation after every convolution.
VGG_NORMS = ("none",) + NORMS

#: Table 1 of the paper, column by column: the convolutions of each of the five stages
#: ("conv<kernel size>-<filters>"); every stage ends in a 2x2/2 max-pooling. A-LRN is column A
#: with response normalisation after its first convolution (``VGGConfig.lrn``).
TABLE_1 = {
    "A": ("conv3-64", "conv3-128", "conv3-256 conv3-256", "conv3-512 conv3-512",
          "conv3-512 conv3-512"),
    "B": ("conv3-64 conv3-64", "conv3-128 conv3-128", "conv3-256 conv3-256",
          "conv3-512 conv3-512", "conv3-512 conv3-512"),
    "C": ("conv3-64 conv3-64", "conv3-128 conv3-128", "conv3-256 conv3-256 conv1-256",
          "conv3-512 conv3-512 conv1-512", "conv3-512 conv3-512 conv1-512"),
    "D": ("conv3-64 conv3-64", "conv3-128 conv3-128", "conv3-256 conv3-256 conv3-256",
          "conv3-512 conv3-512 conv3-512", "conv3-512 conv3-512 conv3-512"),
    "E": ("conv3-64 conv3-64", "conv3-128 conv3-128", "conv3-256 conv3-256 conv3-256 conv3-256",
          "conv3-512 conv3-512 conv3-512 conv3-512", "conv3-512 conv3-512 conv3-512 conv3-512"),
}


def table_column(column):
    """A column of :data:`TABLE_1` as ``((kernel size, filters), ...)`` per stage."""
    return tuple(tuple((int(k), int(f)) for k, f in re.findall(r"conv(\d+)-(\d+)", stage))
                 for stage in TABLE_1[column])


@dataclasses.dataclass(frozen=True)
class VGGConfig:
    """One configuration: the stages' convolutions as ``(kernel size, filters)``, the hidden
    fully-connected widths, response normalisation after the first convolution (A-LRN), and
    the normalisation after every convolution (``"none"`` in the paper)."""

    stages: tuple
    fc: tuple = (4096, 4096)
    lrn: bool = False
    norm: str = "none"


def build_vgg(model_name, cfg, *, norm=None, drop_rate=0.5, drop_path_rate=0.0, **kwargs):
    """Builds a VGG configuration ``cfg`` (a column of the paper's Table 1; see the module
    docstring).

    Architecture options:
        norm: ``"none"`` (the paper's), or ``"batch"``, ``"sync_batch"``, ``"group"``,
            ``"layer"`` after every convolution, before its ReLU (the convolution keeps its
            bias, as torchvision's ``vgg*_bn``); default the configuration's (``"batch"`` for
            the ``*_BN`` names).
        drop_rate: the dropout after fc6 and after fc7 (the paper's 0.5).
        drop_path_rate: accepted for a uniform interface; VGG has no residual branch, so only
            0 is valid.
    """
    norm = check_choice("norm", cfg.norm if norm is None else norm, VGG_NORMS)
    check_drop_path(drop_path_rate, False, "VGG",
                    "use drop_rate for the dropout after fc6 and fc7")

    def body(ctx, x):
        for stage, convs in enumerate(cfg.stages, start=1):
            for index, (kernel_size, filters) in enumerate(convs, start=1):
                name = f"block{stage}_conv{index}"
                x = ctx.conv(x, filters, kernel_size, name, use_bias=True)
                if norm != "none":
                    x = ctx.norm(x, name + "_bn")
                x = ctx.relu(x, name + "_relu")
                if cfg.lrn and stage == index == 1:  # A-LRN: after the first convolution
                    x = LocalResponseNormalization(name=ctx.name("block1_lrn"))(x)
            x = keras.layers.MaxPooling2D(2, 2, name=ctx.name(f"stage{stage}_out"))(x)
        return x

    return build_model(model_name, body, drop_rate=drop_rate,
                       norm=norm if norm in NORMS else "batch",  # unused without a norm
                       head=Head(pool="flatten", hidden=fully_connected(cfg.fc, drop_rate)),
                       **kwargs)


def tiny_config(cfg):
    """The same layers at 1/8 of the widths (multiples of 8): 8-16-32-64-64 filters, fc 512."""
    stages = tuple(tuple((k, make_divisible(f / 8, 8)) for k, f in convs) for convs in cfg.stages)
    return dataclasses.replace(cfg, stages=stages, fc=tuple(w // 8 for w in cfg.fc))


VGG_A, VGG_B, VGG_C, VGG_D, VGG_E = (VGGConfig(table_column(c)) for c in "ABCDE")

#: what every registration shares
VGGS = dict(family="vgg", paper=VGG, tiny=tiny_config, min_size=32,
            stage_strides=(2, 4, 8, 16, 32), generic_builder="build_vgg",
            options={"norm": None, "drop_rate": 0.5, "drop_path_rate": 0.0})
#: keras.applications' VGG16/VGG19 are the same networks (tests/test_vgg.py copies their weights)
_KERAS_SAME = ("the same layers and weights; keras fuses each ReLU into its convolution and has "
               "no dropout layers")


@register(**VGGS, config=VGG_A, params=132_863_336, flops=15_218_180_096,
          reference=Reference("torchvision", "vgg11"))
def VGG11(config, **kwargs):
    """VGG-11, configuration A (Simonyan & Zisserman, "Very Deep Convolutional Networks for
    Large-Scale Image Recognition", 2014, arXiv:1409.1556, Table 1): 132,863,336 trainable
    parameters at 224 with 1000 classes, torchvision's ``vgg11`` (Table 2: 133M); its weights
    port with equal logits (``keras-convnets port vgg11``)."""
    return build_vgg("vgg11", config, **kwargs)


@register(**VGGS, config=dataclasses.replace(VGG_A, lrn=True),
          reference=no_reference("no implementation has A-LRN; tests/test_vgg.py checks Table "
                                 "2's 133M (132,863,336: A's weights, LRN has none)"))
def VGG11_LRN(config, **kwargs):
    """VGG-11 with local response normalisation, configuration A-LRN (Simonyan & Zisserman
    2014, arXiv:1409.1556, Table 1): configuration A with AlexNet's response normalisation
    (size 5, k 2, alpha 1e-4, beta 0.75, Sec. 2.1) after the first convolution's ReLU. No
    implementation has it, so its count is checked against Table 2 (133M, to the paper's
    rounding): 132,863,336, A's, as the normalisation has no weights."""
    return build_vgg("vgg11_lrn", config, **kwargs)


@register(**VGGS, config=VGG_B, params=133_047_848, flops=22_616_932_352,
          reference=Reference("torchvision", "vgg13"))
def VGG13(config, **kwargs):
    """VGG-13, configuration B (Simonyan & Zisserman 2014, arXiv:1409.1556, Table 1):
    133,047,848 trainable parameters, torchvision's ``vgg13`` (Table 2: 133M)."""
    return build_vgg("vgg13", config, **kwargs)


@register(**VGGS, config=VGG_C,
          reference=no_reference("no implementation has configuration C; tests/test_vgg.py "
                                 "checks Table 2's 134M (133,638,952)"))
def VGG16_C(config, **kwargs):
    """VGG-16 configuration C (Simonyan & Zisserman 2014, arXiv:1409.1556, Table 1): B plus a
    1x1 convolution (conv1-256, conv1-512, conv1-512) closing each of the last three stages.
    No implementation has it; 133,638,952 trainable parameters, checked against Table 2's 134M
    (to the paper's rounding)."""
    return build_vgg("vgg16_c", config, **kwargs)


@register(**VGGS, config=VGG_D, params=138_357_544, flops=30_940_528_640,
          reference=Reference("torchvision", "vgg16"),
          keras_twin=KerasTwin("VGG16", note=_KERAS_SAME))
def VGG16(config, **kwargs):
    """VGG-16, configuration D (Simonyan & Zisserman 2014, arXiv:1409.1556, Table 1):
    138,357,544 trainable parameters and 15,470,264,320 multiply-adds at 224, torchvision's
    ``vgg16`` and ``keras.applications.VGG16`` (Table 2: 138M). keras' weights load onto it
    layer for layer (keras has no dropout layers and fuses the ReLUs into the convolutions)."""
    return build_vgg("vgg16", config, **kwargs)


@register(**VGGS, config=VGG_E, params=143_667_240, flops=39_264_124_928,
          reference=Reference("torchvision", "vgg19"),
          keras_twin=KerasTwin("VGG19", note=_KERAS_SAME))
def VGG19(config, **kwargs):
    """VGG-19, configuration E (Simonyan & Zisserman 2014, arXiv:1409.1556, Table 1):
    143,667,240 trainable parameters, torchvision's ``vgg19`` and ``keras.applications.VGG19``
    (Table 2: 144M)."""
    return build_vgg("vgg19", config, **kwargs)


@register(**VGGS, config=dataclasses.replace(VGG_A, norm="batch"), params=132_868_840,
          flops=15_218_180_096, reference=Reference("torchvision", "vgg11_bn"))
def VGG11_BN(config, **kwargs):
    """VGG-11 (configuration A of Simonyan & Zisserman 2014, arXiv:1409.1556, Table 1) with
    BatchNorm after every convolution, conv bias kept: torchvision's ``vgg11_bn``, 132,868,840
    trainable parameters (5,504 more than VGG-11: the norms' scales and offsets)."""
    return build_vgg("vgg11_bn", config, **kwargs)


@register(**VGGS, config=dataclasses.replace(VGG_B, norm="batch"), params=133_053_736,
          flops=22_616_932_352, reference=Reference("torchvision", "vgg13_bn"))
def VGG13_BN(config, **kwargs):
    """VGG-13 (configuration B of Simonyan & Zisserman 2014, arXiv:1409.1556, Table 1) with
    BatchNorm after every convolution, conv bias kept: torchvision's ``vgg13_bn``, 133,053,736
    trainable parameters."""
    return build_vgg("vgg13_bn", config, **kwargs)


@register(**VGGS, config=dataclasses.replace(VGG_D, norm="batch"), params=138_365_992,
          flops=30_940_528_640, reference=Reference("torchvision", "vgg16_bn"))
def VGG16_BN(config, **kwargs):
    """VGG-16 (configuration D of Simonyan & Zisserman 2014, arXiv:1409.1556, Table 1) with
    BatchNorm after every convolution, conv bias kept: torchvision's ``vgg16_bn``, 138,365,992
    trainable parameters."""
    return build_vgg("vgg16_bn", config, **kwargs)


@register(**VGGS, config=dataclasses.replace(VGG_E, norm="batch"), params=143_678_248,
          flops=39_264_124_928, reference=Reference("torchvision", "vgg19_bn"))
def VGG19_BN(config, **kwargs):
    """VGG-19 (configuration E of Simonyan & Zisserman 2014, arXiv:1409.1556, Table 1) with
    BatchNorm after every convolution, conv bias kept: torchvision's ``vgg19_bn``, 143,678,248
    trainable parameters."""
    return build_vgg("vgg19_bn", config, **kwargs)
