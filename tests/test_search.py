"""DARTS search (keras_convnets.search.darts): the mixed operation, the derivation rule, the
two optimisers' separation, the layers' configs, and a tiny seeded search end to end through
``keras-convnets search darts`` into A's cell-network builder."""

import dataclasses
import json

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets import cli
from keras_convnets.backend import keras, tf
from keras_convnets.models.genotype import Genotype, as_genotype
from keras_convnets.search import darts

# the tiny search space of the fast tests: every kind of operation (zero, pooling, identity,
# separable and dilated convolution), two nodes per cell
TINY_OPS = ("none", "max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")


def test_mixed_op_is_the_alpha_weighted_sum_of_its_operations():
    rng = np.random.default_rng(0)
    for strides in (1, 2):
        x = rng.normal(size=(2, 8, 8, 4)).astype("float32")
        mixed = darts.MixedOp(4, strides)
        alpha = rng.normal(size=len(darts.DARTS_OPERATIONS)).astype("float32")
        weights = np.exp(alpha) / np.exp(alpha).sum()
        out = mixed([x, weights]).numpy()
        # each candidate alone ("none" is zero), weighted and summed in NumPy
        expected = sum(weights[k] * op(x).numpy()
                       for k, op in zip(mixed.indices, mixed.candidates))
        assert out.shape == (2, 8 // strides, 8 // strides, 4)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
        assert [op.operation for op in mixed.candidates] == list(darts.DARTS_OPERATIONS[1:])
        zero = darts.SearchOperation("none", 4, strides)(x).numpy()
        assert zero.shape == out.shape and not zero.any()


def test_operations_compute_what_darts_pytorch_operations_compute():
    """Average pooling excludes the padding (count_include_pad=False); max pooling pads with
    -inf; a dilated convolution at stride 2 is the stride-1 one subsampled."""
    x = np.full((1, 6, 6, 2), 3.0, "float32")
    pool = darts.SearchOperation("avg_pool_3x3", 2, 2)
    np.testing.assert_allclose(pool._avg_pool(tf.constant(x)).numpy(), 3.0, rtol=1e-6)
    neg = -np.ones((1, 6, 6, 2), "float32")
    assert (tf.nn.max_pool2d(darts._pad(neg, 1, float("-inf")), 3, 1, "VALID").numpy()
            == -1).all()
    x = np.random.default_rng(1).normal(size=(1, 8, 8, 4)).astype("float32")
    one, two = darts.SearchOperation("dil_conv_5x5", 4, 1), darts.SearchOperation(
        "dil_conv_5x5", 4, 2)
    one(x), two(x)
    two.set_weights(one.get_weights())
    np.testing.assert_allclose(two(x).numpy(), one(x).numpy()[:, ::2, ::2], atol=1e-5)
    assert darts.FactorizedReduce(6)(np.zeros((1, 7, 7, 3), "float32")).shape == (1, 4, 4, 6)


def _weights(edges, ops, strongest):
    """Softmax-like weights: ``strongest`` maps edge -> (op index, weight); others 0.01."""
    w = np.full((edges, len(ops)), 0.01)
    for edge, (op, value) in strongest.items():
        w[edge, op] = value
    return w


def test_derivation_keeps_the_two_strongest_edges_and_never_none():
    ops = darts.DARTS_OPERATIONS
    i = {op: k for k, op in enumerate(ops)}
    # edges: node0 <- s0, s1 (0, 1); node1 <- s0, s1, s2 (2, 3, 4); node2 (5..8); node3 (9..13)
    normal = _weights(14, ops, {
        0: (i["sep_conv_3x3"], 0.5), 1: (i["skip_connect"], 0.3),
        2: (i["none"], 0.9), 3: (i["dil_conv_5x5"], 0.4), 4: (i["max_pool_3x3"], 0.6),
        5: (i["avg_pool_3x3"], 0.7), 6: (i["none"], 0.95), 7: (i["sep_conv_5x5"], 0.2),
        8: (i["dil_conv_3x3"], 0.8),
        9: (i["sep_conv_3x3"], 0.3), 10: (i["sep_conv_3x3"], 0.31), 11: (i["skip_connect"], 0.5),
        12: (i["none"], 0.99), 13: (i["max_pool_3x3"], 0.2)})
    # edge 2: "none" is strongest, but its best real op (0.2 on sep_conv_5x5) still counts
    normal[2, i["sep_conv_5x5"]] = 0.2
    normal[6, i["avg_pool_3x3"]] = 0.05   # node 2, edge from s1: best real op 0.05
    reduce = np.full((14, len(ops)), 1.0 / len(ops))  # all ties: earlier edges, earlier ops
    genotype = darts.derive_genotype(normal, reduce)
    assert genotype.normal == (
        (("sep_conv_3x3", 0), ("skip_connect", 1)),
        (("max_pool_3x3", 2), ("dil_conv_5x5", 1)),
        (("dil_conv_3x3", 3), ("avg_pool_3x3", 0)),
        (("skip_connect", 2), ("sep_conv_3x3", 1)))
    assert genotype.reduce == tuple(((("max_pool_3x3", 0), ("max_pool_3x3", 1)),) * 4)
    assert genotype.normal_concat == genotype.reduce_concat == (2, 3, 4, 5)
    assert all(op != "none" for node in genotype.normal for op, _ in node)
    assert as_genotype(genotype.to_json()) == genotype
    with pytest.raises(ValueError, match="normal_weights"):
        darts.derive_genotype(normal[:5], reduce)
    random = darts.random_genotype(3)
    assert random == darts.random_genotype(3) and random != darts.random_genotype(4)
    assert all(len({j for _, j in node}) == 2 for node in random.normal + random.reduce)


def test_bad_search_options_are_one_line_errors(capsys):
    for option, value in (("--filters", "3"), ("--epochs", "0"), ("--cells", "0")):
        assert cli.main(["search", "darts", option, value]) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and option[2:] in error[0], error


def test_layers_are_registered_and_rebuild_from_config():
    x = np.random.default_rng(2).normal(size=(2, 8, 8, 4)).astype("float32")
    w = np.full(len(TINY_OPS), 1.0 / len(TINY_OPS), "float32")
    cases = [(darts.FactorizedReduce(4), x), (darts.SearchOperation("sep_conv_3x3", 4, 2), x),
             (darts.MixedOp(4, 2, TINY_OPS), [x, w]),
             (darts.SearchCell(4, True, False, 2, 2, TINY_OPS), [x, x, np.stack([w] * 5)])]
    for layer, inputs in cases:
        out = layer(inputs).numpy()
        config = layer.get_config()
        name = keras.saving.get_registered_name(type(layer))
        assert name == f"keras_convnets>{type(layer).__name__}"
        clone = type(layer).from_config(config)
        clone(inputs)
        clone.set_weights(layer.get_weights())
        np.testing.assert_allclose(clone(inputs).numpy(), out, atol=1e-6)
    with pytest.raises(ValueError, match="operation"):
        darts.SearchOperation("conv_9x9", 4)
    with pytest.raises(ValueError, match="operations"):
        darts.MixedOp(4, 1, ("none",))
    with pytest.raises(ValueError, match="filters"):
        darts.DartsSearchNetwork((8, 8, 3), filters=3)


def test_each_optimiser_touches_only_its_variables():
    keras.utils.set_random_seed(0)
    net = darts.DartsSearchNetwork((8, 8, 3), 10, filters=2, cells=3, nodes=2, multiplier=2,
                                   operations=TINY_OPS)
    net.compile()
    assert len(net.alpha_variables) == 2 and net.alpha_normal.shape == (5, len(TINY_OPS))
    assert len(net.weight_variables) + 2 == len(net.trainable_variables)
    rng = np.random.default_rng(0)
    x = rng.random((8, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 10, 8)

    def snapshot():
        return ([np.array(v) for v in net.alpha_variables],
                [np.array(v) for v in net.weight_variables])

    def changed(before, after):
        return [not np.array_equal(a, b) for a, b in zip(before, after)]

    alphas0, weights0 = snapshot()
    net._step(x, y, net.alpha_variables, net.alpha_optimizer, net.alpha_weight_decay, None)
    alphas1, weights1 = snapshot()
    assert all(changed(alphas0, alphas1)) and not any(changed(weights0, weights1))
    net._step(x, y, net.weight_variables, net.optimizer, net.weight_decay, net.grad_clip)
    alphas2, weights2 = snapshot()
    assert not any(changed(alphas1, alphas2)) and any(changed(weights1, weights2))
    # the full step does both: alphas on the validation batch, weights on the training batch
    logs = net.train_step(((x, y), (x[::-1], y[::-1])))
    alphas3, weights3 = snapshot()
    assert all(changed(alphas2, alphas3)) and any(changed(weights2, weights3))
    assert set(logs) == {"loss", "accuracy", "alpha_loss", "alpha_accuracy"}
    assert int(net.optimizer.iterations) == 2 and int(net.alpha_optimizer.iterations) == 2


def test_tiny_search_end_to_end_and_the_derived_network(tmp_path, monkeypatch, capsys):
    """``keras-convnets search darts`` (tiny: 3 cells of 2 nodes over five operations, 8x8
    digits, 32 images per split, one epoch), seeded; its genotype JSON passes
    ``Genotype.check`` and builds the derived network with the cell-network builder, whose
    ``.keras`` file reloads to the same outputs."""
    original = darts.search

    def tiny(**kwargs):
        return original(**kwargs, nodes=2, operations=TINY_OPS)

    monkeypatch.setattr(darts, "search", tiny)
    path = tmp_path / "genotype.json"
    argv = ["search", "darts", "--epochs", "1", "--seed", "3", "--filters", "2", "--cells",
            "3", "--image-size", "8", "--limit", "32", "--batch-size", "16", "--output",
            str(path), "--out-dir", str(tmp_path / "run")]
    assert cli.main(argv) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert str(path) in line and "darts_cifar" in line
    record = json.loads((tmp_path / "run" / "search.json").read_text())
    assert record["settings"]["train_images"] == record["settings"]["validation_images"] == 32
    assert record["settings"]["seed"] == 3 and len(record["history"]["alpha_loss"]) == 1
    genotype = Genotype.from_dict(json.loads(path.read_text())).check()
    assert genotype.normal_concat == (2, 3) and len(genotype.normal) == 2
    assert record["genotype"] == genotype.to_dict()

    nasnet = pytest.importorskip("keras_convnets.models.nasnet")
    config = dataclasses.replace(kc.get_spec("darts_cifar").config, filters=8,
                                 cells_per_stage=1)
    model = nasnet.build_cell_network("darts_digits", config, genotype=str(path), classes=10,
                                      input_shape=(32, 32, 3), weights=None)
    assert model.output_shape == (None, 10)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    model.save(tmp_path / "searched.keras")  # the searched network's .keras round trip
    loaded = keras.models.load_model(tmp_path / "searched.keras")
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-5)
