"""Runs the speed comparisons and writes BENCHMARKS.md, its JSON and its plot.

    python tools/benchmark.py            # full suite: default sizes, 5 rounds (~1.5 h, 2 cores)
    python tools/benchmark.py --quick    # 128 px, 3 rounds, TFLite on 5 models (~20-25 min)
    python tools/benchmark.py --models resnet50 mobilenetv2 --against keras
    python tools/benchmark.py --from-json docs/benchmarks/benchmark.json   # re-render only
    python tools/benchmark.py --input-pipeline --repeats 3 --warmup 1 \
        --json docs/benchmarks/input_pipeline.json --out /tmp/pipeline.md
        # the tf.data pipeline alone vs ResNet-50 training at 224 px; add its JSON to the
        # --from-json list to give BENCHMARKS.md its section

Every architecture shared with ``keras.applications`` is compared against it and against its
timm/torchvision reference (a worker subprocess, interleaved call by call), plus a few other
models per family against timm/torchvision. The model lists below follow from the registry
(``ModelSpec.keras_twin``, ``params``, ``flops``) by the rule stated at each. See
``keras_convnets/benchmark.py`` for exactly what each number is, ``tools/benchmark_report.py``
for the report. (The committed BENCHMARKS.md merges several processes on the idle 2-core
machine -- the full settings on 11 models; the deep ResNets at 160 px; the ResNetV2 and
MobileNet keras-layout variants; the Inception, DenseNet and NAS twins; the input pipeline --
see its header for the exact commands.) Outputs: ``BENCHMARKS.md``
(repo root), ``docs/benchmarks/benchmark.json`` (every time of every round) and
``docs/benchmarks/throughput_vs_flops.png``.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

import benchmark_report  # noqa: E402
from keras_convnets import benchmark  # noqa: E402
from keras_convnets.registry import all_specs  # noqa: E402

# The default lists follow from the registry, so a new model or keras twin needs no edit here.
SPECS = {spec.name: spec for spec in all_specs()}


def by_flops(names):
    """``names`` cheapest first (FLOPs per image; unknown FLOPs last)."""
    return sorted(names, key=lambda name: SPECS[name].flops or float("inf"))


def _smallest_per_family(specs):
    """The model with the fewest parameters of each family among ``specs``."""
    smallest = {}
    for spec in sorted(specs, key=lambda spec: spec.params):
        smallest.setdefault(spec.family, spec.name)
    return list(smallest.values())


def _variant(name, options):
    """The ``NAME:option=value,...`` text that builds ``name`` with ``options``."""
    return f"{name}:" + ",".join(f"{k}={v!r}" for k, v in options.items())


#: every registry model with a keras.applications twin, cheapest first
SHARED = by_flops(name for name, spec in SPECS.items() if spec.keras_twin)
#: our builds in keras.applications' layout where our default differs (compared with keras),
#: from each twin's ``layout_options``
KERAS_LAYOUTS = [_variant(name, SPECS[name].keras_twin.layout_options) for name in SHARED
                 if SPECS[name].keras_twin.layout_options]
#: a few more per family, against timm/torchvision only: of every family without a keras
#: twin, its smallest model (fewest parameters) that has a timm/torchvision reference
_TWIN_FAMILIES = {SPECS[name].family for name in SHARED}
OTHERS = by_flops(_smallest_per_family(
    spec for spec in SPECS.values() if spec.family not in _TWIN_FAMILIES
    and spec.params and benchmark.torch_reference(spec.name)))
#: construction time alone, of the registry's largest model (most parameters)
CONSTRUCTION_ONLY = [max((s for s in SPECS.values() if s.params), key=lambda s: s.params).name]
#: the --quick run times TFLite on these only (conversion dominates otherwise): the four
#: cheapest twins (compared with keras' TFLite too) and the cheapest of OTHERS
QUICK_TFLITE = SHARED[:4] + OTHERS[:1]

#: why we are slower where we are (diagnosed by hand; printed under the tables)
EXPLANATIONS = {
    "the graphs": (
        "against keras.applications the inference graphs are op-for-op the same or leaner "
        "(counted from the traced `tf.function` graphs): ResNet-50 has the same 53 Conv2D, "
        "49 ReLU and 16 Add, without keras' 53 conv BiasAdds and the per-call reshapes of its "
        "axis=3 BatchNorm; our BatchNorm is one `FusedBatchNormV3` per layer (forward and "
        "gradient) where Keras 3 runs several elementwise ops, which is most of the training "
        "step gain; MobileNet v1/v2/v3 have one more Pad (the stride-2 stem: PyTorch pads 1 "
        "pixel on every side, keras' 'same' only bottom/right); Xception has 4 PadV2 (the "
        "-inf padding that PyTorch-exact pooling of signed maps needs)."),
    "resnet50v2 / 101v2 / 152v2 (default layout)": (
        "not the same network as keras' ResNetV2: ours is timm's resnetv2 (and the paper's "
        "Torch code), which strides the first block of stages 2-4; keras.applications "
        "(TF-Slim's layout) strides the last block of stages 1-3, so the 1x1 convolutions "
        "before each stride run at half the resolution: 15% fewer FLOPs at 224 px (6.96 vs "
        "8.18 GFLOPs) at the same GFLOP/s. The rows `(stride_in_last_block=True)` build keras' "
        "layout with our code and compare like with like."),
    "MobileNetV3 latency": (
        "batch-1 latency 0.93-0.94x keras (Large 0.82-0.98 over the rounds, Small 0.82-1.05) "
        "while batch-16 throughput is 0.98-1.06x and the training step 1.34-1.49x: the graphs "
        "differ only by the SE blocks' FCs (MatMul on the pooled vector, keras: 1x1 Conv2D) "
        "and the Pads before the strided convolutions (PyTorch-exact symmetric padding), a "
        "few small ops that weigh at batch 1 only. Built with keras' padding "
        "(`strided_padding='same'`, its own process) the MobileNets' batch-1 latency is "
        "1.04-1.13x keras (V3-Large 1.05x, V3-Small 1.04x, v1 and v2 1.13x)."),
    "training vs PyTorch": (
        "this run's CPU has AVX-512, where TensorFlow turns oneDNN on by default: every model "
        "trains faster than torch (1.17-2.41x), grouped convolutions included (ResNeXt-50 "
        "1.47x, SE-ResNeXt-50 1.41x; inference 1.26-1.51x). On the other CPU kind our "
        "machines come in (AVX2, no AVX-512), TensorFlow leaves oneDNN off and its CPU "
        "convolution gradients are Eigen's: docs/benchmarks/benchmark_no_onednn.md measures "
        "that case (emulated on this CPU), where every model trains at 0.68-0.80x torch "
        "(ResNeXt-50 0.80x, SE-ResNeXt-50 0.73x, ResNet-18 0.68x) and infers at 0.88-2.02x. "
        "There `GroupConv2D` trains narrow groups (at most 4 input channels each) as a "
        "depthwise convolution + a sum per group, Eigen's fastest exact form for them "
        "(docs/benchmarks/grouped_conv_no_onednn.md: 3-12x for 1-2 channels per group, 2x "
        "for 4 at batch 4, 1.25x for ResNeXt-50's first stage at batch 16), and the per-group "
        "custom gradient elsewhere; what keeps ResNeXt-50 below torch there is Eigen's "
        "convolution gradients in general (ResNet-18 and MobileNet, without groups, are "
        "further behind), not the grouping. `TF_ENABLE_ONEDNN_OPTS=1` (set before TensorFlow "
        "is imported) turns oneDNN on for such a CPU: 1.14-1.73x torch in training in the same "
        "emulation, but batch-1 latency 0.11-0.16x (docs/benchmarks/benchmark_onednn_avx2.md), "
        "so it is advice for training jobs, not a default."),
    "deep ResNets at 160 px": (
        "resnet101/152 and their v2 twins run at 160 px (in separate processes, "
        "docs/benchmarks/benchmark_deep*.json) to keep the run short; the ratios pair both "
        "sides at that size. Their default layout (timm's) has more FLOPs than keras' "
        "(see the v2 note), hence 0.94x latency and 0.93-0.96x throughput for the v2 rows "
        "(resnet50v2 at 224 px: 0.86x and 0.92x); in keras' own layout "
        "(`stride_in_last_block=True`, the deep rows 7 rounds) throughput is 1.02-1.03x and "
        "latency 0.97-1.00x, parity within the rounds' spread, the graphs differing only by "
        "keras' biases and our fused BatchNorm; training is 1.23-1.44x in either layout."),
    "TFLite, MobileNets": (
        "keras pads stride-2 convolutions bottom/right, which the converter folds into SAME "
        "padding; ours pad symmetrically (PyTorch-exact outputs), 5 PAD ops that XNNPACK fuses "
        "into the convolution after each. `strided_padding='same'` builds keras' padding (no "
        "PAD op: the rows so marked, docs/benchmarks/benchmark_mobilenet_same_padding.json): "
        "its TFLite ratios stay 0.88-0.97x, so the PADs are not the gap. The control "
        "(docs/benchmarks/tflite_control.md, `python tools/tflite_control.py`) loads keras' own "
        "file into two interpreters beside ours: the two copies of one file time 0.77-1.43x "
        "of their mean and ours 0.66-1.37x, in either padding, depending on the interpreter "
        "instance. A TFLite ratio within about 0.7-1.4x here -- MobileNet v1/v2 and ResNet-50 "
        "at 0.89-1.00x float32 and 0.91-0.92x int8 in the main run, MobileNetV3-Small 0.84x "
        "float32 -- is not a property of the graphs."),
    "NASNet rows": (
        "measured in a separate process (docs/benchmarks/benchmark_nas.json), same machine "
        "and day: NASNet-A Mobile 1.06-1.13x and Large 1.08-1.16x keras in all three measures "
        "(same trainable counts; our BatchNorm is one fused op per layer, as in the other "
        "families; the graphs were not compared op by op)."),
    "int8 vs float32": (
        "int8 is faster than float32 for every model here: ResNet-50 6.5x, MobileNet v1 and "
        "v2 3.1x, ShuffleNet v2 1.76x, MobileNetV3-Large 1.59x, MobileNetV3-Small 1.20x (the "
        "last column; keras' MobileNetV3s run int8 3.4-3.5x slower than ours: their fused "
        "int8 HARD_SWISH falls off XNNPACK, which our export avoids by writing h-swish as "
        "int8 ADD/MUL ops with its 1/6 folded into the next layers' kernels). These columns "
        "time one interpreter per file, and two interpreters of one file can differ 0.77-1.43x "
        "(docs/benchmarks/tflite_control.md); over 8 fresh interpreters per file "
        "(docs/benchmarks/tflite_instances.md) int8 is ResNet-50 7.2x, MobileNet v1 3.0x, "
        "MobileNetV2 and ShuffleNet v2 1.55x, MobileNetV3-Large 1.36x and MobileNetV3-Small "
        "1.05x float. Both MobileNetV3s stay below issue 19's 1.5x: their int8 stem "
        "convolution and depthwise convolutions are slower than float on this CPU "
        "(docs/benchmarks/tflite_int8.md, `python tools/profile_tflite.py`, and "
        "docs/compression.md)."),
    "XLA": (
        "every Keras number here is without XLA, which is also what users get: the training "
        "job leaves Keras 3's `jit_compile='auto'`, which turns XLA off on CPU-only machines "
        "and under `tf.distribute`, on for a single GPU. An earlier probe on the AVX2 "
        "machine kind found XLA +3% for ResNet-50 and +11% for DenseNet-121 but 16x slower for "
        "MobileNetV2 (depthwise convolutions) on CPU, so no CPU default changes; GPUs were "
        "not measured (none was lent: docs/benchmarks/gpu.md), so no per-family GPU "
        "`jit_compile` default was chosen."),
    "VGG and Inception rows": (
        "measured in a separate process (docs/benchmarks/benchmark_inception.json), same "
        "machine and day. VGG16/19: ours and keras' trace to the same graph op for op (13 or "
        "16 Conv2D with BiasAdd and Relu, 5 MaxPool, 3 MatMul; counted from the `tf.function` "
        "graphs), so their ratio is 1.00 by construction and the measured 0.95-1.02 is the "
        "rounds' spread, not a difference. InceptionV3 and InceptionResNetV2 are faster in all "
        "three (1.01-1.19x): one fused BatchNorm per layer, as for the ResNets."),
    "DenseNet rows and the memory-efficient DenseNet": (
        "measured in a separate process (docs/benchmarks/benchmark_densenet.json), same "
        "machine and day: DenseNet-121/169/201 latency 1.03-1.08x, throughput 1.10-1.11x and "
        "training 1.45-1.52x keras (one fused BatchNorm per layer). `memory_efficient=True` "
        "(DenseNet-121, 224 px, batch 32, each build in its own process, `python "
        "tools/training_memory.py densenet121 densenet121:memory_efficient=True`): peak "
        "training memory 4,934 -> 3,205 MB (-35%) for a 1.31x slower step: "
        "docs/benchmarks/training_memory.md."),
    "torch": (
        "the torch worker runs with OMP_WAIT_POLICY=PASSIVE: on an oversubscribed machine "
        "torch's spinning OpenMP threads made a MobileNetV3 training step 5-10x slower in a "
        "probe, which would have measured the load, not torch."),
    "memory": (
        "RSS deltas in a process that builds many models are only indicative: negative "
        "construction figures are memory the allocator returned while the model was built "
        "(earlier models freed), 0 a warm-up that fitted in memory already held."),
    "% of matmul peak": (
        "the probe (a 2048x2048 float32 `tf.matmul`) reached 300-357 GFLOP/s in this run's "
        "processes (it varies with the clock the cores get); oneDNN's convolution kernels run "
        "the large ResNet-18 convolutions slightly faster than that matmul (102%). The fraction "
        "is a lower bound on how close to the machine a model runs; the FP32 peak column is "
        "the ceiling."),
    "% of FP32 peak": (
        "the CPU's theoretical float32 peak (`keras_convnets.benchmark.fp32_peak`: physical "
        "cores x FMA units per core x SIMD lanes x 2 x clock, from /proc/cpuinfo and the "
        "process' CPU affinity): 333 GFLOP/s at this machine's reported 2.60 GHz. The matmul "
        "probe reaching up to 107% of it, and VGG16 running at 106%, means the cores ran "
        "above the reported clock (turbo; the hypervisor reports the nominal one) or oneDNN's "
        "Winograd kernels did fewer multiplications than the direct count. Read the fraction "
        "as relative to the reported clock, and give `KERAS_CONVNETS_CPU_GHZ` the all-core "
        "turbo clock where it is known."),
    "input pipeline": (
        "measured on the idle machine in its own process (docs/benchmarks/input_pipeline.json): "
        "the pipeline alone streams 1,397 images/s from the JPEG files (2,707 from the "
        "decoded cache) against ResNet-50's 9.4 training images/s at 224 px: 149x, far above "
        "issue 19's 3x, so it never starves training on this CPU; the decoded in-memory cache "
        "(`cache='auto'` keeps datasets whose decoded images fit in 1 GiB) saves the JPEG "
        "decoding every epoch."),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+",
                   help="models to run (default: SHARED + OTHERS + KERAS_LAYOUTS); "
                        "NAME:option=value,... builds a layout variant of ours, e.g. "
                        "resnet50v2:stride_in_last_block=True")
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
    p.add_argument("--input-pipeline", action="store_true",
                   help="also time the input pipeline alone on generated JPEG files next to "
                        "--pipeline-model's training step (alone when no --models are given)")
    p.add_argument("--pipeline-model", default="resnet50",
                   help="the model the input pipeline is compared with (default resnet50)")
    p.add_argument("--pipeline-images", type=int, default=256,
                   help="JPEG files to generate for --input-pipeline")
    p.add_argument("--construct", nargs="+", metavar="NAME",
                   help=f"construction time only of these models (default with the full "
                        f"suite: {', '.join(CONSTRUCTION_ONLY)})")
    p.add_argument("--note", action="append", metavar="TOPIC: TEXT",
                   help="a note under the tables in place of BENCHMARKS.md's own (repeatable; "
                        "for a run written to a file of its own)")
    return p.parse_args(argv)


def notes(args):
    """BENCHMARKS.md's notes, or the ``--note TOPIC: TEXT`` ones given instead."""
    if not getattr(args, "note", None):
        return EXPLANATIONS
    return dict(note.split(": ", 1) if ": " in note else ("note", note) for note in args.note)


def write_outputs(results, args, command):
    text = benchmark_report.render_markdown(results, command=command, explanations=notes(args))
    if os.path.exists(args.plot) or any(m.get("throughput_ips") for m in results["models"]):
        try:
            benchmark_report.plot_throughput_vs_flops(results, args.plot)
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
        if part.get("input_pipeline"):  # its own section, with its own machine and load
            results["input_pipeline"] = part["input_pipeline"]
            if not part.get("models"):
                continue
        results["models"] += part.get("models", [])
        names = {c["name"] for c in part.get("construction", [])}  # a later run replaces
        results["construction"] = [c for c in results["construction"] if c["name"] not in names]
        results["construction"] += part.get("construction", [])
        results["wall_s"] = max(results.get("wall_s", 0), part.get("wall_s", 0))
        for key, value in part.get("machine", {}).items():  # facts an older part lacks
            results["machine"].setdefault(key, value)
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
    # cheapest first, so the deep models come last (a long run can be split there)
    names = args.models if args.models is not None else by_flops(SHARED + OTHERS) + KERAS_LAYOUTS
    if (args.construct or args.input_pipeline) and not args.models:
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
        construction_only=args.construct or (() if args.models or args.input_pipeline
                                             else CONSTRUCTION_ONLY),
        on_model=save)
    if args.input_pipeline:
        results["input_pipeline"] = {
            **benchmark.input_pipeline(
                args.pipeline_model, image_size=args.image_size or 224,
                batch_size=args.batch_size, images=args.pipeline_images, repeats=repeats,
                warmup=warmup, threads=args.threads),
            "machine": results["machine"], "fp32_peak": results.get("fp32_peak"),
            "peak": results.get("peak"), "command": command}
        results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    save(results)
    write_outputs(results, args, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
