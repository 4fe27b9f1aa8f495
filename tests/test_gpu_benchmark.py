"""tools/gpu_benchmark.py: the no-GPU exit, the --dry-run loop on CPU, the budget guard and the
per-family ``jit_compile`` recommendation (no GPU needed for any of them)."""

import importlib.util
import json
import os

import pytest

from keras_convnets.backend import keras, tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tool():
    spec = importlib.util.spec_from_file_location(
        "gpu_benchmark", os.path.join(ROOT, "tools", "gpu_benchmark.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_benchmark = _tool()


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="a GPU is visible")
def test_without_a_gpu_it_exits_early_with_one_line(tmp_path, capsys):
    out, js = tmp_path / "gpu.md", tmp_path / "gpu.json"
    assert gpu_benchmark.main(["--out", str(out), "--json", str(js)]) == 2
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == [gpu_benchmark.NO_GPU]
    assert "no GPU" in printed[0] and "--dry-run" in printed[0]
    assert not out.exists() and not js.exists()


def test_dry_run_runs_the_loop_on_cpu(tmp_path, capsys):
    """One tiny model, one precision (mixed: the policy must be restored afterwards), plain and
    under MirroredStrategy, one step per cell, in this process."""
    out, js = tmp_path / "gpu.md", tmp_path / "gpu.json"
    assert gpu_benchmark.main([
        "--dry-run", "--in-process", "--models", "resnet18", "--sides", "ours",
        "--metrics", "train", "--xla", "off", "--precisions", "mixed_float16",
        "--out", str(out), "--json", str(js)]) == 0
    assert keras.mixed_precision.global_policy().name == "float32"
    results = json.loads(js.read_text())
    assert results["dry_run"] and results["machine"]["gpus"] == []
    cells = results["cells"]
    assert [(c["precision"], c["mirrored"], c["metric"], c["xla"]) for c in cells] == [
        ("mixed_float16", False, "train", False), ("mixed_float16", True, "train", False)]
    for cell in cells:
        assert cell["batch"] == 2 and cell["image_size"] == 32 and cell["calls"] == 1
        assert cell["images_per_s"] > 0 and cell["loss_finite"]
    assert cells[1]["replicas"] == 1
    text = out.read_text()
    assert "**Dry run on CPU**" in text and "MirroredStrategy" in text
    assert "| resnet18 | 2 |" in text
    assert "2 cells measured, 0 skipped" in capsys.readouterr().out


def test_time_limit_skips_the_remaining_cells_and_says_so(tmp_path):
    out, js = tmp_path / "gpu.md", tmp_path / "gpu.json"
    assert gpu_benchmark.main(["--dry-run", "--in-process", "--time-limit", "0", "--models",
                               "resnet50", "seresnext50", "--out", str(out),
                               "--json", str(js)]) == 0
    results = json.loads(js.read_text())
    cells = results["cells"]
    assert cells and all(c["skipped"] == "time limit" for c in cells)
    # resnet50 has a keras twin, seresnext50 none: 2 sides x 2 metrics x 2 XLA vs 1 x 2 x 2,
    # per plain precision; ours' training only, XLA off/on, under MirroredStrategy
    per_precision = 8 + 4 + 2 + 2
    assert len(cells) == 2 * per_precision
    assert len(results["notes"]) == 4 and "time limit" in results["notes"][0]
    text = out.read_text()
    assert f"## Skipped ({len(cells)} cells, time limit)" in text
    assert "not measured" in text


def test_recommendation_per_family_from_the_xla_pairs():
    def cell(model, family, xla, seconds, precision="float32", batch=64, mirrored=False,
             side="ours", metric="train"):
        return {"model": model, "family": family, "side": side, "xla": xla, "batch": batch,
                "metric": metric, "precision": precision, "mirrored": mirrored,
                "median_s": seconds, "compile_s": 30.0 if xla else 5.0,
                "images_per_s": batch / seconds}

    cells = [cell("resnet50", "resnet", False, 0.2), cell("resnet50", "resnet", True, 0.1),
             cell("resnet50", "resnet", False, 0.2, "mixed_float16"),
             cell("resnet50", "resnet", True, 0.2, "mixed_float16"),
             cell("densenet121", "densenet", False, 0.1), cell("densenet121", "densenet", True, 0.2),
             # neither a keras side, inference nor a mirrored pair counts
             cell("densenet121", "densenet", True, 0.01, side="keras"),
             cell("densenet121", "densenet", True, 0.01, metric="infer"),
             cell("densenet121", "densenet", True, 0.01, mirrored=True),
             {"model": "xception", "family": "xception", "side": "ours", "xla": True,
              "batch": 64, "metric": "train", "precision": "float32", "mirrored": False,
              "skipped": "time limit"}]
    results = {"cells": cells, "xla_threshold": 1.05}
    got = gpu_benchmark.recommend(results)
    assert got["resnet"]["jit_compile"] is True and got["resnet"]["pairs"] == 2
    assert got["resnet"]["xla_speedup"] == pytest.approx(2 ** 0.5)
    assert got["densenet"]["jit_compile"] is False
    assert got["densenet"]["xla_speedup"] == pytest.approx(0.5)
    assert got["xception"]["jit_compile"] is None
    results.update(dry_run=False, command="python tools/gpu_benchmark.py", date="today",
                   wall_s=60.0, time_limit_s=480.0, notes=[],
                   machine={"gpus": ["NVIDIA H200"], "tensorflow": "2", "keras": "3",
                            "python": "3.11"})
    text = gpu_benchmark.render(results)
    assert "| resnet | resnet50 | 1.41x (1.00-2.00) | 2 | 25.0 | `True` |" in text
    assert "| densenet | densenet121 | 0.50x (0.50-0.50) | 1 | 25.0 | `False` |" in text
    assert "| xception | xception | - | 0 | - | not measured |" in text
    assert "Dry run" not in text
