"""Where DenseNet's reference weights come from (format: :mod:`keras_convnets.weights.mappings`).

torchvision's ``densenet121/161/169/201`` keep every layer under ``features``: ``conv0``,
``norm0``, ``denseblock<B>.denselayer<L>.norm1/conv1/norm2/conv2``,
``transition<B>.norm/conv``, ``norm5``; the classifier is ``classifier``. Our layer names are
the same paths with underscores; timm's DenseNet (built with DenseNet-264's blocks, which no
library names) uses the same paths. pytorchcv's CIFAR DenseNet-BC (``densenet100_k12_bc_cifar10``)
keeps its stem at ``features.init_block``, dense layers at
``features.stage<B>.unit<L>.conv1/conv2`` (each a ``bn`` and a ``conv``), the transition that
follows block B at the start of the next stage (``stage<B+1>.trans<B+1>``), the final norm at
``post_activ.bn`` and the classifier at ``output``; its final pooling is a fixed 8x8 average,
so it is checked at 32x32. Only the plain build ports (``memory_efficient=False``); its weights
move to a memory-efficient build with ``set_weights`` (the same weights in the same order).
"""

_TORCHVISION = [
    (r"(?P<layer>conv0|norm0|norm5)", "features.{layer}"),
    (r"denseblock(?P<b>\d+)_denselayer(?P<l>\d+)_(?P<part>norm1|conv1|norm2|conv2)",
     "features.denseblock{b}.denselayer{l}.{part}"),
    (r"transition(?P<b>\d+)_(?P<part>norm|conv)", "features.transition{b}.{part}"),
    (r"logits", "classifier"),
]

_PART = {"norm1": "conv1.bn", "conv1": "conv1.conv", "norm2": "conv2.bn", "conv2": "conv2.conv"}
_PYTORCHCV_CIFAR = [
    (r"conv0", "features.init_block"),
    *[(rf"denseblock(?P<b>\d+)_denselayer(?P<l>\d+)_{ours}",
       f"features.stage{{b}}.unit{{l}}.{theirs}") for ours, theirs in _PART.items()],
    *[(rf"transition{b}_{ours}", f"features.stage{b + 1}.trans{b + 1}.conv.{theirs}")
      for b in (1, 2) for ours, theirs in (("norm", "bn"), ("conv", "conv"))],
    (r"norm5", "features.post_activ.bn"),
    (r"logits", "output"),
]

KEY_RULES = {"torchvision": _TORCHVISION, "pytorchcv_cifar": _PYTORCHCV_CIFAR}

#: our model -> (reference, key-rule set, builder options[, fixed input size])
SOURCES = {
    **{name: (f"torchvision:{name}", "torchvision", {})
       for name in ("densenet121", "densenet161", "densenet169", "densenet201")},
    # no library names DenseNet-264: timm's DenseNet with Table 1's blocks (same paths)
    "densenet264": ("timm:densenet121(block_config=(6, 12, 64, 48))", "torchvision", {}),
    "densenetbc100_k12": ("pytorchcv:densenet100_k12_bc_cifar10", "pytorchcv_cifar", {}, 32),
}
