"""examples/dense_prediction.py: its canvases' labels are the pasted digits, its mIoU is the
textbook one, and its --smoke run trains and evaluates a DRN-C + context module end to end."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "dense_prediction.py"
sys.path.insert(0, str(ROOT / "examples"))
try:
    import dense_prediction as example
finally:
    sys.path.pop(0)


def test_labels_are_the_pasted_digits_ink(rng):
    size = example.DIGIT
    images = rng.uniform(0, 1, (5, size, size)).astype("float32")
    labels = np.array([3, 0, 9, 3, 7])
    x, y, placements = example.paste_digits(images, labels, 30, rng)
    assert x.shape == (30, 64, 64, 1) and y.shape == (30, 64, 64)
    assert x.dtype == np.float32 and y.dtype == np.int32
    for n, boxes in enumerate(placements):
        low, high = example.DIGITS_PER_CANVAS
        assert low <= len(boxes) <= high
        covered = np.zeros((64, 64), bool)
        for top, left, index in boxes:
            box = (slice(top, top + size), slice(left, left + size))
            assert not covered[box].any()  # the digits do not overlap
            covered[box] = True
            np.testing.assert_array_equal(x[n][box][..., 0], images[index])
            ink = images[index] > example.INK
            np.testing.assert_array_equal(y[n][box], np.where(ink, labels[index] + 1, 0))
        assert not x[n][~covered].any() and not y[n][~covered].any()  # background elsewhere
    assert set(np.unique(y)) == {0} | {d + 1 for d in labels}


def test_mean_iou_of_a_hand_example():
    labels = np.array([[0, 0, 1], [1, 2, 2]])
    predictions = np.array([[0, 1, 1], [1, 2, 0]])
    miou, iou = example.mean_iou(labels, predictions)
    # background: TP 1, FP 1, FN 1; "0" (class 1): TP 2, FP 1; "1" (class 2): TP 1, FN 1
    np.testing.assert_allclose(iou[:3], [1 / 3, 2 / 3, 1 / 2])
    assert np.isnan(iou[3:]).all()  # classes absent from both are left out of the mean
    assert miou == pytest.approx(0.5)
    assert example.mean_iou(labels, labels)[0] == 1.0


def test_smoke_run_trains_and_reports_miou():
    """The script itself, as a user runs it: in a process of its own, where it turns
    TensorFlow's oneDNN kernels off before TensorFlow starts (the test process has them on,
    and TF 2.21's crash on the tiny DRN-C's first shortcut; see the example)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--json"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["context"] == "basic" and result["epochs"] == result["context_epochs"] == 1
    for stage in (result["front_end"], result["with_context"]):
        assert 0.0 <= stage["miou"] <= 1.0 and 0.0 <= stage["pixel_accuracy"] <= 1.0
        assert len(stage["per_class_iou"]) == example.CLASSES
        assert np.isfinite(stage["final_loss"])
    assert result["miou"] == result["with_context"]["miou"]
    assert result["model"] == "drn_c_26_context_basic"


def test_the_network_is_a_stride_8_drn_c_with_the_context_module():
    from keras_convnets.layers import ContextModule

    front_end, full = example.build_models()
    context = full.get_layer("context")
    assert isinstance(context, ContextModule) and context.variant == "basic"
    assert tuple(context.input.shape[1:]) == (8, 8, example.CLASSES)  # stride 8
    assert front_end.output_shape == full.output_shape == (None, 64, 64, example.CLASSES)
    assert full.layers[1].name.startswith("drn_c_26_stem")
    # the two share the front end's layers: training one trains the other
    assert full.get_layer("classifier") is front_end.get_layer("classifier")
    assert len(full.weights) == len(front_end.weights) + len(context.weights)
    assert example.build_models(context="none")[1] is None


def test_bad_arguments_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        example.main(["--epochs", "0"])
    assert exit_info.value.code == 2
    assert "--epochs: must be a positive integer; got '0'" in capsys.readouterr().err
