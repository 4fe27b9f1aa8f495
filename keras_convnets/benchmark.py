"""Speed benchmarks: our models against ``keras.applications`` and timm/torchvision, on CPU.

>>> from keras_convnets import benchmark
>>> results = benchmark.run(["resnet50"], against=("keras", "torch"), repeats=5)
>>> print(benchmark.format_summary(results["models"][0]))

This module measures; ``tools/benchmark_report.py`` renders a :func:`run` results dict as
BENCHMARKS.md and its plot, and ``tools/benchmark.py`` runs the whole comparison.

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
  throughput batch, also as a fraction of :func:`matmul_peak` measured in the same run and of
  the CPU's theoretical float32 peak, :func:`fp32_peak` (cores x FMA units x SIMD lanes x 2 x
  clock, from /proc/cpuinfo).

:func:`input_pipeline` (``keras-convnets benchmark --input-pipeline``) times the training input
pipeline alone on a generated folder of JPEG files next to a model's training step.

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
import re
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


def keras_application(name):
    """``(builder, kwargs, note)`` of the ``keras.applications`` model matching ours (the
    registry's :class:`~keras_convnets.registry.KerasTwin`), or None."""
    from .registry import get_spec

    twin = get_spec(name).keras_twin
    if twin is None:
        return None
    return getattr(keras.applications, twin.builder), dict(twin.kwargs), twin.note


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


def parse_cpuinfo(text):
    """The processor blocks of a /proc/cpuinfo text: one dict (field -> value) per CPU."""
    processors = []
    for block in text.strip().split("\n\n"):
        entry = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entry[key.strip()] = value.strip()
        if "processor" in entry:
            processors.append(entry)
    return processors


#: Intel model numbers (family 6) of client cores with AVX-512 and one 512-bit FMA unit
_INTEL_AVX512_CLIENT = {102, 125, 126, 140, 141, 167}  # Cannon/Ice/Tiger/Rocket Lake
_INTEL_SKYLAKE_SERVER = 85  # Skylake-SP / Cascade Lake / Cooper Lake


def _fma_units(vendor, family, model, name, flags):
    """``(FMA units per core at the widest SIMD width, the assumption in words)``."""
    if "fma" not in flags:
        return 1, ("no FMA instructions: one vector add and one vector multiply per cycle, "
                   "counted as one FMA unit")
    if vendor == "AuthenticAMD":
        if family == 0x17 and model < 0x30:
            return 1, ("AMD Zen/Zen+ (family 17h, model < 30h): two 128-bit FMA pipes, i.e. "
                       "one 256-bit FMA per cycle")
        if family == 0x19 and "avx512f" in flags:
            return 1, ("AMD Zen 4 (family 19h with AVX-512): two 256-bit FMA pipes run a "
                       "512-bit FMA in two halves, i.e. one 512-bit FMA per cycle")
        if family == 0x1A and "avx512f" in flags:
            return 2, ("AMD Zen 5 (family 1Ah): two 512-bit FMA pipes (the server cores' full "
                       "512-bit datapath)")
        return 2, f"AMD family {family:x}h (Zen 2/3 class): two 256-bit FMA pipes per core"
    if vendor == "GenuineIntel" and "avx512f" in flags:
        if family == 6 and model in _INTEL_AVX512_CLIENT and "Xeon" not in name:
            return 1, f"Intel client core with AVX-512 (model {model}): one 512-bit FMA unit"
        if family == 6 and model == _INTEL_SKYLAKE_SERVER and re.search(
                r"Bronze|Silver|Gold 5(?!122)\d{3}", name):
            return 1, (f"{name}: Skylake/Cascade Lake Bronze/Silver/Gold 5xxx have one "
                       f"512-bit FMA unit")
        return 2, ("Intel Xeon with AVX-512: two 512-bit FMA units per core (ports 0+1 fused "
                   "and port 5; Skylake-SP Gold 6xxx/Platinum and every later Xeon Scalable)")
    if vendor == "GenuineIntel":
        return 2, "Intel with AVX2 and FMA (Haswell and later): two 256-bit FMA units per core"
    return 1, f"unknown CPU vendor {vendor!r}: one FMA unit per core assumed"


def fp32_peak(cpuinfo=None, cpus=None, clock_ghz=None):
    """The theoretical float32 peak of the CPUs this process may use, from what the machine
    reports: physical cores x FMA units per core x SIMD lanes (float32) x 2 (an FMA is a
    multiply and an add) x clock.

    ``cpuinfo``: a /proc/cpuinfo text (default: this machine's); ``cpus``: the logical CPU
    numbers the process may run on (default: ``os.sched_getaffinity(0)``). Physical cores are
    the distinct ``(physical id, core id)`` pairs among those CPUs, so two hyperthreads of one
    core count once (a core's FMA units are shared by its threads); without ``core id`` fields
    every logical CPU counts as a core. SIMD lanes: 16 with ``avx512f``, 8 with ``avx``/``avx2``,
    4 with SSE. FMA units per core are not reported by the CPU: they are looked up from the
    vendor, family, model and model name (see ``assumptions``). Clock: the GHz in the model
    name (Intel's nominal clock) if there is one, else ``cpu MHz`` -- on a virtual machine the
    nominal (TSC) clock; turbo clocks above it can make a measured rate exceed this figure.
    ``clock_ghz`` (or the environment variable ``KERAS_CONVNETS_CPU_GHZ``) gives the clock
    instead, e.g. a known all-core turbo.

    Returns a dict: ``gflops``, ``cores``, ``logical_cpus``, ``threads_per_core``, ``simd``,
    ``lanes``, ``fma_units``, ``flops_per_cycle`` (per core), ``clock_ghz``,
    ``clock_source``, ``formula`` and ``assumptions`` (sentences).
    """
    if cpuinfo is None:
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
    processors = parse_cpuinfo(cpuinfo)
    if not processors:
        raise ValueError("fp32_peak: the cpuinfo text has no 'processor' entries.")
    if cpus is None:
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    used = [p for p in processors if cpus is None or int(p["processor"]) in cpus] or processors
    first = used[0]
    flags = set(first.get("flags", "").split())
    assumptions = []
    if all("core id" in p for p in used):
        cores = len({(p.get("physical id", "0"), p["core id"]) for p in used})
        assumptions.append(
            f"{len(used)} logical CPU(s) usable (sched_getaffinity) on {cores} physical "
            f"core(s) (distinct physical id/core id; siblings {first.get('siblings', '?')}, "
            f"cpu cores {first.get('cpu cores', '?')} per package)")
    else:
        cores = len(used)
        assumptions.append(f"no 'core id' fields: each of the {cores} logical CPUs counted as "
                           f"a physical core")
    simd, lanes = next(((f, n) for f, n in (("avx512f", 16), ("avx2", 8), ("avx", 8),
                                            ("sse2", 4)) if f in flags), ("scalar", 1))
    vendor = first.get("vendor_id", "")
    name = first.get("model name", "")
    try:
        family, model = int(first.get("cpu family", 0)), int(first.get("model", 0))
    except ValueError:
        family = model = 0
    units, why = _fma_units(vendor, family, model, name, flags)
    assumptions.append(why)
    named = re.search(r"@\s*([\d.]+)\s*GHz", name)
    clock_ghz = clock_ghz or os.environ.get("KERAS_CONVNETS_CPU_GHZ")
    if clock_ghz:
        clock, source = float(clock_ghz), "the clock given (clock_ghz / KERAS_CONVNETS_CPU_GHZ)"
    elif named:
        clock, source = float(named.group(1)), "the model name's nominal clock"
    elif first.get("cpu MHz"):
        clock, source = float(first["cpu MHz"]) / 1e3, "cpu MHz in /proc/cpuinfo"
    else:
        raise ValueError("fp32_peak: the cpuinfo text gives no clock (no '@ x.xGHz' in the "
                         "model name, no 'cpu MHz').")
    assumptions.append(f"clock {clock:.2f} GHz from {source}; turbo may run above it")
    per_cycle = units * lanes * 2
    return {"gflops": cores * per_cycle * clock, "cores": cores, "logical_cpus": len(used),
            "threads_per_core": len(used) / cores, "simd": simd, "lanes": lanes,
            "fma_units": units, "flops_per_cycle": per_cycle, "clock_ghz": clock,
            "clock_source": source, "cpu": name,
            "formula": f"{cores} cores x {units} FMA units x {lanes} lanes x 2 x "
                       f"{clock:.2f} GHz",
            "assumptions": assumptions}


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


def training_step(model, learning_rate=0.01):
    """The measured training step: ``step(x, y) -> loss``, one SGD step (forward in training
    mode, cross-entropy, gradients, ``apply_gradients``) in one ``tf.function``, no XLA."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)

    @tf.function(jit_compile=False)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    step.optimizer = optimizer
    return step


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
    train_step = training_step(model)
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


TFLITE_GAP_S = 0.005


def _gapped_invoke(interpreter, gap=TFLITE_GAP_S):
    """A call for :func:`interleave` that sleeps ``gap`` seconds (untimed), then times one
    ``interpreter.invoke()`` and returns its seconds.

    The gap is there because XNNPACK's worker threads spin for a while after a call: on a
    2-core machine, interleaved interpreters called back to back slow each other's next call
    (engineer D's finding, docs/benchmarks/tflite_int8.md, which times with the same 5 ms)."""
    def call():
        if gap:
            time.sleep(gap)
        start = time.perf_counter()
        interpreter.invoke()
        return time.perf_counter() - start

    return call


#: each TFLite round runs in a fresh interpreter, warmed up with this many invokes and timed as
#: the median of TFLITE_TIMED gapped invokes
TFLITE_WARMUP = 2
TFLITE_TIMED = 3


def loaded_interpreter(blob, image, threads, warmup=TFLITE_WARMUP):
    """A new LiteRT interpreter (default XNNPACK delegate) of ``blob`` with the float
    ``image`` set as its input (quantised where the input is an integer tensor), after
    ``warmup`` invokes."""
    from .optimize import tflite

    interpreter = tflite.make_interpreter(blob, num_threads=threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    x = tflite.quantize(image, detail) if np.issubdtype(detail["dtype"], np.integer) else image
    interpreter.set_tensor(detail["index"], x.astype(detail["dtype"]))
    for _ in range(warmup):
        interpreter.invoke()
    return interpreter


def _fresh_interpreter_invoke(blob, image, threads, gap=TFLITE_GAP_S):
    """A call for :func:`interleave` that loads ``blob`` into a new LiteRT interpreter
    (untimed: :func:`loaded_interpreter`), then returns the median seconds of
    ``TFLITE_TIMED`` gapped invokes (:func:`_gapped_invoke`).

    A new interpreter every round because two interpreters of one and the same file can time
    0.77-1.43x of each other for their whole life (docs/benchmarks/tflite_control.md): one
    interpreter per side would compare instances, not files."""
    def call():
        invoke = _gapped_invoke(loaded_interpreter(blob, image, threads), gap)
        return float(np.median([invoke() for _ in range(TFLITE_TIMED)]))

    return call


def _tflite_latencies(sides, image_size, threads, repeats, quantizations, log,
                      gap=TFLITE_GAP_S):
    """Batch-1 ``invoke()`` latencies per quantisation and side, interleaved over ``repeats``
    rounds, each round in a fresh interpreter (:func:`_fresh_interpreter_invoke`), each call
    ``gap`` seconds (untimed) after the previous one -- see :func:`_gapped_invoke` and
    docs/benchmarks/tflite_int8.md."""
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
            invokers.append(Side(side.label, {"invoke": _fresh_interpreter_invoke(
                blob, images[:1], threads, gap)}, {}))
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
                    options=None, fp32_peak_gflops=None, log=_default_log):
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
        fp32_peak_gflops: the CPU's theoretical float32 peak (:func:`fp32_peak`), for the
            ``fp32_peak_fraction`` figures.
        builder: build ``builder(input_shape=..., classes=...)`` instead of the registry's
            builder (e.g. ``spec.builder.tiny``), still named ``name``.
        options: builder options of our side (a layout variant, e.g.
            ``{"stride_in_last_block": True}``); the row is named after them and the torch
            side, whose reference has the default layout, is skipped.

    Returns:
        A dict: ``sides`` (per side: construction, memory, params, FLOPs), ``times``
        (metric -> side -> summary), ``ratios`` (reference -> metric -> :func:`speed_ratio`),
        ``throughput_ips``, ``gflops``, ``peak_fraction``, ``fp32_peak_fraction``,
        ``tflite``, ``notes``.
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
            if fp32_peak_gflops:
                record["fp32_peak_gflops"] = fp32_peak_gflops
                record["fp32_peak_fraction"] = {label: g / fp32_peak_gflops
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
    ``tools/benchmark_report.py`` renders.

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
                            "tflite": list(tflite), "metrics": list(metrics),
                            "tflite_interpreters": "fresh per round"},
               "models": [], "construction": []}
    if peak:
        results["peak"] = matmul_peak()
        log(f"matmul peak: {results['peak']['gflops']:.1f} GFLOP/s")
        try:
            results["fp32_peak"] = fp32_peak()
        except (OSError, ValueError) as exc:  # no /proc/cpuinfo, or one without a clock
            log(f"no theoretical FP32 peak: {exc}")
        else:
            results["peak"]["fp32_peak_fraction"] = (results["peak"]["gflops"]
                                                     / results["fp32_peak"]["gflops"])
            log(f"theoretical FP32 peak: {results['fp32_peak']['gflops']:.1f} GFLOP/s "
                f"({results['fp32_peak']['formula']})")
    peak_gflops = results.get("peak", {}).get("gflops")
    fp32_gflops = results.get("fp32_peak", {}).get("gflops")
    worker = TorchWorker() if "torch" in against and models else None
    try:
        for text, name, options in models:
            try:
                results["models"].append(benchmark_model(
                    name, against=against, batch_size=batch_size, repeats=repeats,
                    image_size=image_size, warmup=warmup, threads=threads,
                    tflite=tflite if tflite_models is None or text in tflite_models else (),
                    tflite_against_keras=tflite_against_keras, metrics=metrics,
                    torch_worker=worker, peak_gflops=peak_gflops, options=options,
                    fp32_peak_gflops=fp32_gflops, log=log))
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


# ----------------------------------------------------------------------------- input pipeline

#: the issue's target: the input pipeline alone delivers this many times the training rate
PIPELINE_TARGET = 3.0


def make_jpeg_folder(path, images=128, classes=4, size=(350, 400), seed=0, quality=90):
    """Writes ``images`` JPEG files, ``path/class_<k>/<i>.jpg`` round-robin over ``classes``
    folders, and returns their paths.

    Each image is natural-looking noise: random colour fields at 4, 16 and 64 cells per side,
    upscaled (bicubic) and summed with falling amplitude (most energy at low frequencies, as in
    photographs), plus grain (per-pixel noise, mostly in brightness), so the files compress
    like photographs rather than flat colour: about 90 KB at quality 90, near ImageNet's
    ~110 KB. Sizes vary by up to +-15 % around ``size`` (height, width; ImageNet's photographs
    average about 400x350). Nothing is downloaded.
    """
    check = [int(images) >= 1, int(classes) >= 1, len(size) == 2 and min(size) >= 8]
    if not all(check):
        raise ValueError(f"make_jpeg_folder: `images` and `classes` must be >= 1 and `size` "
                         f"(height, width) >= 8; got {images!r}, {classes!r}, {size!r}.")
    rng = np.random.default_rng(seed)
    paths = []
    for c in range(int(classes)):
        os.makedirs(os.path.join(path, f"class_{c}"), exist_ok=True)
    for i in range(int(images)):
        height, width = (max(8, int(s * rng.uniform(0.85, 1.15))) for s in size)
        image = np.zeros((height, width, 3), np.float32)
        for cells, amplitude in ((4, 1.0), (16, 0.35), (64, 0.12)):
            coarse = rng.uniform(-1, 1, (1, cells, max(1, cells * width // height), 3))
            image += amplitude * tf.image.resize(coarse.astype("float32"), (height, width),
                                                 method="bicubic")[0].numpy()
        image = (image - image.min()) / (np.ptp(image) + 1e-6) * 255
        image += rng.normal(0, 30, (height, width, 1)) + rng.normal(0, 10, image.shape)
        image = np.clip(image, 0, 255)
        file = os.path.join(path, f"class_{i % int(classes)}", f"{i:05d}.jpg")
        with open(file, "wb") as f:
            f.write(tf.io.encode_jpeg(image.astype(np.uint8), quality=quality).numpy())
        paths.append(file)
    return paths


def input_pipeline(model="resnet50", *, image_size=224, batch_size=16, augment="inception",
                   images=256, classes=4, directory=None, batches=32, repeats=3, warmup=1,
                   cache=True, threads=None, seed=0, log=_default_log):
    """Images/s of the input pipeline alone next to ``model``'s training images/s.

    The pipeline is :func:`keras_convnets.data.pipeline` on the training split of a folder of
    real JPEG files -- ``directory`` (class folders), or ``images`` files that
    :func:`make_jpeg_folder` writes into a temporary folder -- with ``augment`` at
    ``image_size``: read, decode (inside the crop window), crop, resize, flip, batch, prefetch.
    It is iterated with no model: each round makes a fresh iterator (so nothing prefetched
    while the model ran counts), takes its first batch untimed (start-up) and times the next
    ``batches`` -- at most the few batches the pipeline buffered meanwhile come early.
    ``cache``: also time the pipeline from the decoded in-memory cache (the streamed,
    decode-every-image figure is the headline: a dataset too large to cache gets that). The
    model's rate is the benchmark's training step (:func:`training_step`: one SGD step on a
    random batch of ``batch_size``) at ``image_size``. Rounds interleave the sides;
    images/s are medians over ``repeats`` rounds, ``ratio`` = pipeline / training images/s
    (the issue's target: >= ``PIPELINE_TARGET``).
    """
    from . import data
    from .registry import get_spec

    spec = get_spec(model)
    for argument, value in (("image_size", image_size), ("batch_size", batch_size),
                            ("batches", batches), ("repeats", repeats)):
        if int(value) < 1:
            raise ValueError(f"`{argument}` must be >= 1; got {value!r}.")
    if int(image_size) < spec.min_size:
        raise ValueError(f"`image_size` must be >= {spec.min_size} for {spec.name}; got "
                         f"{image_size}.")
    threads = set_threads(threads)
    started = time.perf_counter()
    record = {"model": spec.name, "image_size": int(image_size), "batch_size": int(batch_size),
              "augment": augment, "batches": int(batches), "repeats": int(repeats),
              "warmup": int(warmup), "threads": threads, "target": PIPELINE_TARGET}
    temporary = None
    if directory is None:
        temporary = tempfile.TemporaryDirectory(prefix="keras_convnets_jpegs_")
        directory = temporary.name
        start = time.perf_counter()
        make_jpeg_folder(directory, images=images, classes=classes, seed=seed)
        log(f"wrote {images} JPEG files in {time.perf_counter() - start:.1f}s")
    try:
        dataset = data.load_dataset(directory, image_size=int(image_size), augment=augment,
                                    seed=seed, cache=False)
        files = dataset.files[0]
        sizes = [os.path.getsize(p) for p in files.paths]
        shapes = [tuple(int(v) for v in tf.io.extract_jpeg_shape(tf.io.read_file(p))[:2])
                  for p in files.paths[:64] if p.lower().endswith((".jpg", ".jpeg"))]
        record["files"] = {
            "directory": None if temporary else directory, "generated": temporary is not None,
            "train_files": len(files), "classes": dataset.classes,
            "mean_kb": float(np.mean(sizes)) / 1024,
            "mean_height_width": [float(np.mean([s[i] for s in shapes])) for i in (0, 1)]
            if shapes else None}

        def stream(split):
            return data.pipeline(split, batch_size=int(batch_size), image_size=int(image_size),
                                 training=True, augment=augment, seed=seed)

        def pull(pipeline_dataset):
            iterator = iter(pipeline_dataset)
            next(iterator)  # start-up (threads, the first batch): once per fit, not timed
            start = time.perf_counter()
            for _ in range(int(batches)):
                next(iterator)
            seconds = time.perf_counter() - start
            del iterator
            return seconds

        sides = [Side("stream", {"run": lambda s=stream(files): pull(s)}, {})]
        if cache:
            cached = data.ImageFiles(files.paths, files.labels, files.class_names, cache=True)
            start = time.perf_counter()
            cached.decoded()
            record["cache_fill_s"] = time.perf_counter() - start
            sides.append(Side("cached", {"run": lambda s=stream(cached): pull(s)}, {}))
        size = int(image_size)
        train_side = _keras_side("train", lambda: spec.builder(
            weights=None, input_shape=(size, size, 3), classes=1000), size, int(batch_size), 1000)
        record["params"] = train_side.info["params"]
        sides.append(Side("train", {"run": train_side.calls["train"]}, train_side.info,
                          model=train_side.model))
        log(f"{spec.name}: built in {train_side.info['construction_s']:.1f}s; warming up")
        for side in sides:
            for _ in range(int(warmup)):
                side.calls["run"]()
        times = interleave(sides, "run", int(repeats))
        per_call = {"stream": batches * batch_size, "cached": batches * batch_size,
                    "train": batch_size}
        record["times"] = {label: summarize(t) for label, t in times.items()}
        record["images_per_s"] = {label: per_call[label] / median(t)
                                  for label, t in times.items()}
        ips = record["images_per_s"]
        record["ratio"] = ips["stream"] / ips["train"]
        rounds = [(per_call["stream"] / s) / (batch_size / t)
                  for s, t in zip(times["stream"], times["train"])]
        record["ratio_rounds"] = {"low": min(rounds), "high": max(rounds)}
        if "cached" in ips:
            record["ratio_cached"] = ips["cached"] / ips["train"]
        record["meets_target"] = record["ratio"] >= PIPELINE_TARGET
        log(", ".join(f"{label} {v:.1f} img/s" for label, v in ips.items())
            + f"; pipeline / training {record['ratio']:.1f}x")
    finally:
        if temporary is not None:
            temporary.cleanup()
        keras.backend.clear_session()
        gc.collect()
    record["wall_s"] = time.perf_counter() - started
    return record


def run_input_pipeline(model="resnet50", *, peak=True, log=_default_log, **kwargs):
    """:func:`input_pipeline` with the machine's facts (and its FP32 peak) around it: the
    results dict that ``keras-convnets benchmark --input-pipeline`` writes."""
    results = {"machine": machine_info()}
    if peak:
        results["fp32_peak"] = fp32_peak()
    results["input_pipeline"] = input_pipeline(model, log=log, **kwargs)
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def format_input_pipeline(record):
    """A short plain-text summary of an :func:`input_pipeline` record (for the CLI)."""
    ips, files = record["images_per_s"], record["files"]
    lines = [f"input pipeline: {files['train_files']} JPEG files "
             f"({'generated, ' if files['generated'] else ''}mean {files['mean_kb']:.0f} KB"
             + (f", {files['mean_height_width'][0]:.0f}x{files['mean_height_width'][1]:.0f} px"
                if files.get("mean_height_width") else "")
             + f"), augment {record['augment']!r}, {record['image_size']} px, batch "
               f"{record['batch_size']}, {record['threads']} threads, median of "
               f"{record['repeats']}",
             f"  pipeline, decoding every image  {ips['stream']:8.1f} images/s"]
    if "cached" in ips:
        lines.append(f"  pipeline, decoded cache         {ips['cached']:8.1f} images/s "
                     f"(filled in {record['cache_fill_s']:.1f}s)")
    lines.append(f"  {record['model']} training step  {ips['train']:8.1f} images/s")
    lines.append(f"  pipeline / training: {record['ratio']:.1f}x (rounds "
                 f"{record['ratio_rounds']['low']:.1f}-{record['ratio_rounds']['high']:.1f}; "
                 f"target >= {record['target']:.0f}x: "
                 f"{'met' if record['meets_target'] else 'NOT met'})")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI summary

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
        fractions = [f"{record[key]['ours'] * 100:.0f}% of {what}"
                     for key, what in (("peak_fraction", "matmul peak"),
                                       ("fp32_peak_fraction", "theoretical FP32 peak"))
                     if key in record]
        if fractions:
            text += f" ({', '.join(fractions)})"
        lines.append(text)
    for note in record["notes"]:
        lines.append(f"  note: {note}")
    return "\n".join(lines)
