"""The ``keras-convnets`` command: list, summary, train, port, export, benchmark, search.

``--help`` and ``list`` answer without starting TensorFlow (``list`` reads the registry's index,
``model_index.json``); the other commands load it with its C++ start-up lines (oneDNN, CUDA
probing, "failed call to cuInit" on machines without a GPU) held back -- shown only if loading
fails, or always with ``keras-convnets --verbose``.
"""

import argparse
import contextlib
import json
import os
import shlex
import sys
import tempfile

COMMANDS = ("list", "summary", "train", "port", "export", "benchmark", "search")


def _format_count(n):
    return "-" if n is None else f"{n:,}"


def _model_index():
    import fnmatch  # noqa: PLC0415
    import importlib.resources  # noqa: PLC0415

    from .registry import INDEX_FILE  # noqa: PLC0415 - the registry module imports no Keras

    return json.loads(importlib.resources.files(__package__).joinpath(INDEX_FILE).read_text()), \
        fnmatch.fnmatchcase


def cmd_list(args):
    rows, matches = _model_index()
    pattern = args.pattern.lower()
    rows = [row for row in rows if matches(row["name"], pattern)
            and (args.family is None or row["family"] == args.family)]
    if not rows:
        print(f"no model matches {args.pattern!r}"
              + (f" in family {args.family!r}" if args.family else ""), file=sys.stderr)
        return 1
    table = [("name", "family", "params", "input", "reference")]
    for row in rows:
        if row["params"] is None and row["paper_params"] is not None:
            params_text = f"~{row['paper_params']}M"
        else:
            params_text = _format_count(row["params"])
        table.append((row["name"], row["family"], params_text, str(row["default_size"]),
                      row["reference"]))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
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


def _report_peak_and_save(results, json_path):
    """The benchmark's closing lines: the theoretical FP32 peak, and the JSON file if asked."""
    if "fp32_peak" in results:
        print(f"theoretical FP32 peak: {results['fp32_peak']['gflops']:.1f} GFLOP/s "
              f"({results['fp32_peak']['formula']})")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=1)
        print(f"wrote {json_path}")
    return 0


def cmd_benchmark(args):
    from . import benchmark

    if args.input_pipeline:
        return _benchmark_input_pipeline(args)
    if not args.names:
        raise ValueError("`benchmark` needs at least one model NAME (or --input-pipeline).")
    results = benchmark.run(
        args.names, against=args.against, batch_size=args.batch_size, repeats=args.repeats,
        image_size=args.image_size, warmup=args.warmup,
        tflite=() if args.no_tflite else benchmark.QUANTIZATIONS, log=lambda message: None)
    for record in results["models"]:
        print(benchmark.format_summary(record))
    if "peak" in results:
        print(f"matmul peak: {results['peak']['gflops']:.1f} GFLOP/s")
    return _report_peak_and_save(results, args.json)


def _benchmark_input_pipeline(args):
    from . import benchmark

    if len(args.names) > 1:
        raise ValueError(f"`benchmark --input-pipeline` trains one model; got {args.names}.")
    results = benchmark.run_input_pipeline(
        args.names[0] if args.names else "resnet50", image_size=args.image_size or 224,
        batch_size=args.batch_size, augment=args.augment, images=args.images,
        classes=args.classes, directory=args.dataset, batches=args.pipeline_batches,
        repeats=args.repeats, warmup=args.warmup, log=lambda message: None)
    print(benchmark.format_input_pipeline(results["input_pipeline"]))
    return _report_peak_and_save(results, args.json)


def cmd_search(args):
    from .search import darts

    result = darts.search(
        epochs=args.epochs, seed=args.seed, filters=args.filters, cells=args.cells,
        batch_size=args.batch_size, image_size=args.image_size, limit=args.limit,
        output=args.output or (None if args.out_dir else "genotype.json"),
        out_dir=args.out_dir, verbose=args.verbose)
    epochs = f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}"
    print(f"searched {epochs} in {result.seconds:.0f} s; wrote {result.output}"
          + (f" (and search.json in {args.out_dir})" if args.out_dir else "")
          + f"; build its network with kc.get_model('darts_cifar', "
          f"genotype={result.output!r}, classes=10, input_shape=(32, 32, 3))")
    return 0


def _named_command(argv):
    """The command ``argv`` names (its first word that is one), or None."""
    return next((word for word in argv if word in COMMANDS), None)


def build_parser(argv=()):
    """The argument parser. ``train`` and ``export`` take options whose choices come from
    modules that load TensorFlow, so their options are added only when ``argv`` names them."""
    command = _named_command(argv)
    parser = argparse.ArgumentParser(
        prog="keras-convnets",
        description="Classic and modern convolutional networks for Keras 3 on TensorFlow.")
    parser.add_argument("--verbose", "-V", dest="show_tensorflow_logs", action="store_true",
                        help="show TensorFlow's start-up log lines (held back by default)")
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
    if command == "train":
        with _tensorflow_loaded(argv):
            from .training.command import add_arguments as add_train_arguments

        add_train_arguments(p)
    p.set_defaults(func=cmd_train)
    p = commands.add_parser(
        "port", help="port timm/torchvision weights onto a model (needs the 'port' extra)")
    p.add_argument("name")
    p.add_argument("--from", dest="source",
                   help="timm:MODEL[.TAG] or torchvision:MODEL (default: the model's reference)")
    p.add_argument("--tag", help="name to load it by: weights=TAG (default: imagenet; "
                   "random-init with --random-init)")
    p.add_argument("--random-init", action="store_true",
                   help="port a randomly initialised reference (no download; for checks, "
                   "saved as weights='random-init')")
    p.add_argument("--out", help="directory (default: the local Keras cache)")
    p.set_defaults(func=cmd_port)

    p = commands.add_parser(
        "export", help="export a model: SavedModel for TF Serving, or a checked TFLite file")
    if command == "export":
        with _tensorflow_loaded(argv):
            from .export.command import add_arguments as add_export_arguments

        add_export_arguments(p)
    p.set_defaults(func=cmd_export)

    p = commands.add_parser(
        "benchmark", help="time models against keras.applications or timm/torchvision (CPU)")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="registered model names (with --input-pipeline: the model whose "
                        "training rate the pipeline is compared with, default resnet50)")
    p.add_argument("--batch-size", type=int, default=16, help="throughput and training batch")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up calls per measurement")
    p.add_argument("--image-size", type=int, help="square input size (default: the model's)")
    p.add_argument("--against", choices=["keras", "timm", "none"], default="keras",
                   help="reference to compare with (timm: timm/torchvision in a subprocess)")
    p.add_argument("--no-tflite", action="store_true", help="skip TFLite float32/int8 latency")
    p.add_argument("--json", help="write every measurement to this JSON file")
    p.add_argument("--input-pipeline", action="store_true",
                   help="time the training input pipeline alone (read, decode, crop, augment, "
                        "batch) on a generated folder of JPEG files next to the model's "
                        "training step (224 px unless --image-size)")
    p.add_argument("--dataset", metavar="DIR",
                   help="with --input-pipeline: a folder of class folders of images to read "
                        "instead of the generated JPEG files")
    p.add_argument("--images", type=int, default=256,
                   help="with --input-pipeline: JPEG files to generate (~400x350 px)")
    p.add_argument("--classes", type=int, default=4,
                   help="with --input-pipeline: class folders to generate")
    p.add_argument("--augment", default="inception",
                   choices=["none", "flip_crop", "crop", "inception"],
                   help="with --input-pipeline: the training augmentation")
    p.add_argument("--pipeline-batches", type=int, default=32,
                   help="with --input-pipeline: batches timed per round")
    p.set_defaults(func=cmd_benchmark)

    p = commands.add_parser(
        "search", help="differentiable architecture search (DARTS) on the embedded digits")
    p.add_argument("method", choices=["darts"], help="the search (DARTS, first order)")
    p.add_argument("--epochs", type=int, default=6, help="search epochs (the defaults are "
                   "tools/darts_digits_experiment.py's search: ~5 min on 2 shared cores)")
    p.add_argument("--seed", type=int, default=0, help="split, initialisation, batch order")
    p.add_argument("--filters", type=int, default=8, help="first cells' channels per node "
                   "(even; DARTS: 16)")
    p.add_argument("--cells", type=int, default=5, help="cells (reductions at 1/3 and 2/3; "
                   "DARTS: 8)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=16,
                   help="the digits' size in the search (8x8 scans, upscaled)")
    p.add_argument("--limit", type=int, help="images per split (quick checks)")
    p.add_argument("--output", help="the genotype JSON (default: genotype.json, or "
                   "OUT_DIR/genotype.json)")
    p.add_argument("--out-dir", help="also write search.json (alphas, history) there")
    p.add_argument("--verbose", type=int, default=0, choices=(0, 1, 2))
    p.set_defaults(func=cmd_search)
    return parser


@contextlib.contextmanager
def _native_stderr_held_back():
    """Holds back what native code writes to file descriptor 2 (TensorFlow's C++ logging
    prints its start-up lines there before any log level applies); replays it if the block
    fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def _tensorflow_loaded(argv):
    """Loads the package (TensorFlow, Keras, the registry) quietly unless ``--verbose``."""
    if "tensorflow" in sys.modules or "--verbose" in argv[:1] or "-V" in argv[:1]:
        yield
        return
    if not os.environ.get("TF_CPP_MIN_LOG_LEVEL"):  # later C++ lines: none (cuInit's error)
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with _native_stderr_held_back():
        import tensorflow  # noqa: F401, PLC0415

        yield


def _load_package(argv):
    import keras_convnets  # noqa: PLC0415

    with _tensorflow_loaded(argv):
        keras_convnets.__dir__()  # the console command imports the package lazily


#: optional modules -> the setup.cfg extra that installs them
_EXTRAS = {
    "psutil": "bench",
    "torch": "port", "torchvision": "port", "timm": "port", "pytorchcv": "port",
    "pretrainedmodels": "port",
    "tf_keras": "optimize", "tensorflow_model_optimization": "optimize",
    "ai_edge_litert": "optimize",
}


def _interrupted(args, argv, exc):
    where = getattr(exc, "where", "")
    line = f"keras-convnets {args.command}: interrupted{f' {where}' if where else ''}"
    if getattr(exc, "resumable", False):
        line += f"; resume with: keras-convnets {shlex.join(argv)}"
    print(line, file=sys.stderr)
    return 130


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        if args.command != "list":
            _load_package(argv)
        return args.func(args)
    except (ValueError, TypeError) as exc:
        print(f"keras-convnets {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return _interrupted(args, argv, exc)
    except ModuleNotFoundError as exc:
        extra = _EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"keras-convnets {args.command}: needs the {extra!r} extra (module {exc.name!r} "
              f"is not installed): pip install 'keras_convnets[{extra}]'", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
