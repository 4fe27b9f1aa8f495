"""Where PolyNet's reference weights come from (format: :mod:`keras_convnets.weights.mappings`).

pretrainedmodels' ``polynet`` (Cadene's port of the released Caffe model). Its final average
pooling is a fixed 9x9 window, so the reference runs only on inputs whose last map is 9x9:
331 to 362 pixels a side; the parity check uses 331 x 347 (non-square, both 9 at the end).

Rules, from our configuration: the stem is ``stem.conv1`` (the three first convolutions),
``conv1_branch``, ``conv2_short``/``conv2_long`` and ``conv2_branch``; a 2-way module's unit k
is ``blocks.<k - 1>`` with branches ``path0``, ``path1``, ... (a single convolution's branch is
the ``BasicConv2d`` itself, a longer one a ``Sequential``) and its up-projection ``conv2d``; a
poly-N module's shared convolutions are ``PolyConv2d`` modules named by their kernels
(``path0_1x1``, ``path0_1x7``, ...), whose unit k BatchNorm is ``bn_blocks.<k - 1>``, and its
unit k up-projection ``conv2d_blocks.<k - 1>``.
"""

from ...models import inception_v4 as iv4
from ...models import polynet as pn


def _conv_rules(ours, theirs):
    return [(rf"{ours}_(?P<kind>conv|bn)", theirs + ".{kind}")]


def _branches(ours, theirs, block):
    """(our step prefix, their module path) of every convolution of ``block``."""
    pairs = []
    for i, steps in enumerate(block, start=1):
        for j, step in enumerate(steps, start=1):
            if isinstance(step, iv4.Conv):
                path = f"{theirs}.path{i - 1}" + (f".{j - 1}" if len(steps) > 1 else "")
                pairs.append((f"{ours}_b{i}_{j}", path))
    return pairs


#: a poly-N module's shared PolyConv2d modules, by our (branch, step)
_POLY_NAMES = {
    "b": {(1, 1): "path0_1x1", (1, 2): "path0_1x7", (1, 3): "path0_7x1", (2, 1): "path1"},
    "c": {(1, 1): "path0_1x1", (1, 2): "path0_1x3", (1, 3): "path0_3x1", (2, 1): "path1"},
}


def _module_rules(letter, k, kind, theirs, block):
    family, count = pn.parse_module(kind)
    ours = f"block_{letter}{k}"
    rules = []
    for u in range(1, count + 1):
        unit = f"{ours}_u{u}"
        if family == "way":
            for step, path in _branches(unit, f"{theirs}.blocks.{u - 1}", block):
                rules += _conv_rules(step, path)
            rules += _conv_rules(f"{unit}_proj", f"{theirs}.blocks.{u - 1}.conv2d")
        elif family == "poly":
            for (i, j), name in _POLY_NAMES[letter].items():
                rules.append((f"{ours}_b{i}_{j}_conv", f"{theirs}.{name}.conv"))
                rules.append((f"{unit}_b{i}_{j}_bn", f"{theirs}.{name}.bn_blocks.{u - 1}"))
            rules += _conv_rules(f"{unit}_proj", f"{theirs}.conv2d_blocks.{u - 1}")
        else:
            raise ValueError(f"The released PolyNet has no {kind} module.")
    return rules


def _pretrainedmodels_polynet_rules():
    cfg = pn.PolyNetConfig()
    rules = []
    for j in range(1, 4):
        rules += _conv_rules(f"stem_{j}", f"stem.conv1.{j - 1}")
    rules += _conv_rules("mixed_3a_b2_1", "stem.conv1_branch")
    for j in range(1, 3):
        rules += _conv_rules(f"mixed_4a_b1_{j}", f"stem.conv2_short.{j - 1}")
    for j in range(1, 5):
        rules += _conv_rules(f"mixed_4a_b2_{j}", f"stem.conv2_long.{j - 1}")
    rules += _conv_rules("mixed_5a_b2_1", "stem.conv2_branch")
    for letter, kinds, block in (("a", cfg.stage_a, cfg.block_a), ("b", cfg.stage_b, cfg.block_b),
                                 ("c", cfg.stage_c, cfg.block_c)):
        for k, kind in enumerate(kinds, start=1):
            rules += _module_rules(letter, k, kind, f"stage_{letter}.{k - 1}", block)
    for ours, block in (("reduction_a", cfg.reduction_a), ("reduction_b", cfg.reduction_b)):
        for step, path in _branches(ours, ours, block):
            rules += _conv_rules(step, path)
    return rules + [("logits", "last_linear")]


KEY_RULES = {"pretrainedmodels_polynet": _pretrainedmodels_polynet_rules()}

SOURCES = {
    "polynet": ("pretrainedmodels:polynet", "pretrainedmodels_polynet", {}, (331, 347)),
}
