"""Reports of benchmark results: the BENCHMARKS.md text and the throughput-vs-FLOPs plot.

:func:`keras_convnets.benchmark.run` measures and returns a results dict (what
``docs/benchmarks/benchmark.json`` holds); this module renders one, for ``tools/benchmark.py``.
Measuring stays in the package; rendering lives here so the package needs no matplotlib.

    results = json.load(open("docs/benchmarks/benchmark.json"))
    print(render_markdown(results))
    plot_throughput_vs_flops(results, "throughput_vs_flops.png")
"""

import os

import numpy as np

from keras_convnets.benchmark import SIDES


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


def _fp32_peak_line(peak, measured=None):
    """The machine-section line of :func:`keras_convnets.benchmark.fp32_peak`'s figure;
    ``measured``: the matmul's GFLOP/s, which above the figure means a faster clock."""
    line = (f"- Theoretical float32 peak: **{peak['gflops']:.0f} GFLOP/s** = {peak['formula']} "
            f"({'; '.join(peak.get('assumptions', []))}).")
    if measured and measured > peak["gflops"]:
        per_ghz = peak["gflops"] / peak["clock_ghz"]
        line += (f" The matmul's {measured:.0f} GFLOP/s exceeds it: the cores ran at "
                 f">= {measured / per_ghz:.2f} GHz, above the {peak['clock_ghz']:.2f} GHz "
                 f"reported.")
    return line


def _input_pipeline_section(record):
    """The markdown lines of an input-pipeline measurement (``benchmark.input_pipeline``, with
    the ``machine``/``fp32_peak``/``command`` of its run)."""
    ips, files, machine = record["images_per_s"], record["files"], record.get("machine", {})
    size = record["image_size"]
    lines = ["## Input pipeline: images/s of the tf.data pipeline alone vs training", "",
             f"Measured by `{record.get('command') or 'keras-convnets benchmark --input-pipeline'}`"
             f" on {machine.get('date', '?')}: {machine.get('cpu', '?')}, "
             f"{machine.get('cores', '?')} logical cores"
             + (f", widest SIMD {machine['simd'].upper()}, TensorFlow oneDNN "
                f"{'on' if machine.get('onednn') else 'off'}" if machine.get("simd") else "")
             + f"; load average {machine.get('load_average', '?')} at the start, "
               f"{machine.get('load_average_end', '?')} at the end: " + _load_comment(machine),
             ""]
    if record.get("fp32_peak"):
        lines += [_fp32_peak_line(record["fp32_peak"]), ""]
    if record.get("peak"):
        lines += [f"- Dense float32 matmul in the same run: {record['peak']['gflops']:.0f} "
                  f"GFLOP/s"
                  + (f" ({record['peak']['fp32_peak_fraction'] * 100:.0f}% of the theoretical "
                     f"FP32 peak)" if "fp32_peak_fraction" in record["peak"] else "")
                  + ".", ""]
    lines += [
        "`keras_convnets.data.pipeline` on the training split of "
        + (f"{files['train_files']} generated JPEG files" if files.get("generated")
           else f"{files['train_files']} image files")
        + f" ({files['classes']} class folders, mean {files['mean_kb']:.0f} KB"
        + (f", {files['mean_height_width'][0]:.0f}x{files['mean_height_width'][1]:.0f} px"
           if files.get("mean_height_width") else "")
        + f"), augmentation `{record['augment']}` at {size} px: read, decode (a JPEG only "
          f"inside its crop window), crop, resize, flip, batch {record['batch_size']}, "
          f"prefetch; no model. Each round makes a fresh iterator, takes one batch untimed "
          f"and times the next {record['batches']}; the training side is the benchmark's "
          f"training step (one SGD step on a random batch); rounds interleave the sides, "
          f"medians of {record['repeats']}.", "",
        _row(["model", "input", "augment", "pipeline img/s (decoding every image)",
              "pipeline img/s (decoded cache)", "training img/s", "pipeline / training",
              f"target >= {record['target']:.0f}x"]),
        _row(["---", "---:", "---", "---:", "---:", "---:", "---:", "---"]),
        _row([record["model"], size, record["augment"], f"{ips['stream']:.0f}",
              f"{ips['cached']:.0f}" if "cached" in ips else "-", f"{ips['train']:.1f}",
              f"**{record['ratio']:.0f}x** ({record['ratio_rounds']['low']:.0f}-"
              f"{record['ratio_rounds']['high']:.0f})",
              "met" if record["meets_target"] else "**not met**"]), ""]
    return lines


def _tflite_interpreters(settings):
    """How the run's TFLite rounds used interpreters (runs before the setting: one each)."""
    if settings.get("tflite_interpreters") == "fresh per round":
        return ("each round in a fresh interpreter (2 warm-up invokes, the median of 3 timed): "
                "two interpreters of one file can time 0.77-1.43x of each other "
                "(docs/benchmarks/tflite_control.md).")
    return ("one interpreter per side for all rounds, which carries that interpreter's luck: "
            "two interpreters of one file can time 0.77-1.43x of each other "
            "(docs/benchmarks/tflite_control.md; the benchmark now loads a fresh one every "
            "round).")


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
            + f" (best single call {p['gflops_best']:.0f})"
            + (f", {p['fp32_peak_fraction'] * 100:.0f}% of the theoretical FP32 peak"
               if "fp32_peak_fraction" in p else "") + ".")
    if results.get("fp32_peak"):
        lines.append(_fp32_peak_line(results["fp32_peak"],
                                     results.get("peak", {}).get("gflops")))
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
              "batch-1 `invoke()` on the LiteRT interpreter, interleaved like the rest, "
              + _tflite_interpreters(settings),
              "- **GFLOP/s**: `kc.count_flops(model)` (2 x multiply-adds per image) x images/s "
              "at the throughput batch; **% of matmul peak** divides by the matmul peak "
              "above, **% of FP32 peak** by the CPU's theoretical float32 peak (cores x FMA "
              "units x SIMD lanes x 2 x clock, `keras_convnets.benchmark.fp32_peak`).",
              ""]

    lines += _comparison_table(models, "keras", settings.get("batch_size"))
    lines += _comparison_table(models, "torch", settings.get("batch_size"))

    if models:
        lines += ["## Against the machine: achieved GFLOP/s, construction, memory", "",
                  _row(["model", "family", "input", "GFLOPs / image", "GFLOP/s ours",
                        "% of matmul peak", "% of FP32 peak", "GFLOP/s keras",
                        "construction s ours / keras / torch",
                        "memory MB: construction / peak (ours)"]),
                  _row(["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:",
                        "---:"])]
        for m in models:
            s, g, f = m["sides"], m.get("gflops", {}), m.get("peak_fraction", {})
            f32 = m.get("fp32_peak_fraction", {})
            cons = " / ".join(f"{s[k]['construction_s']:.1f}" if k in s else "-"
                              for k in SIDES)
            lines.append(_row([
                m["name"], m["family"], m["image_size"], f"{s['ours']['flops'] / 1e9:.2f}",
                f"{g.get('ours', 0):.0f}", f"{f['ours'] * 100:.0f}%" if "ours" in f else "-",
                f"{f32['ours'] * 100:.0f}%" if "ours" in f32 else "-",
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

    if results.get("input_pipeline"):
        lines += _input_pipeline_section(results["input_pipeline"])

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
