"""kc.export: the TF Serving SavedModel, the checked TFLite file, the CLI and the examples."""

import os
import pathlib
import py_compile
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets import cli
from keras_convnets.backend import USE_LEGACY_KERAS, tf

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = [ROOT / "examples" / "serving_rest_client.py",
            ROOT / "examples" / "serving_grpc_client.py"]


def tiny(name="resnet18", size=32, classes=10, **kwargs):
    return kc.get_spec(name).builder.tiny(input_shape=(size, size, 3), classes=classes,
                                          **kwargs)


def keras_probabilities(model, uint8_images, size, preprocessing="unit"):
    """What the serving graph must compute: bilinear resize, then the preprocessing of
    docs/serving.md's table."""
    images = tf.image.resize(uint8_images, size, method="bilinear")
    if preprocessing == "unit":
        images = images / 255.0
    elif preprocessing == "imagenet":
        images = (images / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    elif preprocessing == "inception":
        images = images / 127.5 - 1
    elif isinstance(preprocessing, dict):
        images = (images / 255.0 - preprocessing["mean"]) / preprocessing["std"]
    else:
        assert preprocessing == "none"  # the pixels as float32 in [0, 255]
    return np.asarray(model(images, training=False)), images


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One tiny ResNet-18 (32x32, 10 classes) exported as serving/r18/1; module-scoped."""
    base = tmp_path_factory.mktemp("serving")
    model = tiny()
    path = kc.export.saved_model(model, base, name="r18", version=1, top_k=3)
    return model, base, path


@pytest.mark.legacy
def test_saved_model_serves_uint8_images_of_any_size(exported, rng):
    model, base, path = exported
    assert path == os.path.join(str(base), "r18", "1")
    assert sorted(os.listdir(os.path.join(str(base), "r18"))) == ["1"]  # no staging leftovers
    loaded = tf.saved_model.load(path)
    serve = loaded.signatures["serving_default"]
    for height, width in ((57, 91), (32, 32), (200, 13)):
        images = rng.integers(0, 256, (3, height, width, 3), dtype=np.uint8)
        out = serve(images=tf.constant(images))
        assert sorted(out) == ["probabilities", "top_k_classes", "top_k_scores"]
        expected, _ = keras_probabilities(model, images, (32, 32))
        np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
        classes, scores = out["top_k_classes"].numpy(), out["top_k_scores"].numpy()
        assert classes.shape == scores.shape == (3, 3) and classes.dtype == np.int64
        np.testing.assert_array_equal(classes[:, 0], expected.argmax(-1))
        np.testing.assert_allclose(scores, np.take_along_axis(expected, classes, -1),
                                   atol=1e-5)
        assert np.all(np.diff(scores, axis=-1) <= 0)  # best first

    images = rng.integers(0, 256, (2, 57, 91, 3), dtype=np.uint8)
    expected, preprocessed = keras_probabilities(model, images, (32, 32))
    raw = loaded.signatures["predict_raw"](images=tf.constant(preprocessed, tf.float32))
    np.testing.assert_allclose(raw["probabilities"].numpy(), expected, atol=1e-5)

    meta = kc.export.read_metadata(path)
    assert meta["input_size"] == [32, 32] and meta["classes"] == 10 and meta["top_k"] == 3
    assert meta["preprocessing"]["name"] == "unit" and meta["softmax_added"] is False
    assert ("legacy" in meta["keras"]) == USE_LEGACY_KERAS


def test_saved_model_cli_lists_both_signatures(exported):
    _, _, path = exported
    executable = shutil.which("saved_model_cli") or os.path.join(
        os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run([executable, "show", "--dir", path, "--all"], capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    # Every signature's tensors (dtype, shape) and method, as TF Serving's Predict reads them.
    signatures = {}
    for block in result.stdout.split("signature_def['")[1:]:
        name = block.split("'", 1)[0]
        tensors = re.findall(r"(inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+"
                             r"shape: (\([^)]*\))", block)
        method = re.search(r"Method name is: (\S*)", block).group(1)
        signatures[name] = ({(kind, alias): (dtype, shape)
                             for kind, alias, dtype, shape in tensors}, method)
    outputs = {("outputs", "probabilities"): ("DT_FLOAT", "(-1, 10)"),
               ("outputs", "top_k_classes"): ("DT_INT64", "(-1, 3)"),
               ("outputs", "top_k_scores"): ("DT_FLOAT", "(-1, 3)")}
    assert signatures["serving_default"] == (
        {("inputs", "images"): ("DT_UINT8", "(-1, -1, -1, 3)"), **outputs},
        "tensorflow/serving/predict")
    assert signatures["predict_raw"] == (
        {("inputs", "images"): ("DT_FLOAT", "(-1, 32, 32, 3)"), **outputs},
        "tensorflow/serving/predict")
    assert set(signatures) - {"__saved_model_init_op"} == {"serving_default", "predict_raw"}


def test_saved_model_logits_model_and_imagenet_preprocessing(tmp_path, rng):
    """A classifier without activation gets a softmax; "imagenet" normalises with mean/std."""
    model = tiny("mobilenetv2", classes=7, classifier_activation=None)
    path = kc.export.saved_model(model, tmp_path, version=3, preprocessing="imagenet")
    assert path == os.path.join(str(tmp_path), model.name, "3")
    images = rng.integers(0, 256, (2, 40, 33, 3), dtype=np.uint8)
    out = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    logits, _ = keras_probabilities(model, images, (32, 32), preprocessing="imagenet")
    expected = np.asarray(tf.nn.softmax(logits))
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    assert out["top_k_classes"].shape == (2, 5)
    meta = kc.export.read_metadata(path)
    assert meta["softmax_added"] is True and meta["preprocessing"]["name"] == "imagenet"


@pytest.mark.parametrize("preprocessing", [
    "inception", "none", {"mean": (0.2, 0.3, 0.4), "std": (0.5, 0.25, 0.2)}],
    ids=["inception", "none", "custom"])
def test_saved_model_preprocessing_modes(tmp_path, rng, preprocessing):
    model = tiny(classes=3)
    path = kc.export.saved_model(model, tmp_path, top_k=1, preprocessing=preprocessing)
    images = rng.integers(0, 256, (2, 40, 33, 3), dtype=np.uint8)
    out = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    expected, _ = keras_probabilities(model, images, (32, 32), preprocessing)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    name = "custom" if isinstance(preprocessing, dict) else preprocessing
    assert kc.export.read_metadata(path)["preprocessing"]["name"] == name


def test_saved_model_appears_whole_or_not_at_all(tmp_path, monkeypatch):
    """A version is written under a temporary non-numeric name (TF Serving loads numeric
    versions only) next to the versions and renamed when complete; a failed export leaves the
    versions as they were and no temporary directory."""
    model, base = tiny(classes=3), tmp_path / "m"
    pathlib.Path(kc.export.saved_model(model, tmp_path, name="m", top_k=1), "stamp").touch()
    save, rename, seen = tf.saved_model.save, os.rename, []

    def save_and_look(obj, export_dir, **kwargs):
        save(obj, export_dir, **kwargs)
        seen.append((export_dir, sorted(os.listdir(base))))

    def spy_rename(source, target):
        seen.append((source, target))
        rename(source, target)

    monkeypatch.setattr(tf.saved_model, "save", save_and_look)
    monkeypatch.setattr(os, "rename", spy_rename)
    kc.export.saved_model(model, tmp_path, name="m", version=2, top_k=1)
    (staging, listing), renamed = seen
    assert os.path.dirname(staging) == str(base) and not os.path.basename(staging).isdigit()
    assert listing == sorted(["1", os.path.basename(staging)])  # no version 2 while written
    assert renamed == (staging, str(base / "2"))
    assert sorted(os.listdir(base)) == ["1", "2"]

    def save_half(obj, export_dir, **kwargs):
        save(obj, export_dir, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", save_half)
    for version in (1, 3):
        with pytest.raises(OSError, match="disk full"):
            kc.export.saved_model(model, tmp_path, name="m", version=version, top_k=1,
                                  overwrite=True)
    assert sorted(os.listdir(base)) == ["1", "2"] and (base / "1" / "stamp").exists()


def test_saved_model_refuses_an_existing_version(tmp_path):
    model = tiny()
    first = kc.export.saved_model(model, tmp_path, name="m", top_k=1)
    stamp = os.path.join(first, "stamp")
    pathlib.Path(stamp).touch()
    with pytest.raises(ValueError, match="`version` 1 already exists.*overwrite=True"):
        kc.export.saved_model(model, tmp_path, name="m", top_k=1)
    assert os.path.exists(stamp)
    kc.export.saved_model(model, tmp_path, name="m", top_k=1, overwrite=True)
    assert not os.path.exists(stamp)
    assert sorted(os.listdir(tmp_path / "m")) == ["1"]


@pytest.mark.parametrize("kwargs, message", [
    ({"version": 0}, r"`version` must be an integer >= 1; got 0"),
    ({"version": "2"}, r"`version` must be an integer >= 1; got '2'"),
    ({"top_k": 11}, r"`top_k` must be at most the number of classes \(10\); got 11"),
    ({"top_k": 0}, r"`top_k` must be an integer >= 1; got 0"),
    ({"name": "a/b"}, r"`name` must be .*got 'a/b'"),
    ({"preprocessing": "caffe"}, r"`preprocessing` must be one of 'unit', 'imagenet', "
                                 r"'inception', 'none' or a dict.*got 'caffe'"),
    ({"preprocessing": {"mean": (0.5, 0.5), "std": 0.5}}, r"`preprocessing` 'mean' must be"),
    ({"preprocessing": {"mean": 0.5, "std": 0}}, r"`preprocessing` std must be positive"),
    ({"image_size": 64}, r"`image_size` 64 differs from .* fixed input size 32x32"),
    ({"image_size": (32, 0)}, r"`image_size` must be None, a positive int or \(height, width\)"),
])
def test_saved_model_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        kc.export.saved_model(tiny(), tmp_path, **kwargs)
    assert not list(tmp_path.rglob("saved_model.pb"))


def test_saved_model_needs_a_classifier(tmp_path):
    features = tiny(include_top=False, pooling="avg")
    with pytest.raises(ValueError, match="`model` must be a classifier; .* ends in a "
                                         "GlobalAveragePooling2D layer"):
        kc.export.saved_model(features, tmp_path)
    with pytest.raises(ValueError, match="`model` must be a Keras model"):
        kc.export.saved_model("resnet18", tmp_path)


@pytest.mark.legacy
def test_tflite_float32_report(tmp_path):
    model = tiny()
    report = kc.export.tflite(model, tmp_path / "sub" / "r18.tflite")
    assert os.path.getsize(report["path"]) == report["bytes"] > 100_000
    assert {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(report["ops"])
    assert report["quantization"] == "float32" and report["input"]["shape"] == [1, 32, 32, 3]
    assert report["max_difference"] < 1e-4 and report["top1_agreement"] == 1.0
    assert report["check_images"] == kc.export.lite.CHECK_IMAGES
    text = kc.export.format_report(report)
    assert "max |TFLite - Keras|" in text and "CONV_2D" in text


def test_tflite_dynamic_and_int8(tmp_path, rng):
    model = tiny()
    dynamic = kc.export.tflite(model, tmp_path / "d.tflite", quantization="dynamic")
    assert dynamic["quantization"] == "dynamic" and dynamic["bytes"] < 200_000
    assert dynamic["max_difference"] < 0.05
    calibration = rng.uniform(0, 1, (16, 32, 32, 3)).astype("float32")
    int8 = kc.export.tflite(model, tmp_path / "i.tflite", quantization="int8",
                            representative_data=calibration, int8_io=True, check_images=4)
    assert int8["input"]["dtype"] == "int8" and int8["check_data"] == "representative_data"
    assert int8["max_difference"] < 0.05 and int8["check_images"] == 4


def test_tflite_bad_arguments(tmp_path):
    model = tiny()
    with pytest.raises(ValueError, match="`path` .* is a directory"):
        kc.export.tflite(model, tmp_path)
    with pytest.raises(ValueError, match="`check_images` must be an integer >= 1"):
        kc.export.tflite(model, tmp_path / "m.tflite", check_images=0)
    with pytest.raises(ValueError, match="quantization"):
        kc.export.tflite(model, tmp_path / "m.tflite", quantization="int4")
    assert not (tmp_path / "m.tflite").exists()


# -- the command line ---------------------------------------------------------------------------
def test_cli_export_saved_model_and_tflite(tmp_path, capsys):
    common = ["resnet18", "--tiny", "--input-size", "32", "--classes", "10", "--out",
              str(tmp_path)]
    assert cli.main(["export", *common, "--version", "2", "--top-k", "3",
                     "--preprocessing", "imagenet"]) == 0
    out = capsys.readouterr().out
    assert f"to {tmp_path / 'resnet18' / '2'}" in out and "docker run" in out
    meta = kc.export.read_metadata(tmp_path / "resnet18" / "2")
    assert meta["top_k"] == 3 and meta["preprocessing"]["name"] == "imagenet"

    assert cli.main(["export", *common, "--format", "tflite"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "resnet18.tflite").exists() and "max |TFLite - Keras|" in out


@pytest.mark.legacy
def test_cli_export_model_file(tmp_path, capsys):
    """The .keras file `keras-convnets train` writes exports as it is."""
    model = tiny(classes=4)
    model_file = tmp_path / "resnet18.keras"
    model.save(model_file)
    assert cli.main(["export", "resnet18", "--model-file", str(model_file), "--out",
                     str(tmp_path / "serving"), "--name", "digits"]) == 0
    path = tmp_path / "serving" / "digits" / "1"
    meta = kc.export.read_metadata(path)
    assert meta["classes"] == 4 and meta["top_k"] == 4 and meta["input_size"] == [32, 32]
    images = np.zeros((1, 20, 20, 3), np.uint8)
    out = tf.saved_model.load(str(path)).signatures["serving_default"](images=images)
    expected, _ = keras_probabilities(model, images, (32, 32))
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)

    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(model_file.read_bytes()[:1000])
    assert cli.main(["export", "resnet18", "--model-file", str(truncated), "--out",
                     str(tmp_path / "serving2")]) == 2
    assert "is not a readable .keras file (not a zip archive" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--format", "tflite", "--version", "3"], "--version: only for --format saved_model"),
    (["--quantization", "dynamic"], "--quantization: only for --format tflite"),
    (["--model-file", "x.keras", "--classes", "3"], "--classes: not with --model-file"),
    (["--model-file", "no_such.keras"], "`--model-file` 'no_such.keras' does not exist"),
    (["--version", "0"], "`--version` must be a positive integer; got 0"),
    (["--format", "tflite", "--quantization", "int8", "--representative-data", "cats"],
     "`--representative-data` must be one of digits or an existing .npy file"),
])
def test_cli_export_errors_are_clean(tmp_path, capsys, argv, message):
    assert cli.main(["export", "resnet18", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-convnets export: error:") and message in err
    assert not list(tmp_path.iterdir())


def test_cli_export_unknown_model_and_conflicting_sources(tmp_path, capsys):
    assert cli.main(["export", "resnt18", "--out", str(tmp_path)]) == 2
    assert "Did you mean: resnet18" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["export", "resnet18", "--out", str(tmp_path), "--weights", "w.h5",
                  "--model-file", "m.keras"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# -- the serving clients ------------------------------------------------------------------------
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_serving_clients_compile_and_parse_arguments(example, tmp_path):
    py_compile.compile(str(example), cfile=str(tmp_path / "x.pyc"), doraise=True)
    result = subprocess.run([sys.executable, str(example), "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--model" in result.stdout and "--signature" in result.stdout
    missing = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 2 and "--model" in missing.stderr


def test_rest_client_builds_the_request_offline(tmp_path, capsys):
    """The REST client reads PPM files with the standard library and, with --dry-run, only
    reports the request it would send."""
    sys.path.insert(0, str(EXAMPLES[0].parent))
    try:
        import serving_rest_client as client
    finally:
        sys.path.pop(0)
    ppm = tmp_path / "x.ppm"
    ppm.write_bytes(b"P6\n# comment\n3 2\n255\n" + bytes(range(18)))
    assert client.read_ppm(str(ppm))[1][2] == [15, 16, 17]
    assert client.main(["--model", "r18", "--version", "2", str(ppm), "--dry-run"]) == 0
    assert ("POST http://localhost:8501/v1/models/r18/versions/2:predict"
            in capsys.readouterr().out)
    assert client.main(["--model", "r18", str(ppm), "--random", "4x4", "--dry-run"]) == 2
