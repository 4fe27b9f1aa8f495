"""Classify images with a model served by TensorFlow Serving's REST API -- standard library only.

The model is a SavedModel from ``keras-convnets export MODEL --format saved_model``; its
``serving_default`` signature takes uint8 RGB images of any size (it resizes and preprocesses
them itself), so the client sends raw pixels::

    python examples/serving_rest_client.py --model resnet18 photo.ppm
    python examples/serving_rest_client.py --model resnet18 --random 57x91 --dry-run

Images are binary PPM files (``P6``, 8-bit RGB: ``convert photo.jpg photo.ppm`` with ImageMagick,
or ``Image.open(...).save("photo.ppm")`` with Pillow), read here without any image library, or
random pixels (``--random HxW``). All images of one request must have the same size; send
different sizes in separate requests. See docs/serving.md.
"""

import argparse
import json
import random
import sys
import urllib.error
import urllib.request


def read_ppm(path):
    """A binary PPM (P6, maxval <= 255) as nested lists ``[height][width][3]`` of ints."""
    with open(path, "rb") as f:
        data = f.read()
    fields, position = [], 0
    while len(fields) < 4:  # magic, width, height, maxval; '#' starts a comment
        while position < len(data) and data[position:position + 1].isspace():
            position += 1
        if data[position:position + 1] == b"#":
            position = data.index(b"\n", position) + 1
            continue
        end = position
        while end < len(data) and not data[end:end + 1].isspace():
            end += 1
        fields.append(data[position:end])
        position = end
    if fields[0] != b"P6" or int(fields[3]) > 255:
        raise ValueError(f"{path}: not an 8-bit binary PPM (P6) file")
    width, height = int(fields[1]), int(fields[2])
    pixels = data[position + 1:position + 1 + width * height * 3]
    if len(pixels) != width * height * 3:
        raise ValueError(f"{path}: truncated PPM data")
    return [[list(pixels[(y * width + x) * 3:(y * width + x) * 3 + 3]) for x in range(width)]
            for y in range(height)]


def random_image(size, seed=0):
    try:
        height, width = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--random must be HxW, e.g. 57x91; got {size!r}")
    rng = random.Random(seed)
    return [[[rng.randrange(256) for _ in range(3)] for _ in range(width)] for _ in range(height)]


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", help="binary PPM (P6) files of the same size")
    parser.add_argument("--random", metavar="HxW", help="send one random image of this size")
    parser.add_argument("--model", required=True, help="the served MODEL_NAME")
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=8501, help="REST port (default 8501)")
    parser.add_argument("--version", type=int, help="a specific model version")
    parser.add_argument("--signature", default="serving_default",
                        help="serving_default (uint8 images of any size, default) or "
                             "predict_raw (float32 at the model's input size, preprocessed: "
                             "the pixels are sent as they are, 0-255)")
    parser.add_argument("--labels", help="a text file with one class name per line")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the URL and request size instead of sending it")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not args.images and not args.random:
        print("give image files or --random HxW", file=sys.stderr)
        return 2
    instances = [read_ppm(path) for path in args.images]
    if args.random:
        instances.append(random_image(args.random))
    sizes = {(len(image), len(image[0])) for image in instances}
    if len(sizes) > 1:
        print(f"all images of one request must have one size; got {sorted(sizes)}",
              file=sys.stderr)
        return 2
    version = f"/versions/{args.version}" if args.version else ""
    url = f"http://{args.host}:{args.port}/v1/models/{args.model}{version}:predict"
    body = json.dumps({"signature_name": args.signature, "instances": instances}).encode()
    if args.dry_run:
        height, width = sizes.pop()
        print(f"POST {url} ({len(body):,} bytes, {len(instances)} image(s) of "
              f"{height}x{width})")
        return 0
    request = urllib.request.Request(url, data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            predictions = json.load(response)["predictions"]
    except urllib.error.HTTPError as exc:
        print(f"{url}: HTTP {exc.code}: {exc.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"{url}: {exc.reason} (is tensorflow/serving running?)", file=sys.stderr)
        return 1
    labels = None
    if args.labels:
        with open(args.labels) as f:
            labels = [line.strip() for line in f]
    names = list(args.images) + ([f"random {args.random}"] if args.random else [])
    for name, prediction in zip(names, predictions):
        # With several outputs, each prediction is a dict of them.
        classes, scores = prediction["top_k_classes"], prediction["top_k_scores"]
        best = ", ".join(f"{labels[c] if labels else c}: {s:.3f}" for c, s in zip(classes, scores))
        print(f"{name}: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
