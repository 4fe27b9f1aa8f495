"""DenseNet beyond the shared routine: Table 1's and Table 2's depths, the CIFAR counts against
pytorchcv, the memory-efficient build's equivalence with the plain one, keras.applications'
counts, and the options' errors. (Exact ImageNet counts and FLOPs: test_reference_counts.py;
logit parity with torchvision / pytorchcv: test_port.py.)"""

import csv
import os

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras, tf
from keras_convnets.layers.dense_bottleneck import DenseBottleneck
from keras_convnets.models import densenet

from reference_tables import PARAMS_TSV

#: Table 1: depth L = stem conv + 2 per dense layer + transitions + classifier. Table 1's
#: "DenseNet-264" blocks (6, 12, 64, 48) make 265 weight layers: the name is the paper's, the
#: blocks are its table's (as every implementation, timm's densenet264d included).
TABLE_1 = {"densenet121": 121, "densenet169": 169, "densenet201": 201, "densenet264": 265,
           "densenet161": 161}
#: Table 2 (DenseNet-BC): depth, growth rate, millions of parameters; pytorchcv's exact counts
TABLE_2 = {"densenetbc100_k12": (100, 12, 0.8, "densenet100_k12_bc_cifar10", 769_162),
           "densenetbc250_k24": (250, 24, 15.3, "densenet250_k24_bc_cifar10", 15_324_406),
           "densenetbc190_k40": (190, 40, 25.6, "densenet190_k40_bc_cifar10", 25_624_430)}


def _of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


@pytest.mark.parametrize("name", sorted(TABLE_1))
def test_table_1_depths(name):
    cfg = kc.get_spec(name).config
    assert 1 + 2 * sum(cfg.blocks) + len(cfg.blocks) - 1 + 1 == TABLE_1[name]
    assert cfg.bn_size == 4 and cfg.compression == 0.5
    assert cfg.init_features == 2 * cfg.growth_rate
    assert cfg.growth_rate == (48 if name == "densenet161" else 32)


def test_tiny_network_has_the_layout():
    model = kc.DenseNet121.tiny(input_shape=(64, 64, 3))
    convs = _of(model, keras.layers.Conv2D)
    assert len(convs) == 1 + 2 * 5 + 3  # stem, (2, 1, 1, 1) dense layers, transitions
    names = [layer.name[len("densenet121_"):] for layer in model.layers]
    for expected in ("conv0", "norm0", "pool0", "denseblock1_denselayer2_conv2",
                     "transition3_pool", "norm5", "stage4_out", "logits"):
        assert expected in names
    # the bottleneck is 4k wide, each layer adds k = 4, the transition halves (8 + 2*4) -> 8
    assert model.get_layer("densenet121_denseblock1_denselayer1_conv1").filters == 16
    assert model.get_layer("densenet121_stage1_out").output.shape[-1] == 16
    assert model.get_layer("densenet121_transition1_conv").filters == 8
    assert not _of(model, keras.layers.Dropout)


def test_table_2_configurations_and_counts():
    """(L - 4) / 6 bottleneck layers per block, 2k stem channels; the exact counts (pytorchcv's,
    measured by test_pytorchcv_cifar_counts) round to Table 2's."""
    for name, (depth, k, paper, _, count) in TABLE_2.items():
        spec = kc.get_spec(name)
        assert spec.config == densenet.cifar_config(depth, k)
        assert spec.config.blocks == ((depth - 4) // 6,) * 3
        assert spec.config.init_features == 2 * k and spec.default_classes == 10
        assert spec.paper_params == paper == round(count / 1e6, 1)


@pytest.mark.slow
def test_pytorchcv_cifar_counts():
    """Our CIFAR DenseNet-BC counts (10 classes) equal pytorchcv's, built here; the smallest
    is checked on our side too (the larger two: test_parameters_match_paper_table builds them
    and test_table_2_configurations_and_counts ties the integers to them)."""
    from keras_convnets.weights import porting

    for name, (_, _, _, reference, count) in TABLE_2.items():
        torch_model = porting.create_reference(f"pytorchcv:{reference}")
        assert sum(p.numel() for p in torch_model.parameters()) == count, name
    model = kc.DenseNetBC100_K12()
    assert kc.count_params(model)[0] == 769_162


def test_keras_applications_twins_have_the_count():
    path = os.path.join(os.path.dirname(PARAMS_TSV), "keras_applications_params.tsv")
    with open(path, newline="") as f:
        rows = {r["keras_app"]: r for r in csv.DictReader(f, delimiter="\t")}
    for name in ("densenet121", "densenet169", "densenet201"):
        spec = kc.get_spec(name)
        assert int(rows[spec.keras_twin.builder]["trainable_params"]) == spec.params


def _pair():
    keras.backend.clear_session()
    plain = kc.DenseNet121.tiny(input_shape=(32, 32, 3), classes=5)
    efficient = kc.DenseNet121.tiny(input_shape=(32, 32, 3), classes=5, memory_efficient=True,
                                    name="efficient")
    return plain, efficient


def test_memory_efficient_is_the_same_network():
    """The same outputs, gradients and moving-statistic updates as the plain build, in float64
    (in float32 BatchNorm's gradient cancels down to rounding noise in a few elements)."""
    from keras_convnets.weights.porting import float64_models

    with float64_models():
        plain, efficient = _pair()
    assert len(_of(efficient, DenseBottleneck)) == 5 and not _of(plain, DenseBottleneck)
    assert all(layer.recompute for layer in _of(efficient, DenseBottleneck))
    # the same weights, in the same order: they move with get_weights / set_weights
    assert [w.shape for w in plain.weights] == [w.shape for w in efficient.weights]
    assert kc.count_params(plain) == kc.count_params(efficient)
    assert kc.count_flops(plain) == kc.count_flops(efficient)
    rng = np.random.default_rng(0)
    weights = [rng.uniform(0.5, 1.5, w.shape) for w in plain.get_weights()]
    plain.set_weights(weights)
    efficient.set_weights(weights)
    x = tf.constant(rng.normal(size=(4, 32, 32, 3)))
    np.testing.assert_allclose(efficient(x, training=False), plain(x, training=False),
                               rtol=1e-10, atol=1e-12)
    grads, outs = [], []
    for model in (plain, efficient):
        with tf.GradientTape() as tape:
            y = model(x, training=True)
            loss = tf.reduce_sum(y * tf.range(5, dtype=y.dtype))
        outs.append(y.numpy())
        grads.append(tape.gradient(loss, model.trainable_weights))
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-10, atol=1e-12)
    for (a, b, w) in zip(grads[0], grads[1], plain.trainable_weights):
        assert b is not None, w.name
        np.testing.assert_allclose(b, a, rtol=1e-7, atol=1e-9 * float(np.abs(a).max()),
                                   err_msg=w.name)
    # the moving statistics were updated once, as the plain layers do
    for a, b in zip(plain.get_weights(), efficient.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-7, atol=1e-12)  # tf_keras: 1.5e-8


def test_memory_efficient_round_trip(tmp_path):
    _, efficient = _pair()
    path = str(tmp_path / "efficient.keras")
    efficient.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    # (batch norm comes back as Keras' own class of that name: tests/test_saving.py)
    assert [type(layer).__name__ for layer in loaded.layers] == [
        type(layer).__name__ for layer in efficient.layers]
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x), efficient(x), rtol=1e-6, atol=1e-7)
    config = _of(loaded, DenseBottleneck)[0].get_config()
    assert config["filters"] == 16 and config["recompute"] and config["epsilon"] == 1e-5


def test_drop_rate_is_dropout_on_new_features():
    model = kc.DenseNet121.tiny(input_shape=(32, 32, 3), drop_rate=0.2)
    dropouts = _of(model, keras.layers.Dropout)
    assert len(dropouts) == 5 and all(d.rate == 0.2 for d in dropouts)
    assert dropouts[0].name.endswith("denseblock1_denselayer1_dropout")


@pytest.mark.parametrize("kwargs, message", [
    ({"drop_path_rate": 0.1}, r"`drop_path_rate`=0.1 needs residual blocks, and DenseNet has"),
    ({"drop_rate": 1.0}, r"`drop_rate` must be a number in \[0, 1\); got 1.0"),
    ({"norm": "instance"}, r"`norm` must be one of .*got 'instance'"),
    ({"memory_efficient": "yes"}, r"`memory_efficient` must be"),
    ({"memory_efficient": True, "norm": "group"}, r"`memory_efficient`=True .* needs "
                                                  r"norm='batch', got norm='group'"),
])
def test_bad_options_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kc.DenseNet121.tiny(input_shape=(32, 32, 3), **kwargs)


@pytest.mark.parametrize("change, message", [
    ({"growth_rate": 0}, r"`growth_rate` must be an integer >= 1; got 0"),
    ({"compression": 0.0}, r"`compression` must be a number in \(0, 1\]; got 0.0"),
    ({"compression": 1.5}, r"`compression` must be a number in \(0, 1\]; got 1.5"),
    ({"blocks": (6, 0, 24)}, r"`blocks` must be a non-empty tuple of positive integers"),
])
def test_bad_configurations_are_clear_errors(change, message):
    import dataclasses
    cfg = dataclasses.replace(kc.DenseNet121.config, **change)
    with pytest.raises(ValueError, match=message):
        kc.DenseNet121.spec.function(cfg, input_shape=(32, 32, 3))


@pytest.mark.parametrize("depth, growth, message", [
    (101, 12, r"`depth` must be 6n \+ 4 .*got 101"),
    (4, 12, r"`depth` must be 6n \+ 4 .*got 4"),
    (100, 0, r"`growth_rate` must be an integer >= 1; got 0"),
])
def test_cifar_depth_must_fit_three_blocks(depth, growth, message):
    with pytest.raises(ValueError, match=message):
        densenet.cifar_config(depth, growth)
    assert densenet.cifar_config(40, 12).blocks == (6, 6, 6)


def test_memory_efficient_recomputes_in_the_backward_pass(monkeypatch):
    """The bottleneck's convolution runs again when the gradient is taken (and not at all
    again for the plain-weight gradient of an inference call)."""
    layer = DenseBottleneck(4, name="bottleneck")
    maps = [tf.ones((2, 4, 4, 3)), tf.ones((2, 4, 4, 2))]
    layer(maps)
    calls, conv2d = [], tf.nn.conv2d
    monkeypatch.setattr(tf.nn, "conv2d", lambda *a, **k: calls.append(1) or conv2d(*a, **k))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(maps, training=True))
    assert len(calls) == 1
    tape.gradient(loss, layer.trainable_weights)
    assert len(calls) == 2
    assert [w.shape for w in layer.weights] == [(5,)] * 4 + [(1, 1, 5, 4)]
    assert layer.count_flops([(2, 4, 4, 3), (2, 4, 4, 2)], (2, 4, 4, 4)) == 2 * 5 * 16 * 4


@pytest.mark.legacy
def test_memory_efficient_bottleneck_kernels_are_pruned():
    """DenseBottleneck declares its 1x1 kernel prunable: pruning masks it in both worlds."""
    from keras_convnets.optimize import pruning

    model = kc.DenseNet121.tiny(input_shape=(32, 32, 3), classes=10, memory_efficient=True)
    x = np.random.default_rng(0).uniform(0, 1, (16, 32, 32, 3)).astype("float32")
    y = np.arange(16) % 10
    pruned = pruning.prune(model, pruning.ConstantSparsity(0.5, begin_step=0, frequency=1))
    pruned.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    pruned.fit(x, y, batch_size=8, epochs=1, verbose=0,
               callbacks=[pruning.UpdatePruningStep()])
    rows = [r for r in pruning.sparsity_report(pruning.strip_pruning(pruned))
            if r["type"] == "DenseBottleneck"]
    assert rows and all(abs(r["sparsity"] - 0.5) <= 0.01 for r in rows), rows
