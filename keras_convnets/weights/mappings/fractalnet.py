"""Where FractalNet's reference weights come from (format: :mod:`keras_convnets.weights.mappings`).

pytorchcv's ``fractalnet_cifar10`` (the 20-layer CIFAR network, C = 3) keeps block B at
``features.unit<B>.block`` and numbers its convolutions by level: ``blocks.block<L>.subblock<j>``
is the convolution (``.conv``, ``.bn``) of its j-th column (1 = the deepest) that ends at level L
of the deepest column. Our column c (1 = the shallowest) is its column ``C + 1 - c``, and our
t-th convolution of column c ends at level ``t * 2**(C - c)``. The classifier is ``output``; its
final map is 1x1 at 32x32 and 32x48 alike (five 2x2 poolings), so the shared non-square check
applies. pytorchcv has no 40-layer (C = 4) or ImageNet FractalNet.
"""

_COLUMNS = 3  # pytorchcv's fractalnet_cifar10


def _pytorchcv_rules(columns):
    rules = []
    for c in range(1, columns + 1):
        for t in range(1, 2 ** (c - 1) + 1):
            theirs = (f"features.unit{{b}}.block.blocks.block{t * 2 ** (columns - c)}."
                      f"subblock{columns + 1 - c}")
            rules.append((rf"block(?P<b>\d+)_col{c}_conv{t}", theirs + ".conv"))
            rules.append((rf"block(?P<b>\d+)_col{c}_bn{t}", theirs + ".bn"))
    return rules + [(r"logits", "output")]


KEY_RULES = {"pytorchcv_cifar": _pytorchcv_rules(_COLUMNS)}

#: our model -> (reference, key-rule set, builder options[, fixed input size])
SOURCES = {
    "fractalnet20_cifar": ("pytorchcv:fractalnet_cifar10", "pytorchcv_cifar", {}),
}
