"""Where the Dual Path Networks' reference weights come from (format:
:mod:`keras_convnets.weights.mappings`).

timm keeps the authors' flat ``features`` Sequential: ``conv1_1`` (stem ConvNormAct),
``conv{stage + 1}_{block}`` dual path blocks (BnActConv2d units ``c1x1_a``, ``c3x3_b``,
``c1x1_c``; the first block's projection is ``c1x1_w_s1`` in stage 1 and the strided
``c1x1_w_s2`` after), ``conv5_bn_ac`` (the final BN-ReLU) and a 1x1-convolution ``classifier``
(the porter transposes it into our Dense).
"""

_UNITS = {"1x1a": "c1x1_a", "3x3b": "c3x3_b", "1x1c": "c1x1_c"}


def _dpn_rules():
    rules = [(r"stem_(?P<kind>conv|bn)", "features.conv1_1.{kind}")]
    for stage in range(1, 5):
        block = rf"stage{stage}_block(?P<block>\d+)"
        target = f"features.conv{stage + 1}_{{block}}"
        projection = "c1x1_w_s1" if stage == 1 else "c1x1_w_s2"
        rules.append((block + r"_proj_(?P<kind>conv|bn)", f"{target}.{projection}.{{kind}}"))
        for ours, theirs in _UNITS.items():
            rules.append((block + rf"_{ours}_(?P<kind>conv|bn)", f"{target}.{theirs}.{{kind}}"))
    rules += [(r"final_bn", "features.conv5_bn_ac.bn"), (r"logits", "classifier")]
    return rules


KEY_RULES = {"timm_dpn": _dpn_rules()}

SOURCES = {name: (f"timm:{name}", "timm_dpn", {})
           for name in ("dpn68", "dpn92", "dpn98", "dpn107", "dpn131")}
