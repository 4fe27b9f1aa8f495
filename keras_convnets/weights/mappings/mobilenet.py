"""Where the MobileNets' reference weights come from
(format: :mod:`keras_convnets.weights.mappings`).

The MobileNets are chains, so their weights pair with the reference's modules in execution
order (``"execution_order"``), each pairing checked for layer type and tensor shapes.
"""

KEY_RULES = {"execution_order": "execution_order"}

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
