"""Speed benchmarks: our models against ``keras.applications`` and timm/torchvision, on CPU.

>>> from keras_convnets import benchmark
>>> results = benchmark.run(["resnet50"], against=("keras", "torch"), repeats=5)
>>> print(benchmark.render_markdown(results))

What is measured, per model and per side (``ours``, ``keras``: the ``keras.applications`` model
of the same architecture, ``torch``: the timm/torchvision reference our weights port from):

- ``latency``: one batch-1 forward pass; ``throughput``: one batch-``batch_size`` forward pass.
  Keras sides call ``tf.function(lambda x: model(x, training=False))`` (graph mode, no XLA) and
  fetch the result with ``.numpy()``; the torch side calls ``model(x)`` under
  ``torch.inference_mode()`` in eval mode.
- ``train``: one SGD training step on a batch of ``batch_size`` random images and labels:
  forward with ``training=True``, sparse categorical cross-entropy on the (softmax) outputs,
  gradients, ``SGD(0.01).apply_gradients`` -- all inside one ``tf.function`` (no XLA) for Keras
  sides; ``model.train()``, ``CrossEntropyLoss``, ``backward()``, ``torch.optim.SGD.step()``
  for torch.
- ``construction_s``: wall time of the builder call (``weights=None``).
- memory: ``construction_mb`` is the process' RSS growth over construction (psutil), and
  ``peak_mb`` the RSS high-water mark above the RSS just before the warm-up calls (a psutil
  sampling thread, every 2 ms) -- i.e. activations, gradients and workspace of inference and
  one training step.
- TFLite: batch-1 ``invoke()`` latency of :func:`keras_convnets.optimize.tflite.convert`
  outputs, float32 and int8 (calibrated on random images: fine for latency, not for accuracy),
  on the LiteRT interpreter with the same thread count.
- achieved GFLOP/s: ``count_flops(model)`` (2 x multiply-adds per image) x images/s at the
  throughput batch, also as a fraction of :func:`matmul_peak` measured in the same run.

Timing is interleaved: after warm-up, each round calls every side once (the order rotating), so
load from other processes on a shared machine hits all sides alike; the torch side runs in a
worker subprocess driven call by call over a pipe, so it is interleaved too. Reported are the
median over rounds and the speed **ratio ours/theirs** = median(their time) / median(our time)
(> 1: we are faster), with the range of the per-round ratios as its spread.
"""

import dataclasses
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from .backend import keras, tf

METRICS = ("latency", "throughput", "train")
AGAINST = ("keras", "torch")
SIDES = ("ours", "keras", "torch")
QUANTIZATIONS = ("float32", "int8")

_V2_NOTE = ("keras: conv biases; strides the last block of stages 1-3 (ours: the first of "
            "stages 2-4, as timm; `stride_in_last_block=True` builds keras' layout)")
#: our model -> (keras.applications builder, extra arguments, note on what differs)
KERAS_APPLICATIONS = {
    "resnet50": ("ResNet50", {}, "keras: conv biases before BN"),
    "resnet101": ("ResNet101", {}, "keras: conv biases before BN"),
    "resnet152": ("ResNet152", {}, "keras: conv biases before BN"),
    "resnet50v2": ("ResNet50V2", {}, _V2_NOTE),
    "resnet101v2": ("ResNet101V2", {}, _V2_NOTE),
    "resnet152v2": ("ResNet152V2", {}, _V2_NOTE),
    "xception": ("Xception", {}, ""),
    "mobilenet": ("MobileNet", {"alpha": 1.0}, "keras: dropout + 1x1-conv classifier"),
    "mobilenetv2": ("MobileNetV2", {"alpha": 1.0}, ""),
    "mobilenetv3large": ("MobileNetV3Large", {"include_preprocessing": False},
                         "keras built without its Rescaling preprocessing (on by default)"),
    "mobilenetv3small": ("MobileNetV3Small", {"include_preprocessing": False},
                         "keras built without its Rescaling preprocessing (on by default)"),
}


def keras_application(name):
    """``(builder, kwargs, note)`` of the ``keras.applications`` model matching ours, or None."""
    from .registry import get_spec

    entry = KERAS_APPLICATIONS.get(get_spec(name).name)
    if entry is None:
        return None
    attr, kwargs, note = entry
    return getattr(keras.applications, attr), dict(kwargs), note


def parse_model(text):
    """``"NAME"`` or ``"NAME:option=value,..."`` -> ``(registry name, builder options)``; the
    values are Python literals (``resnet50v2:stride_in_last_block=True``)."""
    import ast

    from .registry import get_spec

    name, _, rest = str(text).partition(":")
    options = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise ValueError(f"model {text!r}: options are written NAME:option=value,...; got "
                             f"{item!r}.")
        try:
            options[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise ValueError(f"model {text!r}: the value of {key.strip()!r} must be a Python "
                             f"literal (True, 2, 'x'); got {value.strip()!r}.") from None
    return get_spec(name).name, options


def variant_label(name, options):
    """The benchmark row name of ``name`` built with ``options``."""
    if not options:
        return name
    return f"{name} ({', '.join(f'{k}={v!r}' for k, v in options.items())})"


def torch_reference(name):
    """The ``"timm:MODEL"``/``"torchvision:MODEL"`` reference of a model, or None."""
    from .registry import get_spec
    from .weights import default_source

    return default_source(get_spec(name).name)


# ----------------------------------------------------------------------------- statistics

def median(values):
    return float(statistics.median(values))


def speed_ratio(ours, theirs):
    """Speed of ours relative to theirs from paired per-round times (seconds).

    ``ratio`` = median(theirs) / median(ours): > 1 means we are faster. ``low``/``high`` are the
    smallest and largest per-round ratios theirs[i] / ours[i], ``round_median`` their median.
    """
    if not ours or not theirs:
        raise ValueError(f"speed_ratio needs times for both sides; got {len(ours)} and "
                         f"{len(theirs)}.")
    per_round = [t / o for o, t in zip(ours, theirs)]
    return {"ratio": median(theirs) / median(ours), "round_median": median(per_round),
            "low": min(per_round), "high": max(per_round)}


def summarize(times):
    """Median and relative spread ((max - min) / median) of a list of seconds."""
    mid = median(times)
    return {"median_s": mid, "min_s": float(min(times)), "max_s": float(max(times)),
            "spread": (max(times) - min(times)) / mid if mid else 0.0, "times": list(times)}


# ----------------------------------------------------------------------------- memory

def _rss():
    import psutil

    return psutil.Process().memory_info().rss


class PeakRSS:
    """Context manager: the RSS high-water mark (bytes) above the RSS at entry, sampled by a
    background thread every ``interval`` seconds (psutil)."""

    def __init__(self, interval=0.002):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            self._stop.wait(self.interval)

    def __enter__(self):
        self.start = _rss()
        self.peak = self.start
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())
        self.delta = self.peak - self.start
        return False


# ----------------------------------------------------------------------------- the machine

def set_threads(threads):
    """Sets TensorFlow's intra-op thread count (before any op runs); returns the count used."""
    threads = int(threads or os.cpu_count() or 1)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised: keep what is there
        threads = tf.config.threading.get_intra_op_parallelism_threads() or threads
    return threads


def cpu_model():
    """``(model name, feature flags)`` of the CPU, from /proc/cpuinfo where there is one."""
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return cpu, flags


def machine_info():
    """CPU model, core count and library versions, for the report header."""
    from tensorflow.python.util import _pywrap_util_port

    cpu, flags = cpu_model()
    info = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            # the widest vector unit and whether TensorFlow runs oneDNN kernels: both decide
            # which convolution kernels (and so which speeds) TensorFlow gets on a CPU
            "simd": next((f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flags), None),
            "onednn": bool(_pywrap_util_port.IsMklEnabled()),
            "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        import torch
        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    try:
        import psutil
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except (ImportError, OSError):
        pass
    return info


def matmul_peak(size=2048, repeats=10, warmup=2):
    """The machine's dense float32 matmul rate: ``tf.matmul`` of two ``size`` x ``size``
    matrices in a ``tf.function``, median of ``repeats`` calls. Returns GFLOP/s and times."""
    if int(size) < 1 or int(repeats) < 1:
        raise ValueError(f"`size` and `repeats` must be >= 1; got size={size!r}, "
                         f"repeats={repeats!r}.")
    a = tf.random.uniform((size, size))
    b = tf.random.uniform((size, size))
    matmul = tf.function(lambda a, b: tf.matmul(a, b))
    for _ in range(warmup):
        matmul(a, b).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        times.append(time.perf_counter() - start)
    flops = 2.0 * size ** 3
    return {"gflops": flops / median(times) / 1e9, "size": size,
            "gflops_best": flops / min(times) / 1e9, **summarize(times)}


# ----------------------------------------------------------------------------- Keras sides

@dataclasses.dataclass
class Side:
    """One model under test: ``calls`` maps a metric to a zero-argument callable that runs
    one synchronised call; ``info`` holds construction time, memory, params, FLOPs."""
    label: str
    calls: dict
    info: dict
    model: object = None
    close: object = None


def _keras_side(label, build, image_size, batch_size, classes, seed=0):
    gc.collect()
    rss0 = _rss()
    start = time.perf_counter()
    model = build()
    construction = time.perf_counter() - start
    rss1 = _rss()
    from .flops import count_flops

    rng = np.random.default_rng(seed)
    x1 = tf.constant(rng.uniform(-1, 1, (1, image_size, image_size, 3)).astype("float32"))
    xb = tf.constant(rng.uniform(-1, 1, (batch_size, image_size, image_size, 3)).astype("float32"))
    yb = tf.constant(rng.integers(0, classes, (batch_size,)).astype("int32"))
    infer = tf.function(lambda x: model(x, training=False), jit_compile=False)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    optimizer = keras.optimizers.SGD(learning_rate=0.01)

    @tf.function(jit_compile=False)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    calls = {"latency": lambda: infer(x1).numpy(), "throughput": lambda: infer(xb).numpy(),
             "train": lambda: train_step(xb, yb).numpy()}
    info = {"construction_s": construction, "construction_mb": (rss1 - rss0) / 2**20,
            "params": int(model.count_params()), "flops": int(count_flops(model)),
            "input_shape": list(model.input_shape[1:])}
    return Side(label, calls, info, model=model)


# ----------------------------------------------------------------------------- torch side

def _reply(message):
    sys.stdout.write("@@bench " + json.dumps(message) + "\n")
    sys.stdout.flush()


def torch_worker():
    """The torch side's subprocess: reads one JSON command a line on stdin, answers on stdout
    (lines prefixed ``@@bench``). Commands: ``build`` (source, image_size, batch_size, classes,
    threads), ``warmup`` (calls), ``time`` (metric), ``quit``."""
    import torch

    from .weights.porting import create_reference

    state = {}
    for line in sys.stdin:
        command = json.loads(line)
        try:
            op = command["op"]
            if op == "quit":
                _reply({"ok": True})
                return
            if op == "build":
                torch.set_num_threads(int(command["threads"]))
                torch.manual_seed(0)
                state.clear()
                gc.collect()
                rss0 = _rss()
                start = time.perf_counter()
                model = create_reference(command["source"], pretrained=False)
                construction = time.perf_counter() - start
                rss1 = _rss()
                size, batch = int(command["image_size"]), int(command["batch_size"])
                x1 = torch.rand(1, 3, size, size) * 2 - 1
                xb = torch.rand(batch, 3, size, size) * 2 - 1
                with torch.inference_mode():
                    classes = int(model.eval()(x1).shape[-1])
                yb = torch.randint(0, classes, (batch,))
                optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
                loss_fn = torch.nn.CrossEntropyLoss()

                def infer(x):
                    model.eval()
                    with torch.inference_mode():
                        model(x)

                def train():
                    model.train()
                    optimizer.zero_grad(set_to_none=True)
                    loss_fn(model(xb), yb).backward()
                    optimizer.step()

                state.update(model=model, calls={"latency": lambda: infer(x1),
                                                 "throughput": lambda: infer(xb),
                                                 "train": train})
                params = sum(p.numel() for p in model.parameters())
                buffers = sum(b.numel() for n, b in model.named_buffers()
                              if not n.endswith("num_batches_tracked"))
                _reply({"ok": True, "construction_s": construction,
                        "construction_mb": (rss1 - rss0) / 2**20, "params": int(params + buffers),
                        "threads": torch.get_num_threads()})
            elif op == "warmup":
                with PeakRSS() as peak:
                    for metric in command.get("metrics", METRICS):
                        for _ in range(int(command.get("calls", 2))):
                            state["calls"][metric]()
                _reply({"ok": True, "peak_mb": peak.delta / 2**20})
            elif op == "time":
                call = state["calls"][command["metric"]]
                start = time.perf_counter()
                call()
                _reply({"ok": True, "seconds": time.perf_counter() - start})
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as exc:  # reported to the parent, which raises
            _reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


class TorchWorker:
    """Drives :func:`torch_worker` in a subprocess; one call at a time, so it interleaves."""

    def __init__(self):
        self._log = tempfile.TemporaryFile(mode="w+")
        # OMP_WAIT_POLICY=PASSIVE: torch's OpenMP threads otherwise spin at barriers, which on
        # a machine shared with other jobs (more runnable threads than cores) made training
        # steps 5-10x slower in a probe; passive waiting is what a loaded machine needs.
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self._process = subprocess.Popen(
            [sys.executable, "-c", "from keras_convnets.benchmark import torch_worker; "
             "torch_worker()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, text=True, bufsize=1, env=env)

    def request(self, **command):
        try:
            self._process.stdin.write(json.dumps(command) + "\n")
            self._process.stdin.flush()
        except BrokenPipeError:
            pass
        for line in self._process.stdout:
            if line.startswith("@@bench "):
                answer = json.loads(line[len("@@bench "):])
                if not answer.pop("ok"):
                    raise RuntimeError(f"torch worker, {command.get('op')}: {answer['error']}")
                return answer
        self._log.seek(0)
        raise RuntimeError("the torch worker exited: " + self._log.read()[-2000:])

    def close(self):
        if self._process.poll() is None:
            try:
                self.request(op="quit")
            except RuntimeError:
                pass
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._log.close()


def _torch_side(worker, source, image_size, batch_size, threads):
    info = worker.request(op="build", source=source, image_size=image_size,
                          batch_size=batch_size, classes=1000, threads=threads)
    info["source"] = source
    calls = {m: (lambda m=m: worker.request(op="time", metric=m)["seconds"]) for m in METRICS}
    return Side("torch", calls, info)


# ----------------------------------------------------------------------------- timing

def interleave(sides, metric, repeats):
    """Times ``metric`` on every side, one call each per round with the order rotating.

    A call that returns a float (the torch worker's own timing, which excludes the pipe)
    reports that; otherwise the wall time around the call counts. Returns label -> seconds."""
    times = {side.label: [] for side in sides}
    for r in range(repeats):
        order = sides[r % len(sides):] + sides[:r % len(sides)]
        for side in order:
            start = time.perf_counter()
            reported = side.calls[metric]()
            elapsed = time.perf_counter() - start
            times[side.label].append(reported if isinstance(reported, float) else elapsed)
    return times


def _warmup(side, calls, metrics):
    if side.label == "torch":
        return None  # the worker warms itself up (see _benchmark_model)
    with PeakRSS() as peak:
        for metric in metrics:
            for _ in range(calls):
                side.calls[metric]()
    return peak.delta / 2**20


def _tflite_latencies(sides, image_size, threads, repeats, quantizations, log):
    from ai_edge_litert.interpreter import Interpreter

    from .optimize import tflite

    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (8, image_size, image_size, 3)).astype("float32")
    results = {}
    for quantization in quantizations:
        invokers, sizes = [], {}
        for side in sides:
            start = time.perf_counter()
            try:
                if quantization == "int8":
                    blob = tflite.convert(side.model, quantization="int8",
                                          representative_data=images, num_samples=len(images))
                else:
                    blob = tflite.convert(side.model)
            except Exception as exc:  # reported in the table, not fatal for the run
                log(f"  tflite {quantization} {side.label}: conversion failed: {exc}")
                results.setdefault(quantization, {})[side.label] = {"error": str(exc)[:200]}
                continue
            convert_s = time.perf_counter() - start
            tflite.run(blob, images[:1])  # the package's own path, once: checks it runs
            interpreter = Interpreter(model_content=blob, num_threads=threads)
            interpreter.allocate_tensors()
            detail = interpreter.get_input_details()[0]
            x = images[:1]
            if np.issubdtype(detail["dtype"], np.integer):
                x = tflite._quantize(x, detail)
            interpreter.set_tensor(detail["index"], x.astype(detail["dtype"]))
            for _ in range(2):
                interpreter.invoke()
            invokers.append(Side(side.label, {"invoke": interpreter.invoke}, {}))
            sizes[side.label] = {"convert_s": convert_s, "bytes": len(blob)}
        if invokers:
            times = interleave(invokers, "invoke", repeats)
            for label, t in times.items():
                results.setdefault(quantization, {})[label] = {**summarize(t), **sizes[label]}
        del invokers
        gc.collect()
    return results


def _default_log(message):
    print(message, file=sys.stderr, flush=True)


def benchmark_model(name, *, against=AGAINST, batch_size=16, repeats=5, image_size=None,
                    warmup=2, threads=None, tflite=QUANTIZATIONS, tflite_against_keras=True,
                    metrics=METRICS, torch_worker=None, peak_gflops=None, builder=None,
                    options=None, log=_default_log):
    """Benchmarks one registered model against the references in ``against``.

    Args:
        name: a registered model name (unknown names raise the registry's ``ValueError``).
        against: any of ``"keras"`` (``keras.applications``, where one matches) and
            ``"torch"`` (timm/torchvision, in a worker subprocess, where a reference exists).
        batch_size: the batch of the throughput and training measurements.
        repeats: timed rounds per metric, after ``warmup`` calls of each.
        image_size: square input size (default: the model's own).
        threads: CPU threads for TensorFlow, torch and LiteRT (default: all cores).
        tflite: quantisations to time on TFLite (``()`` skips TFLite).
        tflite_against_keras: also convert and time the ``keras.applications`` model.
        metrics: a subset of ``METRICS``.
        torch_worker: a running :class:`TorchWorker` to reuse (else one is started if needed).
        peak_gflops: the machine's matmul peak, for the fraction-of-peak figures.
        builder: build ``builder(input_shape=..., classes=...)`` instead of the registry's
            builder (e.g. ``spec.builder.tiny``), still named ``name``.
        options: builder options of our side (a layout variant, e.g.
            ``{"stride_in_last_block": True}``); the row is named after them and the torch
            side, whose reference has the default layout, is skipped.

    Returns:
        A dict: ``sides`` (per side: construction, memory, params, FLOPs), ``times``
        (metric -> side -> summary), ``ratios`` (reference -> metric -> :func:`speed_ratio`),
        ``throughput_ips``, ``gflops``, ``peak_fraction``, ``tflite``, ``notes``.
    """
    from .registry import get_spec

    spec = get_spec(name)
    against = _check_against(against)
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be >= 1; got {batch_size!r}.")
    if int(repeats) < 1:
        raise ValueError(f"`repeats` must be >= 1; got {repeats!r}.")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ValueError(f"`metrics` must be a non-empty subset of {METRICS}; got {metrics!r}.")
    bad = [q for q in tflite if q not in QUANTIZATIONS]
    if bad:
        raise ValueError(f"`tflite` must be a subset of {QUANTIZATIONS}; got {tflite!r}.")
    size = int(image_size or spec.default_size)
    if size < spec.min_size:
        raise ValueError(f"`image_size` must be >= {spec.min_size} for {spec.name}; got {size}.")
    threads = int(threads or os.cpu_count() or 1)
    classes = 1000
    shape = (size, size, 3)
    notes = []
    options = dict(options or {})
    record = {"name": variant_label(spec.name, options), "options": options,
              "family": spec.family, "image_size": size,
              "batch_size": int(batch_size), "repeats": int(repeats), "sides": {}, "times": {},
              "ratios": {}, "notes": notes}

    build = builder or spec.builder
    sides = [_keras_side("ours", lambda: build(weights=None, input_shape=shape, classes=classes,
                                               **options), size, batch_size, classes)]
    if "keras" in against:
        reference = keras_application(spec.name)
        if reference is None:
            notes.append("no keras.applications model of this architecture")
        else:
            app, kwargs, note = reference
            sides.append(_keras_side(
                "keras", lambda: app(weights=None, input_shape=shape, classes=classes, **kwargs),
                size, batch_size, classes))
            sides[-1].info["builder"] = f"keras.applications.{app.__name__}"
            if note:
                notes.append(note)
    own_worker = None
    if "torch" in against and options:
        notes.append("no torch side: its reference has the default layout")
    elif "torch" in against:
        source = torch_reference(spec.name)
        if source is None:
            notes.append("no timm/torchvision reference registered for this model")
        else:
            if torch_worker is None:
                torch_worker = own_worker = TorchWorker()
            try:
                sides.append(_torch_side(torch_worker, source, size, batch_size, threads))
            except RuntimeError as exc:
                notes.append(f"torch reference {source} failed: {exc}")
    try:
        log(f"{record['name']}: built " + ", ".join(
            f"{s.label} {s.info['construction_s']:.1f}s" for s in sides))
        metrics = list(metrics)
        for metric in list(metrics):  # a metric that fails on any side is dropped, with a note
            try:
                for side in sides:
                    if side.label != "torch":
                        _warmup(side, 1, [metric])
            except (tf.errors.OpError, ValueError, TypeError) as exc:
                message = str(exc).strip().splitlines()[0][:200]
                notes.append(f"{metric} not measured: {type(exc).__name__}: {message}")
                log(f"  {metric}: failed: {message}")
                metrics.remove(metric)
        if not metrics:
            raise RuntimeError(f"{spec.name}: every measurement failed: {'; '.join(notes)}")
        for side in sides:
            if side.label == "torch":
                side.info["peak_mb"] = torch_worker.request(
                    op="warmup", calls=warmup, metrics=metrics)["peak_mb"]
            else:
                side.info["peak_mb"] = _warmup(side, warmup, metrics)
        for metric in metrics:
            times = interleave(sides, metric, repeats)
            record["times"][metric] = {label: summarize(t) for label, t in times.items()}
            for side in sides[1:]:
                record["ratios"].setdefault(side.label, {})[metric] = speed_ratio(
                    times["ours"], times[side.label])
            log(f"  {metric}: " + ", ".join(
                f"{label} {median(t) * 1e3:.1f} ms" for label, t in times.items()))
        for side in sides:
            record["sides"][side.label] = {k: v for k, v in side.info.items()}
        if "throughput" in metrics:
            record["throughput_ips"] = {
                label: batch_size / t["median_s"]
                for label, t in record["times"]["throughput"].items()}
            record["gflops"] = {
                label: record["sides"][label]["flops"] * ips / 1e9
                for label, ips in record["throughput_ips"].items()
                if "flops" in record["sides"][label]}
            if peak_gflops:
                record["peak_gflops"] = peak_gflops
                record["peak_fraction"] = {label: g / peak_gflops
                                           for label, g in record["gflops"].items()}
        if tflite:
            tf_sides = [s for s in sides if s.label == "ours" or
                        (s.label == "keras" and tflite_against_keras)]
            record["tflite"] = _tflite_latencies(tf_sides, size, threads, repeats, tflite, log)
            for quantization, by_side in record["tflite"].items():
                if "median_s" in by_side.get("ours", {}) and "median_s" in by_side.get("keras", {}):
                    record["ratios"].setdefault("keras", {})[f"tflite_{quantization}"] = \
                        speed_ratio(by_side["ours"]["times"], by_side["keras"]["times"])
    finally:
        if own_worker is not None:
            own_worker.close()
        for side in sides:
            side.model = side.calls = None
        del sides
        keras.backend.clear_session()
        gc.collect()
    return record


def _check_against(against):
    if against is None or against == "none":
        return ()
    if isinstance(against, str):
        against = (against,)
    against = tuple("torch" if a == "timm" else a for a in against)
    bad = [a for a in against if a not in AGAINST]
    if bad:
        raise ValueError(f"`against` must be a subset of ('keras', 'timm'/'torch') or 'none'; "
                         f"got {bad[0]!r}.")
    return against


def run(names, *, against=AGAINST, batch_size=16, repeats=5, image_size=None, warmup=2,
        threads=None, tflite=QUANTIZATIONS, tflite_against_keras=True, metrics=METRICS,
        peak=True, log=_default_log, construction_only=(), on_model=None, tflite_models=None):
    """Benchmarks several models in one process; returns the results dict that
    :func:`render_markdown` and :func:`plot_throughput_vs_flops` take.

    ``names`` are registry names, or ``NAME:option=value,...`` for a layout variant of ours
    (see :func:`parse_model`). ``construction_only`` names models whose construction time
    alone is measured (large ones, e.g. ``senet154``). ``on_model(results)`` is called after
    each model (e.g. to save JSON as the run goes). ``tflite_models``: time TFLite on these
    names only (None: all). Other arguments: see :func:`benchmark_model`.
    """
    from .registry import get_spec

    models = [(n, *parse_model(n)) for n in names]  # bad names fail before anything runs
    construction_only = [get_spec(n).name for n in construction_only]
    against = _check_against(against)
    threads = set_threads(threads)
    started = time.perf_counter()
    results = {"machine": machine_info(),
               "settings": {"batch_size": int(batch_size), "repeats": int(repeats),
                            "warmup": int(warmup), "threads": threads,
                            "image_size": image_size, "against": list(against),
                            "tflite": list(tflite), "metrics": list(metrics)},
               "models": [], "construction": []}
    if peak:
        results["peak"] = matmul_peak()
        log(f"matmul peak: {results['peak']['gflops']:.1f} GFLOP/s")
    peak_gflops = results.get("peak", {}).get("gflops")
    worker = TorchWorker() if "torch" in against and models else None
    try:
        for text, name, options in models:
            try:
                results["models"].append(benchmark_model(
                    name, against=against, batch_size=batch_size, repeats=repeats,
                    image_size=image_size, warmup=warmup, threads=threads,
                    tflite=tflite if tflite_models is None or text in tflite_models else (),
                    tflite_against_keras=tflite_against_keras, metrics=metrics,
                    torch_worker=worker, peak_gflops=peak_gflops, options=options, log=log))
            except (MemoryError, RuntimeError, tf.errors.OpError) as exc:
                log(f"{text}: skipped: {exc}")
                results["models"].append({"name": variant_label(name, options),
                                          "error": str(exc)[:300]})
            if on_model is not None:
                on_model(results)
        for name in construction_only:
            spec = get_spec(name)
            size = spec.default_size
            start, cpu = time.perf_counter(), time.process_time()
            model = spec.builder(weights=None, input_shape=(size, size, 3))
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            results["construction"].append({"name": name, "construction_s": seconds,
                                            "cpu_s": cpu, "params": int(model.count_params())})
            log(f"{name}: constructed in {seconds:.1f}s ({cpu:.1f}s CPU)")
            del model
            keras.backend.clear_session()
            gc.collect()
    finally:
        if worker is not None:
            worker.close()
    if peak and len(names) > 1:  # again at the end: how much the load moved meanwhile
        results["peak_end"] = matmul_peak()
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["wall_s"] = time.perf_counter() - started
    return results


# ----------------------------------------------------------------------------- reports

def _fmt_ms(summary):
    if not summary or "median_s" not in summary:
        return "-"
    return f"{summary['median_s'] * 1e3:.1f}"


def _fmt_ratio(r):
    if not r:
        return "-"
    return f"**{r['ratio']:.2f}**" + (f" ({r['low']:.2f}-{r['high']:.2f})"
                                      if r['high'] - r['low'] > 0 else "")


def _row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


#: the section title of each reference side's comparison table
_COMPARISON_TITLES = {
    "keras": "Against keras.applications (same architecture, `weights=None`)",
    "torch": "Against timm / torchvision (PyTorch on CPU, same thread count)",
}


def _comparison_table(models, side, batch_size):
    """The markdown lines of the ours-vs-``side`` table ("keras" or "torch"), empty if no
    model was measured against that side."""
    measured = [m for m in models if side in m.get("sides", {})]
    if not measured:
        return []
    # the torch table names each model's reference; the keras one ends with the build notes
    header = ["model", "input"] + (["reference"] if side == "torch" else []) + [
        f"params ours / {side}", f"batch-1 latency ms ours / {side}", "ratio",
        f"batch-{batch_size} img/s ours / {side}", "ratio", f"train step ms ours / {side}",
        "ratio"] + (["note"] if side == "keras" else [])
    align = ["---", "---:"] + (["---"] if side == "torch" else []) + ["---:"] * 7 + (
        ["---"] if side == "keras" else [])
    lines = [f"## {_COMPARISON_TITLES[side]}", "", _row(header), _row(align)]
    for m in measured:
        t, r, s = m["times"], m["ratios"].get(side, {}), m["sides"]
        ips = m.get("throughput_ips", {})
        cells = [m["name"], m["image_size"]] + (
            [f"`{s[side]['source']}`"] if side == "torch" else []) + [
            f"{s['ours']['params']:,} / {s[side]['params']:,}",
            f"{_fmt_ms(t.get('latency', {}).get('ours'))} / "
            f"{_fmt_ms(t.get('latency', {}).get(side))}", _fmt_ratio(r.get("latency")),
            f"{ips.get('ours', 0):.1f} / {ips.get(side, 0):.1f}", _fmt_ratio(r.get("throughput")),
            f"{_fmt_ms(t.get('train', {}).get('ours'))} / "
            f"{_fmt_ms(t.get('train', {}).get(side))}", _fmt_ratio(r.get("train"))]
        if side == "keras":
            cells.append("; ".join(n for n in m["notes"] if not n.startswith("no ")))
        lines.append(_row(cells))
    lines.append("")
    if side == "torch":
        lines += ["torch params include BatchNorm running statistics, like Keras' count.", ""]
    return lines


def _load_comment(machine):
    """Whether the run had the cores to itself (the benchmark's own two threads give a load
    average near the core count)."""
    loads = [x for key in ("load_average", "load_average_end")
             for x in (machine.get(key) or [])[:1]]
    cores = machine.get("cores") or 1
    if loads and max(loads) <= cores + 0.5:
        return ("the load stayed near the core count, i.e. the benchmark's own threads and "
                "no competing job of note; the ratios pair calls made in the same rounds.")
    return ("the cores were shared with other jobs, so absolute times are noisy; the ratios "
            "pair calls made in the same rounds.")


def render_markdown(results, title="Benchmarks", command="python tools/benchmark.py",
                    explanations=None):
    """The BENCHMARKS.md text for a :func:`run` results dict. ``explanations`` maps a model
    name to a sentence on why it is slower (printed under the tables)."""
    machine = results.get("machine", {})
    settings = results.get("settings", {})
    models = [m for m in results.get("models", []) if "error" not in m]
    lines = [f"# {title}", "",
             f"Generated by `{command}` on {machine.get('date', '?')} "
             f"({results.get('wall_s', 0) / 60:.0f} min).", "",
             "## Machine", "",
             f"- CPU: {machine.get('cpu', '?')}, {machine.get('cores', '?')} logical cores "
             f"({settings.get('threads', '?')} threads used by TensorFlow, torch and LiteRT), "
             f"{machine.get('memory_gb', '?')} GiB RAM; {machine.get('platform', '')}"
             + (f"; widest SIMD {machine['simd'].upper()}, TensorFlow oneDNN "
                f"{'on' if machine.get('onednn') else 'off'}" if machine.get("simd") else ""),
             f"- Python {machine.get('python', '?')}, TensorFlow {machine.get('tensorflow', '?')},"
             f" Keras {machine.get('keras', '?')}, torch {machine.get('torch') or '-'}",
             f"- Load average at start {machine.get('load_average', '?')}, at end "
             f"{machine.get('load_average_end', '?')}: " + _load_comment(machine)]
    if "peak" in results:
        p, e = results["peak"], results.get("peak_end", {})
        lines.append(
            f"- Dense float32 matmul peak (2048x2048 `tf.matmul` in a `tf.function`, median "
            f"of 10): **{p['gflops']:.0f} GFLOP/s** at the start"
            + (f", {e['gflops']:.0f} GFLOP/s at the end" if e else "")
            + f" (best single call {p['gflops_best']:.0f}).")
    lines += ["", "## How it was measured", "",
              f"Batch {settings.get('batch_size')} for throughput and training, batch 1 for "
              f"latency; {settings.get('warmup')} warm-up "
              f"call{'' if settings.get('warmup') == 1 else 's'} of each, then "
              f"{settings.get('repeats')} timed rounds. Each round calls every side once, the "
              f"order rotating, all in one process -- the torch side in a worker subprocess "
              f"driven call by call over a pipe, so it is interleaved too. Times are medians "
              f"over rounds."
              + (f" All models ran at {settings['image_size']}x{settings['image_size']} px, "
                 f"not their default sizes." if settings.get("image_size") else "")
              + (" The results merge several processes: " + "; ".join(
                  f"`{c}`" for c in results["commands"] if c) + " (each ratio pairs calls "
                 "made in the same rounds of one process)." if len(results.get("commands")
                                                                     or []) > 1 else ""), "",
              "- **Inference** (Keras sides): `tf.function(lambda x: model(x, training=False))`"
              " (graph mode, no XLA), result fetched with `.numpy()`. torch: `model.eval()` "
              "and `model(x)` under `torch.inference_mode()`.",
              "- **Training step**: one SGD step (lr 0.01) on random images and labels: "
              "forward (`training=True`), cross-entropy, gradients, `apply_gradients`, all in "
              "one `tf.function` (no XLA); torch: `model.train()`, `CrossEntropyLoss`, "
              "`backward()`, `SGD.step()`.",
              "- **Ratio** = ours / theirs in speed = median(their time) / median(our time): "
              "**> 1 means we are faster**. In brackets the range of the per-round ratios "
              "(the spread).",
              "- **Construction**: wall time of the builder call with `weights=None`. "
              "**Memory**: RSS growth over construction, and the RSS high-water mark over the "
              "warm-up calls (inference + one training step) above the RSS before them, "
              "sampled every 2 ms by a psutil thread -- the Keras sides share one process, so "
              "allocator reuse can make the second side's figures smaller.",
              "- **TFLite**: `keras_convnets.optimize.tflite.convert(model)` (float32) and "
              "`convert(model, quantization='int8', representative_data=8 random images)`, "
              "batch-1 `invoke()` on the LiteRT interpreter, interleaved like the rest.",
              "- **GFLOP/s**: `kc.count_flops(model)` (2 x multiply-adds per image) x images/s "
              "at the throughput batch; **% of peak** divides by the matmul peak above.",
              ""]

    lines += _comparison_table(models, "keras", settings.get("batch_size"))
    lines += _comparison_table(models, "torch", settings.get("batch_size"))

    if models:
        lines += ["## Against the machine: achieved GFLOP/s, construction, memory", "",
                  _row(["model", "family", "input", "GFLOPs / image", "GFLOP/s ours",
                        "% of matmul peak", "GFLOP/s keras", "construction s ours / keras / torch",
                        "memory MB: construction / peak (ours)"]),
                  _row(["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"])]
        for m in models:
            s, g, f = m["sides"], m.get("gflops", {}), m.get("peak_fraction", {})
            cons = " / ".join(f"{s[k]['construction_s']:.1f}" if k in s else "-"
                              for k in SIDES)
            lines.append(_row([
                m["name"], m["family"], m["image_size"], f"{s['ours']['flops'] / 1e9:.2f}",
                f"{g.get('ours', 0):.0f}", f"{f['ours'] * 100:.0f}%" if "ours" in f else "-",
                f"{g['keras']:.0f}" if "keras" in g else "-", cons,
                f"{s['ours']['construction_mb']:.0f} / {s['ours'].get('peak_mb') or 0:.0f}"]))
        lines.append("")

    for entry in results.get("construction", []):
        if entry is results["construction"][0]:
            lines += ["Construction only (`weights=None`, default input size; the CPU time of "
                      "the building process is less sensitive to the other jobs than the wall "
                      "time):", ""]
        cpu = f", {entry['cpu_s']:.1f} s of CPU time" if "cpu_s" in entry else ""
        lines.append(f"- {entry['name']}: {entry['construction_s']:.1f} s wall{cpu} "
                     f"({entry['params']:,} params)")
    if results.get("construction"):
        lines.append("")

    with_tflite = [m for m in models if m.get("tflite")]
    if with_tflite:
        lines += ["## TFLite (LiteRT interpreter, batch 1)", "",
                  _row(["model", "float32 ms ours / keras", "ratio", "int8 ms ours / keras",
                        "ratio", "int8 speed-up over float (ours)", "size MB float / int8"]),
                  _row(["---", "---:", "---:", "---:", "---:", "---:", "---:"])]
        for m in with_tflite:
            q = m["tflite"]
            fl, i8 = q.get("float32", {}), q.get("int8", {})
            r = m["ratios"].get("keras", {})
            speedup = "-"
            if "median_s" in fl.get("ours", {}) and "median_s" in i8.get("ours", {}):
                speedup = f"{fl['ours']['median_s'] / i8['ours']['median_s']:.2f}x"
            size = " / ".join(f"{d['ours']['bytes'] / 2**20:.1f}" if "bytes" in d.get("ours", {})
                              else "-" for d in (fl, i8))
            lines.append(_row([
                m["name"], f"{_fmt_ms(fl.get('ours'))} / {_fmt_ms(fl.get('keras'))}",
                _fmt_ratio(r.get("tflite_float32")),
                f"{_fmt_ms(i8.get('ours'))} / {_fmt_ms(i8.get('keras'))}",
                _fmt_ratio(r.get("tflite_int8")), speedup, size]))
        lines.append("")

    consistent, noisy = [], []
    for m in models:
        for ref, by_metric in m.get("ratios", {}).items():
            for metric, r in by_metric.items():
                if r["ratio"] < 1.0:
                    item = f"{m['name']} vs {ref}, {metric}: {r['ratio']:.2f}x"
                    if r["high"] < 1.0:
                        consistent.append(item + f" (every round slower: {r['low']:.2f}-"
                                                 f"{r['high']:.2f})")
                    else:
                        noisy.append(item)
    if consistent or noisy or explanations:
        lines += ["## Where we are slower, and why", ""]
        if consistent:
            lines += ["Slower in every round (the per-round ratios all below 1):", ""]
            lines += [f"- {item}" for item in consistent]
            lines.append("")
        if noisy:
            lines += ["Slower in the median but faster in at least one round (within the "
                      "noise of this run): " + "; ".join(noisy) + ".", ""]
        if explanations:
            lines.append("")
            for name, text in explanations.items():
                lines.append(f"- **{name}**: {text}")
        lines.append("")
    errors = [m for m in results.get("models", []) if "error" in m]
    for m in errors:
        lines.append(f"- {m['name']}: not measured ({m['error']})")
    return "\n".join(lines).rstrip() + "\n"


def plot_throughput_vs_flops(results, path):
    """Saves a log-log plot of batch throughput (img/s) vs GFLOPs per image, one colour per
    family (ours filled, keras.applications hollow, torch crosses). Needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in results.get("models", []) if m.get("throughput_ips")]
    if not models:
        raise ValueError("`results` holds no throughput measurements to plot.")
    families = sorted({m["family"] for m in models})
    colours = {f: plt.cm.tab10(i % 10) for i, f in enumerate(families)}
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for m in models:
        flops = m["sides"]["ours"]["flops"] / 1e9
        c = colours[m["family"]]
        ips = m["throughput_ips"]
        ax.scatter(flops, ips["ours"], color=c, s=40, zorder=3)
        ax.annotate(m["name"], (flops, ips["ours"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
        if "keras" in ips:
            ax.scatter(m["sides"]["keras"]["flops"] / 1e9, ips["keras"], facecolors="none",
                       edgecolors=[c], s=60, zorder=2)
        if "torch" in ips:
            ax.scatter(flops, ips["torch"], color=c, marker="x", s=35, zorder=2)
    if results.get("peak"):  # the roofline of a perfect matmul-bound model
        xs = np.geomspace(min(m["sides"]["ours"]["flops"] for m in models) / 1e9 / 1.5,
                          max(m["sides"]["ours"]["flops"] for m in models) / 1e9 * 1.5, 50)
        ax.plot(xs, results["peak"]["gflops"] / xs, "k--", lw=0.8, label="matmul peak")
    for f in families:
        ax.scatter([], [], color=colours[f], label=f)
    ax.scatter([], [], facecolors="none", edgecolors="gray", label="keras.applications")
    ax.scatter([], [], color="gray", marker="x", label="timm / torchvision")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("GFLOPs per image (2 x MACs)")
    ax.set_ylabel(f"images/s at batch {results.get('settings', {}).get('batch_size')}")
    machine = results.get("machine", {})
    ax.set_title(f"Inference throughput vs FLOPs -- {machine.get('cpu', '')}, "
                 f"{results.get('settings', {}).get('threads', '?')} threads", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def format_summary(record):
    """A short plain-text table of one :func:`benchmark_model` record (for the CLI)."""
    lines = [f"{record['name']} ({record['family']}, {record['image_size']}px, batch "
             f"{record['batch_size']}, median of {record['repeats']})"]
    for metric in METRICS:
        if metric not in record["times"]:
            continue
        cells = [f"{label} {s['median_s'] * 1e3:8.1f} ms"
                 for label, s in record["times"][metric].items()]
        ratios = [f"x{r[metric]['ratio']:.2f} vs {ref}"
                  for ref, r in record["ratios"].items() if metric in r]
        lines.append(f"  {metric:<10} " + "  ".join(cells) + ("   " + ", ".join(ratios)
                                                            if ratios else ""))
    for quantization, by_side in record.get("tflite", {}).items():
        cells = [f"{label} {s['median_s'] * 1e3:8.1f} ms" for label, s in by_side.items()
                 if "median_s" in s]
        lines.append(f"  tflite {quantization:<7}" + "  ".join(cells))
    if "gflops" in record:
        text = f"  GFLOP/s    ours {record['gflops']['ours']:.1f}"
        if "peak_fraction" in record:
            text += f" ({record['peak_fraction']['ours'] * 100:.0f}% of matmul peak)"
        lines.append(text)
    for note in record["notes"]:
        lines.append(f"  note: {note}")
    return "\n".join(lines)
