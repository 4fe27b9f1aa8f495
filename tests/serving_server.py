"""A stand-in for TensorFlow Serving's model server, for the serving-client tests.

A test double, not a model server. It serves the SavedModels under ``<base>/<name>/<version>/``
(what ``kc.export.saved_model`` writes) on 127.0.0.1 over:

- gRPC: ``PredictionService.Predict`` from tensorflow-serving-api's own protocol definitions
  (``prediction_service_pb2_grpc``): the ``model_spec`` (name, optional version,
  ``signature_name``, default ``serving_default``) picks the signature, whose named inputs are
  the request's ``TensorProto``s (``tf.make_ndarray``), and the outputs (``output_filter``
  honoured) come back as ``TensorProto``s (``tf.make_tensor_proto``) with the resolved
  ``model_spec``;
- REST: ``POST /v1/models/<name>[/versions/<v>]:predict`` as TF Serving documents it:
  ``{"signature_name", "instances"}`` (row format: one entry per batch item, a value for a
  single-input signature or an object of named inputs) answered with ``{"predictions": [...]}``
  (per item, an object of named outputs where the signature has several), or
  ``{"signature_name", "inputs"}`` (columnar) answered with ``{"outputs": ...}``; JSON numbers
  become the signature input's dtype, as the model server converts them.

The highest numeric version is served unless the request names one; other directory names
(an export's ``.1.partial-*`` staging directory) are ignored. Errors carry TF Serving's status
codes and wording: an unknown model or version is ``NOT_FOUND`` ("Servable not found for
request: Latest(name)" / "Specific(name, v)"), an unknown signature ``FAILED_PRECONDITION``,
wrong input names, dtypes or shapes ``INVALID_ARGUMENT``; over REST they are
``{"error": "..."}`` with TF Serving's HTTP mapping (404 for NOT_FOUND, 400 for the others).
Every request's input arrays are recorded in ``.requests`` for the tests to check.

Not emulated: the real server's model loading and unloading policies, version polling and
reload, request batching, warm-up, model config files and version labels, ``Classify`` /
``Regress`` / ``MultiInference`` / ``GetModelMetadata`` and the REST status and metadata
endpoints, base64 ``{"b64": ...}`` binary values, TLS, monitoring, and its C++ tensor and
JSON conversion (float formatting, overflow checks) beyond what the clients exercise.
"""

import concurrent.futures
import http.server
import json
import os
import re
import socketserver
import threading

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

DEFAULT_SIGNATURE = "serving_default"
_REST_PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?:predict$")


def _dtype_name(dtype):
    """TensorFlow's C++ name of a dtype, as in its messages: "float", "uint8"."""
    return types_pb2.DataType.Name(tf.as_dtype(dtype).as_datatype_enum)[3:].lower()


class ServingError(Exception):
    """A request TF Serving would refuse: ``code`` is the gRPC status code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Models:
    """The SavedModels under ``base``, loaded on first use, and Predict on them."""

    def __init__(self, base):
        self.base = os.fspath(base)
        self.requests = []  # (model, version, signature, {input name: np.ndarray})
        self._loaded = {}
        self._lock = threading.Lock()

    def _versions(self, name):
        directory = os.path.join(self.base, name)
        if not os.path.isdir(directory):
            return []
        return sorted(int(v) for v in os.listdir(directory)
                      if v.isdigit() and os.path.isdir(os.path.join(directory, v)))

    def resolve(self, name, version=None):
        """``(version, signatures)`` of the served model, or NOT_FOUND."""
        versions = self._versions(name)
        if version is None and versions:
            version = versions[-1]
        elif version not in versions:
            wanted = "Latest(%s)" % name if version is None else "Specific(%s, %d)" % (
                name, version)
            raise ServingError(grpc.StatusCode.NOT_FOUND,
                               f"Servable not found for request: {wanted}")
        with self._lock:
            if (name, version) not in self._loaded:
                path = os.path.join(self.base, name, str(version))
                self._loaded[name, version] = tf.saved_model.load(path)
        return version, self._loaded[name, version].signatures

    def predict(self, name, version, signature_name, inputs, output_filter=(), convert=False):
        """Runs the signature; ``inputs`` maps names to arrays (``convert``: JSON values, cast
        to the input's dtype). Returns ``(version, {output name: np.ndarray})``."""
        version, signatures = self.resolve(name, version)
        signature_name = signature_name or DEFAULT_SIGNATURE
        if signature_name not in signatures:
            raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                               f'Serving signature key "{signature_name}" not found.')
        function = signatures[signature_name]
        specs = function.structured_input_signature[1]
        if set(inputs) != set(specs):
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input size does not match signature: {len(inputs)}!={len(specs)} "
                f"len({{{','.join(sorted(inputs))}}}) != len({{{','.join(sorted(specs))}}}). "
                f"Sent extra: {{{','.join(sorted(set(inputs) - set(specs)))}}}. Missing but "
                f"required: {{{','.join(sorted(set(specs) - set(inputs)))}}}.")
        arrays = {}
        for position, (alias, spec) in enumerate(sorted(specs.items())):
            value = inputs[alias]
            if convert:
                try:
                    value = np.asarray(value, dtype=spec.dtype.as_numpy_dtype)
                except (TypeError, ValueError, OverflowError) as exc:
                    raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                       f"input {alias!r} is not a {spec.dtype.name} tensor: "
                                       f"{exc}") from None
            if value.dtype != spec.dtype.as_numpy_dtype:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"Expects arg[{position}] to be {_dtype_name(spec.dtype)} "
                                   f"but {_dtype_name(value.dtype)} is provided")
            if not spec.shape.is_compatible_with(value.shape):
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"input {alias!r} has shape {list(value.shape)}; the "
                                   f"signature takes {spec.shape}")
            arrays[alias] = value
        self.requests.append((name, version, signature_name, arrays))
        outputs = function(**{alias: tf.constant(v) for alias, v in arrays.items()})
        unknown = [alias for alias in output_filter if alias not in outputs]
        if unknown:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"output tensor alias not found in signature: {unknown[0]}")
        keep = output_filter or sorted(outputs)
        return version, {alias: outputs[alias].numpy() for alias in keep}


# -- gRPC ---------------------------------------------------------------------------------------
class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, models):
        self.models = models

    def Predict(self, request, context):  # noqa: N802 - the protocol's name
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        try:
            inputs = {alias: tf.make_ndarray(proto) for alias, proto in request.inputs.items()}
            version, outputs = self.models.predict(spec.name, version, spec.signature_name,
                                                   inputs, tuple(request.output_filter))
        except ServingError as exc:
            context.abort(exc.code, str(exc))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = spec.name
        response.model_spec.version.value = version
        response.model_spec.signature_name = spec.signature_name or DEFAULT_SIGNATURE
        for alias, value in outputs.items():
            response.outputs[alias].CopyFrom(tf.make_tensor_proto(value))
        return response


class GrpcServer:
    """``with GrpcServer(base) as server:`` serves on 127.0.0.1:``server.port``."""

    def __init__(self, base, models=None):
        self.models = models or Models(base)
        self._server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            _PredictionService(self.models), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def __enter__(self):
        self._server.start()
        return self

    def __exit__(self, *exc_info):
        self._server.stop(grace=None).wait()


# -- REST ---------------------------------------------------------------------------------------
_HTTP_STATUS = {grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.INVALID_ARGUMENT: 400,
                grpc.StatusCode.FAILED_PRECONDITION: 400}


def _rest_predict(models, name, version, body):
    """The JSON answer to a REST predict request body (bytes)."""
    try:
        request = json.loads(body)
    except ValueError as exc:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"JSON Parse error: {exc}") from None
    if not isinstance(request, dict):
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "the request must be a JSON object")
    if "instances" in request and "inputs" in request:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           "Not both 'inputs' and 'instances' can be specified")
    if "instances" not in request and "inputs" not in request:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing 'inputs' or 'instances' key")
    signature_name = request.get("signature_name", DEFAULT_SIGNATURE)
    _, signatures = models.resolve(name, version)
    if signature_name not in signatures:  # before the inputs can be named
        raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                           f'Serving signature key "{signature_name}" not found.')
    names = sorted(signatures[signature_name].structured_input_signature[1])
    if "instances" in request:  # row format
        instances = request["instances"]
        if not isinstance(instances, list) or not instances:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               "'instances' must be a non-empty list")
        if all(isinstance(i, dict) for i in instances):
            if any(set(i) != set(instances[0]) for i in instances):
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   "all instances must name the same inputs")
            inputs = {alias: [i[alias] for i in instances] for alias in instances[0]}
        elif len(names) == 1:
            inputs = {names[0]: instances}
        else:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"the signature has inputs {names}: each instance must be an "
                               f"object naming them")
    else:  # columnar format
        columns = request["inputs"]
        inputs = columns if isinstance(columns, dict) else (
            {names[0]: columns} if len(names) == 1 else None)
        if inputs is None:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"the signature has inputs {names}: 'inputs' must name them")
    _, outputs = models.predict(name, version, signature_name, inputs, convert=True)
    outputs = {alias: value.tolist() for alias, value in outputs.items()}
    if "inputs" in request:
        return {"outputs": outputs if len(outputs) > 1 else next(iter(outputs.values()))}
    batch = len(next(iter(outputs.values())))
    if len(outputs) == 1:
        return {"predictions": next(iter(outputs.values()))}
    return {"predictions": [{alias: value[i] for alias, value in outputs.items()}
                            for i in range(batch)]}


class _RestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        match = _REST_PATH.match(self.path)
        if not match:
            self._answer(400, {"error": f"Malformed request: POST {self.path}"})
            return
        name, version = match.group(1), match.group(2)
        try:
            answer = _rest_predict(self.server.models, name,
                                   None if version is None else int(version), body)
        except ServingError as exc:
            self._answer(_HTTP_STATUS.get(exc.code, 500), {"error": str(exc)})
        else:
            self._answer(200, answer)

    def log_message(self, *args):  # quiet
        pass


class _HTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def server_bind(self):  # no getfqdn() name lookup
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class RestServer:
    """``with RestServer(base) as server:`` serves on 127.0.0.1:``server.port``."""

    def __init__(self, base, models=None):
        self.models = models or Models(base)
        self._server = _HTTPServer(("127.0.0.1", 0), _RestHandler)
        self._server.models = self.models
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
