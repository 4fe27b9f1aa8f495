"""How far apart two LiteRT interpreters of the *same* file time: the control for the TFLite
ratios in BENCHMARKS.md.

    python tools/tflite_control.py mobilenet mobilenetv2        # ~2.5 min a model, 2 cores

For each model, four batch-1 interpreters in one process, timed interleaved exactly as the
benchmark's TFLite rows (``keras_convnets.benchmark``'s gapped ``invoke()``): keras.applications'
twin converted once and loaded twice (``keras_a``, ``keras_b``: the same bytes), ours with its
default PyTorch-exact padding (``ours_symmetric``) and ours with ``strided_padding="same"``
(keras' padding: no PAD op). Each side's speed is given relative to the mean of the two keras
interpreters; the interpreters are created in two orders, float32 and int8. Where
``keras_a`` and ``keras_b`` differ as much as ours does from them, a ratio of that size is
not a property of the graph. Writes docs/benchmarks/tflite_control.{md,json}.

    python tools/tflite_control.py --instances mobilenetv2 mobilenetv3large ...

measures each model's int8 speed-up over float32 the other way: 8 fresh interpreters of each
file, created alternately, each warmed up (10 invokes) and timed alone (the median of 20
gapped invokes); the speed-up is the ratio of the medians over instances, with the range of
the instances' medians beside it. Writes docs/benchmarks/tflite_instances.{md,json}.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from keras_convnets import benchmark, get_spec  # noqa: E402
from keras_convnets.backend import keras  # noqa: E402
from keras_convnets.optimize import tflite  # noqa: E402

SIDES = ("keras_a", "keras_b", "ours_symmetric", "ours_same")
#: the orders the interpreters are created in (interleaving rotates the call order anyway)
ORDERS = (("keras_a", "ours_symmetric", "ours_same", "keras_b"),
          ("ours_same", "ours_symmetric", "keras_a", "keras_b"))


def _blobs(name, quantization, images, builder_kwargs):
    spec = get_spec(name)
    twin = spec.keras_twin
    if twin is None:
        raise SystemExit(f"{name} has no keras.applications twin to control against")
    keras_model = getattr(keras.applications, twin.builder)(
        weights=None, input_shape=images.shape[1:], **twin.kwargs)
    ours = {padding: spec.builder(input_shape=images.shape[1:], strided_padding=padding,
                                  **builder_kwargs)
            for padding in ("symmetric", "same")}

    def convert(model):
        if quantization == "int8":
            return tflite.convert(model, quantization="int8", representative_data=images,
                                  num_samples=len(images))
        return tflite.convert(model)

    keras_blob = convert(keras_model)
    return {"keras_a": keras_blob, "keras_b": keras_blob,
            "ours_symmetric": convert(ours["symmetric"]), "ours_same": convert(ours["same"])}


def _side(label, blob, image, threads):
    """The benchmark's former TFLite side: one interpreter for every round."""
    interpreter = benchmark.loaded_interpreter(blob, image, threads)
    return benchmark.Side(label, {"invoke": benchmark._gapped_invoke(interpreter)}, {})


def _images(image_size):
    return np.random.default_rng(0).uniform(-1, 1, (8, image_size, image_size, 3)).astype(
        "float32")


def measure(name, image_size=224, rounds=15, threads=None, quantizations=("float32", "int8"),
            builder_kwargs=None, log=print):
    """``{quantization: [one record per creation order]}``: medians (ms) and speeds relative
    to the mean of the two keras interpreters."""
    threads = threads or os.cpu_count()
    images = _images(image_size)
    results = {}
    for quantization in quantizations:
        blobs = _blobs(name, quantization, images, builder_kwargs or {})
        for order in ORDERS:
            sides = [_side(label, blobs[label], images[:1], threads) for label in order]
            times = benchmark.interleave(sides, "invoke", rounds)
            median = {label: float(np.median(t)) * 1e3 for label, t in times.items()}
            keras_ms = (median["keras_a"] + median["keras_b"]) / 2
            record = {"order": list(order), "median_ms": median,
                      "speed_vs_keras": {label: keras_ms / median[label] for label in SIDES}}
            results.setdefault(quantization, []).append(record)
            log(f"{name} {quantization} {' > '.join(order)}: " + ", ".join(
                f"{label} {record['speed_vs_keras'][label]:.2f}x" for label in SIDES))
    return results


def _instance_median(blob, image, threads, warmup, timed):
    call = benchmark._gapped_invoke(benchmark.loaded_interpreter(blob, image, threads, warmup))
    return float(np.median([call() for _ in range(timed)])) * 1e3


#: --instances: interpreters per file, and each one's warm-up and timed invokes
INSTANCES, WARMUP, TIMED = 8, 10, 20


def per_instance(name, image_size=224, instances=INSTANCES, warmup=WARMUP, timed=TIMED,
                 threads=None, log=print):
    """int8 over float32 for ``name`` (ours, default build) over fresh interpreters: ``{side:
    {"instance_ms": [...], "median_ms"}, "int8_speedup"}``."""
    threads = threads or os.cpu_count()
    images = _images(image_size)
    model = get_spec(name).builder(input_shape=images.shape[1:])
    blobs = {"float32": tflite.convert(model),
             "int8": tflite.convert(model, quantization="int8", representative_data=images,
                                    num_samples=len(images))}
    found = {label: [] for label in blobs}
    for instance in range(instances):
        for label in (("float32", "int8") if instance % 2 == 0 else ("int8", "float32")):
            found[label].append(_instance_median(blobs[label], images[:1], threads, warmup,
                                                 timed))
    record = {label: {"instance_ms": ms, "median_ms": float(np.median(ms))}
              for label, ms in found.items()}
    record["int8_speedup"] = record["float32"]["median_ms"] / record["int8"]["median_ms"]
    log(f"{name}: float32 {record['float32']['median_ms']:.2f} ms, int8 "
        f"{record['int8']['median_ms']:.2f} ms, int8 {record['int8_speedup']:.2f}x")
    return record


def instances_report(results, settings):
    lines = [
        "# TFLite int8 over float32, over fresh interpreters",
        "",
        f"Generated by `python tools/tflite_control.py --instances {' '.join(results)}` on "
        f"{settings['date']} ({settings['machine']}; {settings['threads']} threads, "
        f"{settings['image_size']} px, batch 1, {settings['seconds']} s). Per file "
        f"{settings['instances']} interpreters, float32 and int8 created alternately, each "
        f"warmed up ({settings['warmup']} invokes) and timed alone (median of "
        f"{settings['timed']} invokes 5 ms apart); the columns give the median over the "
        "instances and, in brackets, the range of the instances' own medians.",
        "",
        "| model | float32 ms | int8 ms | int8 speed-up over float32 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, record in results.items():
        cells = []
        for label in ("float32", "int8"):
            ms = record[label]["instance_ms"]
            cells.append(f"{record[label]['median_ms']:.2f} ({min(ms):.2f}-{max(ms):.2f})")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | **{record['int8_speedup']:.2f}x** |")
    return "\n".join(lines) + "\n"


def report(results, settings):
    lines = [
        "# TFLite control: two interpreters of the same file",
        "",
        f"Generated by `python tools/tflite_control.py {' '.join(results)}` on "
        f"{settings['date']} ({settings['machine']}; {settings['threads']} threads, "
        f"{settings['rounds']} interleaved rounds, {settings['image_size']} px, batch 1). "
        "See the tool's docstring for the sides.",
        "",
        "Speed relative to the mean of the two keras interpreters (> 1: faster). `keras_a` and "
        "`keras_b` load the same bytes, so their spread is what a ratio between two different "
        "files can owe to the interpreter instance alone.",
        "",
        "| model | quantisation | creation order | keras_a | keras_b | ours (symmetric pad) "
        "| ours (`strided_padding=\"same\"`) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, by_quantization in results.items():
        for quantization, records in by_quantization.items():
            for record in records:
                speed = record["speed_vs_keras"]
                lines.append(f"| {name} | {quantization} | {' > '.join(record['order'])} | "
                             + " | ".join(f"{speed[label]:.2f}" for label in SIDES) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="+", help="registry models with a keras.applications twin")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--threads", type=int)
    p.add_argument("--quantizations", nargs="+", default=["float32", "int8"],
                   choices=["float32", "int8"])
    p.add_argument("--instances", action="store_true",
                   help="int8 over float32 of ours over fresh interpreters (see above)")
    p.add_argument("--out", help="default: docs/benchmarks/tflite_control.md, or "
                                 "tflite_instances.md with --instances")
    args = p.parse_args(argv)
    args.out = args.out or os.path.join(ROOT, "docs", "benchmarks", "tflite_instances.md"
                                        if args.instances else "tflite_control.md")
    start = time.time()
    if args.instances:
        results = {name: per_instance(name, args.image_size, threads=args.threads)
                   for name in args.names}
        settings = _settings(args, start, instances=INSTANCES, warmup=WARMUP, timed=TIMED)
        return _write(args.out, instances_report(results, settings),
                      {"settings": settings, "results": results})
    results = {name: measure(name, args.image_size, args.rounds, args.threads,
                             args.quantizations) for name in args.names}
    settings = _settings(args, start, rounds=args.rounds)
    return _write(args.out, report(results, settings),
                  {"settings": settings, "results": results})


def _settings(args, start, **extra):
    """The run's machine, threads, size and duration for the report header and JSON."""
    info = benchmark.machine_info()
    return {"date": info["date"], "machine": f"{info['cpu']}, {info['cores']} cores, widest "
            f"SIMD {info['simd']}, oneDNN {'on' if info['onednn'] else 'off'}",
            "threads": args.threads or os.cpu_count(), "image_size": args.image_size,
            "seconds": round(time.time() - start), **extra}


def _write(path, text, data):
    with open(path, "w") as f:
        f.write(text)
    with open(os.path.splitext(path)[0] + ".json", "w") as f:
        json.dump(data, f, indent=1)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
