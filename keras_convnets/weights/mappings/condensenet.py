"""Where CondenseNet's reference weights come from (format: :mod:`keras_convnets.weights.mappings`).

pytorchcv's ``condensenet74_c4_g4`` / ``condensenet74_c8_g8`` are the authors' converted
(deployed) networks, our ``condensed=True`` build: the stem at ``features.init_block.conv``,
dense layers at ``features.stage<S>.unit<U>.conv1`` (an ``index`` buffer, ``bn``, a 1x1 group
``conv``, then a channel shuffle) and ``.conv2`` (``bn``, 3x3 group ``conv``), the final norm at
``features.post_activ.bn``, the classifier at ``output`` (an ``index`` buffer and ``linear``).
The index buffers are not parameters but are state: they port onto our ``ChannelGather``
layers' ``index`` weights. pytorchcv's final pooling is a fixed 7x7 average, so the check runs
at 224x224.
"""

_PYTORCHCV = [
    (r"init_block_conv", "features.init_block.conv"),
    (r"stage(?P<s>\d+)_unit(?P<u>\d+)_conv1_index", "features.stage{s}.unit{u}.conv1"),
    (r"stage(?P<s>\d+)_unit(?P<u>\d+)_(?P<c>conv1|conv2)_(?P<part>bn|conv)",
     "features.stage{s}.unit{u}.{c}.{part}"),
    (r"post_activ_bn", "features.post_activ.bn"),
    (r"output_index", "output"),
    (r"logits", "output.linear"),
]

KEY_RULES = {"pytorchcv": _PYTORCHCV}

#: our model -> (reference, key-rule set, builder options[, fixed input size])
SOURCES = {
    "condensenet74_c4_g4": ("pytorchcv:condensenet74_c4_g4", "pytorchcv", {"condensed": True},
                            224),
    "condensenet74_c8_g8": ("pytorchcv:condensenet74_c8_g8", "pytorchcv", {"condensed": True},
                            224),
}
