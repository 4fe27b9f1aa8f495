"""The training building blocks: schedules, SGD with weight decay that skips BN and biases,
the FreezeBatchNorm callback, the data sources and pipeline, strategy selection, the main job's
options (mixed precision, errors) and the keras-team/keras#20585 fix (detection, patching, the
switch-off)."""

import json
import os
import sys
import types

import numpy as np
import pytest

from keras_convnets.backend import KERAS_VERSION, USE_LEGACY_KERAS, keras, tf
from keras_convnets import training
from keras_convnets.data import load_dataset, pipeline
from keras_convnets.training import SGD, WarmupSchedule, distribute, linear_scaling
from keras_convnets.training import multiworker_fix


def _variable(value, name):
    if USE_LEGACY_KERAS:
        return tf.Variable(value, name=name)
    return keras.Variable(value, name=name)


# -- schedules ------------------------------------------------------------------------------------
def test_linear_scaling_rule():
    assert linear_scaling(0.1, 8192) == pytest.approx(3.2)  # Goyal et al.: k = 32
    assert linear_scaling(0.1, 256) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="`batch_size` must be an integer >= 1; got 0"):
        linear_scaling(0.1, 0)


@pytest.mark.legacy
def test_warmup_then_step_decay_goyal():
    # Goyal et al.: 0.1 -> 3.2 over 5 epochs, then /10 at epochs 30, 60, 80 (100 steps/epoch)
    schedule = WarmupSchedule(3.2, 9000, warmup_steps=500, warmup_from=0.1, decay="step",
                              boundaries=(3000, 6000, 8000), factor=0.1)
    rate = lambda step: float(schedule(step))  # noqa: E731
    assert rate(0) == pytest.approx(0.1)
    assert rate(250) == pytest.approx(0.1 + (3.2 - 0.1) / 2)
    assert rate(499) == pytest.approx(0.1 + (3.2 - 0.1) * 499 / 500)
    assert rate(500) == pytest.approx(3.2)
    assert rate(2999) == pytest.approx(3.2)
    assert rate(3000) == pytest.approx(0.32)
    assert rate(6000) == pytest.approx(0.032)
    assert rate(8500) == pytest.approx(0.0032)


def test_cosine_polynomial_exponential_constant():
    cosine = WarmupSchedule(1.0, 110, warmup_steps=10, decay="cosine")
    assert float(cosine(10)) == pytest.approx(1.0)
    assert float(cosine(60)) == pytest.approx(0.5)
    assert float(cosine(110)) == pytest.approx(0.0, abs=1e-7)
    poly = WarmupSchedule(2.0, 100, decay="polynomial", power=2.0)  # LARS: g0 (1 - t/T)^2
    assert float(poly(25)) == pytest.approx(2.0 * 0.75 ** 2)
    expo = WarmupSchedule(0.045, 1000, decay="exponential", factor=0.94, decay_every=20)
    assert float(expo(19)) == pytest.approx(0.045)
    assert float(expo(45)) == pytest.approx(0.045 * 0.94 ** 2)
    assert float(WarmupSchedule(0.3, 10, decay="constant")(7)) == pytest.approx(0.3)


def test_schedule_errors_and_round_trip():
    with pytest.raises(ValueError, match="`decay` must be one of 'cosine'.*got 'linear'"):
        WarmupSchedule(1.0, 10, decay="linear")
    with pytest.raises(ValueError, match=r"`warmup_steps` must be in \[0, total_steps=10\]"):
        WarmupSchedule(1.0, 10, warmup_steps=11)
    with pytest.raises(ValueError, match="`boundaries` must be increasing"):
        WarmupSchedule(1.0, 10, decay="step", boundaries=(5, 2))
    schedule = WarmupSchedule(1.5, 40, warmup_steps=4, warmup_from=0.1, decay="step",
                              boundaries=(10, 20))
    clone = WarmupSchedule.from_config(schedule.get_config())
    for step in (0, 3, 4, 15, 39):
        assert float(clone(step)) == pytest.approx(float(schedule(step)))


# -- SGD with coupled weight decay -----------------------------------------------------------------
@pytest.mark.legacy
def test_sgd_weight_decay_skips_vectors_and_matches_numpy(rng):
    kernel0 = rng.normal(size=(3, 2)).astype("float32")
    bias0 = rng.normal(size=(2,)).astype("float32")
    gradients = [(rng.normal(size=(3, 2)).astype("float32"),
                  rng.normal(size=(2,)).astype("float32")) for _ in range(3)]
    kernel, bias = _variable(kernel0, "kernel"), _variable(bias0, "bias")
    lr, m, wd = 0.1, 0.9, 0.01
    optimizer = SGD(lr, momentum=m, weight_decay=wd)
    w, b = kernel0.astype("float64"), bias0.astype("float64")
    uw, ub = np.zeros_like(w), np.zeros_like(b)
    for gk, gb in gradients:
        optimizer.apply_gradients([(tf.constant(gk), kernel), (tf.constant(gb), bias)])
        uw = m * uw + gk + wd * w   # L2 decay on the kernel...
        ub = m * ub + gb            # ...none on the bias
        w, b = w - lr * uw, b - lr * ub
        np.testing.assert_allclose(np.asarray(kernel), w, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(bias), b, rtol=1e-5)


def test_sgd_nesterov_and_momentum_correction(rng):
    w0 = rng.normal(size=(4, 4)).astype("float32")
    g1, g2 = (rng.normal(size=(4, 4)).astype("float32") for _ in range(2))
    schedule = WarmupSchedule(1.0, 2, decay="step", boundaries=(1,), factor=0.1)
    variable = _variable(w0, "kernel")
    optimizer = SGD(schedule, momentum=0.9, nesterov=True)
    optimizer.apply_gradients([(tf.constant(g1), variable)])
    optimizer.apply_gradients([(tf.constant(g2), variable)])
    u1 = g1
    w1 = w0 - 1.0 * (g1 + 0.9 * u1)
    u2 = 0.9 * u1 + g2
    # the velocity is in gradient units: the rate drop to 0.1 applies to it at once
    w2 = w1 - 0.1 * (g2 + 0.9 * u2)
    np.testing.assert_allclose(np.asarray(variable), w2, rtol=1e-5)


def test_weight_decay_exclusions_and_config(rng):
    kernel = _variable(rng.normal(size=(3, 3)).astype("float32"), "depthwise_kernel")
    optimizer = SGD(0.1, momentum=0.0, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_list=[kernel])
    before = np.asarray(kernel).copy()
    optimizer.apply_gradients([(tf.zeros((3, 3)), kernel)])
    np.testing.assert_array_equal(np.asarray(kernel), before)  # excluded: no decay step
    vectors = SGD(0.1, momentum=0.0, weight_decay=0.5, decay_vectors=True)
    bias = _variable(np.ones(3, "float32"), "bias")
    vectors.apply_gradients([(tf.zeros(3), bias)])
    np.testing.assert_allclose(np.asarray(bias), 1 - 0.1 * 0.5)
    config = SGD(0.2, momentum=0.8, nesterov=True, weight_decay=1e-4).get_config()
    clone = SGD.from_config(config)
    assert (clone.momentum, clone.nesterov, clone.coupled_weight_decay) == (0.8, True, 1e-4)
    with pytest.raises(ValueError, match="`weight_decay` must be a number >= 0.0; got -0.1"):
        SGD(weight_decay=-0.1)


def test_rmsprop_decay_is_the_l2_gradient_term(rng):
    w0 = rng.normal(size=(3, 3)).astype("float32")
    g = rng.normal(size=(3, 3)).astype("float32")
    ours, reference = _variable(w0, "a"), _variable(w0, "b")
    training.RMSprop(0.01, weight_decay=0.1).apply_gradients([(tf.constant(g), ours)])
    keras.optimizers.RMSprop(0.01, rho=0.9, momentum=0.9, epsilon=1.0).apply_gradients(
        [(tf.constant(g + 0.1 * w0), reference)])
    np.testing.assert_allclose(np.asarray(ours), np.asarray(reference), rtol=1e-6)


# -- FreezeBatchNorm -------------------------------------------------------------------------------
@pytest.mark.legacy
@pytest.mark.parametrize("norm", ["batch", "batch_renorm"])
def test_freeze_batch_norm_for_the_last_epochs(rng, norm):
    from keras_convnets.layers.batch_renorm import BatchRenormalization

    x = rng.normal(size=(32, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 3, 32)
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    kind = keras.layers.BatchNormalization if norm == "batch" else BatchRenormalization
    h = kind(name="bn")(h)
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            bn = self.model.get_layer("bn")
            snapshots.append({"moving_mean": np.array(bn.moving_mean),
                              "gamma": np.array(bn.gamma),
                              "kernel": np.array(self.model.get_layer("conv").kernel)})

    freeze = training.FreezeBatchNorm(1, epochs=3)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[freeze, Snapshot()])
    assert freeze.frozen_at == 2
    assert not model.get_layer("bn").trainable
    first, second, third = snapshots
    assert not np.allclose(first["moving_mean"], second["moving_mean"])  # still learning
    assert not np.allclose(first["gamma"], second["gamma"])
    np.testing.assert_array_equal(second["moving_mean"], third["moving_mean"])  # frozen
    np.testing.assert_array_equal(second["gamma"], third["gamma"])
    assert not np.allclose(second["kernel"], third["kernel"])  # the rest still trains
    with pytest.raises(ValueError, match="`last_epochs` must be an integer >= 0; got -1"):
        training.FreezeBatchNorm(-1, 3)


# -- data ------------------------------------------------------------------------------------------
def test_in_memory_training_order_does_not_depend_on_iterators():
    data = load_dataset("digits", image_size=8, limit=12)
    stream = pipeline(data.arrays[0], batch_size=4, image_size=8, training=True, seed=3)
    first = [int(v) for v in next(iter(stream))[1].numpy()]
    again = [int(v) for v in next(iter(stream))[1].numpy()]  # a second iterator
    assert first == again
    labels = np.concatenate([b[1].numpy() for b in stream.take(6)])  # two passes of 12
    assert sorted(labels[:12]) == sorted(data.arrays[0][1]) == sorted(labels[12:])
    assert list(labels[:12]) != list(labels[12:])  # every pass is shuffled anew
    other_seed = pipeline(data.arrays[0], batch_size=12, image_size=8, training=True, seed=4)
    assert list(next(iter(other_seed))[1].numpy()) != list(labels[:12])


def test_pipeline_augmentations_one_hot_and_normalisation():
    data = load_dataset("digits", image_size=16, limit=8)
    for augment in ("none", "flip_crop", "crop", "inception"):
        images, labels = next(iter(pipeline(
            data.arrays[0], batch_size=4, image_size=12, training=True, augment=augment,
            one_hot_classes=10, normalize="imagenet")))
        assert images.shape == (4, 12, 12, 3) and labels.shape == (4, 10)
        assert float(tf.reduce_min(images)) < 0  # (x - mean) / std
    evaluation = pipeline(data.arrays[1], batch_size=3, image_size=12, training=False,
                          augment="inception")
    assert [int(b[0].shape[0]) for b in evaluation] == [3, 3, 2]
    with pytest.raises(ValueError, match="`augment` must be one of 'none'.*got 'mixup'"):
        pipeline(data.arrays[0], batch_size=4, image_size=12, training=True, augment="mixup")


def _write_images(directory, classes, per_class, size=10):
    for c in range(classes):
        folder = directory / f"class_{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((size, size, 3), 40 * c + i, np.uint8)
            (folder / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())


def test_directory_datasets(tmp_path):
    _write_images(tmp_path / "flat", classes=3, per_class=5)
    data = load_dataset(str(tmp_path / "flat"), image_size=8)
    assert (data.classes, data.train_size, data.test_size) == (3, 12, 3)
    image, label = next(iter(data.train))
    assert image.shape == (8, 8, 3) and 0.0 <= float(tf.reduce_max(image)) <= 1.0
    assert label.dtype == tf.int64

    _write_images(tmp_path / "split" / "train", classes=2, per_class=4)
    _write_images(tmp_path / "split" / "val", classes=2, per_class=2)
    data = load_dataset(str(tmp_path / "split"), image_size=8, augment="crop")
    assert (data.classes, data.train_size, data.test_size) == (2, 8, 4)
    assert data.image_size == 9  # loaded at size / 0.875 for the random crops

    with pytest.raises(ValueError, match="neither 'digits', 'tfds:NAME' nor an existing"):
        load_dataset(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="must hold one folder of images per class"):
        load_dataset(str(tmp_path / "empty"))


def test_tfds_needs_a_data_dir_and_the_package(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="needs `data_dir`"):
        load_dataset("tfds:cifar10")
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # not installed
    with pytest.raises(ValueError, match="needs the tensorflow-datasets package.*nothing is "
                                         "downloaded"):
        load_dataset("tfds:cifar10", data_dir=str(tmp_path))


def test_tfds_dataset_missing_from_data_dir(tmp_path, monkeypatch):
    fake = types.ModuleType("tensorflow_datasets")
    fake.builder = lambda name, data_dir: types.SimpleNamespace(
        data_dir=os.path.join(data_dir, name, "1.0.0"),
        info=types.SimpleNamespace(splits={}))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    with pytest.raises(ValueError, match=r"'tfds:cifar10' is not prepared under data_dir="):
        load_dataset("tfds:cifar10", data_dir=str(tmp_path))


def _fake_tfds(prepared_dir, calls):
    """A stand-in for ``tensorflow_datasets`` (not a test dependency) with one tiny prepared
    grayscale dataset, ``tiny``, under ``prepared_dir``; any download attempt fails."""
    fake = types.ModuleType("tensorflow_datasets")
    splits = {"train": types.SimpleNamespace(num_examples=12),
              "test": types.SimpleNamespace(num_examples=6)}

    class Builder:
        def __init__(self, name, data_dir):
            calls.append(("builder", name, data_dir))
            self.data_dir = os.path.join(data_dir, name, "1.0.0")
            self.info = types.SimpleNamespace(
                splits=splits if name == "tiny" else {},
                features={"label": types.SimpleNamespace(num_classes=3)})

        def as_dataset(self, split, as_supervised, shuffle_files):
            calls.append(("as_dataset", split, as_supervised))
            n = splits[split].num_examples
            images = np.random.default_rng(len(split)).integers(0, 256, (n, 20, 20, 1))
            return tf.data.Dataset.from_tensor_slices(
                (images.astype(np.uint8), np.arange(n) % 3))

        def download_and_prepare(self, *args, **kwargs):
            raise AssertionError("nothing may be downloaded")

    fake.builder = Builder
    os.makedirs(os.path.join(prepared_dir, "tiny", "1.0.0"))
    return fake


@pytest.mark.slow
def test_train_on_a_tfds_dataset_in_a_data_dir(tmp_path, monkeypatch):
    calls = []
    data_dir = str(tmp_path / "tfds")
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _fake_tfds(data_dir, calls))
    data = load_dataset("tfds:tiny", data_dir=data_dir)
    assert (data.classes, data.train_size, data.test_size) == (3, 12, 6)
    image, label = next(iter(data.train))
    assert image.shape == (20, 20, 3) and image.dtype == tf.float32  # grayscale -> RGB
    assert 0.0 <= float(tf.reduce_min(image)) and float(tf.reduce_max(image)) <= 1.0
    results = training.train("wideresnet16_8", tiny=True, image_size=16, dataset="tfds:tiny",
                             data_dir=data_dir, epochs=1, steps_per_epoch=2, batch_size=4,
                             backup=False, out_dir=str(tmp_path / "run"), verbose=0)
    assert results["dataset"] == "tfds:tiny"
    assert (results["train_images"], results["test_images"]) == (12, 6)
    assert np.isfinite(results["history"]["loss"]).all()
    assert ("builder", "tiny", data_dir) in calls and ("as_dataset", "test", True) in calls
    with pytest.raises(ValueError, match="'tfds:other' is not prepared under data_dir="):
        load_dataset("tfds:other", data_dir=data_dir)


# -- strategies ------------------------------------------------------------------------------------
def _cluster(workers, index=0, chief=False):
    cluster = {"worker": [f"127.0.0.1:{2000 + i}" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["127.0.0.1:1999"]
    return json.dumps({"cluster": cluster,
                       "task": {"type": "worker", "index": index}})


@pytest.mark.legacy
def test_strategy_choice(monkeypatch):
    for name in ("TF_CONFIG", "TPU_NAME", "COLAB_TPU_ADDR"):
        monkeypatch.delenv(name, raising=False)
    assert distribute.choose() == "default"
    assert distribute.choose(devices=2) == "mirrored"
    monkeypatch.setenv("TF_CONFIG", _cluster(2))
    assert distribute.choose() == "multi_worker"
    assert distribute.choose("mirrored") == "mirrored"  # forced by name
    monkeypatch.setenv("TF_CONFIG", _cluster(1))
    assert distribute.choose() == "default"
    monkeypatch.setenv("TPU_NAME", "my-tpu")
    assert distribute.choose() == "tpu"
    assert distribute.choose(skip_tpu=True) == "default"
    with pytest.raises(ValueError, match="`strategy` must be one of 'auto', 'tpu', "
                                         "'multi_worker', 'mirrored', 'default'; got 'gpu'"):
        distribute.choose("gpu")


@pytest.mark.legacy
def test_strategy_errors_and_worker_info(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG naming a cluster"):
        distribute.strategy("multi_worker")
    with pytest.raises(ValueError, match="`devices`=2 needs the 'mirrored' strategy"):
        distribute.strategy("default", devices=2)
    with pytest.raises(ValueError, match="`devices` must be None or an integer >= 1; got 0"):
        distribute.strategy("mirrored", devices=0)
    assert distribute.strategy("default") is tf.distribute.get_strategy()
    assert distribute.worker_info() == {"index": 0, "count": 1, "is_chief": True}
    monkeypatch.setenv("TF_CONFIG", _cluster(3, index=2, chief=True))
    assert distribute.worker_info() == {"index": 3, "count": 4, "is_chief": False}
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="`TF_CONFIG` is not valid JSON"):
        distribute.cluster_spec()


@pytest.mark.legacy
def test_strategy_choice_with_several_gpus(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setattr(distribute, "_tpu_hinted", lambda tpu: False)
    real = tf.config.list_physical_devices
    gpus = ["GPU:0", "GPU:1"]
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: gpus if kind == "GPU" else real(kind))
    assert distribute.choose() == "mirrored"  # several local GPUs
    assert distribute._local_devices(None) == ["/gpu:0", "/gpu:1"]
    assert distribute._local_devices(1) == ["/gpu:0"]
    with pytest.raises(ValueError, match="`devices`=3 but only 2 GPUs are visible"):
        distribute._local_devices(3)
    gpus[1:] = []
    assert distribute.choose() == "default"  # one GPU: the default strategy uses it


@pytest.mark.legacy
def test_strategy_tpu_when_one_resolves_else_falls_back(monkeypatch):
    for name in ("TF_CONFIG", "TPU_NAME", "COLAB_TPU_ADDR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(distribute, "_CREATED", {})
    resolved = []

    class FakeTPUStrategy:
        num_replicas_in_sync = 8

        def __init__(self, resolver):
            self.resolver = resolver

    monkeypatch.setattr(tf.distribute, "TPUStrategy", FakeTPUStrategy)
    monkeypatch.setattr(distribute, "_tpu_resolver",
                        lambda tpu: resolved.append(tpu) or f"resolver:{tpu}")
    made = distribute.strategy(tpu="grpc://10.0.0.2:8470")  # auto: the TPU resolves
    assert isinstance(made, FakeTPUStrategy) and made.resolver == "resolver:grpc://10.0.0.2:8470"
    assert distribute.strategy(tpu="grpc://10.0.0.2:8470") is made  # made once per process

    def no_tpu(tpu):
        raise ValueError("Could not lookup TPU metadata")

    monkeypatch.setattr(distribute, "_tpu_resolver", no_tpu)
    monkeypatch.setenv("TPU_NAME", "my-tpu")
    assert distribute.strategy() is tf.distribute.get_strategy()  # auto: falls back
    with pytest.raises(ValueError, match="`strategy`='tpu' but no TPU resolves "
                                         r"\(Could not lookup TPU metadata\)"):
        distribute.strategy("tpu")


# -- the main job's options ------------------------------------------------------------------------
def test_job_errors_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="Unknown model name 'resnt18'"):
        training.train("resnt18", smoke=True, out_dir=str(tmp_path))
    with pytest.raises(ValueError, match="`image_size` 16 is below resnet18's minimum input "
                                         "of 32"):
        training.train("resnet18", image_size=16, out_dir=str(tmp_path))
    with pytest.raises(ValueError, match="Recipe 'nameless' trains 'alexnet9', which is not "
                                         "available yet"):
        training.train(recipe=training.Recipe(name="nameless", model="alexnet9"))
    with pytest.raises(ValueError, match="`model` is required"):
        training.train(recipe=training.Recipe(name="bare"))
    with pytest.raises(ValueError, match="Unknown recipe 'nope'; available: .*digits"):
        training.train("resnet18", recipe="nope")


@pytest.mark.slow
@pytest.mark.parametrize("policy,compute", [("mixed_float16", "float16"),
                                            ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_keeps_float32_logits(tmp_path, policy, compute):
    seen = {}

    class Optimizer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["optimizer"] = type(self.model.optimizer).__name__

    results = training.train("resnet18", smoke=True, precision=policy,
                             out_dir=str(tmp_path), verbose=0, callbacks=[Optimizer()])
    assert results["precision"] == policy
    assert np.isfinite(results["test_loss"]) and np.isfinite(results["history"]["loss"]).all()
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    model = keras.models.load_model(results["model_path"])
    logits = model.get_layer("resnet18_logits")
    assert logits.compute_dtype == "float32" and logits.dtype == "float32"
    assert model.get_layer("resnet18_stage1_out").compute_dtype == compute
    assert model.output.dtype == "float32"
    # mixed_float16: Keras scales the loss so that float16 gradients do not underflow
    assert seen["optimizer"] == ("LossScaleOptimizer" if policy == "mixed_float16" else "SGD")


@pytest.mark.parametrize("name", ["mobilenetv3small", "shufflenetv1_g3_1x"])
def test_mixed_precision_rebuilds_only_the_logits_in_float32(name):
    """The float32 classifier keeps the builder's whole head: MobileNetV3's pre-logits hidden
    layer, ShuffleNet's bias-free logits, the recipe's dropout before the classifier."""
    from keras_convnets.registry import get_spec
    from keras_convnets.training.job import build_model

    spec = get_spec(name)
    recipe = training.Recipe(drop_rate=0.3)

    def build(policy):
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(policy)
        try:
            return build_model(spec, recipe, classes=10, image_size=32, tiny=True)
        finally:
            keras.mixed_precision.set_global_policy(previous)

    reference, mixed = build("float32"), build("mixed_float16")
    assert mixed.count_params() == reference.count_params()

    def head(model):
        return [(type(layer).__name__, layer.name[len(model.name):])
                for layer in model.layers[-4:]]

    assert head(mixed) == head(reference)
    assert head(mixed)[-3:] == [("Dropout", "_head_dropout"), ("Dense", "_logits"),
                                ("Activation", "_predictions")]
    assert mixed.get_layer(mixed.name + "_head_dropout").rate == 0.3
    for suffix in ("_logits", "_predictions"):
        assert mixed.get_layer(mixed.name + suffix).compute_dtype == "float32"
    assert mixed.get_layer(mixed.name + "_head_dropout").compute_dtype == "float16"
    assert mixed.output.dtype == "float32"
    reference_logits = reference.get_layer(reference.name + "_logits").get_config()
    mixed_logits = mixed.get_layer(mixed.name + "_logits").get_config()
    assert mixed_logits["use_bias"] == reference_logits["use_bias"]


def test_mixed_precision_keeps_every_classifier_float32():
    """GoogLeNet trained with its two auxiliary classifiers: each one's logits and
    probabilities are rebuilt in float32, and the outputs stay in order."""
    from keras_convnets.registry import get_spec
    from keras_convnets.training.job import build_model

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(get_spec("googlenet"), training.Recipe(), classes=10,
                            image_size=96, tiny=True, model_kwargs={"aux_logits": True})
    finally:
        keras.mixed_precision.set_global_policy(previous)
    names = [o._keras_history[0].name for o in model.outputs]
    assert names == ["googlenet_predictions", "googlenet_aux1_predictions",
                     "googlenet_aux2_predictions"]
    for name in names:
        logits = model.get_layer(name[:-len("predictions")] + "logits")
        assert logits.compute_dtype == "float32"
    assert all(o.dtype == "float32" for o in model.outputs)
    assert model.get_layer("googlenet_stage1_out").compute_dtype == "float16"


def test_dropout_before_the_classifier_and_label_smoothing():
    from keras_convnets.registry import get_spec
    from keras_convnets.training.job import _loss_and_metrics, build_model

    model = build_model(get_spec("resnet18"), training.Recipe(drop_rate=0.2), classes=10,
                        image_size=32, tiny=True)
    dropout, logits = model.layers[-3:-1]
    assert isinstance(dropout, keras.layers.Dropout) and dropout.rate == 0.2
    assert logits.name.endswith("_logits")
    plain = build_model(get_spec("resnet18"), training.Recipe(), classes=10, image_size=32,
                        tiny=True)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in plain.layers)

    loss, metrics = _loss_and_metrics(training.Recipe(label_smoothing=0.1), classes=10)
    target, confident = np.eye(10)[[3]], np.eye(10)[[3]] * 0.999 + 0.0001
    # smoothed targets: 0.91 on the label, 0.01 elsewhere (Szegedy et al. 2015, Sec. 7)
    expected = -(0.91 * np.log(confident[0, 3]) + 0.01 * np.log(confident[0, :3]).sum()
                 + 0.01 * np.log(confident[0, 4:]).sum())
    assert float(loss(target, confident)) == pytest.approx(expected, rel=1e-4)
    assert metrics[0].name == "accuracy"
    unsmoothed, _ = _loss_and_metrics(training.Recipe(), classes=10)
    assert float(unsmoothed(np.array([3]), confident)) == pytest.approx(
        -np.log(confident[0, 3]), rel=1e-4)


def test_recipe_weight_decay_skips_batch_norm_and_biases_in_a_model():
    from keras_convnets.registry import get_spec
    from keras_convnets.training.job import build_model, make_optimizer

    recipe = training.load_recipe("mobilenet")  # weight decay 4e-5, none on depthwise kernels
    model = build_model(get_spec("mobilenet"), recipe, classes=10, image_size=32, tiny=True)
    optimizer = make_optimizer(recipe, 0.1, model)
    decayed = {v.name for v in model.trainable_weights if optimizer.decays(v)}
    kinds = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for v in layer.trainable_weights:
            kind = ("BatchNormalization" if isinstance(layer, keras.layers.BatchNormalization)
                    else type(layer).__name__)
            kinds.setdefault(kind, []).append(optimizer.decays(v))
    assert kinds["BatchNormalization"] and not any(kinds["BatchNormalization"])  # scale, offset
    assert not any(kinds["DepthwiseConv2D"])               # the recipe's exclusion
    assert all(kinds["Conv2D"])                            # every other kernel
    assert kinds["Dense"] == [True, False]                 # the classifier's kernel, not bias
    assert decayed
    sgd = make_optimizer(training.load_recipe("resnet50_imagenet"), 0.1, model)
    assert not any(sgd.decays(v) for v in model.trainable_weights if len(v.shape) == 1)
    assert all(sgd.decays(v) for v in model.trainable_weights if len(v.shape) > 1)


# -- the keras-team/keras#20585 fix ----------------------------------------------------------------
@pytest.mark.legacy
def test_fix_detection_on_the_installed_keras():
    faults = multiworker_fix.detect()
    if USE_LEGACY_KERAS:
        assert faults == {"symbolic_build": False, "reduce_per_replica": False}
    elif KERAS_VERSION.startswith("3.15."):  # the version this fix was written against
        assert faults == {"symbolic_build": True, "reduce_per_replica": True}


def test_fix_switches_itself_off_once_keras_is_fixed():
    if USE_LEGACY_KERAS:
        pytest.skip("Keras 3 only")
    from keras.src.backend.tensorflow import trainer

    original_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = trainer.reduce_per_replica
    # A Keras that behaves like the patched functions shows neither fault...
    fixed = multiworker_fix.detect(
        build=multiworker_fix._make_symbolic_build(original_build),
        reduce_per_replica=multiworker_fix._make_reduce_per_replica(original_reduce))
    assert fixed == {"symbolic_build": False, "reduce_per_replica": False}

    # ...nor does one whose internals changed beyond recognition: the fix stays off.
    def changed(*args, **kwargs):
        raise TypeError("a new signature")

    assert multiworker_fix.detect(build=changed, reduce_per_replica=changed) == fixed

    multiworker_fix.uninstall()
    try:
        assert multiworker_fix.install(faults=fixed) == {}
        assert trainer.TensorFlowTrainer._maybe_symbolic_build is original_build
        assert trainer.reduce_per_replica is original_reduce
    finally:
        multiworker_fix.uninstall()


def test_fix_install_probes_keras_and_patches_nothing_once_fixed(monkeypatch):
    """``install()`` itself decides: on a Keras whose trainer behaves like the fix (as a fixed
    Keras would), it detects no fault and leaves Keras' functions alone."""
    if USE_LEGACY_KERAS:
        pytest.skip("Keras 3 only")
    from keras.src.backend.tensorflow import trainer

    fixed_build = multiworker_fix._make_symbolic_build(
        trainer.TensorFlowTrainer._maybe_symbolic_build)
    fixed_reduce = multiworker_fix._make_reduce_per_replica(trainer.reduce_per_replica)
    multiworker_fix.uninstall()
    monkeypatch.setattr(trainer.TensorFlowTrainer, "_maybe_symbolic_build", fixed_build)
    monkeypatch.setattr(trainer, "reduce_per_replica", fixed_reduce)
    try:
        assert multiworker_fix.install() == {}
        assert multiworker_fix.installed() == {}
        assert trainer.TensorFlowTrainer._maybe_symbolic_build is fixed_build
        assert trainer.reduce_per_replica is fixed_reduce
    finally:
        multiworker_fix.uninstall()
    # and on this Keras (3.15) the same call finds and patches both faults
    if KERAS_VERSION.startswith("3.15."):
        monkeypatch.undo()
        try:
            assert multiworker_fix.install() == {"symbolic_build": True,
                                                 "reduce_per_replica": True}
        finally:
            multiworker_fix.uninstall()


def test_fix_patches_only_the_multi_worker_branches():
    if USE_LEGACY_KERAS:
        pytest.skip("Keras 3 only")
    from keras.src.backend.tensorflow import trainer

    original_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = trainer.reduce_per_replica
    multiworker_fix.uninstall()
    try:
        patched = multiworker_fix.install(faults={"symbolic_build": True,
                                                  "reduce_per_replica": True})
        assert patched == {"symbolic_build": True, "reduce_per_replica": True}
        assert trainer.reduce_per_replica.__wrapped__ is original_reduce
        assert multiworker_fix.install() == patched  # idempotent

        # multi-worker: scalars are averaged over all replicas, with no axis
        probe = multiworker_fix._ProbeStrategy()
        trainer.reduce_per_replica({"loss": np.float32(2.0)}, probe, "auto")
        assert [(op, axis) for op, _, axis in probe.reduce_calls] == [("MEAN", None)]
        # the symbolic build reads one local replica's batch and reduces nothing
        model = multiworker_fix._ProbeModel(probe)
        batch = (multiworker_fix._per_replica(np.ones((2, 3), "float32")),)
        trainer.TensorFlowTrainer._maybe_symbolic_build(model, iterator=[(0, 0, iter([batch]))])
        assert len(probe.reduce_calls) == 1 and model.built_with[0].shape == (2, 3)
        # anything else goes to Keras' own code, unchanged
        value = tf.constant([1.0, 3.0])
        assert trainer.reduce_per_replica(value, tf.distribute.get_strategy(), "auto") is value
    finally:
        multiworker_fix.uninstall()
    assert trainer.TensorFlowTrainer._maybe_symbolic_build is original_build
    assert trainer.reduce_per_replica is original_reduce
