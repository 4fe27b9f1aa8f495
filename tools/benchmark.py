"""Runs the speed comparisons and writes BENCHMARKS.md, its JSON and its plot.

    python tools/benchmark.py            # full suite: default sizes, 5 rounds (~1 h, 2 idle cores)
    python tools/benchmark.py --quick    # 128 px, 3 rounds, TFLite on 5 models (~20-25 min)
    python tools/benchmark.py --models resnet50 mobilenetv2 --against keras
    python tools/benchmark.py --from-json docs/benchmarks/benchmark.json   # re-render only

Every architecture shared with ``keras.applications`` is compared against it and against its
timm/torchvision reference (a worker subprocess, interleaved call by call), plus a few other
models per family against timm/torchvision. See ``keras_convnets/benchmark.py`` for exactly
what each number is. (The durations are estimates from the CPU time of the committed --quick
run, which took about 70 min of wall time split over processes on cores shared with three
other developers' jobs.) Outputs: ``BENCHMARKS.md`` (repo root), ``docs/benchmarks/benchmark.json``
(every time of every round) and ``docs/benchmarks/throughput_vs_flops.png``.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from keras_convnets import benchmark  # noqa: E402

#: every registry model with a keras.applications twin (the most asked-about first)
SHARED = ["mobilenetv2", "resnet50", "mobilenetv3large", "mobilenetv3small", "mobilenet",
          "xception", "resnet50v2", "resnet101", "resnet101v2", "resnet152", "resnet152v2"]
#: a few more per family, against timm/torchvision only
OTHERS = ["resnet18", "resnext50", "seresnext50", "shufflenetv2_1x"]
#: big models whose construction time alone is measured
CONSTRUCTION_ONLY = ["senet154"]
#: the --quick run times TFLite on these only (conversion dominates otherwise)
QUICK_TFLITE = ["mobilenetv3large", "mobilenetv2", "mobilenet", "resnet50", "shufflenetv2_1x"]

#: why we are slower where we are (diagnosed by hand on 2026-12-01; printed under the tables)
EXPLANATIONS = {
    "the graphs": (
        "our inference graphs are op-for-op those of keras.applications or leaner "
        "(counted from the traced `tf.function` graphs): ResNet-50 has the same 53 Conv2D, 53 "
        "BatchNorm, 49 ReLU and 16 Add, without keras' 53 conv BiasAdds and 265 Reshapes "
        "(keras normalises on axis=3, which reshapes the BN parameters on every call; ours "
        "axis=-1); MobileNet v1/v2/v3 have one more Pad (the stride-2 stem: PyTorch pads 1 "
        "pixel on every side, keras' 'same' only bottom/right); Xception has 4 PadV2 (the "
        "-inf padding of `PaddedMaxPool2D`, which PyTorch-exact pooling of signed maps needs); "
        "MobileNetV3's SE FCs are MatMuls on the pooled vector instead of 1x1 convolutions. "
        "Medians below 1 whose per-round range reaches above 1 are therefore load noise: the "
        "load average was about 7 on 2 cores (other developers' test runs)."),
    "training ResNets": (
        "the training step of resnet50v2 and resnet101 came out 0.8-0.9x keras' here, "
        "although the training graphs differ only by keras' extra bias and reshape ops. A "
        "re-measurement (96 px, 6 rounds, 08:42 UTC) gave resnet50 1.01x (rounds 0.96-1.57) "
        "and resnet50v2 0.93x (0.53-1.09): parity within the noise, no graph cause found."),
    "TFLite float32, MobileNets": (
        "keras pads stride-2 depthwise convs ((0,1),(0,1)), which the converter folds into "
        "SAME padding (keras' MobileNet TFLite graph has no PAD op; ours has 5). PyTorch-"
        "exact outputs need the symmetric pad, so this is the price of exactness with ported "
        "weights."),
    "TFLite int8, ResNet-50": (
        "the two int8 graphs are op-for-op identical (1 QUANTIZE, 2 PAD, 53 CONV_2D, 1 "
        "MAX_POOL_2D, 16 ADD, ...); the gap is not a graph difference."),
    "resnext50 / seresnext50 training": (
        "in one long run the grouped-conv training step failed with 'Gradients for grouped "
        "convolutions are not supported on CPU' (Conv2DBackpropInput, stage 4): "
        "`GroupConv2D` trusts oneDNN's native grouped gradient when `IsMklEnabled()`, which "
        "did not hold for that graph; in a fresh process the same step ran. Reported to the "
        "layer's owner."),
    "torch": (
        "the torch worker runs with OMP_WAIT_POLICY=PASSIVE: on this oversubscribed machine "
        "torch's spinning OpenMP threads made a MobileNetV3 training step 5-10x slower in a "
        "probe (2 threads: 1.8-6.8 s; PASSIVE: 0.3 s), which would have measured the load, "
        "not torch."),
    "resnext50 latency vs torch": (
        "batch-1 grouped convolutions: `GroupConv2D` already runs the fastest TensorFlow "
        "formulation on this CPU (the native grouped `tf.nn.conv2d`, see "
        "docs/benchmarks/grouped_conv.md); PyTorch's grouped kernel is faster at batch 1, "
        "ours at batch 16 and in training."),
    "memory": (
        "RSS deltas in a process that builds many models are only indicative: negative "
        "construction figures are memory the allocator returned while the model was built "
        "(earlier models freed), 0 a warm-up that fitted in memory already held."),
    "% of matmul peak": (
        "the matmul probe runs once at the start of each process while the load changes "
        "from minute to minute, so fractions above 100% mean the probe met a busier moment; "
        "compare GFLOP/s ours vs keras (same rounds) instead."),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", help="models to run (default: SHARED + OTHERS)")
    p.add_argument("--quick", action="store_true",
                   help="128 px, 3 rounds, 1 warm-up, TFLite on a few models only")
    p.add_argument("--image-size", type=int, help="square input size (default: each model's)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, help="timed rounds (default 5; 3 with --quick)")
    p.add_argument("--warmup", type=int, help="warm-up calls (default 2; 1 with --quick)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--against", nargs="+", default=["keras", "timm"],
                   choices=["keras", "timm", "none"])
    p.add_argument("--no-tflite", action="store_true", help="skip the TFLite measurements")
    p.add_argument("--tflite-models", nargs="+", help="time TFLite on these models only")
    p.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    p.add_argument("--json", default=os.path.join(ROOT, "docs", "benchmarks", "benchmark.json"))
    p.add_argument("--plot", default=os.path.join(ROOT, "docs", "benchmarks",
                                                  "throughput_vs_flops.png"))
    p.add_argument("--from-json", nargs="+", metavar="JSON",
                   help="re-render BENCHMARKS.md and the plot from these JSON files (merged: "
                        "models and construction times appended, machine and peak of the first)")
    p.add_argument("--construct", nargs="+", metavar="NAME",
                   help=f"construction time only of these models (default with the full "
                        f"suite: {', '.join(CONSTRUCTION_ONLY)})")
    return p.parse_args(argv)


def write_outputs(results, args, command):
    text = benchmark.render_markdown(results, command=command, explanations=EXPLANATIONS)
    if os.path.exists(args.plot) or any(m.get("throughput_ips") for m in results["models"]):
        try:
            benchmark.plot_throughput_vs_flops(results, args.plot)
            rel = os.path.relpath(args.plot, os.path.dirname(os.path.abspath(args.out)))
            text = text.replace("\n## Machine", f"\n![throughput vs FLOPs]({rel})\n\n## Machine",
                                1)
        except ValueError as exc:
            print(f"no plot: {exc}", file=sys.stderr)
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {args.out}", file=sys.stderr)


def merge(parts):
    """One results dict from several runs' JSON (e.g. a run split across two processes)."""
    results = parts[0]
    for part in parts[1:]:
        results["models"] += part.get("models", [])
        names = {c["name"] for c in part.get("construction", [])}  # a later run replaces
        results["construction"] = [c for c in results["construction"] if c["name"] not in names]
        results["construction"] += part.get("construction", [])
        results["wall_s"] = max(results.get("wall_s", 0), part.get("wall_s", 0))
        if "load_average_end" in part.get("machine", {}):
            results["machine"]["load_average_end"] = part["machine"]["load_average_end"]
        results.setdefault("commands", [results.get("command")]).append(part.get("command"))
    if len(parts) > 1:
        results["command"] = " && ".join(c for c in results["commands"] if c)
    return results


def main(argv=None):
    args = parse_args(argv)
    if args.from_json:
        results = merge([json.load(open(path)) for path in args.from_json])
        write_outputs(results, args, results.get("command", "python tools/benchmark.py"))
        return 0
    names = args.models if args.models is not None else SHARED[:7] + OTHERS + SHARED[7:]
    if args.construct and not args.models:
        names = []
    repeats = args.repeats or (3 if args.quick else 5)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    image_size = args.image_size or (128 if args.quick else None)
    against = () if "none" in args.against else tuple(args.against)
    tflite_models = args.tflite_models or (QUICK_TFLITE if args.quick else None)
    command = "python tools/benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    os.makedirs(os.path.dirname(args.json), exist_ok=True)

    def save(results):
        results["command"] = command
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)

    results = benchmark.run(
        names, against=against, batch_size=args.batch_size, repeats=repeats,
        image_size=image_size, warmup=warmup, threads=args.threads,
        tflite=() if args.no_tflite else benchmark.QUANTIZATIONS, tflite_models=tflite_models,
        construction_only=args.construct or (() if args.models else CONSTRUCTION_ONLY),
        on_model=save)
    save(results)
    write_outputs(results, args, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
