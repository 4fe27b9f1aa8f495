"""Where the cell networks' reference weights come from (format:
:mod:`keras_convnets.weights.mappings`).

Our layers are named by cell and genotype position: ``<cell>_pre0_*`` / ``<cell>_pre1_*`` (the
two inputs' 1x1 convolutions, or the factorised reduction's ``_conv1``/``_conv2``/``_bn``),
``<cell>_n<i>_<j>_<op>_*`` (operation j of node i: ``_dw1``, ``_pw1``, ``_bn1``, ``_dw2``,
``_pw2``, ``_bn2`` of a separable operation). Cells are ``stem0``, ``stem1``, ``cell<n>``
(normal cells numbered through the network) and ``reduction<r>``.

- timm ``nasnetalarge`` / pretrainedmodels ``nasnetamobile`` (NASNet-A): cell ``cell_<n>`` (in
  pretrainedmodels' Mobile, normal cell j of stage s is ``cell_<6s + j>``: it numbers as if
  every stage had six), ``reduction_cell_<r>``, ``cell_stem_<k>``; node i's operations are
  ``comb_iter_<i>_left`` (j = 0) and ``_right`` (j = 1); the inputs ``conv_prev_1x1`` (state
  0), ``conv_1x1`` (state 1), or ``path_1``/``path_2``/``final_path_bn`` (a factorised
  reduction). pretrainedmodels' Mobile ends in a fixed 7x7 average pool: parity at 224.
- pytorchcv ``darts`` (DARTS V2, ImageNet): stage s, unit u (``features.stage<s>.unit<u>``;
  the reduction cell opens stages 2 and 3), operations ``body.ops.<2i + j>``.
- AmoebaNet-A (``amoebanetamobile``, ``amoebanetalarge``): no source; no supported library has
  the network (the authors' TPU code's checkpoints are TF1 TPU checkpoints).
"""


def _separable_rules(cell, theirs):
    """Operation j of node i of our ``cell`` (a regex) in a NASNet-style reference cell."""
    side = {"0": "left", "1": "right"}
    rules = []
    for j in "01":
        op = rf"{cell}_n(?P<node>\d+)_{j}_[a-z0-9_]+?"
        branch = f"{theirs}.comb_iter_{{node}}_{side[j]}"
        for k in "12":
            rules += [(rf"{op}_dw{k}", f"{branch}.separable_{k}.depthwise_conv2d"),
                      (rf"{op}_pw{k}", f"{branch}.separable_{k}.pointwise_conv2d"),
                      (rf"{op}_bn{k}", f"{branch}.bn_sep_{k}")]
    return rules


def _cell_rules(cell, theirs, reduction=""):
    """``reduction``: where the reference keeps a factorised reduction's paths, relative to the
    cell (NASNet: the cell itself; PNASNet: ``conv_prev_1x1.``)."""
    rules = _separable_rules(cell, theirs)
    for j, side in (("0", "left"), ("1", "right")):
        # a pooled raw stem state's 1x1 conv-BN; a strided skip's ReLU-1x1 conv-BN
        op = rf"{cell}_n(?P<node>\d+)_{j}_[a-z0-9_]+?"
        branch = f"{theirs}.comb_iter_{{node}}_{side}"
        rules += [(rf"{op}_proj_conv", branch + ".conv"), (rf"{op}_proj_bn", branch + ".bn"),
                  (rf"{op}_conv", branch + ".conv"), (rf"{op}_bn", branch + ".bn")]
    return rules + [
        (rf"{cell}_pre0_conv", f"{theirs}.conv_prev_1x1.conv"),
        (rf"{cell}_pre0_bn", f"{theirs}.conv_prev_1x1.bn"),
        (rf"{cell}_pre0_path1_conv", f"{theirs}.{reduction}path_1.conv"),
        (rf"{cell}_pre0_path2_conv", f"{theirs}.{reduction}path_2.conv"),
        (rf"{cell}_pre0_path_bn", f"{theirs}.{reduction}final_path_bn"),
        (rf"{cell}_pre1_conv", f"{theirs}.conv_1x1.conv"),
        (rf"{cell}_pre1_bn", f"{theirs}.conv_1x1.bn"),
    ]


def _nasnet_rules(cells_per_stage, numbering):
    """``numbering``: how the reference numbers normal cell n (0-based through the network)."""
    rules = [(r"stem_conv", "conv0.conv"), (r"stem_bn", "conv0.bn"), (r"logits", "last_linear")]
    for k in (0, 1):
        rules += _cell_rules(f"stem{k}", f"cell_stem_{k}")
    for r in (0, 1):
        rules += _cell_rules(f"reduction{r}", f"reduction_cell_{r}")
    for n in range(3 * cells_per_stage):
        rules += _cell_rules(f"cell{n}", f"cell_{numbering(n)}")
    return rules


def _pnasnet_rules(cells_per_stage):
    """timm numbers PNASNet's cells 0.. through the network, the reduction cells included."""
    rules = [(r"stem_conv", "conv_0.conv"), (r"stem_bn", "conv_0.bn"), (r"logits", "last_linear")]
    for k in (0, 1):
        rules += _cell_rules(f"stem{k}", f"cell_stem_{k}", "conv_prev_1x1.")
    index = normal = 0
    for stage in range(3):
        if stage:
            rules += _cell_rules(f"reduction{stage - 1}", f"cell_{index}", "conv_prev_1x1.")
            index += 1
        for _ in range(cells_per_stage - (1 if stage else 0)):
            rules += _cell_rules(f"cell{normal}", f"cell_{index}", "conv_prev_1x1.")
            index += 1
            normal += 1
    return rules


def _darts_rules(cells_per_stage):
    rules = [(r"stem0_conv1", "features.stem1_unit.conv1.conv"),
             (r"stem0_bn1", "features.stem1_unit.conv1.bn"),
             (r"stem0_conv2", "features.stem1_unit.conv2.conv"),
             (r"stage1_out", "features.stem1_unit.conv2.bn"),
             (r"stem1_conv", "features.stem2_unit.conv"),
             (r"stem1_bn", "features.stem2_unit.bn"),
             (r"logits", "output")]
    cells = [(f"cell{n}", f"features.stage1.unit{n + 1}") for n in range(cells_per_stage)]
    for s in (2, 3):
        cells.append((f"reduction{s - 2}", f"features.stage{s}.unit1"))
        cells += [(f"cell{(s - 1) * cells_per_stage + u}", f"features.stage{s}.unit{u + 2}")
                  for u in range(cells_per_stage)]
    for ours, theirs in cells:
        rules += [
            (rf"{ours}_pre0_conv", f"{theirs}.preprocess_prev.conv"),
            (rf"{ours}_pre0_bn", f"{theirs}.preprocess_prev.bn"),
            (rf"{ours}_pre0_path(?P<k>[12])_conv", f"{theirs}.preprocess_prev.conv{{k}}"),
            (rf"{ours}_pre0_path_bn", f"{theirs}.preprocess_prev.bn"),
            (rf"{ours}_pre1_conv", f"{theirs}.preprocess.conv"),
            (rf"{ours}_pre1_bn", f"{theirs}.preprocess.bn"),
        ]
        for node in range(4):  # DARTS' cells: four nodes of two operations
            for j in (0, 1):
                op, ops = f"{ours}_n{node}_{j}", f"{theirs}.body.ops.{2 * node + j}"
                rules += [
                    (rf"{op}_sep_conv_3x3_dw(?P<k>[12])", ops + ".conv{k}.conv.dw_conv"),
                    (rf"{op}_sep_conv_3x3_pw(?P<k>[12])", ops + ".conv{k}.conv.pw_conv"),
                    (rf"{op}_sep_conv_3x3_bn(?P<k>[12])", ops + ".conv{k}.bn"),
                    (rf"{op}_dil_conv_3x3_dw", ops + ".conv.dw_conv"),
                    (rf"{op}_dil_conv_3x3_pw", ops + ".conv.pw_conv"),
                    (rf"{op}_dil_conv_3x3_bn", ops + ".bn"),
                    (rf"{op}_skip_connect_path(?P<k>[12])_conv", ops + ".conv{k}"),
                    (rf"{op}_skip_connect_path_bn", ops + ".bn"),
                ]
    return rules


KEY_RULES = {
    "timm_nasnet": _nasnet_rules(6, lambda n: n),
    "pretrainedmodels_nasnet_mobile": _nasnet_rules(4, lambda n: 6 * (n // 4) + n % 4),
    "timm_pnasnet": _pnasnet_rules(4),
    "pytorchcv_darts": _darts_rules(4),
}

#: our model -> (reference, key-rule set, builder options[, fixed input size])
SOURCES = {
    "nasnetalarge": ("timm:nasnetalarge", "timm_nasnet", {}),
    "pnasnet5large": ("timm:pnasnet5large", "timm_pnasnet", {}),
    "nasnetamobile": ("pretrainedmodels:nasnetamobile", "pretrainedmodels_nasnet_mobile", {},
                      224),
    # DARTS' factorised reductions need even maps before each reduction: sides of 32k
    "darts": ("pytorchcv:darts", "pytorchcv_darts", {}, (32, 64)),
}
