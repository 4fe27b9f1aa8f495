"""MirroredStrategy on two logical CPU devices, with synchronised BatchNorm, through the main job;
and plain BatchNorm's moving statistics averaged over the replicas.

Logical devices must be configured before TensorFlow initialises, so the training runs in a
fresh process: this file is also that program (``python tests/test_distribute_mirrored.py
--child OUT``), which writes a JSON report the test checks.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: One optimizer step of 16 images (8 per replica) on the tiny WRN-16-8 at 16x16.
JOB = ["wideresnet16_8", "--tiny", "--image-size", "16", "--epochs", "1",
       "--steps-per-epoch", "1", "--batch-size", "16", "--validation-steps", "1",
       "--no-backup", "--verbose", "0"]


@pytest.mark.slow
def test_mirrored_two_logical_cpus_with_sync_batch_norm(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(tmp_path / "report.json") as f:
        report = json.load(f)

    sync = report["mirrored_sync"]
    assert sync["strategy"] == "MirroredStrategy" and sync["replicas"] == 2
    assert report["sync_layers"] > 0 and report["sync_layers"] == report["bn_layers"]
    assert "MirroredStrategy, 2 replica(s)" in report["cli_stdout"]
    assert report["logical_cpus"] == 2  # made by the command itself

    # Sync BN normalises each replica's 8 images with the statistics of all 16, as one process
    # does: the loss of the step is the same, and the weights after it are far closer to the
    # one-process weights than plain (per-replica) BN's are.
    assert sync["history"]["loss"][0] == pytest.approx(report["single"]["history"]["loss"][0],
                                                       rel=1e-5)
    plain_loss = report["mirrored_plain"]["history"]["loss"][0]
    assert plain_loss != pytest.approx(report["single"]["history"]["loss"][0], rel=1e-5)
    assert report["sync_distance"] < 1e-3
    assert report["sync_distance"] * 10 < report["plain_distance"]

    # Plain BN: each replica's moving statistics follow its own 8 images and drift apart;
    # AverageMovingStatistics (which the job adds) makes every copy their mean.
    averaged = report["averaged"]
    assert averaged["spread_before"] > 1e-4, averaged
    assert averaged["spread_after"] == 0.0 and averaged["error_from_mean"] < 1e-6, averaged


def _child(out):
    import contextlib
    import io

    from keras_convnets import cli, training
    from keras_convnets.backend import keras, tf

    # Nothing configures devices beforehand (no TensorFlow op may run before the command):
    # `--strategy mirrored --devices 2` makes the two logical CPUs itself, as in a plain
    # `keras-convnets train` process.

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main(["train", *JOB, "--strategy", "mirrored", "--devices", "2", "--norm",
                         "sync_batch", "--out", os.path.join(out, "sync")])
    assert code == 0, stdout.getvalue()
    with open(os.path.join(out, "sync", "results.json")) as f:
        sync = json.load(f)
    common = dict(tiny=True, image_size=16, epochs=1, steps_per_epoch=1, batch_size=16,
                  validation_steps=1, backup=False, verbose=0)
    # the same MirroredStrategy object as the CLI run: strategies are made once per process
    plain = training.train("wideresnet16_8", strategy="mirrored", devices=2, norm="batch",
                           out_dir=os.path.join(out, "plain"), **common)
    single = training.train("wideresnet16_8", strategy="default", norm="sync_batch",
                            out_dir=os.path.join(out, "single"), **common)

    def weights(results):
        return keras.models.load_model(results["model_path"]).get_weights()

    def distance(a, b):
        return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))

    sync_model = keras.models.load_model(sync["model_path"])
    from keras_convnets.training.callbacks import batch_norm_layers

    layers = batch_norm_layers(sync_model)
    reference = weights(single)
    report = {
        "mirrored_sync": sync, "mirrored_plain": plain, "single": single,
        "cli_stdout": stdout.getvalue(),
        "logical_cpus": len(tf.config.list_logical_devices("CPU")),
        "bn_layers": len(layers), "sync_layers": sum(bool(layer.synchronized) for layer in layers),
        "sync_distance": distance(sync_model.get_weights(), reference),
        "plain_distance": distance(weights(plain), reference),
    }
    report["averaged"] = _average_moving_statistics()
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)


def _average_moving_statistics():
    """The replicas' copies of every moving statistic before and after the callback."""
    import keras_convnets as kc
    from keras_convnets.training import AverageMovingStatistics, distribute

    strategy = distribute.strategy("mirrored", devices=2)  # the job's, made once per process
    with strategy.scope():
        model = kc.WideResNet16_8.tiny(input_shape=(16, 16, 3), norm="batch")
        model.compile(optimizer=kc.keras.optimizers.SGD(0.1),
                      loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    images = rng.random((16, 16, 16, 3)).astype("float32")
    images[8:] *= 3.0  # the second replica's shard has other statistics
    model.fit(images, rng.integers(0, 10, 16), batch_size=16, epochs=1, verbose=0,
              shuffle=False)

    def copies():
        return [np.stack([c.numpy() for c in v.value.values])
                for v in model.non_trainable_weights]

    before = copies()
    callback = AverageMovingStatistics(strategy)
    callback.set_model(model)
    callback.synchronize()
    after = copies()
    return {
        "spread_before": max(float(np.ptp(c, axis=0).max()) for c in before),
        "spread_after": max(float(np.ptp(c, axis=0).max()) for c in after),
        "error_from_mean": max(float(np.abs(a[0] - b.mean(axis=0)).max())
                               for a, b in zip(after, before)),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2])
