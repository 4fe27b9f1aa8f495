"""The paper recipes in recipes/: what they say, and that each one's --smoke run still runs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets import training
from keras_convnets.training.command import recipe_main
from keras_convnets.training.job import schedule_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = ["alexnet", "digits", "goyal_large_batch", "mobilenet", "resnet50_imagenet", "senet",
           "wrn28_10_cifar"]


def test_the_recipe_files():
    assert training.list_recipes() == RECIPES
    for name in RECIPES:
        recipe = training.load_recipe(name)
        assert recipe.name == name and recipe.model and recipe.reference
        assert training.load_recipe(os.path.join(ROOT, "recipes", f"{name}.py")) == recipe
    assert training.load_recipe("digits") == training.DEFAULT_RECIPE.replace(
        reference=training.load_recipe("digits").reference, model="resnet18")


def test_paper_numbers():
    resnet = training.load_recipe("resnet50_imagenet")
    assert (resnet.batch_size, resnet.peak_learning_rate(), resnet.weight_decay) == (
        256, 0.1, 1e-4)
    goyal = training.load_recipe("goyal_large_batch")
    assert goyal.batch_size == 8192 and goyal.peak_learning_rate() == pytest.approx(3.2)
    schedule = schedule_for(goyal, steps_per_epoch=156, epochs=90, scaling_batch=8192)
    assert float(schedule(0)) == pytest.approx(0.1)           # warm up from the k=1 rate...
    assert float(schedule(5 * 156)) == pytest.approx(3.2)     # ...to 3.2 after 5 epochs
    assert float(schedule(30 * 156)) == pytest.approx(0.32)
    assert goyal.model_kwargs == {"zero_init_residual": True}
    senet = training.load_recipe("senet")
    assert (senet.batch_size, senet.learning_rate, senet.label_smoothing, senet.drop_rate,
            senet.freeze_bn_epochs) == (2048, 0.1, 0.1, 0.2, 5)
    wrn = training.load_recipe("wrn28_10_cifar")
    assert (wrn.model, wrn.nesterov, wrn.step_factor, wrn.step_epochs) == (
        "wideresnet28_10", True, 0.2, (60, 120, 160))
    # the linear scaling rule follows the run's (global) batch size: 0.1 per 256 images
    for batch, rate in ((256, 0.1), (1024, 0.4), (8192, 3.2), (64, 0.025)):
        assert resnet.replace(batch_size=batch).peak_learning_rate() == pytest.approx(rate)
    schedule = schedule_for(goyal.replace(batch_size=1024), steps_per_epoch=10, epochs=90,
                            scaling_batch=1024)
    assert (float(schedule(0)), float(schedule(50))) == pytest.approx((0.1, 0.4))
    assert float(schedule(25)) == pytest.approx(0.1 + 0.3 / 2)  # linear warm-up, 5 epochs
    schedule = schedule_for(wrn, steps_per_epoch=10, epochs=200, scaling_batch=128)
    assert float(schedule(0)) == pytest.approx(0.1)  # no base batch: no scaling, no warm-up
    assert float(schedule(1600)) == pytest.approx(0.1 * 0.2 ** 3)
    mobilenet = training.load_recipe("mobilenet")
    assert mobilenet.optimizer == "rmsprop" and mobilenet.decay_exclude_layers == (
        "DepthwiseConv2D",)
    alexnet = training.load_recipe("alexnet")
    assert (alexnet.batch_size, alexnet.learning_rate, alexnet.weight_decay) == (128, 0.01, 5e-4)


def _smoke(name, tmp_path, *extra):
    recipe = training.load_recipe(name)
    assert recipe.model in kc.list_models(), f"{name}: {recipe.model!r} is not registered"
    out = tmp_path / name
    assert recipe_main(recipe, [*extra, "--smoke", "--out", str(out), "--verbose", "0"]) == 0
    with open(out / "results.json") as f:
        results = json.load(f)
    assert results["smoke"] and results["tiny"] and results["recipe"] == name
    assert results["epochs"] == 2 and results["steps_per_epoch"] == 1
    assert len(results["history"]["loss"]) == 2 and np.isfinite(results["history"]["loss"]).all()
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_smoke(name, tmp_path):
    results = _smoke(name, tmp_path)
    recipe = training.load_recipe(name)
    assert results["model"] == recipe.model
    # the schedule is the recipe's own (e.g. Goyal's 3.2 at batch 8192), on two small steps
    assert results["learning_rate"] == pytest.approx(recipe.peak_learning_rate())
    # SENet freezes BN for its last 5 epochs: all of a 2-epoch smoke run
    assert results["batch_norm_frozen_at"] == (0 if recipe.freeze_bn_epochs else None)


@pytest.mark.slow
def test_alexnet_recipe_trains_any_registry_model(tmp_path):
    results = _smoke("alexnet", tmp_path, "resnet18")
    assert results["model"] == "resnet18" and results["optimizer"] == "sgd"


@pytest.mark.slow
def test_recipe_script_runs_as_a_program(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "recipes", "senet.py"), "seresnext50", "--smoke",
         "--out", str(tmp_path / "senet"), "--verbose", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "trained seresnext50 with recipe senet on digits" in proc.stdout
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "recipes", "senet.py"),
                           "--recipe", "digits"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "this script is the recipe" in proc.stderr
