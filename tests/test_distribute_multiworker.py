"""Two worker processes on 127.0.0.1 training with MultiWorkerMirroredStrategy through the main
job (Keras' ``model.fit``): identical weights on both workers, the same losses and trained
weights as one process, and a worker killed mid-epoch that resumes from its backup.

Runs under Keras 3 (with the keras-team/keras#20585 fix) and, marked ``legacy``, under
``TF_USE_LEGACY_KERAS=1``. This file is also the worker program: ``python
tests/test_distribute_multiworker.py --worker INDEX --ports P0,P1 --out DIR [--kill-at E:B]
[--norm NORM]``.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

#: Small enough for two busy CPU cores: the tiny WRN-16-8 (sync BN) at 16x16, 2 epochs of 2
#: steps of 16 images (8 per worker), one validation batch.
JOB = dict(model="wideresnet16_8", tiny=True, image_size=16, epochs=2, steps_per_epoch=2,
           batch_size=16, norm="sync_batch", validation_steps=1, seed=0)
WORKER_TIMEOUT = 240
#: The normalisation of the run compared with one process. Group norm has no batch statistics,
#: so the two runs agree to float rounding (1e-4 of the update after 4 steps). With sync BN
#: they part at the first update already (0.7 % of it; two mirrored replicas in one process
#: part the same way), which a weights check could not tell from a real error; the killed-
#: worker run keeps sync BN.
NORM = "group"
#: What a worker whose gRPC port was taken prints before it exits.
PORT_TAKEN = "Could not start gRPC server"


def _free_ports(count):
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _log_path(out, index):
    return str(out) + f".worker{index}.log"


def _launch(out, ports, index, options):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.pop("TF_CONFIG", None)
    command = [sys.executable, os.path.abspath(__file__), "--worker", str(index), "--ports",
               ",".join(map(str, ports)), "--out", str(out), *options]
    log = open(_log_path(out, index), "ab")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _log_tail(out, index, lines=25, since=0):
    with open(_log_path(out, index), "rb") as f:
        f.seek(since)
        return "".join(f.read().decode(errors="replace").splitlines(True)[-lines:])


def _log_size(out, index):
    path = _log_path(out, index)
    return os.path.getsize(path) if os.path.exists(path) else 0


def _wait(procs, out, timeout=WORKER_TIMEOUT):
    deadline = time.monotonic() + timeout
    codes = []
    for index, proc in enumerate(procs):
        try:
            codes.append(proc.wait(timeout=max(1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail(f"worker {index} did not finish in {timeout}s:\n{_log_tail(out, index)}")
    return codes


def _results(out):
    with open(os.path.join(out, "results.json")) as f:
        chief = json.load(f)
    with open(os.path.join(out, "workers", "worker-1", "results.json")) as f:
        other = json.load(f)
    return chief, other


def _model(path):
    import keras_convnets.training  # noqa: F401 - registers the optimizer and schedule
    from keras_convnets.backend import keras

    return keras.models.load_model(path)


def _trainable(model):
    return [np.array(w) for w in model.trainable_weights]


def _assert_identical(out):
    chief = _model(os.path.join(out, "wideresnet16_8.keras")).get_weights()
    other = _model(os.path.join(out, "workers", "worker-1", "wideresnet16_8.keras")).get_weights()
    assert len(chief) == len(other) > 0
    for a, b in zip(chief, other):
        np.testing.assert_array_equal(a, b)
    return chief


def _listening(proc, port):
    try:
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
                   for c in psutil.Process(proc.pid).net_connections("tcp"))
    except psutil.NoSuchProcess:
        return False


def _run_cluster(out, kill_at=None, norm=None, attempts=3):
    """Starts the two workers; returns them once each one's gRPC server holds its port.

    The ports are picked by binding port 0 and closing the sockets, so another process may
    take one before its worker binds it, seconds later (after importing TensorFlow). Holding
    the sockets until the workers start (SO_REUSEADDR) would only narrow that window, and a
    held socket cannot be shared: TF's gRPC server binds without SO_REUSEPORT. So the start
    is checked instead: a worker that lost its port exits ("Could not start gRPC server")
    before anything is written, and then the whole cluster starts again on fresh ports.
    """
    options = ["--norm", norm] if norm else []
    for _ in range(attempts):
        ports, logs = _free_ports(2), [_log_size(out, i) for i in (0, 1)]
        procs = [_launch(out, ports, 0, options),
                 _launch(out, ports, 1, options + (["--kill-at", kill_at] if kill_at else []))]
        deadline = time.monotonic() + WORKER_TIMEOUT
        while not all(_listening(p, port) for p, port in zip(procs, ports)):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                break
            time.sleep(0.2)
        else:
            return procs
        for p in procs:
            p.kill()
            p.wait()
        tails = [_log_tail(out, i, since=logs[i]) for i in (0, 1)]
        if not any(PORT_TAKEN in tail for tail in tails):
            pytest.fail("the workers did not start:\n" + "\n".join(tails))
    pytest.fail(f"a worker lost its port to another process {attempts} times")


@pytest.mark.slow
@pytest.mark.legacy
def test_two_workers_end_identical_and_match_one_process(tmp_path):
    from keras_convnets import USE_LEGACY_KERAS, training
    from keras_convnets.backend import keras

    out = tmp_path / "cluster"
    codes = _wait(_run_cluster(out, norm=NORM), out)  # 2 epochs of 2 SGD steps
    assert codes == [0, 0], [_log_tail(out, i) for i in (0, 1)]
    chief, other = _results(out)
    for i, results in enumerate((chief, other)):
        assert results["strategy"] == "MultiWorkerMirroredStrategy"
        assert (results["worker"], results["workers"], results["replicas"]) == (i, 2, 2)
        assert results["first_epoch"] == 0
        # Keras 3 needs (and gets) both parts of the #20585 fix; legacy Keras needs none.
        expected = [] if USE_LEGACY_KERAS else ["reduce_per_replica", "symbolic_build"]
        assert results["multiworker_fix"] == expected
    assert chief["test_loss"] == other["test_loss"]
    weights = _assert_identical(out)

    # One process on the same global batches, from the same initial weights (the same seed),
    # takes the same 4 SGD steps: gradients are averaged over the two workers (summed, every
    # update would double) and the step outputs are averaged (not summed, not reduced along
    # an axis) over the replicas.
    class InitialWeights(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.weights = _trainable(self.model)

    initial = InitialWeights()
    single = training.train(**dict(JOB, norm=NORM), strategy="default", backup=False,
                            callbacks=[initial], out_dir=str(tmp_path / "single"), verbose=0)
    np.testing.assert_allclose(chief["history"]["loss"], single["history"]["loss"], rtol=1e-5)
    np.testing.assert_allclose(chief["history"]["accuracy"], single["history"]["accuracy"],
                               atol=1e-6)
    moved, error = [], []
    for start, alone, together in zip(initial.weights, _trainable(_model(single["model_path"])),
                                      _trainable(_model(chief["model_path"]))):
        moved.append((alone - start).ravel())
        error.append((together - alone).ravel())
    moved, error = np.linalg.norm(np.concatenate(moved)), np.linalg.norm(np.concatenate(error))
    assert error < 1e-3 * moved, (error, moved)  # doubled updates: error ~ moved
    assert np.isfinite(np.concatenate([w.ravel() for w in weights])).all()


@pytest.mark.slow
@pytest.mark.legacy
def test_killed_worker_resumes_from_its_backup(tmp_path):
    """With plain BatchNorm (each worker normalises its own shard): the moving statistics are
    averaged over the workers at every epoch end, so backups and saved models are identical
    on both workers, after the resumed run too."""
    from keras_convnets import USE_LEGACY_KERAS

    out = tmp_path / "cluster"
    # worker 1 dies at epoch 1 (0-based), batch 1
    procs = _run_cluster(out, kill_at="1:1", norm="batch")
    try:
        assert procs[1].wait(timeout=WORKER_TIMEOUT) == -signal.SIGKILL, _log_tail(out, 1)
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail(f"worker 1 was not killed:\n{_log_tail(out, 1)}")
    # The survivor is stuck in (or fails out of) a collective with a dead peer; a cluster
    # manager restarts every worker of a MultiWorkerMirroredStrategy job, so do that.
    try:
        procs[0].wait(timeout=5)
    except subprocess.TimeoutExpired:
        procs[0].kill()
        procs[0].wait()

    # Both backups hold the end of epoch 0 (epoch 1 was lost).
    if USE_LEGACY_KERAS:
        # tf_keras: the chief's checkpoint, which every worker restores
        assert list((out / "backup").rglob("ckpt-*.index"))
    else:
        for i in (0, 1):
            with open(out / "backup" / f"worker-{i}" / "training_metadata.json") as f:
                assert json.load(f)["epoch"] == 1
    assert not (out / "results.json").exists()

    codes = _wait(_run_cluster(out, norm="batch"), out)
    assert codes == [0, 0], [_log_tail(out, i) for i in (0, 1)]
    for results in _results(out):
        assert results["first_epoch"] == 1  # resumed at the epoch it lost, not from scratch
        assert results["epochs"] == JOB["epochs"]
    _assert_identical(out)  # every weight, the moving statistics included
    model = _model(os.path.join(out, "wideresnet16_8.keras"))
    variances = [np.array(w) for w in model.non_trainable_weights if "variance" in w.name]
    assert variances and not all(np.allclose(v, 1.0) for v in variances)  # they did move
    assert not (out / "backup").exists() or not any((out / "backup").rglob("*.h5"))


# -- the worker program ----------------------------------------------------------------------------
def _worker(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--ports", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--kill-at", help="EPOCH:BATCH (0-based) at which to SIGKILL itself")
    parser.add_argument("--norm", default=JOB["norm"])
    args = parser.parse_args(argv)
    hosts = [f"127.0.0.1:{p}" for p in args.ports.split(",")]
    os.environ["TF_CONFIG"] = json.dumps(
        {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": args.worker}})

    from keras_convnets import training
    from keras_convnets.backend import keras

    class KillAt(keras.callbacks.Callback):
        def __init__(self, epoch, batch):
            super().__init__()
            self.target, self.epoch = (epoch, batch), None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if (self.epoch, batch) == self.target:
                print(f"killing worker {args.worker} at epoch {self.epoch}, batch {batch}",
                      flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

    callbacks = []
    if args.kill_at:
        epoch, batch = (int(v) for v in args.kill_at.split(":"))
        callbacks.append(KillAt(epoch, batch))
    results = training.train(**dict(JOB, norm=args.norm), strategy="multi_worker",
                             out_dir=args.out, verbose=2, callbacks=callbacks)
    print(training.summary_line(results), flush=True)


if __name__ == "__main__":
    _worker(sys.argv[1:])
