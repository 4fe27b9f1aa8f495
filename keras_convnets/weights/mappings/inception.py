"""Where GoogLeNet's, BN-Inception's and Inception-v3's reference weights come from (format:
:mod:`keras_convnets.weights.mappings`).

torchvision's ``googlenet`` is our ``layout="torchvision"``; with ``aux_logits=True`` its two
auxiliary heads map onto ours too (every reference tensor is used). Its auxiliary ``fc1`` takes a
channels-first flattened 4x4x128 map, ours a channels-last one (the porter permutes a Dense fed
by a Flatten); our fixed 5x5/3 pooling gives 4x4 for inputs of 223 to 270, so the parity check
runs at 224x240. ``pretrainedmodels``' ``bninception`` names its modules as we name our layers
(Caffe's names); its final pooling is a fixed 7x7 average, our global one at 224 only.
torchvision's ``inception_v3`` with ``aux_logits=True``: its auxiliary 5x5 convolution needs a
17x17 Mixed_6e map, hence 299.

torchvision's two are built with ``transform_input=False`` (its pretrained builders otherwise
switch it on: an affine map of ImageNet-normalised inputs to the [-1, 1] range Google's weights
were trained on), so that the reference computes what our model does; ported pretrained weights
then expect inputs scaled to [-1, 1]. ``init_weights=False`` gives random references PyTorch's
default initialisation (torchvision's own is slow and, without normalisation statistics, makes
Inception-v3's logits reach 1e13).
"""


def _conv_bn(ours, theirs):
    """A conv -> BN pair: ``<ours>`` and ``<ours>_bn`` -> ``<theirs>.conv`` / ``<theirs>.bn``."""
    return [(ours + "_bn", theirs + ".bn"), (ours, theirs + ".conv")]


def _googlenet_rules():
    rules = (_conv_bn("conv1_7x7_s2", "conv1") + _conv_bn("conv2_3x3_reduce", "conv2")
             + _conv_bn("conv2_3x3", "conv3"))
    module = r"inception_(?P<m>\d[a-e])_"
    for ours, theirs in (("1x1", "branch1"), ("3x3_reduce", "branch2.0"), ("3x3", "branch2.1"),
                         ("5x5_reduce", "branch3.0"), ("5x5", "branch3.1"),
                         ("pool_proj", "branch4.1")):
        rules += _conv_bn(module + ours, "inception{m}." + theirs)
    aux = r"aux(?P<i>[12])_"
    rules += _conv_bn(aux + "conv", "aux{i}.conv")
    rules += [(aux + "fc", "aux{i}.fc1"), (aux + "logits", "aux{i}.fc2"), ("logits", "fc")]
    return rules


def _inception_v3_rules():
    rules = _conv_bn(r"conv(?P<id>\d[ab]_\dx\d)", "Conv2d_{id}")
    rules += _conv_bn(r"mixed_(?P<id>\d[a-e])_(?P<branch>branch\w+)", "Mixed_{id}.{branch}")
    rules += _conv_bn(r"aux_(?P<conv>conv[01])", "AuxLogits.{conv}")
    return rules + [("aux_logits", "AuxLogits.fc"), ("logits", "fc")]


KEY_RULES = {
    "torchvision_googlenet": _googlenet_rules(),
    # our layer names are the reference's module names
    "pretrainedmodels_bninception": [(r"logits", "last_linear"), (r"(?P<name>.+)", "{name}")],
    "torchvision_inception_v3": _inception_v3_rules(),
}

#: the torchvision constructors' arguments (see the module docstring)
_TORCHVISION = "init_weights=False, transform_input=False"

#: our model -> (reference, key-rule set, builder options, fixed input size)
SOURCES = {
    "googlenet": (f"torchvision:googlenet(aux_logits=True, {_TORCHVISION})",
                  "torchvision_googlenet", {"layout": "torchvision", "aux_logits": True},
                  (224, 240)),
    "bninception": ("pretrainedmodels:bninception", "pretrainedmodels_bninception", {}, 224),
    "inceptionv3": (f"torchvision:inception_v3(aux_logits=True, {_TORCHVISION})",
                    "torchvision_inception_v3", {"aux_logits": True}, 299),
}
