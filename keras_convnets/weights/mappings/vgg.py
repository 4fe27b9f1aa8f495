"""Where VGG's reference weights come from (format: :mod:`keras_convnets.weights.mappings`).

torchvision's ``vgg11/13/16/19`` and their ``_bn`` twins hold the convolutions in one
``features`` Sequential -- conv, [BatchNorm,] ReLU per convolution, a max-pooling after each
stage -- and fc6, fc7 and the classifier at ``classifier.0/3/6``. The rules are computed from
the paper's table (:data:`keras_convnets.models.vgg.TABLE_1`), one explicit rule per layer.
torchvision flattens the 7x7x512 map channels-first, we flatten channels-last (the porter
permutes fc6's columns), and the models are built and checked at 224, where torchvision's
adaptive 7x7 average pooling is the identity.
"""

from ...models.vgg import table_column


def _torchvision_rules(column, batch_norm):
    """(our layer, ``features.<index>``) for each convolution [and norm] of ``column``."""
    rules, index = [], 0
    for stage, convs in enumerate(table_column(column), start=1):
        for conv in range(1, len(convs) + 1):
            rules.append((f"block{stage}_conv{conv}", f"features.{index}"))
            if batch_norm:
                rules.append((f"block{stage}_conv{conv}_bn", f"features.{index + 1}"))
            index += 3 if batch_norm else 2  # conv, [norm,] ReLU
        index += 1  # the stage's max-pooling
    return rules + [("fc6", "classifier.0"), ("fc7", "classifier.3"),
                    ("logits", "classifier.6")]


_COLUMNS = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}

KEY_RULES = {
    **{f"torchvision_{name}": _torchvision_rules(column, False)
       for name, column in _COLUMNS.items()},
    **{f"torchvision_{name}_bn": _torchvision_rules(column, True)
       for name, column in _COLUMNS.items()},
}

#: our model -> (reference, key-rule set, builder options, fixed input size)
SOURCES = {
    **{name: (f"torchvision:{name}", f"torchvision_{name}", {}, 224) for name in _COLUMNS},
    **{f"{name}_bn": (f"torchvision:{name}_bn", f"torchvision_{name}_bn", {}, 224)
       for name in _COLUMNS},
}
