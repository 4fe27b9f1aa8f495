"""Where AlexNet's reference weights come from (format: :mod:`keras_convnets.weights.mappings`).

torchvision's ``alexnet`` is the one-tower "one weird trick" network, our ``AlexNetOWT``; its
``features`` and ``classifier`` Sequentials hold the weighted layers at fixed indices. It flattens
the 6x6x256 map channels-first, we flatten channels-last: the porter permutes fc6's columns (it
does so for any Dense fed by a Flatten), and the model is built and checked at 224, where
torchvision's adaptive 6x6 pooling is the identity.

pytorchcv's ``zfnetb`` is our ``ZFNet`` (Zeiler & Fergus' model (b), 512-1024-512) with its
response normalisation before the pooling and torch's alpha convention: the weights need
``lrn_style="pytorchcv"``, which the porter and ``weights="imagenet"`` apply. Its ``output``
block flattens channels-first as torchvision does; checked at 224 (its fc1 takes 6x6x512).
"""

KEY_RULES = {
    "torchvision_alexnet": [
        ("conv1", "features.0"), ("conv2", "features.3"), ("conv3", "features.6"),
        ("conv4", "features.8"), ("conv5", "features.10"),
        ("fc6", "classifier.1"), ("fc7", "classifier.4"), ("logits", "classifier.6"),
    ],
    "pytorchcv_zfnet": [
        ("conv1", "features.stage1.unit1.conv"), ("conv2", "features.stage2.unit1.conv"),
        ("conv3", "features.stage3.unit1.conv"), ("conv4", "features.stage3.unit2.conv"),
        ("conv5", "features.stage3.unit3.conv"),
        ("fc6", "output.fc1.fc"), ("fc7", "output.fc2.fc"), ("logits", "output.fc3"),
    ],
}

#: our model -> (reference, key-rule set, builder options, fixed input size)
SOURCES = {
    "alexnetowt": ("torchvision:alexnet", "torchvision_alexnet", {}, 224),
    "zfnet": ("pytorchcv:zfnetb", "pytorchcv_zfnet", {"lrn_style": "pytorchcv"}, 224),
}
