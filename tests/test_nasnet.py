"""Cell-based networks (NASNet-A, PNASNet-5, AmoebaNet-A, DARTS): what only this family has.

Genotype validation before any layer is built, the genotype's JSON forms, networks of
unpublished genotypes (a `.keras` round trip, TFLite), the auxiliary heads, drop-path scaled
with depth and scheduled over training. Counts, FLOPs and logit parity are the shared tests'
(test_reference_counts.py, test_port.py).
"""

import dataclasses
import json
import random

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.layers import DropPath
from keras_convnets.models import nasnet
from keras_convnets.models.genotype import OPERATIONS, Genotype, as_genotype
from keras_convnets.optimize import tflite
from keras_convnets.training import ScheduledDropPath

SIZE = (16, 16, 3)


def _digits_config(**changes):
    """The derived network of a search on digits (engineer B's call): DARTS CIFAR, C = 8,
    one cell per stage."""
    return dataclasses.replace(kc.get_spec("darts_cifar").config,
                               **{"filters": 8, "cells_per_stage": 1, **changes})


def _random_genotype(seed, nodes=4):
    rng = random.Random(seed)

    def cell():
        return [[(rng.choice(OPERATIONS), rng.randrange(i + 2)) for _ in range(2)]
                for i in range(nodes)]

    return Genotype(cell(), list(range(2, nodes + 2)), cell(), list(range(2, nodes + 2)))


@pytest.mark.parametrize("genotype", sorted(nasnet.GENOTYPES))
def test_published_genotypes_pass_the_check(genotype):
    g = nasnet.GENOTYPES[genotype]
    assert g.check() is g and as_genotype(g.to_json()) == g


def test_genotype_json_round_trip(tmp_path):
    g = _random_genotype(0)
    path = tmp_path / "genotype.json"
    g.to_json(path)
    assert as_genotype(str(path)) == g == as_genotype(path) == as_genotype(json.loads(g.to_json()))
    # DARTS' own flat form (two pairs per node) is the same genotype
    flat = {"normal": [list(p) for node in g.normal for p in node], "normal_concat": [2, 3, 4, 5],
            "reduce": [list(p) for node in g.reduce for p in node], "reduce_concat": [2, 3, 4, 5]}
    assert as_genotype(flat) == g


def _with(cell, nodes=None, concat=None):
    data = nasnet.DARTS_V2.to_dict()
    if nodes is not None:
        data[cell] = nodes
    if concat is not None:
        data[cell + "_concat"] = concat
    return data


@pytest.mark.parametrize("genotype, message", [
    (_with("normal", [[["sep_conv_3x3", 0], ["sep_conv_9x9", 1]]]),
     r"normal cell, node 0: unknown operation 'sep_conv_9x9'.*Did you mean"),
    (_with("reduce", [[["max_pool_3x3", 0], ["max_pool_3x3", 2]]]),
     r"reduce cell, node 0 reads state 2; node 0 can read .* 0\.\.1"),
    (_with("normal", [[["sep_conv_3x3", -1], ["sep_conv_3x3", 1]]]), r"reads state -1"),
    (_with("normal", [[["sep_conv_3x3", 0]], []]), r"node 1 \(state 3\) has no inputs"),
    (_with("reduce", []), r"The reduce cell has no nodes"),
    (_with("normal", concat=[2, 9]), r"`normal_concat` names state 9"),
    (_with("normal", concat=[]), r"concatenates nothing"),
    (_with("normal", [[["none", 0], ["skip_connect", 1]]]), r"unknown operation 'none'"),
    ({"normal": [], "reduce": [], "extra": 1}, r"unknown \['extra'\]"),
    ("{not json", r"not valid JSON"),
    ("/no/such/genotype.json", r"neither a JSON genotype nor the path"),
    (42, r"`genotype` must be a Genotype, a dict"),
])
def test_bad_genotypes_fail_before_any_layer_is_built(genotype, message, monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError("a layer was built")

    monkeypatch.setattr(nasnet, "build_model", no_build)
    with pytest.raises(ValueError, match=message):
        kc.get_model("darts_cifar", genotype=genotype)


def test_bad_options_name_the_argument():
    with pytest.raises(ValueError, match=r"`drop_path_rate`"):
        kc.DARTS_CIFAR.tiny(input_shape=SIZE, drop_path_rate=1.5)
    with pytest.raises(ValueError, match=r"`stem`.*'cifar'"):
        nasnet.build_cell_network("darts_cifar", _digits_config(stem="mobile"))
    with pytest.raises(ValueError, match=r"`cells_per_stage`"):
        nasnet.build_cell_network("darts_cifar", _digits_config(cells_per_stage=0))
    with pytest.raises(ValueError, match=r"`config` must be a CellNetworkConfig"):
        nasnet.build_cell_network("darts_cifar", {"filters": 8})


def test_the_searched_network_builds_under_its_own_name():
    """Engineer B's derived network: an unregistered name, any accepted genotype form."""
    g = _random_genotype(1)
    model = nasnet.build_cell_network("darts_digits", _digits_config(), genotype=g.to_json(),
                                      classes=10, input_shape=(32, 32, 3), weights=None)
    assert model.name == "darts_digits" and model.output.shape[-1] == 10
    # the genotype decides the layers: each operation is named after its node and op
    names = [layer.name for layer in model.layers]
    for i, node in enumerate(g.normal):
        for j, (op, _) in enumerate(node):
            assert any(n.startswith(f"darts_digits_cell0_n{i}_{j}_{op}") for n in names) or (
                op == "skip_connect")


def test_default_genotype_is_the_published_one():
    default = kc.DARTS_CIFAR.tiny(input_shape=SIZE)
    explicit = kc.DARTS_CIFAR.tiny(input_shape=SIZE, genotype=nasnet.DARTS_V2)
    assert [l.name for l in default.layers[1:]] == [
        l.name.replace("darts_cifar_1", "darts_cifar") for l in explicit.layers[1:]]


def test_unpublished_genotype_network_keras_round_trip(tmp_path):
    g = _random_genotype(2)
    # every operation appears somewhere in the seeds' cells, so the round trip sees them all
    model = kc.DARTS_CIFAR.tiny(input_shape=SIZE, classes=5, genotype=g, drop_path_rate=0.2)
    x = np.random.default_rng(0).uniform(-1, 1, (2, *SIZE)).astype("float32")
    expected = model(x, training=False)
    path = tmp_path / "searched.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(reloaded(x, training=False), expected, rtol=1e-4, atol=1e-5)


def test_nasnet_style_network_converts_to_builtin_tflite():
    """NASNet-A Large's cells (TF "same" padding, stride-2 average pools that count their
    padding, strided 1x1 skips) and a random DARTS cell: builtin ops only, equal outputs."""
    for model in (kc.NASNetALarge.tiny(input_shape=(32, 32, 3), classes=10,
                                       classifier_activation=None),
                  kc.DARTS_CIFAR.tiny(input_shape=SIZE, classes=10, classifier_activation=None,
                                      genotype=_random_genotype(3))):
        images = np.random.default_rng(0).uniform(-1, 1, (1, *model.input.shape[1:]))
        images = images.astype("float32")
        flatbuffer = tflite.convert(model)
        ops = tflite.op_names(flatbuffer)
        assert not [op for op in ops if op in ("CUSTOM", "DELEGATE") or op.startswith("Flex")]
        scale = float(np.max(np.abs(np.asarray(model(images, training=False)))))
        assert tflite.check(model, flatbuffer, images) <= 1e-4 * max(1.0, scale)


@pytest.mark.parametrize("name, size", [("darts_cifar", 32), ("nasnetamobile", 96)])
def test_auxiliary_head_for_training(name, size):
    spec = kc.get_spec(name)
    model = spec.builder.tiny(input_shape=(size, size, 3), classes=7, aux_logits=True)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 7), (None, 7)]
    assert kc.aux_loss_weights(model) == [1.0, 0.4]
    plain = spec.builder.tiny(input_shape=(size, size, 3), classes=7, name=model.name + "_plain")
    # the head reads the second reduction cell's output (DARTS) or its input (NASNet)
    aux_input = model.get_layer(f"{model.name}_aux_relu0").input
    cell = "reduction1_concat" if name == "darts_cifar" else "stage3_out"
    assert aux_input.name.split("/")[0].endswith(cell) or (
        aux_input is model.get_layer(f"{model.name}_{cell}").output)
    assert len(plain.outputs) == 1 and kc.count_params(plain)[0] < kc.count_params(model)[0]


def test_drop_path_scales_with_depth_in_nasnet_and_not_in_darts():
    large = kc.NASNetALarge.tiny(input_shape=(64, 64, 3), drop_path_rate=0.4)
    rates = [layer.rate for layer in large.layers if isinstance(layer, DropPath)]
    assert rates == sorted(rates) and rates[0] < rates[-1] == pytest.approx(0.4)
    darts = kc.DARTS_CIFAR.tiny(input_shape=SIZE, drop_path_rate=0.2)
    darts_rates = {layer.rate for layer in darts.layers if isinstance(layer, DropPath)}
    assert darts_rates == {0.2}
    # the identity (skip_connect at stride 1) is never dropped
    assert not [l for l in darts.layers if "skip_connect_drop_path" in l.name]


@pytest.mark.legacy
def test_scheduled_drop_path_ramps_the_rate_during_fit():
    """Both Keras worlds: the rates change between epochs and the training step is retraced."""
    model = kc.DARTS_CIFAR.tiny(input_shape=(8, 8, 3), classes=3, drop_path_rate=0.3)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 3)).astype("float32")
    y = np.array([0, 1, 2, 0])
    schedule = ScheduledDropPath(epochs=2)
    model.fit(x, y, epochs=2, batch_size=2, verbose=0, callbacks=[schedule])
    assert set(schedule.rates[0]) == {0.0}
    assert schedule.rates[1] == pytest.approx([0.15] * len(schedule.rates[1]))
    assert {layer.rate for layer in model.layers if isinstance(layer, DropPath)} == {0.3}
    with pytest.raises(ValueError, match="no DropPath layers"):
        plain = kc.DARTS_CIFAR.tiny(input_shape=(8, 8, 3), classes=3)
        plain.compile("sgd", "sparse_categorical_crossentropy")
        plain.fit(x, y, epochs=1, verbose=0, callbacks=[ScheduledDropPath(1)])
    with pytest.raises(ValueError, match="`epochs`"):
        ScheduledDropPath(0)


# --- AmoebaNet-A ---------------------------------------------------------------------------

#: the authors' TPU code's cell (tensorflow/tpu models/official/amoeba_net/model_specs.py,
#: ``amoeba_net_a``), typed from it: operations, the states each reads (its 0 is the previous
#: cell, 1 the one before) and ``used_hiddenstates`` (the unused states are concatenated)
_TPU_AMOEBANET_A = {
    "normal": (["avg_pool_3x3", "max_pool_3x3", "separable_3x3_2", "none", "none",
                "avg_pool_3x3", "separable_3x3_2", "separable_5x5_2", "avg_pool_3x3",
                "separable_3x3_2"],
               [0, 0, 1, 1, 0, 1, 0, 2, 5, 0], [1, 0, 1, 0, 0, 1, 0]),
    "reduce": (["separable_3x3_2", "avg_pool_3x3", "max_pool_3x3", "separable_7x7_2",
                "max_pool_3x3", "max_pool_3x3", "separable_3x3_2", "1x7_7x1", "avg_pool_3x3",
                "separable_7x7_2"],
               [1, 0, 0, 2, 1, 0, 4, 0, 1, 0], [1, 1, 0, 0, 0, 0, 0]),
}
_TPU_OPS = {"none": "skip_connect", "separable_3x3_2": "sep_conv_3x3",
            "separable_5x5_2": "sep_conv_5x5", "separable_7x7_2": "sep_conv_7x7",
            "1x7_7x1": "conv_7x1_1x7", "avg_pool_3x3": "avg_pool_3x3",
            "max_pool_3x3": "max_pool_3x3"}


def test_amoebanet_genotype_is_the_tpu_codes_cell():
    swap = {0: 1, 1: 0}
    cells = {}
    for cell, (ops, states, used) in _TPU_AMOEBANET_A.items():
        pairs = [(_TPU_OPS[op], swap.get(s, s)) for op, s in zip(ops, states)]
        concat = sorted(swap.get(s, s) for s, u in enumerate(used) if not u)
        cells[cell] = ([pairs[i:i + 2] for i in range(0, 10, 2)], tuple(concat))
    expected = Genotype(cells["normal"][0], cells["normal"][1], cells["reduce"][0],
                        cells["reduce"][1])
    assert nasnet.AMOEBANET_A == expected
    assert kc.get_spec("amoebanetamobile").config.genotype is nasnet.AMOEBANET_A
    # DARTS' version of the same cells is another (smaller) network
    assert nasnet.AMOEBANET_A_DARTS.normal_concat == (4, 5, 6)


def test_amoebanet_bottleneck_1x7_7x1_and_aux_head():
    model = kc.AmoebaNetAMobile.tiny(input_shape=(96, 96, 3), classes=5, aux_logits=True)
    c = model.get_layer(f"{model.name}_stage2_out").output.shape[-1] // 4  # four states
    conv = {l.name[len(model.name) + 1:]: l for l in model.layers
            if isinstance(l, keras.layers.Conv2D)}
    op = "reduction0_n3_1_conv_7x1_1x7"
    assert conv[f"{op}_pre_conv"].filters == 2 * c // 4 == conv[f"{op}_conv1"].filters
    assert conv[f"{op}_conv1"].kernel_size == (1, 7) and conv[f"{op}_conv1"].strides == (1, 2)
    assert conv[f"{op}_conv2"].kernel_size == (7, 1) and conv[f"{op}_conv2"].strides == (2, 1)
    assert conv[f"{op}_post_conv"].filters == 2 * c
    # BN after each of the four convolutions
    assert all(model.get_layer(f"{model.name}_{op}_{bn}") for bn in
               ("pre_bn", "bn1", "bn2", "post_bn"))
    # the stem's first cell (C / 4 = 1 channel): no room for a bottleneck
    assert "stem0_n3_1_conv_7x1_1x7_pre_conv" not in conv
    # the head at 0.4 of NASNet's widths, as the TPU code's aux_scaling
    assert (conv["aux_conv1"].filters, conv["aux_conv2"].filters) == (51, 307)
    assert kc.aux_loss_weights(model) == [1.0, 0.4]
    with pytest.raises(ValueError, match=r"`aux_widths`"):
        nasnet.build_cell_network(
            "amoebanetamobile", dataclasses.replace(kc.get_spec("amoebanetamobile").config,
                                                    aux_widths=(51,)))


@pytest.mark.slow
def test_amoebanet_mobile_multiply_adds_are_the_papers():
    """Table 3 of arXiv:1802.01548: 555M multiply-adds at 224 (the count is the shared test's)."""
    model = kc.get_model("amoebanetamobile", weights=None)
    assert round(kc.count_flops(model) / 2 / 1e6) == 555
