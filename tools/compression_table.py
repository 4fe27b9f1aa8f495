"""Size, CPU latency and digits accuracy of compressed models -> docs/benchmarks/compression.md.

    python tools/compression_table.py                  # the committed table (7-8 min here)
    python tools/compression_table.py --epochs 1 --repeats 5 --out /tmp/c.md   # a smoke test

For MobileNetV2, ShuffleNet v2 1x, ResNet-18 (reduced where named in the table) and
MobileNetV3-Small, trained
with SGD + Nesterov momentum and a cosine decay (as ``recipes/digits.py``) on the digits
(``keras_convnets.data.load_digits``: 1,437 training and 360 test images, upscaled to 32x32),
every compression the package offers is converted to TFLite and measured:

- ``float32``, ``float16``, ``dynamic`` and ``int8`` post-training quantisation of the trained
  model (:mod:`keras_convnets.optimize.tflite`; int8 calibrated on 200 training images);
- ``pruned``: magnitude pruning (:mod:`keras_convnets.optimize.pruning`, Zhu & Gupta 2017,
  arXiv:1710.01878) of the trained model to 50% sparsity in every prunable kernel while
  fine-tuning, stripped, then converted to float32 and to int8 -- a flatbuffer stores zeros
  like any weight, so pruning shows in the gzipped size;
- ``QAT``: quantisation-aware fine-tuning (:mod:`keras_convnets.optimize.qat`, Jacob et al.
  2018, arXiv:1712.05877) converted to int8. tfmot needs legacy Keras, so this part runs in a
  child process with ``TF_USE_LEGACY_KERAS=1`` (``--qat-worker``): it rebuilds each model with
  the same builder, loads the trained float weights (checking it reproduces the float accuracy),
  fine-tunes, converts and measures, and hands its rows back as JSON.

Latency is batch 1, the median of ``--repeats`` calls after warm-up, in one process per Keras
world: the TFLite file in the LiteRT interpreter (``ai-edge-litert``, its default XNNPACK
delegate, ``num_threads`` = the CPU count) and, beside it, the Keras model it came from called
through a ``tf.function`` (the float model for the PTQ rows, the stripped pruned model, the
QAT model). The pruned and QAT rows had extra fine-tuning epochs, so their accuracy is not only
the compression's doing.
"""

import argparse
import datetime
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from keras_convnets.backend import USE_LEGACY_KERAS, describe, keras, tf  # noqa: E402
from keras_convnets.benchmark import cpu_model  # noqa: E402

SIZE = 32
CLASSES = 10
#: 50%, not 75%: ShuffleNet v2 1x pruned to 75% does not recover in an affordable fine-tuning
#: (61-77% after 4 epochs, 68% after 6, chance at a higher rate, against 95% float); at 50% it
#: keeps 93%. One sparsity for the whole table.
SPARSITY = 0.5
#: the sparsity reaches SPARSITY at this fraction of the pruning fine-tuning's steps, then holds
PRUNE_END = 0.5
CALIBRATION = 200
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "benchmarks",
                   "compression.md")


def _quarter_resnet18(**kwargs):
    import dataclasses

    import keras_convnets as kc
    from keras_convnets.models.resnet import build_resnet

    config = kc.get_spec("resnet18").builder.config
    config = dataclasses.replace(config, widths=tuple(w // 4 for w in config.widths))
    return build_resnet("resnet18", config, **kwargs)


def _registry(name, **options):
    def build(**kwargs):
        import keras_convnets as kc

        return kc.get_spec(name).builder(**options, **kwargs)
    return build


#: (key, what the table calls it, builder, peak learning rate, pruning fine-tuning peak rate).
#: The same builders run in both Keras worlds. The rates follow recipes/digits.py (SGD +
#: Nesterov 0.9, cosine decay, peak 0.05), except MobileNetV2: at 0.05 it diverges on 32x32
#: digits (the training loss climbs from 4.5 to 5.4 in 4 epochs and the model ends at
#: chance, in training mode as well as in inference mode), so it gets 0.02. Pruning
#: fine-tunes at 0.005 (at 0.02 and 75% ShuffleNet's inference-mode accuracy fell to chance),
#: MobileNetV2 at 0.01 (it keeps 87% at 50% sparsity, 83% at 0.005).
MODELS = [
    ("mobilenetv2", "MobileNetV2, alpha 0.35 (full depth)", _registry("mobilenetv2", alpha=0.35),
     0.02, 0.01),
    ("shufflenetv2_1x", "ShuffleNet v2 1x", _registry("shufflenetv2_1x"), 0.05, 0.005),
    ("resnet18", "ResNet-18 at 1/4 width (16-128 channels)", _quarter_resnet18, 0.05, 0.005),
    # h-swish and hard-sigmoid SE gates: the int8 rows hold the export's default h-swish form
    # at the time of the run (tflite.convert's int8_hard_swish: "folded" since issue 19,
    # "decomposed" before; docs/compression.md)
    ("mobilenetv3small", "MobileNetV3-Small", _registry("mobilenetv3small"), 0.02, 0.01),
]
BATCH = 32
#: the QAT fine-tuning's peak rate, as a fraction of the model's training peak rate
QAT_RATE = 0.1


def build(key):
    builder = dict((k, b) for k, _, b, *_ in MODELS)[key]
    return builder(input_shape=(SIZE, SIZE, 3), classes=CLASSES)


def peak_rate(key):
    return dict((k, r) for k, _, _, r, _ in MODELS)[key]


def _compile(model, learning_rate, epochs, samples):
    """SGD + Nesterov momentum 0.9 with a cosine decay from ``learning_rate`` to 0 over
    ``epochs`` epochs of ``samples`` images (the digits recipe's optimiser)."""
    steps = epochs * -(-samples // BATCH)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])



def _median_ms(call, repeats):
    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def tflite_latency_ms(flatbuffer, image, repeats):
    from keras_convnets.optimize import tflite

    interpreter, delegated = tflite.allocated_interpreter(flatbuffer, num_threads=os.cpu_count())
    detail = interpreter.get_input_details()[0]
    value = image
    if np.issubdtype(detail["dtype"], np.integer):
        value = tflite.quantize(image, detail)

    def call():
        interpreter.set_tensor(detail["index"], value)
        interpreter.invoke()
    return _median_ms(call, repeats), delegated


def keras_latency_ms(model, image, repeats):
    function = tf.function(lambda x: model(x, training=False), autograph=False)
    tensor = tf.constant(image)
    return _median_ms(lambda: function(tensor).numpy(), repeats)


_KERAS_MEASURED = {}  # id(model) -> (model, latency, accuracy): the PTQ rows share one model


def _keras_measure(model, x_test, y_test, repeats):
    """``(latency ms, accuracy, top-1 predictions)`` of the Keras model."""
    if id(model) not in _KERAS_MEASURED:
        predictions = model.predict(x_test, batch_size=120, verbose=0).argmax(-1)
        _KERAS_MEASURED[id(model)] = (model, keras_latency_ms(model, x_test[:1], repeats),
                                      float(np.mean(predictions == y_test)), predictions)
    return _KERAS_MEASURED[id(model)][1:]


def measure(label, method, flatbuffer, keras_model, x_test, y_test, repeats):
    """One table row."""
    from keras_convnets.optimize import tflite

    predictions = tflite.run(flatbuffer, x_test).argmax(-1)
    keras_ms, keras_accuracy, keras_predictions = _keras_measure(keras_model, x_test, y_test,
                                                                 repeats)
    tflite_ms, delegated = tflite_latency_ms(flatbuffer, x_test[:1], repeats)
    row = {"model": label, "method": method, "bytes": len(flatbuffer),
           "gzip_bytes": len(gzip.compress(flatbuffer, 9)), "tflite_ms": tflite_ms,
           "keras_ms": keras_ms, "accuracy": float(np.mean(predictions == y_test)),
           "keras_accuracy": keras_accuracy,
           "agreement": float(np.mean(predictions == keras_predictions))}
    if not delegated:
        row["method"] += " *"
    return row


def _log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- Keras 3: float, PTQ, pruning ---------------------------------------------------------------
def run_keras3(args, workdir, digits):
    from keras_convnets.optimize import pruning, tflite

    (x_train, y_train), (x_test, y_test) = digits
    calibration = x_train[:CALIBRATION]
    rows, manifest = [], []
    for key, label, _, rate, prune_rate in MODELS:
        keras.utils.set_random_seed(0)
        model = build(key)
        _compile(model, rate, args.epochs, len(x_train))
        start = time.time()
        model.fit(x_train, y_train, batch_size=BATCH, epochs=args.epochs, verbose=0)
        _log(f"{key}: trained {args.epochs} epochs in {time.time() - start:.0f} s")
        float_accuracy = float(np.mean(
            model.predict(x_test, batch_size=120, verbose=0).argmax(-1) == y_test))
        weights = os.path.join(workdir, f"{key}.npz")
        np.savez(weights, *model.get_weights())
        manifest.append({"key": key, "label": label, "weights": weights,
                         "float_accuracy": float_accuracy})
        methods = [("float32", {}), ("float16", {"quantization": "float16"}),
                   ("dynamic", {"quantization": "dynamic"}),
                   ("int8 (PTQ)", {"quantization": "int8", "representative_data": calibration})]
        if any(type(layer).__name__ == "HardSwish" for layer in model.layers):
            # the previous export: one int8 HARD_SWISH op, which XNNPACK does not take
            methods.append(("int8 (PTQ), fused h-swish", {
                "quantization": "int8", "representative_data": calibration,
                "int8_hard_swish": "fused"}))
        for method, options in methods:
            rows.append(measure(label, method, tflite.convert(model, **options), model,
                                x_test, y_test, args.repeats))
        _log(f"{key}: float / fp16 / dynamic / int8 measured")

        pruned = build(key)
        pruned.set_weights(model.get_weights())
        steps = args.prune_epochs * -(-len(x_train) // BATCH)
        schedule = pruning.PolynomialDecay(0.0, SPARSITY, begin_step=0,
                                           end_step=max(1, int(PRUNE_END * steps)), frequency=10)
        pruned = pruning.prune(pruned, schedule)
        _compile(pruned, prune_rate, args.prune_epochs, len(x_train))
        start = time.time()
        pruned.fit(x_train, y_train, batch_size=BATCH, epochs=args.prune_epochs, verbose=0,
                   callbacks=[pruning.UpdatePruningStep()])
        _log(f"{key}: pruned over {args.prune_epochs} epochs in {time.time() - start:.0f} s")
        stripped = pruning.strip_pruning(pruned)
        report = pruning.sparsity_report(stripped)
        sparsity = sum(r["zeros"] for r in report) / sum(r["size"] for r in report)
        worst = max(abs(r["sparsity"] - SPARSITY) for r in report)
        name = f"pruned {SPARSITY:.0%}"
        rows.append(measure(label, f"{name} (float32)", tflite.convert(stripped), stripped,
                            x_test, y_test, args.repeats))
        rows.append(measure(label, f"{name} + int8", tflite.convert(
            stripped, quantization="int8", representative_data=calibration), stripped,
            x_test, y_test, args.repeats))
        for row in rows[-2:]:
            row["note"] = (f"{len(report)} kernels at {sparsity:.1%} overall, each within "
                           f"{worst:.2%} of {SPARSITY:.0%}")
        _log(f"{key}: pruned and measured")
    return rows, manifest


# -- legacy Keras: QAT (the child process) ------------------------------------------------------
def run_qat_worker(args, digits):
    from keras_convnets.optimize import qat, tflite

    (x_train, y_train), (x_test, y_test) = digits
    with open(args.qat_worker) as f:
        manifest = json.load(f)
    rows = []
    for entry in manifest:
        model = build(entry["key"])
        with np.load(entry["weights"]) as saved:
            model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])
        accuracy = float(np.mean(
            model.predict(x_test, batch_size=120, verbose=0).argmax(-1) == y_test))
        if abs(accuracy - entry["float_accuracy"]) > 0.005:
            raise RuntimeError(
                f"{entry['key']}: the float weights give {accuracy:.2%} under legacy Keras but "
                f"{entry['float_accuracy']:.2%} under Keras 3; the two builds differ.")
        quantized = qat.quantize(model)
        _compile(quantized, QAT_RATE * peak_rate(entry["key"]), args.qat_epochs, len(x_train))
        quantized.fit(x_train, y_train, batch_size=BATCH, epochs=args.qat_epochs, verbose=0)
        fallback = qat.float_layers(quantized)
        # Float-fallback layers are calibrated like PTQ; the rest keeps its trained ranges.
        flatbuffer = tflite.convert(quantized, quantization="int8",
                                    representative_data=x_train[:CALIBRATION] if fallback
                                    else None)
        row = measure(entry["label"], "QAT int8", flatbuffer, quantized, x_test, y_test,
                      args.repeats)
        row["note"] = (f"float fallback, calibrated: {len(fallback)} layers "
                       f"({', '.join(sorted({n.rsplit('_', 1)[-1] for n in fallback}))})"
                       if fallback else "every layer quantisation-aware")
        rows.append(row)
        _log(f"{entry['key']}: QAT measured")
    with open(args.qat_out, "w") as f:
        json.dump({"rows": rows, "keras": describe()}, f)


def run_qat(args, workdir, manifest):
    manifest_path = os.path.join(workdir, "manifest.json")
    out = os.path.join(workdir, "qat.json")
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
    env.pop("KERAS_BACKEND", None)
    command = [sys.executable, os.path.abspath(__file__), "--qat-worker", manifest_path,
               "--qat-out", out, "--repeats", str(args.repeats),
               "--qat-epochs", str(args.qat_epochs), "--models",
               ",".join(entry["key"] for entry in manifest)]
    _log("QAT: running the legacy-Keras child process")
    subprocess.run(command, env=env, check=True)
    with open(out) as f:
        return json.load(f)


# -- the table -----------------------------------------------------------------------------------
def write_table(path, rows, args, legacy, seconds):
    rates = ", ".join(f"{rate:g} ({key})" for key, _, _, rate, _ in MODELS)
    prune_rates = ", ".join(f"{rate:g} ({key})" for key, _, _, _, rate in MODELS)
    command = "python tools/compression_table.py" + "".join(
        f" --{flag.replace('_', '-')} {getattr(args, flag)}" for flag in
        ("epochs", "prune_epochs", "qat_epochs", "repeats", "models", "out")
        if getattr(args, flag) != args.defaults[flag])
    lines = [
        "# Compression on digits: size, CPU latency, accuracy",
        "",
        f"Generated by `{command}` on {datetime.date.today().isoformat()}: "
        f"{os.cpu_count()} CPU cores ({cpu_model()[0]}), shared with other work while it ran, "
        f"TensorFlow {tf.__version__}; {describe()} for float / PTQ / pruning, {legacy} for "
        f"QAT; the whole run took {seconds / 60:.0f} min.",
        "",
        f"Digits (`keras_convnets.data.load_digits`, 1,437 training / 360 test images at "
        f"{SIZE}x{SIZE}x3), batch {BATCH}, SGD with Nesterov momentum 0.9 and a cosine decay "
        f"to 0 over each training run: {args.epochs} epochs for the float model at peak rate "
        f"{rates}; pruning fine-tunes it {args.prune_epochs} more epochs at peak rate "
        f"{prune_rates} (polynomial decay from 0 to {SPARSITY:.0%} sparsity in every prunable "
        f"kernel, depthwise included, reached at {PRUNE_END:.0%} of the fine-tuning steps and "
        f"held), QAT {args.qat_epochs} at {QAT_RATE:g}x the peak. int8 PTQ is calibrated on "
        f"{CALIBRATION} training images. Sizes "
        f"in KiB; gzip -9 shows what pruning's zeros save. Latency: batch 1, median of "
        f"{args.repeats} calls after warm-up, the .tflite in the LiteRT interpreter "
        f"(XNNPACK, {os.cpu_count()} threads) and the Keras model it came from (a "
        f"`tf.function` call) in the same process. Accuracy: top-1 on the 360 test images, "
        f"TFLite file (Keras model beside it); top-1 agreement: the share of test images on "
        f"which the TFLite file's best class is the Keras model's (the float model for the "
        f"PTQ rows).",
        "",
        "| model | method | size KiB | gzip KiB | TFLite ms | Keras ms | accuracy (Keras) "
        "| top-1 agreement |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['method']} | {row['bytes'] / 1024:,.0f} | "
            f"{row['gzip_bytes'] / 1024:,.0f} | {row['tflite_ms']:.2f} | {row['keras_ms']:.2f} "
            f"| {row['accuracy']:.1%} ({row['keras_accuracy']:.1%}) | "
            f"{row['agreement']:.1%} |")
    lines += ["", "Notes:", ""]
    if any(row["method"].endswith(" *") for row in rows):
        lines.append("- `*`: XNNPACK refused the file (an int8 convolution whose pruned output "
                     "channel is all zeros gets a zero quantisation scale), so it ran on the "
                     "builtin reference kernels, as `tflite.run` falls back to.")
    seen = set()
    for row in rows:
        note = row.get("note")
        if note and (row["model"], note) not in seen:
            seen.add((row["model"], note))
            lines.append(f"- {row['model']}, {row['method']}: {note}.")
    lines += [
        "",
        "The float32 Keras model and its TFLite file agree (tests/test_tflite.py checks every "
        "registry model to 1e-4); the quantised files' accuracy is the file's own. The small "
        "inputs make the per-call overhead a large part of every latency here: read the "
        "latencies as relative, on this machine.",
        ""]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help="the markdown file to write")
    parser.add_argument("--epochs", type=int, default=6, help="float training epochs")
    parser.add_argument("--prune-epochs", type=int, default=4, help="pruning fine-tuning epochs")
    parser.add_argument("--qat-epochs", type=int, default=1, help="QAT fine-tuning epochs")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per latency")
    parser.add_argument("--models", default=",".join(key for key, *_ in MODELS),
                        help="comma-separated subset of: " + ", ".join(k for k, *_ in MODELS))
    parser.add_argument("--qat-worker", help=argparse.SUPPRESS)
    parser.add_argument("--qat-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.defaults = {flag: parser.get_default(flag) for flag in
                     ("epochs", "prune_epochs", "qat_epochs", "repeats", "models", "out")}
    for flag in ("epochs", "prune_epochs", "qat_epochs", "repeats"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1; got {getattr(args, flag)}")
    known = [key for key, *_ in MODELS]
    chosen = [key.strip() for key in args.models.split(",") if key.strip()]
    unknown = [key for key in chosen if key not in known]
    if unknown or not chosen:
        parser.error(f"--models must name some of {', '.join(known)}; got {args.models!r}")
    MODELS[:] = [entry for entry in MODELS if entry[0] in chosen]
    from keras_convnets.data import load_digits

    digits = load_digits(image_size=SIZE)
    if args.qat_worker:
        if not USE_LEGACY_KERAS:
            parser.error("--qat-worker runs under TF_USE_LEGACY_KERAS=1 (the parent sets it)")
        run_qat_worker(args, digits)
        return 0
    if USE_LEGACY_KERAS:
        parser.error("run this script under Keras 3 (unset TF_USE_LEGACY_KERAS); it starts the "
                     "legacy-Keras QAT part itself")
    start = time.time()
    with tempfile.TemporaryDirectory() as workdir:
        rows, manifest = run_keras3(args, workdir, digits)
        qat = run_qat(args, workdir, manifest)
    order = [label for _, label, *_ in MODELS]
    rows = sorted(rows + qat["rows"], key=lambda row: order.index(row["model"]))
    write_table(args.out, rows, args, qat["keras"], time.time() - start)
    _log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
