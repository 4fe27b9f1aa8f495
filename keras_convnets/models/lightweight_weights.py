"""Reference weights for the MobileNets, Xception and ShuffleNet v2 (format: ``resnet_weights``).

The MobileNets are chains, so their weights pair with the reference's modules in execution
order (``"execution_order"``), each pairing checked for layer type and tensor shapes. Xception
runs its shortcut after the residual branch in timm but before it in our graph, so it maps by
name: ``KEY_RULES["legacy_xception"]`` is generated from timm's block layout (each block's
``rep`` Sequential holds ReLU, SeparableConv2d, BatchNorm triples; block 1 drops its first ReLU).
torchvision's ShuffleNet v2 maps by name for the same reason (its down-sampling units' branches).
"""


def _xception_rules():
    rules = [(r"stem_conv(?P<index>\d)", "conv{index}"), (r"stem_bn(?P<index>\d)", "bn{index}")]
    blocks = [("entry1", 1, 2, False), ("entry2", 2, 2, True), ("entry3", 3, 2, True)]
    blocks += [(f"middle{i}", 3 + i, 3, True) for i in range(1, 9)]
    blocks += [("exit", 12, 2, True)]
    for ours, block, convs, start_with_relu in blocks:
        offset = 1 if start_with_relu else 0
        for j in range(1, convs + 1):
            rules.append((f"{ours}_sepconv{j}", f"block{block}.rep.{3 * (j - 1) + offset}"))
            rules.append((f"{ours}_bn{j}", f"block{block}.rep.{3 * (j - 1) + offset + 1}"))
        rules.append((f"{ours}_shortcut_conv", f"block{block}.skip"))
        rules.append((f"{ours}_shortcut_bn", f"block{block}.skipbn"))
    rules += [(r"exit_sepconv(?P<index>[34])", "conv{index}"), (r"exit_bn(?P<index>[34])", "bn{index}"),
              (r"logits", "fc")]
    return rules


def _torchvision_shufflenet_v2_rules():
    unit = r"stage(?P<stage>[234])_unit(?P<unit>\d+)_"
    target = "stage{stage}.{unit0}."
    branches = [("proj_dwconv", "branch1.0"), ("proj_dwbn", "branch1.1"),
                ("proj_conv", "branch1.2"), ("proj_bn", "branch1.3"),
                ("conv1", "branch2.0"), ("bn1", "branch2.1"), ("dwconv", "branch2.3"),
                ("dwbn", "branch2.4"), ("conv2", "branch2.5"), ("bn2", "branch2.6")]
    rules = [("stem_conv", "conv1.0"), ("stem_bn", "conv1.1"), ("conv5_conv", "conv5.0"),
             ("conv5_bn", "conv5.1"), ("logits", "fc")]
    return rules + [(unit + ours, target + theirs) for ours, theirs in branches]


KEY_RULES = {"execution_order": "execution_order", "legacy_xception": _xception_rules(),
             "torchvision_shufflenet_v2": _torchvision_shufflenet_v2_rules()}

# timm's MobileNetV3s (BatchNorm epsilon 1e-5, as ours; torchvision's use 1e-3) and
# MobileNetV2 multipliers; torchvision's MobileNetV2 1.0 is the row in params.tsv.
SOURCES = {
    "mobilenet": ("timm:mobilenetv1_100", "execution_order", {}),
    "mobilenetv2": ("torchvision:mobilenet_v2", "execution_order", {}),
    "mobilenetv2_035": ("timm:mobilenetv2_035", "execution_order", {}),
    "mobilenetv2_050": ("timm:mobilenetv2_050", "execution_order", {}),
    "mobilenetv2_075": ("timm:mobilenetv2_075", "execution_order", {}),
    "mobilenetv2_140": ("timm:mobilenetv2_140", "execution_order", {}),
    "mobilenetv3large": ("timm:mobilenetv3_large_100", "execution_order", {}),
    "mobilenetv3large_075": ("timm:mobilenetv3_large_075", "execution_order", {}),
    "mobilenetv3small": ("timm:mobilenetv3_small_100", "execution_order", {}),
    "mobilenetv3small_050": ("timm:mobilenetv3_small_050", "execution_order", {}),
    "mobilenetv3small_075": ("timm:mobilenetv3_small_075", "execution_order", {}),
    "xception": ("timm:legacy_xception", "legacy_xception", {}),
    # torchvision's ShuffleNet v2 differs from the official layout we default to (see
    # models/shufflenet.py): its weights port into ``layout="torchvision"``. Its down-sampling
    # units' two branches are siblings in our graph, so they map by name.
    "shufflenetv2_0_5x": ("torchvision:shufflenet_v2_x0_5", "torchvision_shufflenet_v2",
                          {"layout": "torchvision"}),
    "shufflenetv2_1x": ("torchvision:shufflenet_v2_x1_0", "torchvision_shufflenet_v2",
                        {"layout": "torchvision"}),
    "shufflenetv2_1_5x": ("torchvision:shufflenet_v2_x1_5", "torchvision_shufflenet_v2",
                          {"layout": "torchvision"}),
    "shufflenetv2_2x": ("torchvision:shufflenet_v2_x2_0", "torchvision_shufflenet_v2",
                        {"layout": "torchvision"}),
}

#: Models whose counts were measured on a reference that cannot be created by name, and why.
#: ``keras-convnets port`` cannot name them; ``tests/test_port.py`` still checks their logit
#: parity against the reference built directly (timm's generators, torchvision's width_mult).
NOT_PORTABLE = {
    "mobilenet_025": "timm builds it only through a private generator (no named model/weights)",
    "mobilenet_050": "timm builds it only through a private generator (no named model/weights)",
    "mobilenet_075": "timm builds it only through a private generator (no named model/weights)",
    "mobilenetv2_130": "torchvision builds it only with width_mult=1.3 (no named model/weights)",
    "mobilenetv3largeminimal": "timm's tf_ port pads like TensorFlow ('same'), we like PyTorch",
    "mobilenetv3smallminimal": "timm's tf_ port pads like TensorFlow ('same'), we like PyTorch",
}
