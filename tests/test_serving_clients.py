"""The serving clients in examples/, end to end against tests/serving_server.py: a stand-in for
TF Serving's model server built on tensorflow-serving-api's protocol definitions and serving our
exported SavedModel (what it does not emulate: its docstring, docs/serving.md)."""

import json
import os
import pathlib
import random
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("tensorflow_serving.apis", reason="tensorflow-serving-api is not installed")

import keras_convnets as kc  # noqa: E402
from keras_convnets.backend import tf  # noqa: E402

import serving_server  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
GRPC_CLIENT = ROOT / "examples" / "serving_grpc_client.py"
REST_CLIENT = ROOT / "examples" / "serving_rest_client.py"
TOP_K = {1: 3, 2: 2}  # two versions, told apart by their top_k
NO_PROXY = {"no_proxy": "*", "NO_PROXY": "*"}


@pytest.fixture(scope="module")
def served(tmp_path_factory, seeded):
    """A tiny ResNet-18 (32x32, 4 classes) exported as <base>/r18/1 and /2 (top_k 3 and 2),
    served over gRPC and REST; ``expected(version, signature, images)`` is what the SavedModel,
    loaded here, computes."""
    base = tmp_path_factory.mktemp("serving")
    with seeded(0):
        model = kc.ResNet18.tiny(input_shape=(32, 32, 3), classes=4)
    loaded = {version: tf.saved_model.load(kc.export.saved_model(
        model, base, name="r18", version=version, top_k=top_k))
        for version, top_k in TOP_K.items()}

    def expected(version, signature, images):
        out = loaded[version].signatures[signature](images=tf.constant(images))
        return out["top_k_classes"].numpy(), out["top_k_scores"].numpy()

    models = serving_server.Models(base)
    with serving_server.GrpcServer(base, models) as grpc_server, \
            serving_server.RestServer(base, models) as rest_server:
        yield grpc_server.port, rest_server.port, models, expected


def _environment():
    """This environment without proxies, which would take 127.0.0.1 elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return {**env, **NO_PROXY, "TF_CPP_MIN_LOG_LEVEL": "3"}


def run_client(client, *args):
    return subprocess.run([sys.executable, str(client), *map(str, args)], capture_output=True,
                          text=True, timeout=120, env=_environment())


def check_printed(stdout, names, classes, scores):
    """The clients print ``NAME: class: score, ...`` per image, best first."""
    lines = stdout.strip().splitlines()
    assert len(lines) == len(names), stdout
    for line, name, best_classes, best_scores in zip(lines, names, classes, scores):
        assert line.startswith(f"{name}: "), line
        printed = re.findall(r"(\d+): (\d+\.\d{3})", line[len(name) + 2:])
        assert [int(c) for c, _ in printed] == best_classes.tolist(), line
        np.testing.assert_allclose([float(s) for _, s in printed], best_scores, atol=5.1e-4)


def unused_port():
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def last_request(models):
    name, version, signature, inputs = models.requests[-1]
    assert list(inputs) == ["images"]
    return name, version, signature, inputs["images"]


# -- gRPC ---------------------------------------------------------------------------------------
def grpc_random(height, width):
    """The gRPC client's --random image: NumPy's default_rng(0)."""
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), "uint8")


def test_grpc_client_end_to_end(served):
    """The example as a user runs it: one random image to the newest version."""
    grpc_port, _, models, expected = served
    result = run_client(GRPC_CLIENT, "--model", "r18", "--host", "127.0.0.1", "--port",
                        grpc_port, "--random", "57x91")
    assert result.returncode == 0, result.stderr[-3000:]
    name, version, signature, images = last_request(models)
    assert (name, version, signature) == ("r18", 2, "serving_default")
    np.testing.assert_array_equal(images, grpc_random(57, 91)[None])
    check_printed(result.stdout, ["random 57x91"], *expected(2, "serving_default", images))


@pytest.fixture
def grpc_client(monkeypatch):
    """The gRPC client's main(), run in this process (no second TensorFlow import)."""
    for key in list(os.environ):
        if key.lower().endswith("_proxy"):
            monkeypatch.delenv(key)
    for key, value in NO_PROXY.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(GRPC_CLIENT.parent))
    import serving_grpc_client

    return serving_grpc_client.main


def test_grpc_client_version_signature_and_errors(served, grpc_client, capsys):
    grpc_port, _, models, expected = served
    address = ["--host", "127.0.0.1", "--port", str(grpc_port)]
    assert grpc_client(["--model", "r18", *address, "--random", "40x20", "--version", "1"]) == 0
    name, version, signature, images = last_request(models)
    assert (name, version, signature) == ("r18", 1, "serving_default")
    np.testing.assert_array_equal(images, grpc_random(40, 20)[None])
    check_printed(capsys.readouterr().out, ["random 40x20"],
                  *expected(1, "serving_default", images))

    # predict_raw: float32 at the model's size (the pixels as they are)
    assert grpc_client(["--model", "r18", *address, "--random", "32x32",
                        "--signature", "predict_raw"]) == 0, capsys.readouterr().err
    images = last_request(models)[3]
    assert images.dtype == np.float32
    np.testing.assert_array_equal(images, grpc_random(32, 32)[None])
    check_printed(capsys.readouterr().out, ["random 32x32"], *expected(2, "predict_raw", images))

    for argv, error in [
            (["--model", "nosuch"], "NOT_FOUND: Servable not found for request: Latest(nosuch)"),
            (["--model", "r18", "--version", "7"],
             "NOT_FOUND: Servable not found for request: Specific(r18, 7)"),
            (["--model", "r18", "--signature", "nope"],
             'FAILED_PRECONDITION: Serving signature key "nope" not found.')]:
        assert grpc_client([*argv, *address, "--random", "8x8"]) == 1
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err == f"127.0.0.1:{grpc_port}: {error}\n"

    closed_port = unused_port()
    assert grpc_client(["--model", "r18", "--host", "127.0.0.1", "--port", str(closed_port),
                        "--random", "8x8", "--timeout", "20"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith(f"127.0.0.1:{closed_port}: UNAVAILABLE: "), captured.err


# -- REST ---------------------------------------------------------------------------------------
def rest_random(height, width):
    """The REST client's --random image: Python's random.Random(0)."""
    rng = random.Random(0)
    return np.array([[[rng.randrange(256) for _ in range(3)] for _ in range(width)]
                     for _ in range(height)], np.uint8)


def write_ppm(path, image):
    height, width, _ = image.shape
    path.write_bytes(b"P6\n# written by the test\n%d %d\n255\n" % (width, height)
                     + image.tobytes())
    return path


def test_rest_client_end_to_end(served, tmp_path):
    _, rest_port, models, expected = served
    address = ["--host", "127.0.0.1", "--port", rest_port]
    pixels = np.random.default_rng(1).integers(0, 256, (2, 24, 40, 3), np.uint8)
    files = [write_ppm(tmp_path / f"image{i}.ppm", image) for i, image in enumerate(pixels)]
    result = run_client(REST_CLIENT, "--model", "r18", *address, *files)
    assert result.returncode == 0, result.stderr
    name, version, signature, images = last_request(models)
    assert (name, version, signature) == ("r18", 2, "serving_default")
    np.testing.assert_array_equal(images, pixels)
    check_printed(result.stdout, [str(f) for f in files], *expected(2, "serving_default", pixels))

    result = run_client(REST_CLIENT, "--model", "r18", *address, "--random", "57x91",
                        "--version", "1")
    assert result.returncode == 0, result.stderr
    assert last_request(models)[1] == 1
    np.testing.assert_array_equal(last_request(models)[3], rest_random(57, 91)[None])
    check_printed(result.stdout, ["random 57x91"],
                  *expected(1, "serving_default", rest_random(57, 91)[None]))

    # predict_raw: JSON numbers become the signature's float32
    result = run_client(REST_CLIENT, "--model", "r18", *address, "--random", "32x32",
                        "--signature", "predict_raw")
    assert result.returncode == 0, result.stderr
    images = rest_random(32, 32)[None].astype(np.float32)
    np.testing.assert_array_equal(last_request(models)[3], images)
    check_printed(result.stdout, ["random 32x32"], *expected(2, "predict_raw", images))


def test_rest_client_errors_are_one_line(served):
    _, rest_port, _, _ = served
    url = f"http://127.0.0.1:{rest_port}/v1/models/nosuch:predict"
    result = run_client(REST_CLIENT, "--model", "nosuch", "--host", "127.0.0.1", "--port",
                        rest_port, "--random", "8x8")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (f'{url}: HTTP 404: {{"error": "Servable not found for request: '
                             f'Latest(nosuch)"}}\n')

    result = run_client(REST_CLIENT, "--model", "r18", "--host", "127.0.0.1", "--port",
                        unused_port(), "--random", "8x8")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "(is tensorflow/serving running?)" in result.stderr


def _post(port, path, payload):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     data=json.dumps(payload).encode())
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_rest_stand_in_speaks_tf_servings_formats(served):
    """The stand-in's columnar format, named row instances and refusals, as TF Serving
    documents them."""
    _, rest_port, _, expected = served
    images = np.random.default_rng(2).integers(0, 256, (2, 9, 7, 3), np.uint8)
    classes, scores = expected(1, "serving_default", images)
    status, answer = _post(rest_port, "/v1/models/r18/versions/1:predict",
                           {"inputs": {"images": images.tolist()}})
    assert status == 200 and sorted(answer) == ["outputs"]
    assert sorted(answer["outputs"]) == ["probabilities", "top_k_classes", "top_k_scores"]
    assert answer["outputs"]["top_k_classes"] == classes.tolist()
    np.testing.assert_allclose(answer["outputs"]["top_k_scores"], scores, rtol=1e-6)

    status, answer = _post(rest_port, "/v1/models/r18:predict",
                           {"instances": [{"images": image} for image in images.tolist()]})
    assert status == 200 and len(answer["predictions"]) == 2
    assert [p["top_k_classes"] for p in answer["predictions"]] == (
        expected(2, "serving_default", images)[0].tolist())

    for path, payload, status, error in [
            ("/v1/models/r18:predict", {"signature_name": "predict_raw",
                                        "instances": images.tolist()}, 400,
             r"^input 'images' has shape \[2, 9, 7, 3\]; the signature takes \(None, 32, 32, 3\)"),
            ("/v1/models/r18:predict", {"instances": [[[[256, 0, 0]]]]}, 400, "not a uint8"),
            ("/v1/models/r18:predict", {"instances": [{"pixels": [[[0, 0, 0]]]}]}, 400,
             r"^input size does not match signature.*Sent extra: \{pixels\}"),
            ("/v1/models/r18:predict", {"images": []}, 400, "Missing 'inputs' or 'instances'"),
            ("/v1/models/r18/versions/3:predict", {"instances": []}, 404,
             r"^Servable not found for request: Specific\(r18, 3\)$"),
            ("/v1/models/r18/labels/stable:predict", {"instances": []}, 400, "Malformed")]:
        got_status, answer = _post(rest_port, path, payload)
        assert got_status == status and sorted(answer) == ["error"], (path, answer)
        assert re.search(error, answer["error"]), answer
