"""Magnitude pruning (``kc.optimize.pruning``) in both Keras worlds.

- The schedules return tfmot's own numbers: tfmot's schedule objects are plain TensorFlow code
  and import under Keras 3 too, so they are the reference in both worlds.
- Tiny registry models with every kind of prunable kernel -- Conv2D, Dense, DepthwiseConv2D
  (MobileNetV2), both kernels of SeparableConv2D (Xception), SEBlock's FCs (SE-ResNet-18,
  SE-ResNeXt-50) and GroupConv2D (SE-ResNeXt-50, AlexNet, whose response normalisation layers
  have nothing to prune and pass through) -- are pruned while training on digits with SGD;
  every prunable kernel reaches the target sparsity within 1% (the depthwise ones too, which
  tfmot alone leaves dense), a schedule midway gives each kernel the schedule's sparsity at
  the step reached, and the stripped model converts to TFLite with builtin ops, matches Keras,
  and keeps its zeros through a ``.keras`` round trip.

Tests marked ``legacy`` also run under ``TF_USE_LEGACY_KERAS=1`` (tfmot wrappers + masks).
"""

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import import_tfmot, keras, tf
from keras_convnets.data import load_digits
from keras_convnets.flops import leaf_layers
from keras_convnets.layers import GroupConv2D, SEBlock
from keras_convnets.optimize import pruning, tflite

try:  # through the package's import: tfmot's own sets TF_USE_LEGACY_KERAS for the process
    tfmot = import_tfmot()
except ImportError:
    pytest.skip("tensorflow-model-optimization is not installed", allow_module_level=True)

TARGET = 0.75


@pytest.fixture(scope="module")
def digits():
    (x_train, y_train), _ = load_digits(image_size=32)
    return x_train, y_train


def _tiny(name, size):
    return kc.get_spec(name).builder.tiny(input_shape=(size, size, 3), classes=10)


def _images(digits, size, count):
    x, y = digits
    x, y = x[:count], y[:count]
    if size != x.shape[1]:
        x = tf.image.resize(x, (size, size)).numpy()
    return x, y


def _expected_kinds(model):
    """(layer name, weight count) of every prunable kernel, from the layer classes alone."""
    expected = {}
    for layer in leaf_layers(model):
        if isinstance(layer, keras.layers.SeparableConv2D):
            expected[layer.name] = 2
        elif isinstance(layer, (keras.layers.DepthwiseConv2D, keras.layers.Conv2D,
                                keras.layers.Dense, GroupConv2D)):
            expected[layer.name] = 1
        elif isinstance(layer, SEBlock):
            expected[layer.name] = 2
    return expected


# -- schedules ----------------------------------------------------------------------------------
SCHEDULES = [
    ("ConstantSparsity", dict(target_sparsity=0.5, begin_step=0)),
    ("ConstantSparsity", dict(target_sparsity=0.8, begin_step=7, end_step=90, frequency=13)),
    ("ConstantSparsity", dict(target_sparsity=0.3, begin_step=5, end_step=-1, frequency=4)),
    ("PolynomialDecay", dict(initial_sparsity=0.0, final_sparsity=0.75, begin_step=0,
                             end_step=100, frequency=10)),
    ("PolynomialDecay", dict(initial_sparsity=0.2, final_sparsity=0.9, begin_step=17,
                             end_step=203, power=2, frequency=7)),
    ("PolynomialDecay", dict(initial_sparsity=0.1, final_sparsity=0.6, begin_step=3,
                             end_step=50, power=1.5, frequency=1)),
]


@pytest.mark.legacy
@pytest.mark.parametrize("kind, kwargs", SCHEDULES)
def test_schedules_give_tfmots_numbers(kind, kwargs):
    ours = getattr(pruning, kind)(**kwargs)
    theirs = getattr(tfmot.sparsity.keras, kind)(**kwargs)
    steps = list(range(0, 260)) + [1000, 12345]
    got = [ours(step) for step in steps]
    want = [theirs(tf.constant(step, tf.int64)) for step in steps]
    assert [bool(g[0]) for g in got] == [bool(w[0].numpy()) for w in want]
    np.testing.assert_allclose([g[1] for g in got], [float(w[1].numpy()) for w in want],
                               rtol=0, atol=1e-6)
    assert any(g[0] for g in got) and not all(g[0] for g in got[1:])  # the numbers vary
    assert ours.to_tfmot().get_config()["config"] == theirs.get_config()["config"]


@pytest.mark.legacy
@pytest.mark.parametrize("make, argument", [
    (lambda: pruning.ConstantSparsity(1.0, 0), "target_sparsity"),
    (lambda: pruning.ConstantSparsity(-0.1, 0), "target_sparsity"),
    (lambda: pruning.ConstantSparsity("0.5", 0), "target_sparsity"),
    (lambda: pruning.ConstantSparsity(0.5, -1), "begin_step"),
    (lambda: pruning.ConstantSparsity(0.5, 1.5), "begin_step"),
    (lambda: pruning.ConstantSparsity(0.5, 10, end_step=5), "end_step"),
    (lambda: pruning.ConstantSparsity(0.5, 0, frequency=0), "frequency"),
    (lambda: pruning.PolynomialDecay(0.0, 0.5, 10, 10), "end_step"),
    (lambda: pruning.PolynomialDecay(0.0, 1.2, 0, 10), "final_sparsity"),
    (lambda: pruning.PolynomialDecay(0.7, 0.5, 0, 10, power=0), "power"),
    (lambda: pruning.PolynomialDecay(True, 0.5, 0, 10), "initial_sparsity"),
])
def test_bad_schedule_arguments_name_themselves(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        make()


@pytest.mark.legacy
def test_bad_prune_arguments_raise_clear_errors():
    model = _tiny("resnet18", 32)
    with pytest.raises(ValueError, match="`schedule`.*`target_sparsity`.*neither"):
        pruning.prune(model)
    with pytest.raises(ValueError, match="not both"):
        pruning.prune(model, pruning.ConstantSparsity(0.5, 0), target_sparsity=0.5)
    with pytest.raises(ValueError, match="`schedule` must be .*got 0.5"):
        pruning.prune(model, 0.5)
    with pytest.raises(ValueError, match="`target_sparsity` must be a number in"):
        pruning.prune(model, target_sparsity=1.5)
    with pytest.raises(ValueError, match="`model` must be a Keras model; got str"):
        pruning.prune("resnet18", target_sparsity=0.5)
    inputs = keras.Input((4, 4, 3))
    no_weights = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    with pytest.raises(ValueError, match="no prunable layer"):
        pruning.prune(no_weights, target_sparsity=0.5)
    with pytest.raises(ValueError, match="was not made by pruning.prune"):
        pruning.strip_pruning(model)
    with pytest.raises(ValueError, match="was not made by pruning.prune"):
        pruning.UpdatePruningStep().set_model(model)
    pruned = pruning.prune(model, target_sparsity=0.5)
    with pytest.raises(ValueError, match="already pruned"):
        pruning.prune(pruned, target_sparsity=0.5)


# -- pruning registry models ------------------------------------------------------------------
def _fit(model, x, y, batch_size=8):
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False,
              callbacks=[pruning.UpdatePruningStep()])


def _assert_at_sparsity(model, original, target, tolerance=0.01):
    rows = pruning.sparsity_report(model)
    counts = {}
    for row in rows:
        counts[row["layer"]] = counts.get(row["layer"], 0) + 1
    assert counts == _expected_kinds(original)  # every prunable kernel, and only those
    off = [(r["layer"], r["weight"], round(r["sparsity"], 4)) for r in rows
           if abs(r["sparsity"] - target) > tolerance]
    assert not off, f"kernels not at {target:.0%} +- {tolerance:.0%}: {off}"
    return rows


@pytest.mark.legacy
@pytest.mark.parametrize("name, size, kinds", [
    ("mobilenetv2", 32, {"Conv2D", "DepthwiseConv2D", "Dense"}),
    ("seresnet18", 32, {"Conv2D", "SEBlock", "Dense"}),
    ("xception", 71, {"Conv2D", "SeparableConv2D", "Dense"}),
    # response normalisation (no weights) between grouped convolutions, a flattening head
    ("alexnet", 95, {"Conv2D", "GroupConv2D", "Dense"}),
])
def test_training_prunes_every_kernel_and_the_stripped_model_deploys(
        name, size, kinds, digits, save_and_reload):
    model = _tiny(name, size)
    x, y = _images(digits, size, 32)
    schedule = pruning.PolynomialDecay(0.0, TARGET, begin_step=0, end_step=3, frequency=1)
    pruned = pruning.prune(model, schedule)
    _fit(pruned, x, y)  # 4 batches: the last mask update is at step 4 >= end_step
    stripped = pruning.strip_pruning(pruned)
    assert not any(type(layer).__name__ == "PruneLowMagnitude" for layer in stripped.layers)
    rows = _assert_at_sparsity(stripped, model, TARGET)
    assert {row["type"] for row in rows} == kinds
    if name == "xception":  # both halves of every separable convolution
        assert {r["weight"] for r in rows if r["type"] == "SeparableConv2D"} == {
            "depthwise_kernel", "pointwise_kernel"}

    flatbuffer = tflite.convert(stripped)
    ops = tflite.op_names(flatbuffer)
    assert ops and not [op for op in ops if op in ("CUSTOM", "DELEGATE") or op.startswith("Flex")]
    assert tflite.check(stripped, flatbuffer, x[:2]) <= 1e-4

    reloaded = save_and_reload(stripped)
    for before, after in zip(rows, pruning.sparsity_report(reloaded)):
        assert (before["layer"], before["zeros"]) == (after["layer"], after["zeros"])
    np.testing.assert_allclose(reloaded.predict(x[:4], verbose=0),
                               stripped.predict(x[:4], verbose=0), atol=1e-5)


@pytest.mark.legacy
def test_group_conv_and_se_kernels_are_pruned_and_stay_pruned(digits):
    model = _tiny("seresnext50", 32)
    x, y = _images(digits, 32, 24)
    pruned = pruning.prune(model, pruning.ConstantSparsity(TARGET, begin_step=0, frequency=2))
    _fit(pruned, x, y)  # masks set at step 2; step 3's SGD update revives weights unless masked
    stripped = pruning.strip_pruning(pruned)
    rows = _assert_at_sparsity(stripped, model, TARGET)
    assert {"GroupConv2D", "SEBlock"} <= {row["type"] for row in rows}
    flatbuffer = tflite.convert(stripped)
    assert tflite.check(stripped, flatbuffer, x[:1]) <= 1e-4


@pytest.mark.legacy
def test_sparsity_midway_follows_the_step_count():
    """After 5 batches every kernel -- tfmot-wrapped or masked here -- is at the schedule's
    sparsity for step 5 (the first batch is step 1), not step 4 or 6 (4+ points away).

    Random colour images, not the digits: the digits' three identical channels give a first
    kernel identical gradients across its input channels, so regrown weights tie exactly and
    tfmot's rule (keep every magnitude >= the threshold) keeps the ties."""
    model = _tiny("mobilenetv2", 32)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (20, 32, 32, 3)).astype("float32"), np.arange(20) % 10
    schedule = pruning.PolynomialDecay(0.0, 0.8, begin_step=0, end_step=10, frequency=1)
    pruned = pruning.prune(model, schedule)
    _fit(pruned, x, y, batch_size=4)
    expected = schedule.sparsity(5)
    assert min(abs(expected - schedule.sparsity(step)) for step in (4, 6)) > 0.04
    rows = pruning.sparsity_report(pruning.strip_pruning(pruned))
    for row in rows:
        keep = max(1, int(np.round(row["size"] * (1 - expected))))
        assert abs(row["zeros"] - (row["size"] - keep)) <= max(1, 0.01 * row["size"]), (
            row, expected)
    assert {row["type"] for row in rows} >= {"Conv2D", "DepthwiseConv2D"}


def test_format_report_totals_the_zeros(digits):
    model = _tiny("resnet18", 32)
    pruned = pruning.prune(model, target_sparsity=0.5)
    _fit(pruned, *_images(digits, 32, 8))
    rows = pruning.sparsity_report(pruning.strip_pruning(pruned))
    text = pruning.format_report(rows)
    total = sum(r["zeros"] for r in rows) / sum(r["size"] for r in rows)
    assert text.splitlines()[-1].split()[-1] == f"{total:.2%}"
    assert len(text.splitlines()) == len(rows) + 4
