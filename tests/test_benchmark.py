"""The benchmark machinery (keras_convnets.benchmark, `keras-convnets benchmark`).

Structure only: keys, positive numbers, the direction of the ratio, the CLI's JSON, the
report (tools/benchmark_report.py). Speed itself is never asserted here; tools/benchmark.py
measures it.
"""

import importlib.util
import json
import pathlib

import numpy as np
import pytest

from keras_convnets import benchmark, cli
from keras_convnets.registry import all_specs

ROOT = pathlib.Path(__file__).parents[1]


def _tool(name):
    """The module tools/<name>.py (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_tool", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_ratio_is_ours_over_theirs_in_speed():
    # theirs takes twice as long as ours: we are 2x faster
    r = benchmark.speed_ratio([1.0, 1.0, 2.0], [2.0, 2.0, 4.0])
    assert r["ratio"] == pytest.approx(2.0)
    assert r["round_median"] == pytest.approx(2.0) and r["low"] == r["high"] == 2.0
    assert benchmark.speed_ratio([3.0], [1.0])["ratio"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="both sides"):
        benchmark.speed_ratio([], [1.0])


def test_summarize_and_matmul_peak():
    s = benchmark.summarize([1.0, 3.0, 2.0])
    assert s["median_s"] == 2.0 and s["spread"] == pytest.approx(1.0)
    peak = benchmark.matmul_peak(size=256, repeats=2, warmup=1)
    assert peak["gflops"] > 0 and peak["size"] == 256 and len(peak["times"]) == 2
    with pytest.raises(ValueError, match="`size`"):
        benchmark.matmul_peak(size=0)


def test_references_and_argument_errors():
    assert benchmark.keras_application("ResNet50")[0].__name__ == "ResNet50"
    assert benchmark.keras_application("resnet18") is None
    assert benchmark.torch_reference("resnet50") == "torchvision:resnet50"
    with pytest.raises(ValueError, match="Did you mean: resnet50"):
        benchmark.benchmark_model("resnt50")
    with pytest.raises(ValueError, match="`against`.*'jax'"):
        benchmark.benchmark_model("resnet18", against="jax")
    with pytest.raises(ValueError, match="`metrics`"):
        benchmark.benchmark_model("resnet18", metrics=("speed",))
    with pytest.raises(ValueError, match="`image_size` must be >= 32"):
        benchmark.benchmark_model("resnet18", image_size=8)


def test_benchmark_model_against_keras_structure():
    record = benchmark.benchmark_model(
        "mobilenet", against="keras", image_size=32, batch_size=2, repeats=1, warmup=1,
        tflite=("float32",), peak_gflops=100.0, log=lambda message: None)
    assert set(record["sides"]) == {"ours", "keras"}
    assert set(record["times"]) == set(benchmark.METRICS)
    for metric in benchmark.METRICS:
        for side in ("ours", "keras"):
            summary = record["times"][metric][side]
            assert summary["median_s"] > 0 and len(summary["times"]) == 1
        r = record["ratios"]["keras"][metric]
        ours, theirs = (record["times"][metric][s]["median_s"] for s in ("ours", "keras"))
        assert r["ratio"] == pytest.approx(theirs / ours)
    for side in record["sides"].values():
        assert side["construction_s"] > 0 and side["params"] > 0 and side["flops"] > 0
        assert side["peak_mb"] is not None
    assert record["throughput_ips"]["ours"] > 0 and 0 < record["peak_fraction"]["ours"]
    assert record["tflite"]["float32"]["ours"]["median_s"] > 0
    assert "tflite_float32" in record["ratios"]["keras"]
    assert any("classifier" in note for note in record["notes"])


def test_parse_model_reads_layout_variants():
    assert benchmark.parse_model("ResNet50V2") == ("resnet50v2", {})
    assert benchmark.parse_model("resnet50v2:stride_in_last_block=True, drop_rate=0.5") == (
        "resnet50v2", {"stride_in_last_block": True, "drop_rate": 0.5})
    assert benchmark.variant_label("resnet50v2", {"stride_in_last_block": True}) == \
        "resnet50v2 (stride_in_last_block=True)"
    with pytest.raises(ValueError, match="option=value"):
        benchmark.parse_model("resnet50v2:stride_in_last_block")
    with pytest.raises(ValueError, match="Python literal.*'yes please'"):
        benchmark.parse_model("resnet50v2:stride_in_last_block=yes please")
    with pytest.raises(ValueError, match="Did you mean: resnet50"):
        benchmark.parse_model("resnt50:stride_in_1x1=True")


def test_a_variant_builds_ours_with_its_options_and_skips_torch():
    from keras_convnets import get_spec

    built = []

    def tiny(**kwargs):
        built.append(kwargs)
        return get_spec("resnet50v2").builder.tiny(**kwargs)

    record = benchmark.benchmark_model(
        "resnet50v2", against=("keras", "torch"), image_size=32, batch_size=2, repeats=1,
        warmup=1, tflite=(), metrics=("latency",), builder=tiny,
        options={"stride_in_last_block": True}, log=lambda message: None)
    assert built and all(kwargs["stride_in_last_block"] is True for kwargs in built)
    assert record["name"] == "resnet50v2 (stride_in_last_block=True)"
    assert set(record["sides"]) == {"ours", "keras"}  # no torch worker was started
    assert any("default layout" in note for note in record["notes"])


def test_cli_benchmark_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert cli.main(["benchmark", "mobilenet_025", "--image-size", "32", "--batch-size", "2",
                     "--repeats", "1", "--warmup", "1", "--against", "keras", "--no-tflite",
                     "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_025" in out and "throughput" in out and "matmul peak" in out
    results = json.loads(path.read_text())
    (record,) = results["models"]
    assert record["name"] == "mobilenet_025" and set(record["sides"]) == {"ours"}
    assert "no keras.applications model" in record["notes"][0]
    assert results["peak"]["gflops"] > 0 and results["machine"]["cores"] >= 1


def test_cli_benchmark_unknown_name_is_a_clean_error(capsys):
    assert cli.main(["benchmark", "resnt50", "--against", "none"]) == 2
    assert "Did you mean: resnet50" in capsys.readouterr().err


def _fake_results():
    def times(ms):
        return {"median_s": ms / 1e3, "min_s": ms / 1e3, "max_s": ms / 1e3, "spread": 0.0,
                "times": [ms / 1e3]}

    sides = {"ours": {"params": 10, "flops": 2e9, "construction_s": 1.0, "construction_mb": 5,
                      "peak_mb": 7},
             "keras": {"params": 12, "flops": 2e9, "construction_s": 2.0, "construction_mb": 5,
                       "peak_mb": 7},
             "torch": {"params": 10, "construction_s": 0.5, "construction_mb": 1,
                       "peak_mb": 3, "source": "timm:x"}}
    record = {"name": "resnet50", "family": "resnet", "image_size": 64, "batch_size": 16,
              "repeats": 1, "sides": sides, "notes": ["a note"],
              "times": {m: {s: times(t) for s, t in (("ours", 10), ("keras", 5), ("torch", 20))}
                        for m in benchmark.METRICS},
              "ratios": {ref: {m: benchmark.speed_ratio([0.01], [t])
                               for m in benchmark.METRICS}
                         for ref, t in (("keras", 0.005), ("torch", 0.02))},
              "throughput_ips": {"ours": 1600.0, "keras": 3200.0, "torch": 800.0},
              "gflops": {"ours": 3200.0, "keras": 6400.0}, "peak_fraction": {"ours": 0.5},
              "tflite": {"float32": {"ours": {**times(3), "bytes": 2**20},
                                     "keras": {**times(4), "bytes": 2**20}}}}
    return {"machine": {"cpu": "Test CPU", "cores": 2, "date": "2026-01-01 00:00 UTC",
                        "tensorflow": "2.x", "keras": "3.x", "torch": "2.x"},
            "settings": {"batch_size": 16, "repeats": 1, "warmup": 1, "threads": 2},
            "peak": {"gflops": 200.0, "gflops_best": 210.0}, "models": [record],
            "construction": [{"name": "senet154", "construction_s": 9.0, "params": 1}],
            "wall_s": 60.0}


def test_render_markdown_and_plot(tmp_path):
    report = _tool("benchmark_report")
    text = report.render_markdown(_fake_results(), explanations={"resnet50": "because of the test"})
    assert "Test CPU, 2 logical cores" in text and "**200 GFLOP/s**" in text
    assert "## Against keras.applications" in text and "## Against timm / torchvision" in text
    # ours/theirs: slower than keras, faster than torch
    assert "**0.50**" in text and "**2.00**" in text
    assert "| resnet50 | resnet | 64 | 2.00 | 3200 | 50% |" in text
    assert "senet154: 9.0 s wall" in text and "resnet50 vs keras, throughput: 0.50x" in text
    assert "because of the test" in text and "## TFLite" in text
    path = report.plot_throughput_vs_flops(_fake_results(), str(tmp_path / "p" / "plot.png"))
    assert (tmp_path / "p" / "plot.png").stat().st_size > 1000 and path.endswith("plot.png")
    with pytest.raises(ValueError, match="no throughput"):
        report.plot_throughput_vs_flops({"models": []}, str(tmp_path / "x.png"))


def test_the_package_measures_and_tools_report():
    """Rendering lives in tools/benchmark_report.py: the package needs no matplotlib."""
    assert not hasattr(benchmark, "render_markdown")
    assert not any("matplotlib" in path.read_text()
                   for path in (ROOT / "keras_convnets").rglob("*.py"))


def test_the_full_run_covers_every_keras_applications_twin():
    """tools/benchmark.py's default model list -- what BENCHMARKS.md is generated from --
    includes every architecture the registry pairs with a keras.applications model, and its
    layout variants build each twin with its registered ``layout_options``."""
    tool = _tool("benchmark")
    twins = {spec.name: spec.keras_twin for spec in all_specs() if spec.keras_twin}
    assert twins and set(tool.SHARED) == set(twins)
    for name in twins:  # every twin names a real keras.applications builder
        assert callable(benchmark.keras_application(name)[0])
    layouts = dict(map(benchmark.parse_model, tool.KERAS_LAYOUTS))
    assert layouts == {name: twin.layout_options for name, twin in twins.items()
                       if twin.layout_options}
    for name in tool.OTHERS:
        assert name not in twins and benchmark.torch_reference(name)
    assert set(tool.QUICK_TFLITE) <= set(tool.SHARED + tool.OTHERS)
    assert tool.CONSTRUCTION_ONLY


def test_training_memory_tool_measures_each_variant_in_its_own_process(tmp_path):
    """tools/training_memory.py: one subprocess per variant, peak RSS over the training steps
    above the RSS after construction, step time, and the report relative to the first row."""
    tool = _tool("training_memory")
    out = tmp_path / "memory.md"
    assert tool.main(["densenetbc100_k12", "densenetbc100_k12:memory_efficient=True",
                      "--batch-size", "4", "--steps", "1", "--out", str(out)]) == 0
    results = json.loads(out.with_suffix(".json").read_text())
    plain, efficient = results["variants"]
    assert plain["model"] == "densenetbc100_k12"
    assert efficient["model"] == "densenetbc100_k12 (memory_efficient=True)"
    assert plain["params"] == efficient["params"] and plain["image_size"] == 32
    assert all(v["peak_mb"] > 0 and v["step_ms"] > 0 for v in (plain, efficient))
    text = out.read_text()
    assert "| densenetbc100_k12 | 32 | 4 |" in text and "+0% |" in text and "1.00x |" in text


def _cpuinfo(name, flags, cores, vendor="GenuineIntel", family=6, model=85, mhz="2000.000",
             smt=1):
    """A fabricated /proc/cpuinfo: ``cores`` cores of ``smt`` threads each."""
    blocks = []
    for cpu in range(cores * smt):
        blocks.append("\n".join([
            f"processor\t: {cpu}", f"vendor_id\t: {vendor}", f"cpu family\t: {family}",
            f"model\t\t: {model}", f"model name\t: {name}", f"cpu MHz\t\t: {mhz}",
            "physical id\t: 0", f"siblings\t: {cores * smt}", f"core id\t\t: {cpu % cores}",
            f"cpu cores\t: {cores}", f"flags\t\t: fpu sse sse2 {flags}"]))
    return "\n\n".join(blocks) + "\n"


def test_fp32_peak_arithmetic_on_fabricated_cpuinfo(monkeypatch):
    monkeypatch.delenv("KERAS_CONVNETS_CPU_GHZ", raising=False)
    avx512 = "avx avx2 fma avx512f avx512dq"
    # Intel Xeon Gold 6148 @ 2.40GHz (Skylake-SP, two AVX-512 FMA units): the name's clock
    peak = benchmark.fp32_peak(_cpuinfo("Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", avx512, 2),
                               cpus={0, 1})
    assert (peak["cores"], peak["fma_units"], peak["lanes"], peak["clock_ghz"]) == (2, 2, 16, 2.4)
    assert peak["gflops"] == pytest.approx(2 * 2 * 16 * 2 * 2.4) and peak["simd"] == "avx512f"
    assert peak["flops_per_cycle"] == 64 and "2 cores x 2 FMA units x 16 lanes" in peak["formula"]
    # Gold 5118: one AVX-512 FMA unit
    assert benchmark.fp32_peak(_cpuinfo("Intel(R) Xeon(R) Gold 5118 CPU @ 2.30GHz", avx512, 2),
                               cpus={0, 1})["fma_units"] == 1
    # AMD EPYC Zen 3 (family 19h, AVX2): two 256-bit FMA pipes, the clock from cpu MHz
    zen3 = dict(vendor="AuthenticAMD", family=25, model=1, mhz="2450.000")
    peak = benchmark.fp32_peak(_cpuinfo("AMD EPYC 7B13", "avx avx2 fma", 2, **zen3),
                               cpus={0, 1})
    assert peak["gflops"] == pytest.approx(2 * 2 * 8 * 2 * 2.45) and peak["lanes"] == 8
    assert peak["clock_source"] == "cpu MHz in /proc/cpuinfo"
    # the same two logical CPUs as hyperthreads of ONE core: the core's FMA units count once
    peak = benchmark.fp32_peak(_cpuinfo("AMD EPYC 7B13", "avx avx2 fma", 1, smt=2, **zen3),
                               cpus={0, 1})
    assert (peak["cores"], peak["logical_cpus"], peak["threads_per_core"]) == (1, 2, 2.0)
    assert peak["gflops"] == pytest.approx(2 * 8 * 2 * 2.45)
    # Zen 4 runs AVX-512 on 256-bit pipes: one 512-bit FMA per cycle
    zen4 = dict(zen3, model=17)
    assert benchmark.fp32_peak(_cpuinfo("AMD EPYC 9B14", "avx2 fma avx512f", 4, **zen4),
                               cpus={0, 1})["gflops"] == pytest.approx(2 * 1 * 16 * 2 * 2.45)
    # only the CPUs the process may use count; no 'core id': each logical CPU is a core
    text = _cpuinfo("Intel(R) Xeon(R) CPU @ 2.00GHz", "avx avx2 fma", 8)
    assert benchmark.fp32_peak(text, cpus={3})["cores"] == 1
    no_ids = "\n".join(line for line in text.splitlines() if not line.startswith("core id"))
    assert benchmark.fp32_peak(no_ids, cpus=set(range(8)))["cores"] == 8
    assert benchmark.fp32_peak(text, cpus={0}, clock_ghz=3.0)["gflops"] == pytest.approx(
        2 * 8 * 2 * 3.0)  # a known turbo clock instead of the name's
    with pytest.raises(ValueError, match="no clock"):
        benchmark.fp32_peak(text.replace("@ 2.00GHz", "").replace("cpu MHz", "x"), cpus=None)
    assert benchmark.fp32_peak()["gflops"] > 0  # this machine's


def test_cli_benchmark_input_pipeline_writes_json(tmp_path, capsys):
    path = tmp_path / "pipeline.json"
    assert cli.main(["benchmark", "--input-pipeline", "mobilenet_025", "--image-size", "32",
                     "--images", "12", "--batch-size", "2", "--repeats", "1", "--warmup", "1",
                     "--pipeline-batches", "2", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "pipeline, decoding every image" in out and "pipeline / training" in out
    assert "theoretical FP32 peak" in out
    results = json.loads(path.read_text())
    record = results["input_pipeline"]
    assert record["model"] == "mobilenet_025" and record["image_size"] == 32
    assert record["files"]["generated"] and record["files"]["train_files"] == 10
    assert set(record["images_per_s"]) == {"stream", "cached", "train"}
    assert all(v > 0 for v in record["images_per_s"].values())
    ips = record["images_per_s"]
    assert record["ratio"] == pytest.approx(ips["stream"] / ips["train"])
    assert results["fp32_peak"]["gflops"] > 0
    report = _tool("benchmark_report")
    text = "\n".join(report._input_pipeline_section(record))
    assert "| mobilenet_025 | 32 | inception |" in text and "10 generated JPEG files" in text


def test_the_report_shows_the_fp32_peak():
    report = _tool("benchmark_report")
    results = _fake_results()
    results["fp32_peak"] = benchmark.fp32_peak(
        _cpuinfo("Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", "avx2 fma avx512f", 2), cpus={0, 1})
    results["peak"]["fp32_peak_fraction"] = 200.0 / results["fp32_peak"]["gflops"]
    results["models"][0]["fp32_peak_fraction"] = {"ours": 0.25}
    text = report.render_markdown(results)
    assert "Theoretical float32 peak: **307 GFLOP/s** = 2 cores x 2 FMA units" in text
    assert "65% of the theoretical FP32 peak" in text and "% of FP32 peak |" in text
    assert "| resnet50 | resnet | 64 | 2.00 | 3200 | 50% | 25% |" in text


def test_notes_of_a_run_written_to_a_file_of_its_own():
    """`--note TOPIC: TEXT` replaces BENCHMARKS.md's notes (they describe its own runs)."""
    tool = _tool("benchmark")
    assert tool.notes(tool.parse_args([])) is tool.EXPLANATIONS
    args = tool.parse_args(["--note", "emulation: TensorFlow without oneDNN", "--note", "plain"])
    assert tool.notes(args) == {"emulation": "TensorFlow without oneDNN", "note": "plain"}


def test_tflite_control_times_two_interpreters_of_one_file(tmp_path):
    """tools/tflite_control.py: keras' file loaded twice next to ours in both paddings, each
    relative to the two keras interpreters' mean; committed run linked from BENCHMARKS.md."""
    tool = _tool("tflite_control")
    results = tool.measure("mobilenet", image_size=32, rounds=1, quantizations=("float32",),
                           log=lambda message: None)
    records = results["float32"]
    assert [record["order"] for record in records] == [list(o) for o in tool.ORDERS]
    for record in records:
        speed, median = record["speed_vs_keras"], record["median_ms"]
        assert set(speed) == set(median) == set(tool.SIDES)
        keras_ms = (median["keras_a"] + median["keras_b"]) / 2
        assert speed["ours_same"] == pytest.approx(keras_ms / median["ours_same"])
    text = tool.report({"mobilenet": results}, {"date": "d", "machine": "m", "threads": 2,
                                                "rounds": 1, "image_size": 32})
    assert text.count("| mobilenet | float32 |") == 2
    assert "docs/benchmarks/tflite_control.md" in (ROOT / "BENCHMARKS.md").read_text()

    # --instances: int8 over float32 over fresh interpreters, the median of their medians
    record = tool.per_instance("mobilenet_025", image_size=32, instances=2, warmup=1, timed=1,
                               log=lambda message: None)
    for label in ("float32", "int8"):
        assert len(record[label]["instance_ms"]) == 2
        assert record[label]["median_ms"] == pytest.approx(
            sum(record[label]["instance_ms"]) / 2)
    assert record["int8_speedup"] == pytest.approx(
        record["float32"]["median_ms"] / record["int8"]["median_ms"])
    text = tool.instances_report({"mobilenet_025": record}, {
        "date": "d", "machine": "m", "threads": 2, "image_size": 32, "seconds": 1,
        "instances": 2, "warmup": 1, "timed": 1})
    assert f"**{record['int8_speedup']:.2f}x** |" in text
    assert "docs/benchmarks/tflite_instances.md" in (ROOT / "README.md").read_text()


def test_tflite_rounds_load_a_fresh_interpreter(monkeypatch):
    """Each TFLite round times a new interpreter (two of one file can differ by 1.4x for their
    whole life), and the report says which method a run used."""
    import ai_edge_litert.interpreter as litert

    from keras_convnets.backend import keras
    from keras_convnets.optimize import tflite

    created = []

    class Counting(litert.Interpreter):
        def __init__(self, *args, **kwargs):
            created.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(litert, "Interpreter", Counting)
    inputs = keras.Input((8, 8, 3))
    blob = tflite.convert(keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs)))
    call = benchmark._fresh_interpreter_invoke(blob, np.zeros((1, 8, 8, 3), "float32"), 1, 0)
    seconds = [call() for _ in range(3)]
    assert len(created) == 3 and all(isinstance(s, float) and s > 0 for s in seconds)

    report = _tool("benchmark_report")
    fresh = _fake_results()
    fresh["settings"]["tflite_interpreters"] = "fresh per round"
    assert "each round in a fresh interpreter" in report.render_markdown(fresh)
    assert "one interpreter per side for all rounds" in report.render_markdown(_fake_results())
