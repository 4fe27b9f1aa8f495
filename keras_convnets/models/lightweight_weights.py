"""Reference weights for the MobileNets and Xception (see ``resnet_weights`` for the format).

The MobileNets are chains, so their weights pair with the reference's modules in execution
order (``"execution_order"``), each pairing checked for layer type and tensor shapes. Xception
runs its shortcut after the residual branch in timm but before it in our graph, so it maps by
name: ``KEY_RULES["legacy_xception"]`` is generated from timm's block layout (each block's
``rep`` Sequential holds ReLU, SeparableConv2d, BatchNorm triples; block 1 drops its first ReLU).
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


KEY_RULES = {"execution_order": "execution_order", "legacy_xception": _xception_rules()}

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
}

#: Models whose counts were measured on a reference that cannot be created by name, and why.
NOT_PORTABLE = {
    "mobilenet_025": "timm builds it only through a private generator (no named model/weights)",
    "mobilenet_050": "timm builds it only through a private generator (no named model/weights)",
    "mobilenet_075": "timm builds it only through a private generator (no named model/weights)",
    "mobilenetv2_130": "torchvision builds it only with width_mult=1.3 (no named model/weights)",
    "mobilenetv3largeminimal": "timm's tf_ port pads like TensorFlow ('same'), we like PyTorch",
    "mobilenetv3smallminimal": "timm's tf_ port pads like TensorFlow ('same'), we like PyTorch",
}
