"""GPU speed of our models against ``keras.applications``: one prepared script, under 10 minutes.

    python tools/gpu_benchmark.py                       # on a machine with a GPU
    python tools/gpu_benchmark.py --time-limit 300 --models resnet50 mobilenetv2
    python tools/gpu_benchmark.py --dry-run             # the whole loop on CPU, tiny, 1 step

Measured per model (default: ResNet-50, MobileNetV2, SE-ResNeXt-50 and the registry's
``keras_twin`` models of the newer families -- DenseNet-121, Inception-v3, Xception,
NASNet-A Mobile), at its default input size, batch 64 and 128:

- **inference** images/s: ``tf.function(lambda x: sum(model(x, training=False)),
  jit_compile=XLA)``, the scalar fetched with ``.numpy()`` (so each call is synchronised);
- **training step** images/s: ``model.compile(SGD(0.01, momentum=0.9),
  SparseCategoricalCrossentropy(), jit_compile=XLA)`` then ``model.train_on_batch(x, y)`` --
  the path the train job takes (``keras_convnets.training.job``), where ``jit_compile`` is the
  setting this script is meant to choose;
- each of those with XLA off and on (``jit_compile=False/True``; ``compile_s`` is the first
  call, tracing + compilation + one step);
- ``ours`` and ``keras`` (the ``keras.applications`` twin, ``weights=None``; SE-ResNeXt-50 has
  none);
- float32 and mixed precision (``keras.mixed_precision.set_global_policy("mixed_float16")``;
  ours gets float32 logits/softmax as the train job builds it,
  ``keras_convnets.training.job.float32_logits``; the keras twin is built as it comes);
- training under ``tf.distribute.MirroredStrategy`` over the visible GPUs (ours, train step,
  global batch 64/128, both precisions, XLA off/on).

The precision policy is process-global, so every setting (float32, mixed_float16, each plain
and under MirroredStrategy) runs in a fresh subprocess (``--worker``). Inputs are random
(``tf.random.uniform`` on the device, labels in [0, 1000)). Timing: one compile call, one
warm-up call, then calls until ``--steps`` or ``--seconds`` per cell (at least 3); reported are
the median seconds per call and images/s = batch / median.

**Budget guard**: ``--time-limit`` (default 480 s; with the kill grace and start-up the run
stays under 10 minutes) is shared among the settings by weight and, inside a setting, among the
models still to run; a cell that would start after its share is
skipped and listed as skipped in the JSON and the Markdown (a worker that overruns its share by
more than ``--grace`` seconds is killed; the cells it finished are kept, as each is written as
it completes).

Writes ``--json`` (default docs/benchmarks/gpu.json) and renders ``--out`` (default
docs/benchmarks/gpu.md), including per family the train job's ``jit_compile`` recommendation
from the measurements (XLA training speed-up of ours, geometric mean over precisions and
batches; True when >= ``--xla-threshold``). Without a GPU (and no ``--dry-run``) it prints one
line and exits with status 2, writing nothing.
"""

import argparse
import contextlib
import datetime
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT]

DEFAULT_MODELS = ("resnet50", "mobilenetv2", "seresnext50", "densenet121", "inceptionv3",
                  "xception", "nasnetamobile")
BATCHES = (64, 128)
PRECISIONS = ("float32", "mixed_float16")
#: (precision, mirrored) per worker process, with its share of the time limit
SETTINGS = (("float32", False, 0.35), ("mixed_float16", False, 0.35),
            ("float32", True, 0.15), ("mixed_float16", True, 0.15))
NO_GPU = ("gpu_benchmark: no GPU visible to TensorFlow (tf.config.list_physical_devices('GPU') "
          "is empty); nothing measured. Run it on a GPU machine, or pass --dry-run to "
          "exercise the loop on CPU.")
DRY_RUN_BATCHES = (2,)
#: keras.applications builders' smallest input (``weights=None``) above 32 px
KERAS_MIN_SIZE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}
DRY_RUN_SIZE = 32


def _log(message):
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- worker side

def _median(values):
    return float(statistics.median(values))


def _time_cell(call, steps, seconds):
    """``call()`` once (compile), once more (warm-up), then timed until ``steps`` calls or
    ``seconds`` (at least 3 when ``steps`` >= 3). Returns compile_s and the timed seconds."""
    start = time.perf_counter()
    call()
    compile_s = time.perf_counter() - start
    if steps > 1:
        call()
    times = []
    while len(times) < steps and (len(times) < min(3, steps) or sum(times) < seconds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return compile_s, times


def _build(name, side, image_size, dry_run):
    from keras_convnets.backend import keras
    from keras_convnets.registry import get_spec
    from keras_convnets.training.job import float32_logits

    spec = get_spec(name)
    shape = (image_size, image_size, 3)
    if side == "ours":
        build = spec.build_tiny if dry_run else spec.builder
        model = build(input_shape=shape, classes=1000)
        if keras.mixed_precision.global_policy().compute_dtype != "float32":
            model = float32_logits(model)
        return model
    twin = spec.keras_twin
    return getattr(keras.applications, twin.builder)(
        weights=None, input_shape=shape, classes=1000, **dict(twin.kwargs))


def _cells(args, spec, mirrored):
    """The cells of one model in measuring order, most wanted first, so that what the budget
    guard skips is the least wanted: per batch, the training step before inference, ours
    before keras, each side's XLA off/on pair together (ours' training pair is what the
    ``jit_compile`` recommendation needs)."""
    sides = [side for side in ("ours", "keras") if side in args.sides and (
        side == "ours" or (spec.keras_twin is not None and not mirrored))]
    metrics = [m for m in ("train", "infer") if m in args.metrics and (m == "train"
                                                                        or not mirrored)]
    for batch in args.batches:
        for metric in metrics:
            for side in sides:
                for xla in args.xla:
                    yield side, xla, batch, metric


def run_worker(args, precision, mirrored, deadline, out_path=None):
    """Measures every cell of one (precision, mirrored) setting in this process and returns
    its list of cell records (also written to ``out_path`` after every cell)."""
    import numpy as np

    from keras_convnets.backend import keras, tf
    from keras_convnets.registry import get_spec

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    records = []

    def save():
        if out_path:
            with open(out_path + ".tmp", "w") as f:
                json.dump(records, f)
            os.replace(out_path + ".tmp", out_path)

    strategy = None
    if mirrored:
        cpu = args.dry_run or not tf.config.list_physical_devices("GPU")
        strategy = tf.distribute.MirroredStrategy(["/cpu:0"] if cpu else None)
    # a dry run stays on the CPU, also in a process that sees a GPU (--in-process)
    placement = tf.device("/cpu:0") if args.dry_run else contextlib.nullcontext()
    try:
        placement.__enter__()
        names = list(args.models)
        for index, name in enumerate(names):
            spec = get_spec(name)
            size = args.image_size or spec.default_size
            if args.dry_run:
                twin_min = KERAS_MIN_SIZE.get(spec.keras_twin.builder, 32) if (
                    spec.keras_twin and "keras" in args.sides) else 32
                size = max(DRY_RUN_SIZE, spec.min_size, twin_min)
            model_deadline = time.time() + (deadline - time.time()) / (len(names) - index)
            built = {}
            for side, xla, batch, metric in _cells(args, spec, mirrored):
                cell = {"model": name, "family": spec.family, "side": side, "xla": xla,
                        "batch": batch, "metric": metric, "precision": precision,
                        "mirrored": mirrored, "image_size": size}
                if time.time() > model_deadline:
                    cell["skipped"] = "time limit"
                    records.append(cell)
                    save()
                    continue
                try:
                    if side not in built:
                        built.clear()
                        keras.backend.clear_session()
                        gc.collect()
                        if strategy is not None:
                            with strategy.scope():
                                built[side] = _build(name, side, size, args.dry_run)
                        else:
                            built[side] = _build(name, side, size, args.dry_run)
                    model = built[side]
                    x = tf.random.uniform((batch, size, size, 3), -1.0, 1.0)
                    y = tf.random.uniform((batch,), 0, 1000, dtype=tf.int32)
                    if metric == "infer":
                        forward = tf.function(
                            lambda x: tf.reduce_sum(tf.cast(model(x, training=False),
                                                            "float32")), jit_compile=xla)

                        def call():
                            return forward(x).numpy()
                    else:
                        def compile_model():
                            model.compile(
                                optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                                loss=keras.losses.SparseCategoricalCrossentropy(),
                                jit_compile=xla)
                        if strategy is not None:
                            with strategy.scope():
                                compile_model()
                        else:
                            compile_model()

                        def call():
                            return model.train_on_batch(x, y)
                    compile_s, times = _time_cell(call, args.steps, args.seconds)
                    median = _median(times)
                    cell.update(compile_s=compile_s, median_s=median, calls=len(times),
                                images_per_s=batch / median,
                                replicas=strategy.num_replicas_in_sync if strategy else 1)
                    if side == "ours" and metric == "train":
                        cell["loss_finite"] = bool(np.isfinite(np.asarray(call()).ravel()[0]))
                except Exception as exc:  # OOM, an op XLA refuses: recorded, the run goes on
                    cell["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                    built.clear()
                records.append(cell)
                save()
                _log(f"  {precision}{' mirrored' if mirrored else ''} {name} {side} "
                     f"xla={xla} b{batch} {metric}: " + (
                         f"{cell['images_per_s']:.1f} img/s (compile {cell['compile_s']:.1f} s)"
                         if "median_s" in cell else cell.get("error", "")[:120]))
            built.clear()
            keras.backend.clear_session()
            gc.collect()
    finally:
        placement.__exit__(None, None, None)
        keras.mixed_precision.set_global_policy(previous)
    return records


# ----------------------------------------------------------------------------- driver side

def gpu_names():
    """The visible GPUs' names (empty on a CPU-only machine)."""
    from keras_convnets.backend import tf

    names = []
    for device in tf.config.list_physical_devices("GPU"):
        try:
            names.append(tf.config.experimental.get_device_details(device).get(
                "device_name", device.name))
        except Exception:  # details are best effort
            names.append(device.name)
    return names


def _worker_command(args, precision, mirrored, deadline, out_path):
    command = [sys.executable, os.path.abspath(__file__), "--worker", precision,
               "--worker-out", out_path, "--deadline", repr(deadline),
               "--models", *args.models, "--batches", *map(str, args.batches),
               "--sides", *args.sides, "--metrics", *args.metrics,
               "--xla", *("on" if x else "off" for x in args.xla),
               "--steps", str(args.steps), "--seconds", repr(args.seconds)]
    if mirrored:
        command.append("--worker-mirrored")
    if args.dry_run:
        command.append("--dry-run")
    if args.image_size:
        command += ["--image-size", str(args.image_size)]
    return command


def _skipped_setting(args, precision, mirrored, why):
    from keras_convnets.registry import get_spec

    return [{"model": name, "family": get_spec(name).family, "side": side, "xla": xla,
             "batch": batch, "metric": metric, "precision": precision, "mirrored": mirrored,
             "skipped": why}
            for name in args.models
            for side, xla, batch, metric in _cells(args, get_spec(name), mirrored)]


def run_all(args):
    """Runs every setting (each in a subprocess unless ``--in-process``) within the time
    limit; returns the results dict."""
    start = time.time()
    end = start + args.time_limit
    settings = [s for s in SETTINGS if s[0] in args.precisions and (s[1] is False or
                                                                    args.mirrored)]
    cells, notes = [], []
    for index, (precision, mirrored, weight) in enumerate(settings):
        label = f"{precision}{' + MirroredStrategy' if mirrored else ''}"
        remaining = end - time.time()
        weights_left = sum(w for _, _, w in settings[index:])
        if remaining <= 0:
            cells += _skipped_setting(args, precision, mirrored, "time limit")
            notes.append(f"{label}: not started, the time limit was spent")
            continue
        deadline = time.time() + remaining * weight / weights_left
        _log(f"{label}: {deadline - time.time():.0f} s")
        out_path = os.path.join(args.scratch, f"cells_{precision}_{int(mirrored)}.json")
        if os.path.exists(out_path):
            os.remove(out_path)
        if args.in_process:
            got = run_worker(args, precision, mirrored, deadline, out_path)
        else:
            command = _worker_command(args, precision, mirrored, deadline, out_path)
            try:
                env = dict(os.environ, **({"CUDA_VISIBLE_DEVICES": ""} if args.dry_run
                                          else {}))  # a dry run's workers see no GPU
                done = subprocess.run(command, timeout=max(1.0, deadline - time.time())
                                      + args.grace, cwd=ROOT, env=env)
                if done.returncode:
                    notes.append(f"{label}: the worker exited with status {done.returncode}")
            except subprocess.TimeoutExpired:
                notes.append(f"{label}: the worker overran its share by more than "
                             f"{args.grace:.0f} s and was killed; its unfinished cells are "
                             f"listed as skipped")
            got = []
            if os.path.exists(out_path):
                with open(out_path) as f:
                    got = json.load(f)
        seen = {_key(c) for c in got}
        cells += got + [c for c in _skipped_setting(args, precision, mirrored, "time limit")
                        if _key(c) not in seen]
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python tools/gpu_benchmark.py " + " ".join(args.argv),
            "dry_run": args.dry_run, "wall_s": time.time() - start,
            "time_limit_s": args.time_limit, "machine": machine(), "notes": notes,
            "xla_threshold": args.xla_threshold, "cells": cells}


def _key(cell):
    return (cell["model"], cell["side"], cell["xla"], cell["batch"], cell["metric"],
            cell["precision"], cell["mirrored"])


def machine():
    from keras_convnets.backend import keras, tf

    return {"gpus": gpu_names(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "cpu_count": os.cpu_count(), "platform": platform.platform()}


# ----------------------------------------------------------------------------- analysis

def _lookup(cells):
    return {_key(c): c for c in cells if "median_s" in c}


def recommend(results):
    """Per family: the train job's ``jit_compile`` from ours' training step without
    MirroredStrategy, XLA on vs off -- the geometric mean of the speed-ups
    (median s off / median s on) over precisions and batches; None where no pair exists."""
    found = _lookup(results["cells"])
    threshold = results.get("xla_threshold", 1.05)
    families = {}
    for c in results["cells"]:
        families.setdefault(c["family"], set()).add(c["model"])
    out = {}
    for family, models in sorted(families.items()):
        speedups, compile_extra = [], []
        for (model, side, xla, batch, metric, precision, mirrored), on in found.items():
            if model in models and side == "ours" and xla and metric == "train" and not mirrored:
                off = found.get((model, side, False, batch, metric, precision, mirrored))
                if off:
                    speedups.append(off["median_s"] / on["median_s"])
                    compile_extra.append(on["compile_s"] - off["compile_s"])
        if not speedups:
            out[family] = {"models": sorted(models), "jit_compile": None, "pairs": 0}
            continue
        gmean = math.exp(sum(map(math.log, speedups)) / len(speedups))
        out[family] = {"models": sorted(models), "jit_compile": gmean >= threshold,
                       "xla_speedup": gmean, "min": min(speedups), "max": max(speedups),
                       "pairs": len(speedups),
                       "extra_compile_s": statistics.median(compile_extra)}
    return out


def _fmt(cell):
    if cell is None:
        return "-"
    if "skipped" in cell:
        return "skipped"
    if "error" in cell:
        return "error"
    return f"{cell['images_per_s']:.0f}"


def render(results):
    """docs/benchmarks/gpu.md from a results dict."""
    cells = results["cells"]
    every = {_key(c): c for c in cells}
    m = results["machine"]
    lines = ["# GPU benchmark", ""]
    if results["dry_run"]:
        lines += ["**Dry run on CPU** (`--dry-run`: tiny models, tiny inputs, one timed call "
                  "per cell): these numbers only show that the script runs; they say nothing "
                  "about GPU speed.", ""]
    lines += [f"Generated by `{results['command']}` on {results['date']} "
              f"({results['wall_s'] / 60:.1f} min of a {results['time_limit_s']:.0f} s limit). "
              f"GPUs: {', '.join(m['gpus']) or 'none'}; TensorFlow {m['tensorflow']}, "
              f"Keras {m['keras']}, Python {m['python']}.", "",
              "Images/s = batch / median seconds per call (each call synchronised). Inference: "
              "`tf.function(model(x, training=False), jit_compile=XLA)`; training: "
              "`model.compile(SGD(0.01, momentum=0.9), sparse cross-entropy, jit_compile=XLA)` "
              "+ `train_on_batch` (the train job's path). `keras`: the keras.applications "
              "twin, `weights=None`. See the docstring of tools/gpu_benchmark.py.", ""]
    for note in results["notes"]:
        lines.append(f"- {note}")
    if results["notes"]:
        lines.append("")
    models = list(dict.fromkeys(c["model"] for c in cells))
    batches = sorted({c["batch"] for c in cells})
    for precision in PRECISIONS:
        if not any(c["precision"] == precision and not c["mirrored"] for c in cells):
            continue
        lines += [f"## {precision}", "",
                  "| model | batch | infer ours off / XLA | infer keras off / XLA | "
                  "train ours off / XLA | train keras off / XLA | XLA compile s (ours train) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for model in models:
            for batch in batches:
                def pair(side, metric):
                    return " / ".join(_fmt(every.get((model, side, x, batch, metric, precision,
                                                      False))) for x in (False, True))
                on = every.get((model, "ours", True, batch, "train", precision, False))
                compile_s = f"{on['compile_s']:.1f}" if on and "compile_s" in on else "-"
                lines.append(f"| {model} | {batch} | {pair('ours', 'infer')} | "
                             f"{pair('keras', 'infer')} | {pair('ours', 'train')} | "
                             f"{pair('keras', 'train')} | {compile_s} |")
        lines.append("")
    mirrored = [c for c in cells if c["mirrored"]]
    if mirrored:
        replicas = sorted({c.get("replicas") for c in mirrored if c.get("replicas")})
        lines += ["## Training under MirroredStrategy (ours)", "",
                  f"Global batch split over {', '.join(map(str, replicas)) or '?'} replica(s). "
                  "Under a distribution strategy Keras' `jit_compile='auto'` turns XLA off.", "",
                  "| model | batch | " + " | ".join(f"{p} off / XLA" for p in PRECISIONS) +
                  " | plain float32 off (no strategy) |", "|---|---:|---:|---:|---:|"]
        for model in models:
            for batch in batches:
                row = [" / ".join(_fmt(every.get((model, "ours", x, batch, "train", p, True)))
                                  for x in (False, True)) for p in PRECISIONS]
                plain = _fmt(every.get((model, "ours", False, batch, "train", "float32",
                                        False)))
                lines.append(f"| {model} | {batch} | {' | '.join(row)} | {plain} |")
        lines.append("")
    lines += ["## The train job's `jit_compile`, per family", "",
              f"From ours' training step without a strategy: XLA speed-up = median step time "
              f"off / on, geometric mean over precisions and batches; `True` when >= "
              f"{results.get('xla_threshold', 1.05)}.", "",
              "| family | models | XLA speed-up (range) | pairs | extra compile s | "
              "jit_compile |", "|---|---|---:|---:|---:|---|"]
    for family, r in recommend(results).items():
        if r["jit_compile"] is None:
            lines.append(f"| {family} | {', '.join(r['models'])} | - | 0 | - | "
                         f"not measured |")
        else:
            lines.append(f"| {family} | {', '.join(r['models'])} | {r['xla_speedup']:.2f}x "
                         f"({r['min']:.2f}-{r['max']:.2f}) | {r['pairs']} | "
                         f"{r['extra_compile_s']:.1f} | `{r['jit_compile']}` |")
    lines.append("")
    skipped = [c for c in cells if "skipped" in c]
    errors = [c for c in cells if "error" in c]
    if skipped:
        lines += [f"## Skipped ({len(skipped)} cells, {skipped[0]['skipped']})", ""]
        lines += [f"- {c['precision']}{' mirrored' if c['mirrored'] else ''} {c['model']} "
                  f"{c['side']} {'XLA' if c['xla'] else 'no XLA'} batch {c['batch']} "
                  f"{c['metric']}" for c in skipped]
        lines.append("")
    if errors:
        lines += ["## Errors", ""]
        lines += [f"- {c['precision']}{' mirrored' if c['mirrored'] else ''} {c['model']} "
                  f"{c['side']} {'XLA' if c['xla'] else 'no XLA'} batch {c['batch']} "
                  f"{c['metric']}: {c['error']}" for c in errors]
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--batches", nargs="+", type=int, default=None)
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--sides", nargs="+", choices=("ours", "keras"),
                        default=["ours", "keras"])
    parser.add_argument("--metrics", nargs="+", choices=("infer", "train"),
                        default=["infer", "train"])
    parser.add_argument("--xla", nargs="+", choices=("off", "on"), default=["off", "on"])
    parser.add_argument("--no-mirrored", dest="mirrored", action="store_false")
    parser.add_argument("--image-size", type=int, default=None,
                        help="override every model's default input size")
    parser.add_argument("--steps", type=int, default=None, help="timed calls per cell (max)")
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="stop timing a cell after this many seconds (min 3 calls)")
    parser.add_argument("--time-limit", type=float, default=480.0,
                        help="seconds for the whole run; cells past it are skipped")
    parser.add_argument("--grace", type=float, default=40.0,
                        help="seconds a worker may overrun its share before it is killed")
    parser.add_argument("--xla-threshold", type=float, default=1.05)
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU, tiny models at 32 px, batch 2, one timed call per cell")
    parser.add_argument("--in-process", action="store_true",
                        help="run the settings in this process (tests; the policy is reset)")
    parser.add_argument("--json", default=os.path.join(ROOT, "docs", "benchmarks", "gpu.json"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks", "gpu.md"))
    parser.add_argument("--scratch", default=None, help="worker files (default: a temp dir)")
    parser.add_argument("--worker", choices=PRECISIONS, help=argparse.SUPPRESS)
    parser.add_argument("--worker-mirrored", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = list(argv)
    args.xla = [x == "on" for x in args.xla]
    if args.batches is None:
        args.batches = list(DRY_RUN_BATCHES if args.dry_run else BATCHES)
    if args.steps is None:
        args.steps = 1 if args.dry_run else 10
    for name, value in (("--steps", args.steps), *(("--batches", b) for b in args.batches)):
        if value < 1:
            parser.error(f"{name} must be >= 1; got {value}")
    from keras_convnets.registry import get_spec

    args.models = [get_spec(name).name for name in args.models]  # unknown name: clean error
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.worker:
        run_worker(args, args.worker, args.worker_mirrored, args.deadline, args.worker_out)
        return 0
    if not args.dry_run and not gpu_names():
        print(NO_GPU)
        return 2
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        args.scratch = args.scratch or scratch
        results = run_all(args)
    results["recommendation"] = recommend(results)
    for path, text in ((args.json, json.dumps(results, indent=1)), (args.out, render(results))):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            f.write(text + "\n")
    measured = sum("median_s" in c for c in results["cells"])
    skipped = sum("skipped" in c for c in results["cells"])
    print(f"gpu_benchmark: {measured} cells measured, {skipped} skipped (time limit), "
          f"{len(results['cells']) - measured - skipped} errors in "
          f"{results['wall_s']:.0f} s; wrote {args.json} and {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
