"""Op-by-op profile of a model's float32 and int8 TFLite files on the LiteRT interpreter, and the
int8-over-float speed-ups of the mobile models -> docs/benchmarks/tflite_int8.md / .json.

    python tools/profile_tflite.py                         # the committed report (5 models)
    python tools/profile_tflite.py --models mobilenetv3small --rounds 5 --out /tmp/p.md
    python tools/profile_tflite.py --profile mobilenetv3large   # op table of one model, printed

LiteRT's per-op profiler (``benchmark_model --enable_op_profiling``) is a C++ tool; the Python
interpreter (``ai_edge_litert`` and ``tf.lite``) exposes no profiler, so per-op times here come
from a documented substitute: **single-op models**. Each operator of the converted graph is cut
out into a model of its own (the same tensors, weights and quantisation parameters, the op's
non-constant inputs as the model's inputs) and timed alone on the same interpreter options
(default XNNPACK delegate, same threads). Their sum exceeds the whole model's time by the
per-invoke overhead of each small model and misses what the delegate saves by running
consecutive ops in one partition, but it ranks the op types correctly, and which ops the
XNNPACK delegate takes is read exactly: with ``experimental_disable_delegate_node_fusion`` each
delegated op becomes its own ``DELEGATE`` node, so an op whose outputs no ``DELEGATE`` node
produces runs on the builtin kernels ("fallback" below).

What h-swish and the SE blocks cost inside the delegated graph (where XNNPACK fuses and
single-op times miss it) comes from **ablations** of the MobileNetV3s: the whole model traced
with h-swish replaced by ReLU and/or the SE blocks by identity -- wrong models, converted only
to be timed beside the real one.

Files per model (``FORMS``): float32, the default int8 export (h-swish folded into the next
layers' kernels where it can be: ``int8_hard_swish="folded"``), and the two earlier int8 forms of
h-swish, ``"decomposed"`` and ``"fused"``, timed beside it.

Latencies: batch 1, ``invoke()`` only (input set once), every file of a model timed in the same
rounds (interleaved, the order rotating, calls 5 ms apart so that one interpreter's spinning
XNNPACK threads do not slow the next), median over rounds (at least ``--rounds``, as many as
fit in 6 s), all in one process with the same ``num_threads``; the int8 speed-up is
median(float ms) / median(int8 ms). The models are built with random weights
(``weights=None``, as BENCHMARKS.md) and calibrated on 8 random images: the latency does not
depend on the weights' values.
"""

import argparse
import collections
import datetime
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

MODELS = ("mobilenetv2", "mobilenetv3large", "mobilenetv3small", "resnet50", "shufflenetv2_1x")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "benchmarks",
                   "tflite_int8.md")


def machine():
    """``(cpu model, widest SIMD / int8 dot-product flags, logical cores)`` from /proc/cpuinfo."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model in ("unknown", "x86_64", ""):
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    simd = [flag for flag in ("avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "avx2")
            if flag in flags]
    return model, simd, os.cpu_count()


def _interpreter(blob, threads, **options):
    from keras_convnets.optimize import tflite

    interpreter = tflite.make_interpreter(blob, num_threads=threads, **options)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        shape = tuple(int(d) for d in detail["shape"])
        interpreter.set_tensor(detail["index"], np.zeros(shape, detail["dtype"]))
    return interpreter


def delegation(blob, threads=1):
    """``[(op index, op name, delegated)]`` in graph order for the default XNNPACK delegate."""
    interpreter = _interpreter(blob, threads, experimental_disable_delegate_node_fusion=True)
    ops = interpreter._get_ops_details()
    produced = {int(t) for op in ops if op["op_name"] == "DELEGATE" for t in op["outputs"]}
    return [(op["index"], op["op_name"], bool({int(t) for t in op["outputs"]} & produced))
            for op in ops if op["op_name"] != "DELEGATE"]


def _single_op_model(model_object, op_index):
    """The flatbuffer of a model running only operator ``op_index`` of ``model_object``."""
    import copy

    from ai_edge_litert.tools import flatbuffer_utils

    model = copy.deepcopy(model_object)
    subgraph = model.subgraphs[0]
    op = subgraph.operators[op_index]
    constant = {i for i, t in enumerate(subgraph.tensors)
                if model.buffers[t.buffer].data is not None and len(model.buffers[t.buffer].data)}
    subgraph.operators = [op]
    subgraph.inputs = [int(i) for i in op.inputs if i >= 0 and int(i) not in constant]
    subgraph.outputs = [int(i) for i in op.outputs]
    model.signatureDefs = []
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _time_calls(calls, rounds, gap=0.0):
    """``{key: [seconds per round]}``: each round calls every ``calls[key]`` once, rotating,
    ``gap`` seconds apart (not timed)."""
    times = collections.defaultdict(list)
    keys = list(calls)
    for r in range(rounds):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            if gap:
                time.sleep(gap)
            start = time.perf_counter()
            calls[key]()
            times[key].append(time.perf_counter() - start)
    return times


def profile(blob, threads, repeats=20):
    """Per-op rows ``{index, op, dtype, shape, delegated, ms}`` of a flatbuffer, each op timed
    as a single-op model (median of ``repeats`` after 3 warm-up calls)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model_object = flatbuffer_utils.read_model_from_bytearray(bytearray(blob))
    subgraph = model_object.subgraphs[0]
    delegated = delegation(blob, threads)
    rows = []
    for index, name, on_xnnpack in delegated:
        op = subgraph.operators[index]
        output = subgraph.tensors[op.outputs[0]]
        dtype = flatbuffer_utils.type_to_name(output.type).lower()
        try:
            interpreter = _interpreter(_single_op_model(model_object, index), threads)
            for _ in range(3):
                interpreter.invoke()
            ms = 1000 * statistics.median(_time_calls({0: interpreter.invoke}, repeats)[0])
        except (RuntimeError, ValueError) as exc:  # pragma: no cover - reported, not fatal
            ms = float("nan")
            print(f"  op {index} {name}: {exc}", file=sys.stderr)
        rows.append({"index": index, "op": name, "dtype": dtype,
                     "shape": [int(d) for d in output.shape], "delegated": on_xnnpack,
                     "ms": ms})
    return rows


def by_type(rows):
    """``{(op, dtype, delegated): (count, ms)}`` summed over ``rows``."""
    table = collections.defaultdict(lambda: [0, 0.0])
    for row in rows:
        entry = table[(row["op"], row["dtype"], row["delegated"])]
        entry[0] += 1
        entry[1] += row["ms"]
    return dict(sorted(table.items(), key=lambda item: -item[1][1]))


#: the files timed per model: float32, the default int8 export (h-swish folded), and the two
#: earlier int8 forms of h-swish (``int8_hard_swish="decomposed"`` and ``"fused"``)
FORMS = ("float32", "int8", "int8 decomposed", "int8 fused h-swish")
HARD_SWISH_FORM = {"int8": "folded", "int8 decomposed": "decomposed",
                   "int8 fused h-swish": "fused"}


#: an experiment, not an export option: the int8 file with the stem (its convolution and
#: activation) left in float, timed for the MobileNetV3s (see float_stem_int8)
FLOAT_STEM = "int8, float stem (experiment)"


def float_stem_int8(model, images):
    """The default int8 file of ``model`` with its first operators -- up to the first
    ``PAD``/``CONV_2D``/``DEPTHWISE_CONV_2D`` after the first ``CONV_2D``: the stem convolution
    and its activation -- kept in float and a ``QUANTIZE`` after them. Uses TensorFlow's
    private calibrate-then-quantize path with a node denylist (what
    ``tf.lite.experimental.QuantizationDebugger`` does), so it is measured here only: the int8
    stem convolution (3 input channels, 16 outputs at 112x112) is 3x slower than float on
    XNNPACK (op profile)."""
    from tensorflow.lite.python import convert as tflite_convert

    from keras_convnets.optimize import tflite

    set_quantization = tflite._set_quantization

    def calibrate_only(converter, *args, **kwargs):
        set_quantization(converter, *args, **kwargs)
        converter._experimental_calibrate_only = True

    tflite._set_quantization = calibrate_only
    try:
        calibrated = tflite.convert(model, quantization="int8", representative_data=images,
                                    num_samples=len(images))
    finally:
        tflite._set_quantization = set_quantization
    interpreter = tflite.make_interpreter(calibrated, delegates=False)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    first = next(i for i, op in enumerate(ops) if op["op_name"] == "CONV_2D")
    end = next(i for i, op in enumerate(ops) if i > first and op["op_name"] in (
        "PAD", "CONV_2D", "DEPTHWISE_CONV_2D"))
    return tflite_convert.mlir_quantize(
        calibrated, denylisted_nodes=[names[int(op["outputs"][0])] for op in ops[:end]])


def convert_all(name, image_size=224, forms=FORMS):
    """``{form: flatbuffer}`` of the registry model ``name`` (random weights), and for the
    MobileNetV3s the :data:`FLOAT_STEM` experiment."""
    import keras_convnets as kc
    from keras_convnets.optimize import tflite

    model = kc.get_spec(name).builder(input_shape=(image_size, image_size, 3), weights=None)
    images = np.random.default_rng(0).uniform(-1, 1, (8, image_size, image_size, 3))
    images = images.astype("float32")
    blobs = {}
    for form in forms:
        if form == "float32":
            blobs[form] = tflite.convert(model)
        else:
            blobs[form] = tflite.convert(
                model, quantization="int8", representative_data=images, num_samples=8,
                int8_hard_swish=HARD_SWISH_FORM[form])
    if name.startswith("mobilenetv3") and forms == FORMS:
        blobs[FLOAT_STEM] = float_stem_int8(model, images)
    return blobs


#: seconds between two timed calls: XNNPACK's worker threads spin a while after each call, and
#: on a 2-core machine the previous interpreter's spinning pool would slow the next call down
GAP = 0.005


#: each model's files are timed for at least this many seconds in all (more rounds for the
#: fast models: their medians are the ones a shared CPU's load disturbs most)
SECONDS = 6.0


def latencies(blobs, threads, rounds, gap=GAP, seconds=SECONDS):
    """``{form: {"ms": median, "min_ms": fastest, "rounds": [...]}}``, the forms interleaved in
    the same rounds (at least ``rounds``, more where ``seconds`` allows, at most 2000); a form
    whose file is byte-identical to an earlier one's shares its timings."""
    same = {}
    for form, blob in blobs.items():
        same[form] = next(f for f, b in blobs.items() if b == blob)
    interpreters = {form: _interpreter(blob, threads) for form, blob in blobs.items()
                    if same[form] == form}
    for interpreter in interpreters.values():
        for _ in range(3):
            interpreter.invoke()

    calls = {form: it.invoke for form, it in interpreters.items()}
    one_round = sum(min(_time_calls({0: call}, 3)[0]) + gap for call in calls.values())
    rounds = min(2000, max(rounds, int(seconds / one_round)))
    times = _time_calls(calls, rounds, gap)
    return {form: {"ms": 1000 * statistics.median(times[same[form]]),
                   "min_ms": 1000 * min(times[same[form]]),
                   "rounds": [1000 * s for s in times[same[form]]],
                   **({"same_file_as": same[form]} if same[form] != form else {})}
            for form in blobs}


ABLATIONS = ("as built", "h-swish as ReLU", "no SE", "h-swish as ReLU, no SE")


def ablations(name, threads, rounds, image_size=224):
    """Whole-graph cost of MobileNetV3's h-swish and SE blocks: ``{variant: {form: ms}}`` for
    float32 and int8 files of the model as built and traced with h-swish replaced by ReLU and/or
    the SE blocks by identity. The variants are *wrong* models, converted only to measure what
    those ops cost inside the delegated graph (single-op times miss XNNPACK's fusions); all
    eight files are timed in the same rounds."""
    import keras_convnets as kc
    from keras_convnets.backend import tf
    from keras_convnets.layers import activations, se_block
    from keras_convnets.optimize import tflite

    model = kc.get_spec(name).builder(input_shape=(image_size, image_size, 3), weights=None)
    images = np.random.default_rng(0).uniform(-1, 1, (8, image_size, image_size, 3))
    images = images.astype("float32")
    # the layer's call, so that folded and unfolded h-swish are replaced alike
    swish_call, se_call = activations.HardSwish.call, se_block.SEBlock.call
    blobs = {}
    try:
        for variant in ABLATIONS:
            activations.HardSwish.call = (lambda self, x: tf.nn.relu(x)) if "ReLU" in variant \
                else swish_call
            se_block.SEBlock.call = (lambda self, inputs, training=None: inputs) \
                if "no SE" in variant else se_call
            blobs[(variant, "float32")] = tflite.convert(model)
            blobs[(variant, "int8")] = tflite.convert(
                model, quantization="int8", representative_data=images, num_samples=8)
    finally:
        activations.HardSwish.call, se_block.SEBlock.call = swish_call, se_call
    timed = latencies({f"{v}|{f}": b for (v, f), b in blobs.items()}, threads, rounds)
    table = {}
    for key, result in timed.items():
        variant, form = key.split("|")
        table.setdefault(variant, {})[form] = result["ms"]
    return table


def _log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _type_table(rows_by_form):
    """Markdown lines: op type x form -> count, delegated?, single-op ms."""
    keys = []
    for rows in rows_by_form.values():
        for row in rows:
            if row["op"] not in keys:
                keys.append(row["op"])
    label = {"int8": "int8 now (folded)"}
    lines = ["| op | " + " | ".join(f"{label.get(form, form)}: n, on XNNPACK, ms"
                                    for form in rows_by_form) + " |",
             "|---|" + "---:|" * len(rows_by_form)]
    totals = {form: sum(r["ms"] for r in rows) for form, rows in rows_by_form.items()}
    order = sorted(keys, key=lambda op: -max(
        sum(r["ms"] for r in rows if r["op"] == op) for rows in rows_by_form.values()))
    for op in order:
        cells = []
        for rows in rows_by_form.values():
            mine = [r for r in rows if r["op"] == op]
            if not mine:
                cells.append("-")
                continue
            on = sum(r["delegated"] for r in mine)
            where = "all" if on == len(mine) else "none" if not on else f"{on}/{len(mine)}"
            cells.append(f"{len(mine)}, {where}, {sum(r['ms'] for r in mine):.2f}")
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    lines.append("| sum of single-op times | " + " | ".join(
        f"{totals[form]:.2f}" for form in rows_by_form) + " |")
    return lines


def write_report(path, results, profiles, ablated, args, seconds):
    model, simd, cores = machine()
    from keras_convnets.backend import tf

    try:
        from importlib.metadata import version
        litert = version("ai-edge-litert")
    except Exception:  # pragma: no cover
        litert = "?"
    with open(os.path.splitext(path)[0] + ".json", "w") as f:
        json.dump({"machine": {"cpu": model, "flags": simd, "cores": cores},
                   "tensorflow": tf.__version__, "ai_edge_litert": litert,
                   "threads": args.threads, "rounds": args.rounds,
                   "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                   "latencies": results, "profiles": profiles, "ablations": ablated},
                  f, indent=1)
    lines = [
        "# int8 vs float32 TFLite latency (LiteRT, batch 1)",
        "",
        f"Generated by `python tools/profile_tflite.py{args.command}` on "
        f"{datetime.date.today().isoformat()} ({seconds / 60:.0f} min): {model}, {cores} "
        f"logical cores, flags {', '.join(simd) or 'none of avx2/avx512f'}; TensorFlow "
        f"{tf.__version__} (converter), ai-edge-litert {litert} (interpreter, default XNNPACK "
        f"delegate). The CPU was shared with other jobs while this "
        f"ran: the absolute times carry their load; the ratios pair calls of the same rounds "
        f"in one process, which is what counts.",
        "",
        "- **int8 fused**: `tflite.convert(model, quantization='int8', "
        "int8_hard_swish='fused')` -- the first export: the converter fuses h-swish into "
        "one `HARD_SWISH` op, which XNNPACK does not run in int8.",
        "- **int8 decomposed**: `int8_hard_swish='decomposed'` -- h-swish traced as "
        "`(x * 1/6) * relu6(x + 3)`: int8 `MUL`, `ADD` (ReLU6 fused), `MUL`, all on XNNPACK.",
        "- **int8 now**: `tflite.convert(model, quantization='int8')` (`int8_hard_swish="
        "'folded'`) -- where an h-swish feeds only linear layers (through padding, pooling, "
        "dropout, SE blocks), its `1/6` is folded into their kernels and it is traced as "
        "`x * relu6(x + 3)`: one `MUL` fewer per h-swish (see docs/compression.md).",
        "- float32: `tflite.convert(model)`, unchanged.",
        "",
        "| model | threads | float32 ms | int8 ms: fused / decomposed / now | "
        "speed-up: fused / decomposed | speed-up now (rounds) | "
        "fastest calls: speed-up fused / decomposed / now | rounds | "
        "partitions: fused / decomposed / now | ops off XNNPACK now |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    earlier = ("int8 fused h-swish", "int8 decomposed", "int8")
    for name, result in results.items():
        for threads, latency in result["latency"].items():
            ms = {form: r["ms"] for form, r in latency.items()}
            fastest = {form: r["min_ms"] for form, r in latency.items()}
            per_round = [f / q for f, q in zip(latency["float32"]["rounds"],
                                               latency["int8"]["rounds"])]
            same = all(latency[form].get("same_file_as", form) == "int8" for form in earlier)
            shown = f"(same file) {ms['int8']:.2f}" if same else \
                " / ".join(f"{ms[form]:.2f}" for form in earlier)
            lines.append(
                f"| {name} | {threads} | {ms['float32']:.2f} | {shown} | "
                + " / ".join(f"{ms['float32'] / ms[form]:.2f}x" for form in earlier[:2])
                + f" | **{ms['float32'] / ms['int8']:.2f}x** ({min(per_round):.2f}-"
                f"{max(per_round):.2f}) | "
                + " / ".join(f"{fastest['float32'] / fastest[form]:.2f}x" for form in earlier)
                + f" | {len(per_round)} | "
                + " / ".join(str(result["partitions"][form]) for form in earlier) + " | "
                + (", ".join(f"{op} x{n}" for op, n in result["fallback"]["int8"].items())
                   or "-") + " |")
    lines += ["", f"Medians of at least {args.rounds} interleaved rounds (as many as fit "
              f"in {SECONDS:.0f} s per model and thread count, up to 2000) after 3 warm-up "
              "calls each; `fastest calls`: the ratio of each file's fastest call, the least "
              "disturbed by other jobs. The calls are "
              f"{GAP * 1000:.0f} ms apart (untimed: XNNPACK's worker threads spin "
              "after a call and would slow the next interpreter's call on 2 cores); in brackets "
              "the range of the per-round float/int8 ratios (int8 now). `(same file)`: the model "
              "has no h-swish, the three int8 exports are byte-identical. "
              "Partitions: the `DELEGATE` nodes XNNPACK makes of the graph (1 means all of it "
              "runs in one delegate call; every op it refuses splits the graph)."]
    stems = [(name, threads, latency) for name, result in results.items()
             for threads, latency in result["latency"].items() if FLOAT_STEM in latency]
    if stems:
        lines += ["", "## Experiment: the MobileNetV3 stem left in float", "",
                  "The int8 file (now) with the stem convolution and its h-swish kept in float "
                  "and a `QUANTIZE` after them (`float_stem_int8` in the tool: TensorFlow's "
                  "private calibrate-then-quantize path with a node denylist; not an export "
                  "option). Same rounds as the table above.", "",
                  "| model | threads | float32 ms | int8 now ms | float stem ms | "
                  "speed-up now | speed-up float stem | fastest calls: now / float stem |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, threads, latency in stems:
            ms = {form: r["ms"] for form, r in latency.items()}
            fastest = {form: r["min_ms"] for form, r in latency.items()}
            lines.append(
                f"| {name} | {threads} | {ms['float32']:.2f} | {ms['int8']:.2f} | "
                f"{ms[FLOAT_STEM]:.2f} | {ms['float32'] / ms['int8']:.2f}x | "
                f"**{ms['float32'] / ms[FLOAT_STEM]:.2f}x** | "
                f"{fastest['float32'] / fastest['int8']:.2f}x / "
                f"{fastest['float32'] / fastest[FLOAT_STEM]:.2f}x |")
    for name, table in ablated.items():
        full = table[ABLATIONS[0]]
        lines += ["", f"## What h-swish and the SE blocks cost inside the graph: {name}", "",
                  f"The whole model's median latency ({args.threads[0]} threads, interleaved "
                  "rounds as above) as built and traced with h-swish replaced by ReLU and/or "
                  "the SE blocks by identity: *wrong* models, converted only to measure what "
                  "those ops cost in the delegated graph. int8 is the current export "
                  "(h-swish folded where it can be).", "",
                  "| variant | float32 ms | int8 ms | int8 speed-up | cost float / int8 ms |",
                  "|---|---:|---:|---:|---:|"]
        for variant in ABLATIONS:
            ms = table[variant]
            cost = "-" if variant == ABLATIONS[0] else \
                f"{full['float32'] - ms['float32']:.2f} / {full['int8'] - ms['int8']:.2f}"
            lines.append(f"| {variant} | {ms['float32']:.2f} | {ms['int8']:.2f} | "
                         f"{ms['float32'] / ms['int8']:.2f}x | {cost} |")
    for name, by_form in profiles.items():
        lines += ["", f"## Op profile: {name}", "",
                  f"Single-op models (see the tool's docstring), {args.threads[0]} threads; "
                  "`on XNNPACK` is exact, the ms are each op's own cost alone (an invoke's "
                  "overhead is under 0.01 ms: see RESHAPE). In the whole graph XNNPACK fuses "
                  "each PAD into the convolution after it, float and int8 alike (a PAD + "
                  "stride-2 depthwise convolution times the same as a SAME-padded one), so the "
                  "PAD row costs nothing there. The columns are timed one after "
                  "another (not interleaved), so on a shared CPU they differ by its load too: "
                  "compare op types within a column.", ""]
        lines += _type_table(by_form)
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--profile", nargs="*", default=None,
                        help="models to profile op by op (default: the MobileNetV3s and "
                             "MobileNetV2); alone, prints the op table and writes nothing")
    parser.add_argument("--threads", type=int, nargs="+",
                        default=sorted({os.cpu_count(), 1}, reverse=True),
                        help="thread counts to time (the first also profiles)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    args.command = "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    start = time.time()
    if args.profile and "--models" not in (argv if argv is not None else sys.argv):
        for name in args.profile:
            blobs = convert_all(name, args.image_size)
            by_form = {form: profile(blob, args.threads[0]) for form, blob in blobs.items()
                       if form in FORMS}
            print(f"\n## {name}\n" + "\n".join(_type_table(by_form)))
        return 0
    profiled = args.profile if args.profile is not None else \
        [m for m in ("mobilenetv3large", "mobilenetv3small", "mobilenetv2") if m in args.models]
    results, profiles = {}, {}
    for name in args.models:
        _log(f"{name}: converting")
        blobs = convert_all(name, args.image_size)
        partitions, fallback = {}, {}
        for form, blob in blobs.items():
            ops = _interpreter(blob, args.threads[0])._get_ops_details()
            partitions[form] = sum(op["op_name"] == "DELEGATE" for op in ops)
            fallback[form] = dict(collections.Counter(
                op for _, op, on in delegation(blob, args.threads[0]) if not on))
        latency = {threads: latencies(blobs, threads, args.rounds) for threads in args.threads}
        results[name] = {"latency": latency, "partitions": partitions, "fallback": fallback,
                         "bytes": {form: len(blob) for form, blob in blobs.items()}}
        for threads, by_form in latency.items():
            _log(f"{name}, {threads} threads: " + ", ".join(
                f"{f} {r['ms']:.2f} ms" for f, r in by_form.items()))
        if name in profiled:
            profiles[name] = {form: profile(blob, args.threads[0])
                              for form, blob in blobs.items() if form in FORMS}
            _log(f"{name}: profiled")
    ablated = {}
    for name in args.models:
        if name.startswith("mobilenetv3"):
            ablated[name] = ablations(name, args.threads[0], args.rounds, args.image_size)
            _log(f"{name}: ablations measured")
    write_report(args.out, results, profiles, ablated, args, time.time() - start)
    _log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
