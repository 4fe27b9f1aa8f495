"""The ``keras-convnets`` command: list, summary, train, port."""

import argparse
import json
import sys


def _format_count(n):
    return "-" if n is None else f"{n:,}"


def cmd_list(args):
    from .registry import get_spec, list_models

    names = list_models(args.pattern, family=args.family)
    if not names:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 1
    rows = [("name", "family", "params", "input", "reference")]
    for name in names:
        spec = get_spec(name)
        params = spec.params
        if params is None and spec.paper_params is not None:
            params_text = f"~{spec.paper_params}M"
        else:
            params_text = _format_count(params)
        rows.append((name, spec.family, params_text, str(spec.default_size),
                     str(spec.reference)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    return 0


def cmd_summary(args):
    from .flops import count_flops, count_params
    from .registry import get_spec

    spec = get_spec(args.name)
    size = args.input_size or spec.default_size
    classes = args.classes or spec.default_classes
    model = spec.builder(input_shape=(size, size, 3), classes=classes)
    trainable, non_trainable = count_params(model)
    flops = count_flops(model)
    if not args.no_layers:
        model.summary(line_length=110)
    print(f"model:          {spec.name} ({spec.family}) -- {spec.paper.cite()}")
    print(f"input:          {size}x{size}x3, {classes} classes")
    print(f"params:         {trainable:,} trainable + {non_trainable:,} non-trainable "
          f"(BatchNorm statistics) = {trainable + non_trainable:,}")
    print(f"FLOPs:          {flops:,} ({flops / 1e9:.3f} GFLOPs = 2 x {flops / 2e9:.3f} GMACs)")
    if spec.params is not None:
        same = size == spec.default_size and classes == 1000
        note = "" if same else f" (at {spec.default_size}px, 1000 classes)"
        print(f"reference:      {spec.params:,} params, "
              f"{_format_count(spec.flops)} FLOPs{note} -- {spec.reference}")
    return 0


def cmd_train(args):
    from .training.command import run

    run(args)
    return 0


def cmd_port(args):
    from .weights import port

    record = port(args.name, args.source, tag=args.tag, pretrained=not args.random_init,
                  directory=args.out)
    print(json.dumps(record, indent=2))
    print(f"ported {record['source']} onto {record['model']}: max logit difference "
          f"{record['max_logit_difference']:.1e} of the logit scale; saved {record['path']} "
          f"(load it with weights={record['tag']!r})")
    return 0


def cmd_export(args):
    from .export.command import run

    return run(args)


def cmd_benchmark(args):
    from . import benchmark

    results = benchmark.run(
        args.names, against=args.against, batch_size=args.batch_size, repeats=args.repeats,
        image_size=args.image_size, warmup=args.warmup,
        tflite=() if args.no_tflite else benchmark.QUANTIZATIONS, log=lambda message: None)
    for record in results["models"]:
        print(benchmark.format_summary(record))
    if "peak" in results:
        print(f"matmul peak: {results['peak']['gflops']:.1f} GFLOP/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"wrote {args.json}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-convnets",
        description="Classic and modern convolutional networks for Keras 3 on TensorFlow.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("list", help="list the registered models")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'se*'")
    p.add_argument("--family", help="only this family")
    p.set_defaults(func=cmd_list)

    p = commands.add_parser("summary", help="parameters, FLOPs and the layer table of a model")
    p.add_argument("name")
    p.add_argument("--input-size", type=int, help="square input size (default: the model's)")
    p.add_argument("--classes", type=int, help="classifier size (default: the model's)")
    p.add_argument("--no-layers", action="store_true", help="omit the layer table")
    p.set_defaults(func=cmd_summary)

    p = commands.add_parser(
        "train", help="train a model (digits by default, a directory or TFDS), on any strategy")
    from .training.command import add_arguments as add_train_arguments

    add_train_arguments(p)
    p.set_defaults(func=cmd_train)
    p = commands.add_parser(
        "port", help="port timm/torchvision weights onto a model (needs the 'port' extra)")
    p.add_argument("name")
    p.add_argument("--from", dest="source",
                   help="timm:MODEL[.TAG] or torchvision:MODEL (default: the model's reference)")
    p.add_argument("--tag", default="imagenet", help="name to load it by: weights=TAG")
    p.add_argument("--random-init", action="store_true",
                   help="port a randomly initialised reference (no download; for checks)")
    p.add_argument("--out", help="directory (default: the local Keras cache)")
    p.set_defaults(func=cmd_port)

    p = commands.add_parser(
        "export", help="export a model: SavedModel for TF Serving, or a checked TFLite file")
    from .export.command import add_arguments as add_export_arguments

    add_export_arguments(p)
    p.set_defaults(func=cmd_export)

    p = commands.add_parser(
        "benchmark", help="time models against keras.applications or timm/torchvision (CPU)")
    p.add_argument("names", nargs="+", metavar="NAME", help="registered model names")
    p.add_argument("--batch-size", type=int, default=16, help="throughput and training batch")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up calls per measurement")
    p.add_argument("--image-size", type=int, help="square input size (default: the model's)")
    p.add_argument("--against", choices=["keras", "timm", "none"], default="keras",
                   help="reference to compare with (timm: timm/torchvision in a subprocess)")
    p.add_argument("--no-tflite", action="store_true", help="skip TFLite float32/int8 latency")
    p.add_argument("--json", help="write every measurement to this JSON file")
    p.set_defaults(func=cmd_benchmark)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as exc:
        print(f"keras-convnets {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
