"""FractalNet beyond the shared routine: the expansion rule, the layouts' counts, the join at
inference (the mean of every column) and in training (local and global drop-path, statistically
over seeded draws), serialization, pruning with drop-path on, and the options' errors.
(Full-size counts and FLOPs: test_reference_counts.py; logit parity with pytorchcv's
``fractalnet_cifar10``: test_port.py.)"""

import math

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras, tf
from keras_convnets.layers import FractalColumnSampler, FractalJoin
from keras_convnets.models import fractalnet
from keras_convnets.models.fractalnet import FractalNetConfig, block_layout

#: chi-square quantiles at 0.999 by degrees of freedom (the seeded draws must pass them)
CHI2_999 = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47}


def _chi2(observed, expected_probabilities):
    observed = np.asarray(observed, float)
    expected = observed.sum() * np.asarray(expected_probabilities, float)
    return float(((observed - expected) ** 2 / expected).sum())


def _build(cfg, name="fractalnet40_cifar", **kwargs):
    kwargs.setdefault("input_shape", (32, 32, 3))
    return fractalnet.build_fractalnet(name, cfg, **kwargs)


# -- the architecture ----------------------------------------------------------------------------
def _recursive_columns(columns):
    """f_1 = conv; f_{C+1}(z) = join(f_C(f_C(z)), conv(z)) with consecutive joins merged, as
    ``[(column, conv index), ...]`` per join in the order they happen (the rule itself, not
    the builder's level loop)."""
    joins, count = [], {}

    def expand(local_columns):  # -> the columns ending at this sub-fractal's output
        shallow = columns - local_columns + 1
        count[shallow] = count.get(shallow, 0) + 1
        mine = (shallow, count[shallow])
        if local_columns == 1:
            return [mine]
        first = expand(local_columns - 1)
        joins.append(sorted(first))
        return expand(local_columns - 1) + [mine]

    joins.append(sorted(expand(columns)))
    return [j for j in joins if len(j) > 1], count


@pytest.mark.parametrize("columns", [1, 2, 3, 4, 5])
def test_block_layout_is_the_expansion_rule(columns):
    layout = block_layout(columns)
    assert len(layout) == 2 ** (columns - 1)  # the deepest column's length
    convs = [c for _, ending in layout for c in ending]
    assert len(convs) == 2 ** columns - 1
    assert {c: convs.count(c) for c in set(convs)} == {c: 2 ** (c - 1)
                                                      for c in range(1, columns + 1)}
    # the joins (levels where two or more columns end) are the recursion's merged joins
    seen = {}
    joins = []
    for _, ending in layout:
        for c in ending:
            seen[c] = seen.get(c, 0) + 1
        if len(ending) > 1:
            joins.append(sorted((c, seen[c]) for c in ending))
    recursive, count = _recursive_columns(columns)
    assert joins == recursive and seen == count


def test_paper_depths_and_widths():
    """Section 4: 20 and 40 layers on CIFAR (B x 2^(C-1) convolutions), 34 on ImageNet (its
    stem convolution, 4 x 8, the classifier)."""
    assert kc.FractalNet20_CIFAR.config.depth == 20
    assert kc.FractalNet40_CIFAR.config.depth == 40
    assert kc.FractalNet34.config.depth + 1 == 34
    for name in ("fractalnet20_cifar", "fractalnet40_cifar"):
        assert kc.get_spec(name).config.widths == (64, 128, 256, 512, 512)
    assert kc.FractalNet34.config.widths == (64, 128, 256, 512)
    assert kc.FractalNet34.config.columns == 4


def _layout_counts(cfg, size, classes=1000):
    """Trainable parameters and FLOPs of Section 4's layout, in closed form: per block C
    convolutions read the block's input, the other 2^C - 1 - C its width; BN has 2 per
    channel."""
    params, flops = 0, 0
    side, channels = size, 3
    if cfg.stem == "resnet":
        side = (side + 1) // 2
        params += 49 * 3 * cfg.widths[0] + 2 * cfg.widths[0]
        flops += 2 * 49 * 3 * cfg.widths[0] * side * side
        side = (side + 1) // 2
        channels = cfg.widths[0]
    for block, width in enumerate(cfg.widths):
        if cfg.pooling == "between" and block:
            side //= 2
        inner = 2 ** cfg.columns - 1 - cfg.columns  # convolutions reading the block's width
        weights = 9 * width * (cfg.columns * channels + inner * width)
        params += weights + 2 * width * (2 ** cfg.columns - 1)
        flops += 2 * weights * side * side
        if cfg.pooling == "after":
            side //= 2
        channels = width
    return params + channels * classes + classes, flops + 2 * channels * classes


@pytest.mark.parametrize("name", ["fractalnet20_cifar", "fractalnet40_cifar", "fractalnet34"])
def test_registry_counts_are_the_layouts(name):
    spec = kc.get_spec(name)
    assert _layout_counts(spec.config, spec.default_size) == (spec.params, spec.flops)
    if name == "fractalnet20_cifar":  # pytorchcv fractalnet_cifar10, 10 classes
        assert _layout_counts(spec.config, 32, classes=10)[0] == 33_724_618


# -- inference: every column, joined by the mean --------------------------------------------------
def test_inference_joins_are_the_mean_of_every_column():
    """A 4-column, 2-block network at inference equals the expansion rule evaluated with its
    own layers: every join the plain mean of all its columns (drop-path configured, and idle)."""
    cfg = FractalNetConfig((4, 8), columns=4)
    model = _build(cfg, classes=5, classifier_activation=None, local_drop_rate=0.3,
                   global_drop_ratio=0.5, block_drop_rates=0.2)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    # give the batch norms non-trivial statistics
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            rng = np.random.default_rng(len(layer.name))
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])
    layer = model.get_layer
    prefix = model.name + "_"

    def unit(z, block, column, index):
        name = f"{prefix}block{block}_col{column}"
        z = layer(f"{name}_conv{index}")(z)
        z = layer(f"{name}_bn{index}")(z, training=False)
        return layer(f"{name}_relu{index}")(z)

    def block_output(z, block):
        count = {}

        def expand(z, local_columns):
            shallow = cfg.columns - local_columns + 1
            count[shallow] = count.get(shallow, 0) + 1
            mine = unit(z, block, shallow, count[shallow])
            if local_columns == 1:
                return [mine]
            inner = tf.reduce_mean(tf.stack(expand(z, local_columns - 1)), axis=0)
            return expand(inner, local_columns - 1) + [mine]

        return tf.reduce_mean(tf.stack(expand(z, cfg.columns)), axis=0)

    z = tf.constant(x)
    for block in (1, 2):
        z = tf.nn.max_pool2d(block_output(z, block), 2, 2, "VALID")
    expected = layer(prefix + "logits")(tf.reduce_mean(z, axis=(1, 2)))
    np.testing.assert_allclose(model(x, training=False), expected, rtol=1e-5, atol=1e-5)


# -- training: drop-path ---------------------------------------------------------------------------
def _one_hot_paths(n, batch):
    """Input i is 1 in channel i: the join's output channel i is input i's weight."""
    return [tf.one_hot(tf.fill([batch, 1, 1], i), n) for i in range(n)]


def test_local_drop_path_keeps_each_input_with_probability_1_minus_p(seeded):
    """Each input is kept with probability 1 - p, never all are dropped (then one, uniformly,
    survives), and the kept inputs share the output equally. 20,000 seeded draws: the kept
    count follows Binomial(n, 1 - p) with the all-dropped mass moved to one."""
    n, p, batch = 3, 0.4, 20_000
    join = FractalJoin((1, 2, 3), drop_rate=p, seed=11)
    paths = _one_hot_paths(n, batch)
    with seeded(0):
        weights = np.asarray(join(paths, training=True)).reshape(batch, n)
    kept = weights > 0
    counts = kept.sum(axis=1)
    assert counts.min() >= 1
    np.testing.assert_allclose(weights[kept], (1 / np.repeat(counts, counts)), rtol=1e-6)
    binomial = [math.comb(n, k) * (1 - p) ** k * p ** (n - k) for k in range(n + 1)]
    expected = [binomial[1] + binomial[0], binomial[2], binomial[3]]
    observed = [np.sum(counts == k) for k in (1, 2, 3)]
    assert _chi2(observed, expected) < CHI2_999[2], observed
    # every input alike: kept with 1 - p, plus its share of the all-dropped draws
    marginal = (1 - p) + p ** n / n
    assert np.all(np.abs(kept.mean(axis=0) - marginal) < 4 * math.sqrt(marginal / batch))
    # at inference, and in training without drop-path: the plain mean
    np.testing.assert_allclose(np.asarray(join(paths)).reshape(batch, n)[:3], 1 / n, rtol=1e-6)
    plain = FractalJoin((1, 2, 3))
    np.testing.assert_allclose(np.asarray(plain(paths, training=True)).reshape(batch, n)[:3],
                               1 / n, rtol=1e-6)


def test_global_drop_path_passes_the_selected_column_alone():
    """Selection 0: local drop-path (here none: the mean); c: column c alone; a column the
    join does not reach: the plain mean (its output is off the selected path)."""
    join = FractalJoin((2, 3, 4), drop_rate=0.0)
    paths = _one_hot_paths(3, 5)
    selection = tf.constant([0, 1, 2, 3, 4])
    weights = np.asarray(join([*paths, selection], training=True)).reshape(5, 3)
    np.testing.assert_allclose(weights, [[1 / 3] * 3, [1 / 3] * 3, [1, 0, 0], [0, 1, 0],
                                         [0, 0, 1]], rtol=1e-6)
    inference = np.asarray(join([*paths, selection], training=False)).reshape(5, 3)
    np.testing.assert_allclose(inference, 1 / 3, rtol=1e-6)


def test_sampler_draws_per_mini_batch_and_per_sample(seeded):
    """Per mini-batch (the paper): one draw for the whole batch, global with probability
    ``global_ratio`` and then a column uniform over 1..C; per sample: the same for each."""
    columns, ratio = 4, 0.5
    images = tf.zeros([6, 2, 2, 3])
    sampler = FractalColumnSampler(columns, ratio, seed=5)
    with seeded(0):
        draws = np.stack([np.asarray(sampler(images, training=True)) for _ in range(800)])
    assert draws.shape == (800, 6) and np.all(draws == draws[:, :1])  # one draw per batch
    per_batch = draws[:, 0]
    per_sample = FractalColumnSampler(columns, ratio, per_sample=True, seed=5)
    with seeded(1):
        per_sample = np.asarray(per_sample(tf.zeros([20_000, 1, 1, 1]), training=True))
    for selection in (per_batch, per_sample):
        assert set(np.unique(selection)) <= set(range(columns + 1))
        glob = selection[selection > 0]
        assert _chi2([len(selection) - len(glob), len(glob)], [1 - ratio, ratio]) < CHI2_999[1]
        observed = [np.sum(glob == c) for c in range(1, columns + 1)]
        assert _chi2(observed, [1 / columns] * columns) < CHI2_999[columns - 1], observed
    assert len(np.unique(per_sample)) == columns + 1
    assert not np.asarray(sampler(images, training=False)).any()


def test_global_drop_path_runs_one_column_through_the_whole_network(seeded):
    """With every pass global, the trained network's output is exactly one column's plain
    chain of convolutions (all joins of all blocks agree on it), and over seeded passes each
    column is the one."""
    cfg = FractalNetConfig((4, 8), columns=3)
    with seeded(0):
        model = _build(cfg, classes=4, classifier_activation=None, global_drop_ratio=1.0)
    layer, prefix = model.get_layer, model.name + "_"
    x = tf.constant(np.random.default_rng(1).uniform(-1, 1, (4, 32, 32, 3)), tf.float32)

    def column_network(column):
        z = x
        for block in (1, 2):
            for index in range(1, 2 ** (column - 1) + 1):
                name = f"{prefix}block{block}_col{column}"
                z = layer(f"{name}_conv{index}")(z)
                z = layer(f"{name}_relu{index}")(layer(f"{name}_bn{index}")(z, training=True))
            z = tf.nn.max_pool2d(z, 2, 2, "VALID")
        return np.asarray(layer(prefix + "logits")(tf.reduce_mean(z, axis=(1, 2))))

    columns = [column_network(c) for c in (1, 2, 3)]
    chosen = []
    with seeded(2):
        for _ in range(12):
            out = np.asarray(model(x, training=True))
            matches = [c for c, expected in enumerate(columns, start=1)
                       if np.allclose(out, expected, rtol=1e-4, atol=1e-5)]
            assert len(matches) == 1
            chosen += matches
    assert set(chosen) == {1, 2, 3}


# -- serialization ---------------------------------------------------------------------------------
def test_layer_configs_round_trip():
    for layer in (FractalJoin((1, 3, 4), drop_rate=0.15, seed=3, name="join"),
                  FractalJoin(), FractalColumnSampler(4, 0.5, per_sample=True, seed=1)):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
    assert FractalJoin.from_config(FractalJoin((1, 2)).get_config()).columns == (1, 2)


def test_model_with_drop_path_survives_a_keras_round_trip(save_and_reload):
    cfg = FractalNetConfig((4, 8), columns=3)
    model = _build(cfg, classes=3, local_drop_rate=0.15, global_drop_ratio=0.5,
                   block_drop_rates=(0.0, 0.1))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    reloaded = save_and_reload(model)
    np.testing.assert_allclose(reloaded(x, training=False), model(x, training=False),
                               rtol=1e-6, atol=1e-6)
    prefix = model.name + "_"
    join = reloaded.get_layer(prefix + "block1_join4")
    assert isinstance(join, FractalJoin) and join.drop_rate == 0.15 and join.columns == (1, 2, 3)
    sampler = reloaded.get_layer(prefix + "drop_path_columns")
    assert sampler.global_ratio == 0.5 and not sampler.per_sample
    assert reloaded.get_layer(prefix + "block2_col3_dropout4").rate == 0.1


# -- pruning -------------------------------------------------------------------------------------
@pytest.mark.legacy
def test_prunes_while_training_with_drop_path():
    """The joins and the sampler have no weights: magnitude pruning (tfmot's wrappers under
    legacy Keras) passes them through while fit() trains with drop-path, and the stripped model
    converts to TFLite with builtin ops."""
    from keras_convnets.backend import import_tfmot
    from keras_convnets.optimize import pruning, tflite

    try:
        import_tfmot()
    except ImportError:
        pytest.skip("tensorflow-model-optimization is not installed")
    model = _build(FractalNetConfig((4,), columns=3), classes=3, local_drop_rate=0.15,
                   global_drop_ratio=0.5)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (16, 32, 32, 3)).astype("float32"), np.arange(16) % 3
    pruned = pruning.prune(model, target_sparsity=0.5)
    pruned.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    pruned.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[pruning.UpdatePruningStep()])
    stripped = pruning.strip_pruning(pruned)
    rows = pruning.sparsity_report(stripped)
    assert len(rows) == 7 + 1  # every convolution and the classifier
    assert all(abs(row["sparsity"] - 0.5) <= 0.01 for row in rows), rows
    assert any(isinstance(layer, FractalJoin) for layer in stripped.layers)
    flatbuffer = tflite.convert(stripped)
    ops = tflite.op_names(flatbuffer)
    assert ops and not [op for op in ops if op in ("CUSTOM", "DELEGATE") or op.startswith("Flex")]
    assert tflite.check(stripped, flatbuffer, x[:2]) <= 1e-4


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, match", [
    ({"local_drop_rate": 1.0}, r"`local_drop_rate` must be a number in \[0, 1\); got 1.0"),
    ({"local_drop_rate": -0.1}, r"`local_drop_rate` must be a number in \[0, 1\); got -0.1"),
    ({"global_drop_ratio": 1.5}, r"`global_drop_ratio` must be a number in \[0, 1\]; got 1.5"),
    ({"global_per_sample": "yes"}, r"`global_per_sample` must be True or False; got 'yes'"),
    ({"block_drop_rates": (0.1, 0.2)}, r"`block_drop_rates` must be None, one rate .* or 5 "
                                       r"rates .*; got \(0.1, 0.2\)"),
    ({"block_drop_rates": 1.0}, r"`block_drop_rates` must be a number in \[0, 1\); got 1.0"),
])
def test_bad_options_name_the_argument(options, match):
    with pytest.raises(ValueError, match=match):
        kc.FractalNet20_CIFAR(**options)


@pytest.mark.parametrize("cfg, size, match", [
    (FractalNetConfig((4, 8), columns=0), 32, r"`columns` must be an integer >= 1; got 0"),
    (FractalNetConfig(()), 32, r"`widths` must be a non-empty tuple of positive integers"),
    (FractalNetConfig((4, 0)), 32, r"`widths` .*; got \(4, 0\)"),
    (FractalNetConfig((4, 8), stem="vgg"), 32, r"`stem` must be one of 'none', 'resnet'"),
    (FractalNetConfig((4,) * 6, columns=1), 32,
     r"`blocks`: 6 blocks .* do not fit the input: .* block 6 would halve a 1x1 map; at most "
     r"5 blocks fit"),
    (FractalNetConfig((4,) * 5, columns=1, stem="resnet", pooling="between"), 32,
     r"`blocks`: 5 blocks .* before block 5 would halve a 1x1 map; at most 4 blocks fit"),
])
def test_bad_configurations_name_the_argument(cfg, size, match):
    with pytest.raises(ValueError, match=match):
        _build(cfg, input_shape=(size, size + 16, 3))


@pytest.mark.parametrize("make, match", [
    (lambda: FractalJoin(drop_rate=1.0), r"`drop_rate` must be a number in \[0, 1\); got 1.0"),
    (lambda: FractalJoin((1, 1)), r"`columns` must be distinct positive integers .*; got \(1, 1\)"),
    (lambda: FractalJoin((0, 1)), r"`columns` must be distinct positive integers"),
    (lambda: FractalColumnSampler(0), r"`num_columns` must be an integer >= 1; got 0"),
    (lambda: FractalColumnSampler(3, global_ratio=-1), r"`global_ratio` must be a number in "
                                                         r"\[0, 1\]; got -1"),
    (lambda: FractalJoin((1, 2))(_one_hot_paths(3, 1)),
     r"`columns`=\(1, 2\) names 2 inputs; got 3"),
])
def test_bad_layer_arguments_name_themselves(make, match):
    with pytest.raises(ValueError, match=match):
        make()
