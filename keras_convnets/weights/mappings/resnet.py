"""Where the residual family's reference weights come from, and how their tensors map onto ours
(format: :mod:`keras_convnets.weights.mappings`)."""

# Our "_bn2" of a preact block normalises the output of conv1 -> timm calls it norm2, etc.
_BLOCK = r"stage(?P<stage>\d+)_block(?P<block>\d+)"


def _layer_blocks(se, classifier):
    """Blocks under ``layer{stage}.{block0}`` with a ``downsample`` Sequential (torchvision's
    layout, kept by timm and Cadene's SENets), their SE module and the classifier's names."""
    return [
        (_BLOCK + r"_(?P<kind>conv|bn)(?P<index>\d)", "layer{stage}.{block0}.{kind}{index}"),
        (_BLOCK + r"_shortcut_conv", "layer{stage}.{block0}.downsample.0"),
        (_BLOCK + r"_shortcut_bn", "layer{stage}.{block0}.downsample.1"),
        (_BLOCK + r"_se", "layer{stage}.{block0}." + se),
        (r"logits", classifier),
    ]


KEY_RULES = {
    # torchvision's ResNet, and timm's ResNet / Res2Net which keep its names.
    "torchvision": [
        (r"stem_conv", "conv1"),
        (r"stem_bn", "bn1"),
        (_BLOCK + r"_conv2_(?P<index>\d+)", "layer{stage}.{block0}.convs.{index0}"),
        (_BLOCK + r"_bn2_(?P<index>\d+)", "layer{stage}.{block0}.bns.{index0}"),
        *_layer_blocks("se", "fc"),
    ],
    # Cadene's SENets as timm's legacy_* models.
    "legacy_senet": [
        (r"stem_conv", "layer0.conv1"),
        (r"stem_bn", "layer0.bn1"),
        (r"stem_conv(?P<index>\d)", "layer0.conv{index}"),
        (r"stem_bn(?P<index>\d)", "layer0.bn{index}"),
        *_layer_blocks("se_module", "last_linear"),
    ],
    # pytorchcv's ResNets (its ConvBlock = conv + bn [+ activ]); its resnet50/101/152 stride
    # the first 1x1, as the paper's v1 and our default layout (params.tsv's pytorchcv rows).
    "pytorchcv": [
        (r"stem_(?P<kind>conv|bn)", "features.init_block.conv.{kind}"),
        (_BLOCK + r"_(?P<kind>conv|bn)(?P<index>\d)",
         "features.stage{stage}.unit{block}.body.conv{index}.{kind}"),
        (_BLOCK + r"_shortcut_(?P<kind>conv|bn)",
         "features.stage{stage}.unit{block}.identity_conv.{kind}"),
        (r"logits", "output"),
    ],
    # pytorchcv's RoR-3 CIFAR ResNets (CIFARRoR): the stage- and root-level shortcuts are
    # conv1x1 blocks (conv + BN) of each stage and of the body.
    "pytorchcv_ror": [
        (r"stem_(?P<kind>conv|bn)", "features.init_block.{kind}"),
        (_BLOCK + r"_(?P<kind>conv|bn)(?P<index>\d)",
         "features.body.stages.stage{stage}.units.unit{block}.body.conv{index}.{kind}"),
        (_BLOCK + r"_shortcut_(?P<kind>conv|bn)",
         "features.body.stages.stage{stage}.units.unit{block}.identity_conv.{kind}"),
        (r"stage(?P<stage>\d+)_ror_shortcut_(?P<kind>conv|bn)",
         "features.body.stages.stage{stage}.shortcut.{kind}"),
        (r"ror_root_shortcut_(?P<kind>conv|bn)", "features.body.shortcut.{kind}"),
        (r"logits", "output"),
    ],
    # timm's pre-activation ResNetV2: norm1 opens the block, norm2/norm3 follow conv1/conv2.
    "timm_resnetv2": [
        (r"stem_conv", "stem.conv"),
        (_BLOCK + r"_preact_bn", "stages.{stage0}.blocks.{block0}.norm1"),
        (_BLOCK + r"_bn1", "stages.{stage0}.blocks.{block0}.norm2"),
        (_BLOCK + r"_bn2", "stages.{stage0}.blocks.{block0}.norm3"),
        (_BLOCK + r"_conv(?P<index>\d)", "stages.{stage0}.blocks.{block0}.conv{index}"),
        (_BLOCK + r"_shortcut_conv", "stages.{stage0}.blocks.{block0}.downsample.conv"),
        (r"post_bn", "norm"),
        (r"logits", "head.fc"),
    ],
}

V15 = {"stride_in_1x1": False}  # torchvision / timm stride the 3x3
TIMM_V2 = {"stride_in_last_block": False}  # timm strides the first block of stages 2-4

#: A reference for the default (paper) layout of the models whose ported weights (SOURCES,
#: below) need another layout: pytorchcv's random-init models check that our default layout
#: computes what the reference computes (tests/test_port.py); no weights come from them.
DEFAULT_LAYOUT_REFERENCES = {
    "resnet50": ("pytorchcv:resnet50", "pytorchcv"),
    "resnet101": ("pytorchcv:resnet101", "pytorchcv"),
    "resnet152": ("pytorchcv:resnet152", "pytorchcv"),
}

#: our model -> (reference "library:model", key-rule set, builder options)
SOURCES = {
    "resnet18": ("torchvision:resnet18", "torchvision", {}),
    "resnet34": ("torchvision:resnet34", "torchvision", {}),
    "resnet50": ("torchvision:resnet50", "torchvision", V15),
    "resnet101": ("torchvision:resnet101", "torchvision", V15),
    "resnet152": ("torchvision:resnet152", "torchvision", V15),
    "resnet200": ("timm:resnet200", "torchvision", V15),
    "resnet50v2": ("timm:resnetv2_50", "timm_resnetv2", TIMM_V2),
    "resnet101v2": ("timm:resnetv2_101", "timm_resnetv2", TIMM_V2),
    "resnet152v2": ("timm:resnetv2_152", "timm_resnetv2", TIMM_V2),
    "resnext50": ("torchvision:resnext50_32x4d", "torchvision", {}),
    "resnext101": ("timm:resnext101_32x4d", "torchvision", {}),
    "resnext101_32x8d": ("torchvision:resnext101_32x8d", "torchvision", {}),
    "resnext101_64x4d": ("torchvision:resnext101_64x4d", "torchvision", {}),
    "seresnet18": ("timm:legacy_seresnet18", "legacy_senet", {}),
    "seresnet34": ("timm:legacy_seresnet34", "legacy_senet", {}),
    "seresnet50": ("timm:legacy_seresnet50", "legacy_senet", {}),
    "seresnet101": ("timm:legacy_seresnet101", "legacy_senet", {}),
    "seresnet152": ("timm:legacy_seresnet152", "legacy_senet", {}),
    "seresnext50": ("timm:legacy_seresnext50_32x4d", "legacy_senet", {}),
    "seresnext101": ("timm:legacy_seresnext101_32x4d", "legacy_senet", {}),
    "senet154": ("timm:legacy_senet154", "legacy_senet", {}),
    "wideresnet50_2": ("torchvision:wide_resnet50_2", "torchvision", {}),
    "wideresnet101_2": ("torchvision:wide_resnet101_2", "torchvision", {}),
    "res2net50": ("timm:res2net50_26w_4s", "torchvision", {}),
    "res2net50_14w8s": ("timm:res2net50_14w_8s", "torchvision", {}),
    "res2net50_26w6s": ("timm:res2net50_26w_6s", "torchvision", {}),
    "res2net50_26w8s": ("timm:res2net50_26w_8s", "torchvision", {}),
    "res2net50_48w2s": ("timm:res2net50_48w_2s", "torchvision", {}),
    "res2net101": ("timm:res2net101_26w_4s", "torchvision", {}),
    "res2next50": ("timm:res2next50", "torchvision", {}),
    # pytorchcv's CIFAR RoR ends in a fixed 8x8 average pool: 32x32 inputs only.
    "ror3_56": ("pytorchcv:ror3_56_cifar10", "pytorchcv_ror", {}, 32),
    "ror3_110": ("pytorchcv:ror3_110_cifar10", "pytorchcv_ror", {}, 32),
    "ror3_164": ("pytorchcv:ror3_164_cifar10", "pytorchcv_ror", {}, 32),
}
