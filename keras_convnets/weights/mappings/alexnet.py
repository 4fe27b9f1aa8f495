"""Where AlexNet's reference weights come from (format: :mod:`keras_convnets.weights.mappings`).

torchvision's ``alexnet`` is the one-tower "one weird trick" network, our ``AlexNetOWT``; its
``features`` and ``classifier`` Sequentials hold the weighted layers at fixed indices. It flattens
the 6x6x256 map channels-first, we flatten channels-last: the porter permutes fc6's columns (it
does so for any Dense fed by a Flatten), and the model is built and checked at 224, where
torchvision's adaptive 6x6 pooling is the identity.
"""

KEY_RULES = {
    "torchvision_alexnet": [
        ("conv1", "features.0"), ("conv2", "features.3"), ("conv3", "features.6"),
        ("conv4", "features.8"), ("conv5", "features.10"),
        ("fc6", "classifier.1"), ("fc7", "classifier.4"), ("logits", "classifier.6"),
    ],
}

#: our model -> (reference, key-rule set, builder options, fixed input size)
SOURCES = {
    "alexnetowt": ("torchvision:alexnet", "torchvision_alexnet", {}, 224),
}
