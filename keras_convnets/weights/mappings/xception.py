"""Where Xception's reference weights come from (format: :mod:`keras_convnets.weights.mappings`).

Xception runs its shortcut after the residual branch in timm but before it in our graph, so it
maps by name: ``KEY_RULES["legacy_xception"]`` is generated from timm's block layout (each
block's ``rep`` Sequential holds ReLU, SeparableConv2d, BatchNorm triples; block 1 drops its
first ReLU).
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
    rules += [(r"exit_sepconv(?P<index>[34])", "conv{index}"),
              (r"exit_bn(?P<index>[34])", "bn{index}"),
              (r"logits", "fc")]
    return rules


KEY_RULES = {"legacy_xception": _xception_rules()}

SOURCES = {
    "xception": ("timm:legacy_xception", "legacy_xception", {}),
}
