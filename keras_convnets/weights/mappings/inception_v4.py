"""Where Inception-v4's and Inception-ResNet-v2's reference weights come from (format:
:mod:`keras_convnets.weights.mappings`).

timm's ``inception_v4`` and ``inception_resnet_v2`` (both Cadene's port of the TF-slim
release). The rules are generated from our configurations: step j of branch i of one of our
blocks (``<block>_b<i>_<j>``) is ``branch<i - 1>`` of timm's module when the branch is a single
convolution and ``branch<i - 1>.<j - 1>`` when it is a sequence (pools count as steps, as in
timm's ``Sequential``); Inception-C's fork is ``branch1_1a`` etc. Every convolution of ours is
``<...>_conv`` + ``<...>_bn``, timm's ``ConvNormAct`` ``.conv`` + ``.bn``.

``KEY_RULES["pytorchcv_inceptionresnetv1"]`` maps our Inception-ResNet-v1 in the configuration of
pytorchcv's FaceNet-style ``inceptionresnetv1`` (six C modules, the last linear) onto that
model's features, for the block cross-check in tests/test_inception_v4.py (its classifier is a
512-wide embedding, not the paper's, so it is no weight source).
"""

from ...models import inception_v4 as iv4


def _conv_rules(ours, theirs):
    return [(rf"{ours}_(?P<kind>conv|bn)", theirs + ".{kind}")]


def _block_rules(ours, theirs, block):
    """Rules for every convolution of ``block`` (our name ``ours``, timm's module ``theirs``)."""
    rules = []
    for i, steps in enumerate(block, start=1):
        ours_branch = ours if len(block) == 1 else f"{ours}_b{i}"
        theirs_branch = theirs if len(block) == 1 else f"{theirs}.branch{i - 1}"
        for j, step in enumerate(steps, start=1):
            if isinstance(step, iv4.Conv):
                path = theirs_branch + (f".{j - 1}" if len(steps) > 1 else "")
                rules += _conv_rules(f"{ours_branch}_{j}", path)
    return rules


def _inception_c_rules(ours, theirs):
    """timm's InceptionC names its convolutions one by one."""
    names = {"b1_1": "branch0", "b2_1": "branch1_0", "b2_2a": "branch1_1a",
             "b2_2b": "branch1_1b", "b3_1": "branch2_0", "b3_2": "branch2_1", "b3_3": "branch2_2",
             "b3_4a": "branch2_3a", "b3_4b": "branch2_3b", "b4_2": "branch3.1"}
    return [rule for k, v in names.items() for rule in _conv_rules(f"{ours}_{k}", f"{theirs}.{v}")]


def _timm_inception_v4_rules():
    rules = []
    for j in range(1, 4):
        rules += _conv_rules(f"stem_{j}", f"features.{j - 1}")
    rules += _conv_rules("mixed_3a_b2_1", "features.3.conv")
    rules += _block_rules("mixed_4a", "features.4", iv4.V4_STEM[1][1][1])
    rules += _conv_rules("mixed_5a_b1_1", "features.5.conv")
    for k in range(1, 5):
        rules += _block_rules(f"block_a{k}", f"features.{5 + k}", iv4.V4_BLOCK_A)
    rules += _block_rules("reduction_a", "features.10", iv4.V4_REDUCTION_A)
    for k in range(1, 8):
        rules += _block_rules(f"block_b{k}", f"features.{10 + k}", iv4.V4_BLOCK_B)
    rules += _block_rules("reduction_b", "features.18", iv4.V4_REDUCTION_B)
    for k in range(1, 4):
        rules += _inception_c_rules(f"block_c{k}", f"features.{18 + k}")
    return rules + [("logits", "last_linear")]


def _timm_inception_resnet_v2_rules():
    rules = []
    for j, theirs in enumerate(("conv2d_1a", "conv2d_2a", "conv2d_2b"), start=1):
        rules += _conv_rules(f"stem_{j}", theirs)
    rules += _conv_rules("stem_b_2", "conv2d_3b") + _conv_rules("stem_b_3", "conv2d_4a")
    rules += _block_rules("mixed_5b", "mixed_5b", iv4.IRV2_STEM[2][1][1])
    modules = [("a", "repeat", 10, iv4.IRV2_BLOCK_A), ("b", "repeat_1", 20, iv4.IRV2_BLOCK_B),
               ("c", "repeat_2", 9, iv4.IRV2_BLOCK_C)]
    for letter, theirs, count, block in modules:
        for k in range(1, count + 1):
            rules += _block_rules(f"block_{letter}{k}", f"{theirs}.{k - 1}", block)
            rules.append((f"block_{letter}{k}_proj", f"{theirs}.{k - 1}.conv2d"))
    rules += _block_rules("block_c10", "block8", iv4.IRV2_BLOCK_C)
    rules.append(("block_c10_proj", "block8.conv2d"))
    rules += _block_rules("reduction_a", "mixed_6a", iv4.IRV2_REDUCTION_A)
    rules += _block_rules("reduction_b", "mixed_7a", iv4.IRV2_REDUCTION_B)
    rules += _conv_rules("head_conv", "conv2d_7b")
    return rules + [("logits", "classif")]


def _pytorchcv_inception_resnet_v1_rules():
    """pytorchcv's ``inceptionresnetv1`` features: ``init_block.conv1-6``, then
    ``stage<s>.unit<u>`` (the reduction module is unit 1 of stages 2 and 3)."""
    rules = []
    for j in range(1, 4):
        rules += _conv_rules(f"stem_{j}", f"features.init_block.conv{j}")
    rules += _conv_rules("stem_b_2", "features.init_block.conv4")
    rules += _conv_rules("stem_b_3", "features.init_block.conv5")
    rules += _conv_rules("stem_c_1", "features.init_block.conv6")

    def cv_block_rules(ours, theirs, block, reduction=False):
        # a normal unit's first branch is one 1x1 convolution (``Conv1x1Branch``), every other
        # branch a ``ConvSeqBranch`` (``conv_list.conv<j>``)
        out = []
        for i, steps in enumerate(block, start=1):
            convs = [s for s in steps if isinstance(s, iv4.Conv)]
            for j, _ in enumerate(convs, start=1):
                suffix = ".conv" if i == 1 and not reduction else f".conv_list.conv{j}"
                out += _conv_rules(f"{ours}_b{i}_{j}", f"{theirs}.branches.branch{i}{suffix}")
        return out

    modules = [("a", 1, 0, 5, iv4.IRV1_BLOCK_A), ("b", 2, 1, 10, iv4.IRV1_BLOCK_B),
               ("c", 3, 1, 6, iv4.IRV1_BLOCK_C)]
    for letter, stage, offset, count, block in modules:
        for k in range(1, count + 1):
            theirs = f"features.stage{stage}.unit{k + offset}"
            rules += cv_block_rules(f"block_{letter}{k}", theirs, block)
            rules.append((f"block_{letter}{k}_proj", f"{theirs}.conv"))
    rules += cv_block_rules("reduction_a", "features.stage2.unit1", iv4.IRV1_REDUCTION_A, True)
    rules += cv_block_rules("reduction_b", "features.stage3.unit1", iv4.IRV1_REDUCTION_B, True)
    return rules


KEY_RULES = {
    "timm_inception_v4": _timm_inception_v4_rules(),
    "timm_inception_resnet_v2": _timm_inception_resnet_v2_rules(),
    "pytorchcv_inceptionresnetv1": _pytorchcv_inception_resnet_v1_rules(),
}

SOURCES = {
    "inceptionv4": ("timm:inception_v4", "timm_inception_v4", {}),
    "inceptionresnetv2": ("timm:inception_resnet_v2", "timm_inception_resnet_v2", {}),
}
