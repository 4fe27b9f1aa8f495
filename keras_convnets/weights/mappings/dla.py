"""Where the DLA family's reference weights come from (timm), and how their tensors map onto ours
(format: :mod:`keras_convnets.weights.mappings`).

Our layer names follow timm's module paths with "_" for ".": ``level3_tree1_tree2_conv1`` is
``level3.tree1.tree2.conv1``. Trees nest at most ``MAX_TREE_DEPTH`` levels deep (DLA-169's level
4 has five).
"""

MAX_TREE_DEPTH = 6


def _tree_rules(depth):
    """Rules for layers ``depth`` trees below a level: blocks' convs / norms, Res2Net's scale
    convs, the root and the projection."""
    ours = r"level(?P<level>[2-5])" + "".join(rf"_tree(?P<t{k}>[12])" for k in range(depth))
    theirs = "level{level}" + "".join(f".tree{{t{k}}}" for k in range(depth))
    return [
        (ours + r"_(?P<kind>conv|bn)(?P<index>[123])", theirs + ".{kind}{index}"),
        (ours + r"_conv2_(?P<index>\d+)", theirs + ".convs.{index0}"),
        (ours + r"_bn2_(?P<index>\d+)", theirs + ".bns.{index0}"),
        (ours + r"_root_(?P<kind>conv|bn)", theirs + ".root.{kind}"),
        (ours + r"_project_conv", theirs + ".project.0"),
        (ours + r"_project_bn", theirs + ".project.1"),
    ]


KEY_RULES = {
    "timm": [
        (r"base_layer_conv", "base_layer.0"),
        (r"base_layer_bn", "base_layer.1"),
        # level0 / level1 are Sequentials of (conv, bn, relu) x n
        *[(rf"level(?P<level>[01])_conv{i + 1}", f"level{{level}}.{3 * i}") for i in range(4)],
        *[(rf"level(?P<level>[01])_bn{i + 1}", f"level{{level}}.{3 * i + 1}") for i in range(4)],
        *[rule for depth in range(MAX_TREE_DEPTH + 1) for rule in _tree_rules(depth)],
        (r"logits", "fc"),  # a 1x1 convolution with bias in timm
    ],
}

#: timm's DLA halves sizes both with a floor-mode 2x2 max-pool and a padded 3x3 at stride 2,
#: which agree only on sides that are multiples of 32: a fixed non-square parity input.
SIZE = (32, 64)

#: our model -> (reference "library:model", key-rule set, builder options, input size)
SOURCES = {
    name: (f"timm:{name}", "timm", {}, SIZE)
    for name in ("dla34", "dla46_c", "dla46x_c", "dla60", "dla60x", "dla60x_c", "dla102",
                 "dla102x", "dla102x2", "dla169", "dla60_res2net", "dla60_res2next")
}
