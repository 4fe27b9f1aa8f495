"""Where ShuffleNet v2's reference weights come from
(format: :mod:`keras_convnets.weights.mappings`).

torchvision's ShuffleNet v2 differs from the official layout we default to (see
models/shufflenet.py): its weights port into ``layout="torchvision"``. Its down-sampling units'
two branches are siblings in our graph, so they map by name.
"""


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


KEY_RULES = {"torchvision_shufflenet_v2": _torchvision_shufflenet_v2_rules()}

_TORCHVISION = {"layout": "torchvision"}
SOURCES = {
    "shufflenetv2_0_5x": ("torchvision:shufflenet_v2_x0_5", "torchvision_shufflenet_v2",
                          _TORCHVISION),
    "shufflenetv2_1x": ("torchvision:shufflenet_v2_x1_0", "torchvision_shufflenet_v2",
                        _TORCHVISION),
    "shufflenetv2_1_5x": ("torchvision:shufflenet_v2_x1_5", "torchvision_shufflenet_v2",
                          _TORCHVISION),
    "shufflenetv2_2x": ("torchvision:shufflenet_v2_x2_0", "torchvision_shufflenet_v2",
                        _TORCHVISION),
}
