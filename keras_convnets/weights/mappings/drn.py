"""Where the Dilated Residual Networks' reference weights come from (format:
:mod:`keras_convnets.weights.mappings`).

- DRN-C/D: pytorchcv's ``drnc26 .. drnd105`` (the authors' ImageNet weights, converted). Its
  stages are ours by stride: ``features.stage1-3`` are levels 1-3 and ``features.stage4``
  holds levels 4-8 (all at stride 8) as one run of units, so a level's unit numbers continue
  the previous level's; the rules below are generated per network from its blocks per level.
  A residual unit is ``body.conv<i>.{conv,bn}`` + ``identity_conv.{conv,bn}``, a DRN-D conv
  layer is a unit ``body.{conv,bn}``, the stem ``features.init_block``, the classifier the 1x1
  convolution ``output``. pytorchcv's final 28x28 average pool is made global by the porter
  (:func:`keras_convnets.weights.porting.create_reference`), so the check runs at any size.
  DRN-C-58 ports into the default build (pytorchcv has no unused projection).
- DRN-A-50: torchvision's ``resnet50(replace_stride_with_dilation=[False, True, True])`` is
  the paper's DRN-A-50 (the authors initialise theirs from torchvision's ResNet-50 with the
  same tensor names); with ``pretrained=True`` that is ResNet-50's ImageNet classifier run
  dilated, not a DRN-A trained as one (none is published).
"""

#: blocks (DRN-D's levels 1, 2, 7, 8: conv layers) per level, as models/drn.py
_DEPTHS = {
    "drn_c_26": (1, 1, 2, 2, 2, 2, 1, 1), "drn_c_42": (1, 1, 3, 4, 6, 3, 1, 1),
    "drn_c_58": (1, 1, 3, 4, 6, 3, 1, 1), "drn_d_22": (1, 1, 2, 2, 2, 2, 1, 1),
    "drn_d_38": (1, 1, 3, 4, 6, 3, 1, 1), "drn_d_54": (1, 1, 3, 4, 6, 3, 1, 1),
    "drn_d_105": (1, 1, 3, 4, 23, 3, 1, 1),
}


def _pytorchcv_rules(depths):
    """Our ``stage<L>_block<B>_...`` / ``stage<L>_<conv|bn><j>`` -> pytorchcv's units."""
    rules = [(r"stem_(?P<kind>conv|bn)", "features.init_block.{kind}")]
    for level, depth in enumerate(depths, start=1):
        stage = min(level, 4)
        offset = sum(depths[3:level - 1]) if level > 4 else 0
        for index in range(1, depth + 1):
            unit = f"features.stage{stage}.unit{offset + index}"
            block = f"stage{level}_block{index}"
            rules += [
                (block + r"_(?P<kind>conv|bn)(?P<i>\d)", unit + ".body.conv{i}.{kind}"),
                (block + r"_shortcut_(?P<kind>conv|bn)", unit + ".identity_conv.{kind}"),
                (rf"stage{level}_(?P<kind>conv|bn){index}", unit + ".body.{kind}"),
            ]
    return rules + [(r"logits", "output")]


KEY_RULES = {name: _pytorchcv_rules(depths) for name, depths in _DEPTHS.items()}
# torchvision's ResNet names (our DRN-A names are the residual family's)
KEY_RULES["torchvision"] = [
    (r"stem_conv", "conv1"),
    (r"stem_bn", "bn1"),
    (r"stage(?P<stage>\d)_block(?P<block>\d+)_(?P<kind>conv|bn)(?P<index>\d)",
     "layer{stage}.{block0}.{kind}{index}"),
    (r"stage(?P<stage>\d)_block(?P<block>\d+)_shortcut_conv", "layer{stage}.{block0}.downsample.0"),
    (r"stage(?P<stage>\d)_block(?P<block>\d+)_shortcut_bn", "layer{stage}.{block0}.downsample.1"),
    (r"logits", "fc"),
]

#: our model -> (reference, key-rule set, builder options)
SOURCES = {
    "drn_a_50": ("torchvision:resnet50(replace_stride_with_dilation=[False, True, True])",
                 "torchvision", {}),
    "drn_c_26": ("pytorchcv:drnc26", "drn_c_26", {}),
    "drn_c_42": ("pytorchcv:drnc42", "drn_c_42", {}),
    "drn_c_58": ("pytorchcv:drnc58", "drn_c_58", {}),
    "drn_d_22": ("pytorchcv:drnd22", "drn_d_22", {}),
    "drn_d_38": ("pytorchcv:drnd38", "drn_d_38", {}),
    "drn_d_54": ("pytorchcv:drnd54", "drn_d_54", {}),
    "drn_d_105": ("pytorchcv:drnd105", "drn_d_105", {}),
}
