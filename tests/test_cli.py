"""The keras-convnets console command."""

import json

import pytest

from keras_convnets import cli


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
    assert cli.main(["train", "resnet18", "--tiny", "--epochs", "4", "--out", str(out_dir),
                     "--verbose", "0"]) == 0
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
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("trained resnet18 with recipe digits on digits for 4 epochs")
    assert f"test accuracy {results['test_accuracy']:.4f}" in line


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
