"""Full-size networks through the main job on the embedded digits."""

import json
import math

import numpy as np
import pytest

from keras_convnets import cli


@pytest.mark.slow
def test_seresnext50_trains_on_digits_through_the_command(tmp_path, capsys):
    """kc.SEResNeXt50 (full size, 25.5M parameters at 10 classes) through `keras-convnets
    train`, the README's command: two optimizer steps here, one an epoch, with a validation
    batch after each (a full 12-epoch run is far beyond the test budget on two CPU cores)."""
    out_dir = tmp_path / "sx50"
    assert cli.main(["train", "seresnext50", "--epochs", "2", "--steps-per-epoch", "1",
                     "--validation-steps", "1", "--no-backup", "--out", str(out_dir), "--verbose",
                     "0"]) == 0
    results = json.loads((out_dir / "results.json").read_text())
    assert results["model"] == "seresnext50" and not results["tiny"]
    assert results["params"] > 25_000_000
    first, second = results["history"]["loss"]  # one step an epoch: the first one untrained
    assert first < 2 * math.log(10) and np.isfinite(second), (first, second)  # chance: ln 10
    assert (out_dir / "seresnext50.keras").exists()
    assert "trained seresnext50 with recipe digits on digits" in capsys.readouterr().out
