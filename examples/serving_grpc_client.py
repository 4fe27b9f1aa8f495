"""Classify images with a model served by TensorFlow Serving over gRPC.

Needs ``pip install tensorflow-serving-api`` (it brings ``grpcio`` and TensorFlow), imported only
when a request is sent, so ``--help`` works without it. The model is a SavedModel from
``keras-convnets export MODEL --format saved_model``; its ``serving_default`` signature takes
uint8 RGB images of any size (one size per request), so the client sends decoded pixels::

    python examples/serving_grpc_client.py --model resnet18 photo.jpg
    python examples/serving_grpc_client.py --model resnet18 --random 57x91

gRPC carries tensors as ``TensorProto``s: smaller and faster than REST's JSON for images. See
docs/serving.md.
"""

import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", help="JPEG/PNG/BMP/GIF files of the same size")
    parser.add_argument("--random", metavar="HxW", help="send one random image of this size")
    parser.add_argument("--model", required=True, help="the served MODEL_NAME")
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (default 8500)")
    parser.add_argument("--version", type=int, help="a specific model version")
    parser.add_argument("--signature", default="serving_default",
                        help="serving_default (uint8 images of any size, default) or "
                             "predict_raw (float32 at the model's input size, preprocessed: "
                             "the pixels are sent as they are, 0-255)")
    parser.add_argument("--labels", help="a text file with one class name per line")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds")
    return parser


def _images(args):
    import numpy as np
    import tensorflow as tf

    images = [tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
              .numpy() for path in args.images]
    if args.random:
        height, width = (int(v) for v in args.random.lower().split("x"))
        images.append(np.random.default_rng(0).integers(0, 256, (height, width, 3), "uint8"))
    sizes = {image.shape for image in images}
    if len(sizes) > 1:
        raise ValueError(f"all images of one request must have one size; got {sorted(sizes)}")
    return np.stack(images).astype("uint8")


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not args.images and not args.random:
        print("give image files or --random HxW", file=sys.stderr)
        return 2
    try:
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    except ImportError as exc:
        print(f"{exc}: this client needs `pip install tensorflow-serving-api`", file=sys.stderr)
        return 1
    try:
        batch = _images(args)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = args.model
    request.model_spec.signature_name = args.signature
    if args.version:
        request.model_spec.version.value = args.version
    if args.signature == "predict_raw":  # its input is float32: the server does not convert
        batch = batch.astype("float32")
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(batch))  # [n, h, w, 3]

    channel = grpc.insecure_channel(f"{args.host}:{args.port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
        response = stub.Predict(request, timeout=args.timeout)
    except grpc.RpcError as exc:
        print(f"{args.host}:{args.port}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    classes = tf.make_ndarray(response.outputs["top_k_classes"])
    scores = tf.make_ndarray(response.outputs["top_k_scores"])
    labels = None
    if args.labels:
        with open(args.labels) as f:
            labels = [line.strip() for line in f]
    names = list(args.images) + ([f"random {args.random}"] if args.random else [])
    for name, best_classes, best_scores in zip(names, classes, scores):
        best = ", ".join(f"{labels[c] if labels else c}: {s:.3f}"
                         for c, s in zip(best_classes, best_scores))
        print(f"{name}: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
