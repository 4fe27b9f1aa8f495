"""The keras-convnets console command."""

import json
import os
import subprocess
import sys

import pytest

from keras_convnets import cli


def _command(*args, env=None):
    """``python -m keras_convnets ARGS`` in a fresh process, as a user's shell runs it (with
    TensorFlow's log level unset, as on a user's machine, unless ``env`` sets it)."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", "keras_convnets", *args], capture_output=True,
                          text=True, timeout=300, env=dict(environment, **(env or {})))


def test_help_and_list_answer_without_starting_tensorflow():
    """`--help` and `list` import neither TensorFlow nor Keras (they take ~0.1 s instead of
    ~4 s); `list` reads the registry's index, which tools/update_readme.py keeps current."""
    probe = ("import sys; sys.orig_argv = [sys.executable, '-m', 'keras_convnets']; "
             "from keras_convnets import cli; "
             "assert cli.main(['list', 'resnet1*']) == 0; "
             "assert cli.build_parser(['--help']).format_help(); "
             "print(sorted(m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "[]", lines[-1]
    assert [line.split()[0] for line in lines[1:-1]] == [
        "resnet101", "resnet101v2", "resnet152", "resnet152v2", "resnet18"]
    help_text = _command("--help")
    assert help_text.returncode == 0 and help_text.stderr == ""
    assert "{list,summary,train,port,export,benchmark,search}" in help_text.stdout


def test_no_tensorflow_log_lines_unless_verbose():
    """TensorFlow's C++ start-up lines (oneDNN, CUDA probing, `failed call to cuInit` on
    machines without a GPU) are held back; `--verbose` shows them."""
    quiet = _command("summary", "wideresnet16_8", "--input-size", "16", "--no-layers")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "", quiet.stderr
    assert quiet.stdout.startswith("model:          wideresnet16_8")
    verbose = _command("--verbose", "summary", "wideresnet16_8", "--input-size", "16",
                       "--no-layers", env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert verbose.returncode == 0 and "I0000" in verbose.stderr


def test_ctrl_c_during_train_is_one_line_and_the_command_resumes(tmp_path, capsys, monkeypatch):
    from keras_convnets.training import callbacks

    args = ["train", "wideresnet16_8", "--tiny", "--image-size", "16", "--epochs", "3",
            "--steps-per-epoch", "2", "--validation-steps", "1", "--verbose", "0",
            "--out", str(tmp_path / "run")]

    def interrupt_second_epoch(self, epoch, logs=None):
        self.epochs.append(epoch)
        if epoch == 1:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(callbacks.EpochRecorder, "on_epoch_begin", interrupt_second_epoch)
        assert cli.main(args) == 130
    err = capsys.readouterr().err.strip()
    assert err == ("keras-convnets train: interrupted in epoch 2 of 3; resume with: "
                   "keras-convnets " + " ".join(args)), err
    assert cli.main(args) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["first_epoch"] == 1  # resumed after the one finished epoch


def test_list_prints_a_table(capsys):
    assert cli.main(["list", "seresnext*"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["name", "family", "params", "input"]
    assert [line.split()[0] for line in out[1:]] == ["seresnext101", "seresnext50"]
    assert "27,559,896" in out[2]


def test_list_with_no_match_fails(capsys):
    assert cli.main(["list", "nothing*"]) == 1


def test_summary_reports_params_and_flops(capsys):
    assert cli.main(["summary", "resnet18", "--no-layers"]) == 0
    out = capsys.readouterr().out
    assert "11,689,512 trainable + 9,600 non-trainable" in out
    assert "FLOPs:          3,628,146,688" in out


def test_summary_gives_vgg16_the_papers_gmacs(capsys):
    """VGG-16: 15.47 GMACs at 224 (torchvision's count, params.tsv), 138,357,544 parameters."""
    assert cli.main(["summary", "vgg16", "--no-layers"]) == 0
    out = capsys.readouterr().out
    assert "= 2 x 15.470 GMACs" in out and "138,357,544 trainable" in out


def test_summary_layer_table_and_custom_size(capsys):
    assert cli.main(["summary", "wideresnet16_8", "--input-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "wideresnet16_8_stage3_out" in out and "input:          16x16x3, 10 classes" in out


def test_unknown_model_is_a_clean_error(capsys):
    assert cli.main(["summary", "resnt50"]) == 2
    assert "Did you mean: resnet50" in capsys.readouterr().err


@pytest.mark.slow
def test_train_on_digits(tmp_path, capsys):
    """The main job on the embedded digits: a small model (ResNet-18's .tiny variant, 0.2M
    parameters) reaches >= 95 % test accuracy in 4 epochs, with every output written."""
    out_dir = tmp_path / "run"
    assert cli.main(["train", "resnet18", "--tiny", "--epochs", "4", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count("44/44") >= 4 and "\u2501" in out  # Keras' progress bar, every epoch
    results = json.loads((out_dir / "results.json").read_text())
    assert results["test_images"] == 360 and results["train_images"] == 1437
    assert results["test_accuracy"] >= 0.95
    assert results["recipe"] == "digits" and results["epochs"] == 4
    assert (out_dir / "checkpoints" / "best.weights.h5").exists()
    assert list((out_dir / "logs").iterdir())
    assert not list((out_dir / "backup").rglob("*.h5"))  # the backup goes when training ends
    from keras_convnets.backend import keras

    model = keras.models.load_model(out_dir / "resnet18.keras", safe_mode=True)
    assert type(model.optimizer).__name__ == "SGD" and int(model.optimizer.iterations) == 4 * 44
    assert list((out_dir / "logs").rglob("events.out.tfevents.*"))  # TensorBoard
    line = out.strip().splitlines()[-1]
    assert line.startswith("trained resnet18 with recipe digits on digits for 4 epochs")
    assert f"test accuracy {results['test_accuracy']:.4f}" in line


@pytest.mark.slow
def test_train_inception_v3_with_its_auxiliary_classifier(tmp_path, capsys):
    """``train inceptionv3 --tiny`` trains the auxiliary head at the paper's weight 0.4 (Szegedy
    et al. 2015, Sec. 4): both losses are logged, the total is main + 0.4 x auxiliary, the
    losses fall, and the saved model is the inference model (one output)."""
    import numpy as np

    out_dir = tmp_path / "run"
    # 299: the auxiliary head's 5x5 convolution needs Mixed_6e's 17x17 map (as torchvision's)
    assert cli.main(["train", "inceptionv3", "--tiny", "--image-size", "299", "--epochs", "3",
                     "--steps-per-epoch", "6", "--batch-size", "16", "--validation-steps", "2",
                     "--lr", "0.05", "--verbose", "0", "--out", str(out_dir)]) == 0
    results = json.loads((out_dir / "results.json").read_text())
    history = results["history"]
    assert results["aux_loss_weights"] == [0.4]
    main = np.array(history["inceptionv3_predictions_loss"])
    aux = np.array(history["inceptionv3_aux_predictions_loss"])
    assert np.isfinite(main).all() and np.isfinite(aux).all()
    np.testing.assert_allclose(history["loss"], main + 0.4 * aux, rtol=1e-3)
    assert "val_inceptionv3_aux_predictions_loss" in history
    assert main[-1] < main[0] and aux[-1] < aux[0]
    from keras_convnets.backend import keras

    model = keras.models.load_model(out_dir / "inceptionv3.keras", safe_mode=True)
    assert len(model.outputs) == 1 and not [l for l in model.layers if "_aux" in l.name]
    assert "test accuracy" in capsys.readouterr().out.strip().splitlines()[-1]


def _write_images(directory, classes, per_class, size=20):
    """Noise images of up to 3 classes, each class brighter in its own colour channel: a few
    SGD steps learn them."""
    import numpy as np

    from keras_convnets.backend import tf

    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = directory / f"class_{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 56, (size, size, 3))
            pixels[..., c] += 200
            pixels = pixels.astype(np.uint8)
            (folder / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())


@pytest.mark.slow
def test_train_a_recipe_on_a_directory_dataset(tmp_path, capsys):
    """`train MODEL --recipe R --dataset DIR`: a directory of class folders (train/ and val/),
    here with the WRN CIFAR recipe (flip-and-crop augmentation, step decay, weight decay): 6
    steps on the 12 training images classify the 6 validation images well above chance."""
    data = tmp_path / "images"
    _write_images(data / "train", classes=3, per_class=4)
    _write_images(data / "val", classes=3, per_class=2)
    out_dir = tmp_path / "run"
    assert cli.main(["train", "wideresnet16_8", "--tiny", "--image-size", "16", "--recipe",
                     "wrn28_10_cifar", "--dataset", str(data), "--epochs", "2",
                     "--steps-per-epoch", "3", "--batch-size", "12", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    results = json.loads((out_dir / "results.json").read_text())
    assert results["recipe"] == "wrn28_10_cifar" and results["dataset"] == str(data)
    assert (results["train_images"], results["test_images"]) == (12, 6)
    # the recipe's rate scaled by nothing (no base batch), its step schedule on 6 steps
    assert results["learning_rate"] == pytest.approx(0.1)
    assert out.count("3/3") >= 2 and "\u2501" in out
    assert list((out_dir / "logs").rglob("events.out.tfevents.*"))
    assert (out_dir / "checkpoints" / "best.weights.h5").exists()
    from keras_convnets.backend import keras

    model = keras.models.load_model(out_dir / "wideresnet16_8.keras")
    assert any(type(layer).__name__ == "Dropout" for layer in model.layers)  # block_dropout
    # chance is 1/3; the run reaches 5/6-6/6, and at least twice chance leaves room for the
    # thread-order noise of a 6-step run (float32 accuracy: 5/6 reads 0.83333331)
    assert results["test_accuracy"] >= 2 / 3 - 1e-6
    assert out.strip().splitlines()[-1].startswith(
        f"trained wideresnet16_8 with recipe wrn28_10_cifar on {data} for 2 epochs")


def test_train_errors_are_clean(tmp_path, capsys):
    out = ["--out", str(tmp_path / "run")]
    assert cli.main(["train", "resnet18", "--recipe", "no_such_recipe", *out]) == 2
    assert "Unknown recipe 'no_such_recipe'" in capsys.readouterr().err
    assert cli.main(["train", "resnet18", "--dataset", "tfds:cifar10", *out]) == 2
    assert "needs `data_dir`" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing written for a run that never started


def test_readme_model_table_is_generated_from_the_registry():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "tools" / "update_readme.py"
    spec = importlib.util.spec_from_file_location("update_readme", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run: python tools/update_readme.py"


def test_a_missing_extra_is_one_line_naming_it(monkeypatch, capsys):
    """Without the 'bench' extra (psutil), `benchmark` says which extra to install; every
    optional module the command knows maps to an extra that installs it."""
    import configparser
    import pathlib

    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil -> ModuleNotFoundError
    assert cli.main(["benchmark", "resnet18", "--against", "none", "--no-tflite",
                     "--image-size", "32", "--repeats", "1", "--warmup", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("keras-convnets benchmark: needs the 'bench' extra (module 'psutil' is not "
                   "installed): pip install 'keras_convnets[bench]'"), err
    setup = configparser.ConfigParser()
    setup.read(pathlib.Path(__file__).resolve().parents[1] / "setup.cfg")
    extras = setup["options.extras_require"]
    for module, extra in cli._EXTRAS.items():
        distribution = module.replace("_", "-").replace("tf-keras", "tf_keras")
        assert distribution in extras[extra], (module, extra)
