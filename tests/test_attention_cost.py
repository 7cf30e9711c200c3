"""attention_cost: argument checks before anything runs, the memory method, the table's shape,
the skip and failure policies, the slope and crossover readers, and the scaling plot."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from vision_attention import viz  # noqa: E402
from vision_attention.profiling import (  # noqa: E402
    COST_COLUMNS,
    COST_MODULES,
    attention_cost,
    attention_gflops,
    count_flops,
    crossover_side,
    predicted_attention_mib,
    scaling_slopes,
)
from vision_attention.profiling import cost  # noqa: E402

MIB = 2.0**20


@pytest.fixture
def no_worker(monkeypatch):
    """Fail if a subprocess would start: argument errors must come first."""
    def refuse(*args, **kwargs):
        raise AssertionError("a worker was started before the arguments were checked")

    monkeypatch.setattr(cost, "_run_worker", refuse)


@pytest.mark.parametrize("kwargs, name", [
    ({"sides": ()}, "sides"),
    ({"sides": (14, 0)}, "sides"),
    ({"sides": (14, 14)}, "sides"),
    ({"sides": "14"}, "sides"),
    ({"sides": (14.0,)}, "sides"),
    ({"sides": (15,), "modules": ("mhsa_window",)}, "sides"),
    ({"modules": ()}, "modules"),
    ({"modules": ("sa",)}, "modules"),
    ({"modules": ("se", "se")}, "modules"),
    ({"modules": "se"}, "modules"),
    ({"channels": 8, "modules": ("se",)}, "channels"),
    ({"channels": 0}, "channels"),
    ({"num_heads": 3}, "num_heads"),
    ({"batch": 0}, "batch"),
    ({"window_size": 0}, "window_size"),
    ({"repeats": 0}, "repeats"),
    ({"repeats": 3, "min_repeats": 4}, "min_repeats"),
    ({"warmup": -1}, "warmup"),
    ({"budget_s": 0}, "budget_s"),
    ({"threads": 0}, "threads"),
    ({"memory_cap_mib": -1.0}, "memory_cap_mib"),
    ({"memory_cap_mib": True}, "memory_cap_mib"),
    ({"timeout": 0}, "timeout"),
    ({"isolation": "none"}, "isolation"),
    ({"progress": 42}, "progress"),
    ({"seed": 1.5}, "seed"),
])
def test_bad_arguments_raise_before_anything_runs(no_worker, kwargs, name):
    with pytest.raises(ValueError, match=rf"argument '{name}' expected .*, got "):
        attention_cost(**kwargs)


def test_predicted_attention_sizes():
    n = 112 * 112
    # Explicit global MHSA, 8 heads: logits and softmax, float32.
    assert predicted_attention_mib("mhsa_explicit", 112) == pytest.approx(2 * 8 * n * n * 4 / MIB)
    assert predicted_attention_mib("mhsa_explicit", 112) > 9000  # over the default cap
    assert predicted_attention_mib("nonlocal", 56, batch=2) == pytest.approx(2 * 2 * 3136**2 * 4 / MIB)
    assert predicted_attention_mib("mhsa_window_explicit", 56) == pytest.approx(2 * 8 * 3136 * 49 * 4 / MIB)
    assert predicted_attention_mib("mhsa", 112) == 0.0
    assert predicted_attention_mib("mhsa", 56, sdpa_materialises=True) == predicted_attention_mib("mhsa_explicit", 56)
    assert predicted_attention_mib("se", 112) == predicted_attention_mib("cbam", 112) == 0.0
    with pytest.raises(ValueError, match="argument 'key'"):
        predicted_attention_mib("sa", 14)


def test_flop_formulas_match_pytorchs_counter():
    import torch

    from vision_attention.profiling._cost_worker import _build

    channels, heads, window = 32, 4, 7
    for key in COST_MODULES:
        with torch.device("meta"):
            module = _build(key, channels, heads, window)
        counted = count_flops(module, (2, channels, 14, 14))["flops"]
        assert attention_gflops(key, 14, channels, batch=2, window_size=window) * 1e9 == pytest.approx(counted), key
    with pytest.raises(ValueError, match="argument 'key'"):
        attention_gflops("sa", 14)


SETTINGS = {"channels": 32, "batch": 1, "num_heads": 4, "window_size": 7, "repeats": 2, "min_repeats": 1,
            "warmup": 1, "budget_s": None, "threads": 1, "memory_cap_mib": 2048.0, "seed": 0,
            "reset_peak": True}


@pytest.mark.skipif(not cost._can_reset_peak(), reason="needs Linux's /proc/self/clear_refs")
def _measure_in_a_fresh_process(*keys_and_sides):
    """``measure_configuration`` rows from a fresh interpreter, as ``attention_cost`` runs them:
    the peak resident memory of this test process would also count whatever the threads of the
    frameworks other tests imported allocate meanwhile."""
    code = (
        "import json, sys\n"
        "from vision_attention.profiling._cost_worker import measure_configuration\n"
        "settings, jobs = json.loads(sys.argv[1])\n"
        "print(json.dumps([measure_configuration(k, s, settings) for k, s in jobs]))\n"
    )
    argument = json.dumps([SETTINGS, list(keys_and_sides)])
    proc = subprocess.run([sys.executable, "-c", code, argument], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_peak_memory_is_what_the_forward_pass_holds():
    se, nonlocal_row = _measure_in_a_fresh_process(("se", 56), ("nonlocal", 56))
    # SE at 56x56, 32 channels: the only large tensor is the output, 32 * 3136 float32.
    row = se
    output_mib = 32 * 56 * 56 * 4 / MIB
    assert row["status"] == "measured" and row["repeats"] == 2
    assert output_mib <= row["peak_mib"] < output_mib + 1.0
    # The non-local block at 56x56: the two 3136 x 3136 matrices dominate, as predicted.
    row = nonlocal_row
    predicted = row["predicted_attention_mib"]
    assert predicted == pytest.approx(2 * 3136**2 * 4 / MIB)
    assert predicted <= row["peak_mib"] < predicted + 10.0


def test_no_warm_up_for_calls_predicted_longer_than_the_budget():
    from vision_attention.profiling._cost_worker import measure_configuration

    settings = dict(SETTINGS, budget_s=0.5)
    row = measure_configuration("se", 14, settings, predicted_s=2.0)
    assert row["warmup"] == 0 and "no warm-up" in row["note"] and row["status"] == "measured"
    assert measure_configuration("se", 14, settings, predicted_s=0.1)["warmup"] == 1


def test_tiny_run_in_a_subprocess():
    progress = io.StringIO()
    # Explicit global MHSA at 14x14, 4 heads: 2 * 4 * 196**2 * 4 B = 1.17 MiB > the 1 MiB cap.
    table = attention_cost(sides=(14,), channels=32, num_heads=4, window_size=7, repeats=2, min_repeats=1,
                           warmup=0, threads=1, memory_cap_mib=1.0, progress=progress)
    assert list(table.columns) == list(COST_COLUMNS)
    assert list(table["key"]) == list(COST_MODULES)
    assert set(table["side"]) == {14} and set(table["positions"]) == {196}
    by_key = table.set_index("key")
    assert by_key.loc["mhsa_explicit", "status"] == "skipped"
    assert "memory_cap_mib=1" in by_key.loc["mhsa_explicit", "note"]
    assert math.isnan(by_key.loc["mhsa_explicit", "median_ms"])
    measured = by_key.drop(index="mhsa_explicit")
    assert (measured["status"] == "measured").all()
    assert (measured["median_ms"] > 0).all() and (measured["repeats"] == 2).all()
    assert (measured["cpu_median_ms"] >= 0).all() and (measured["warmup"] == 0).all()
    assert (measured["peak_mib"] >= 0).all() and (measured["threads"] == 1).all()
    assert by_key.loc["mhsa_window", "tokens"] == 49 and by_key.loc["mhsa", "tokens"] == 196
    assert by_key.loc["mhsa", "sdpa_backend"] != "" and by_key.loc["mhsa_explicit", "sdpa_backend"] == ""
    assert by_key.loc["nonlocal", "gflops"] > 0
    assert table.attrs["threads"] == 1 and table.attrs["torch_version"]
    lines = [ln for ln in progress.getvalue().splitlines() if ln.startswith("[cost]")]
    assert len(lines) == 1 + len(COST_MODULES)  # the plan, then one line per configuration


def test_a_failed_configuration_is_reported_and_the_rest_run(monkeypatch):
    calls = []

    def fake_worker(configs, settings, timeout, progress):
        calls.append([c["key"] for c in configs])
        if configs[0]["key"] == "se":  # se done, then the process dies on cbam
            return [dict(cost._failed_row(configs[0], settings, ""), status="measured")], "killed"
        return [dict(cost._failed_row(c, settings, ""), status="measured") for c in configs], ""

    monkeypatch.setattr(cost, "_run_worker", fake_worker)
    table = attention_cost(sides=(14,), modules=("se", "cbam", "nonlocal"), isolation="reset", progress=None)
    assert calls == [["se", "cbam", "nonlocal"], ["nonlocal"]]
    assert list(table["status"]) == ["measured", "failed", "measured"]
    assert table.loc[1, "note"] == "killed"


def _synthetic(rows):
    base = {c: float("nan") for c in COST_COLUMNS}
    table = []
    for key, side, ms, mib, status in rows:
        module, variant = COST_MODULES[key]
        table.append({**base, "key": key, "module": module, "variant": variant, "side": side,
                      "positions": side * side, "status": status, "median_ms": ms, "peak_mib": mib,
                      "predicted_attention_mib": 100.0 if status == "skipped" else 0.0})
    return pd.DataFrame(table, columns=list(COST_COLUMNS))


SYNTHETIC = _synthetic(
    [("cbam", s, 0.01 * s * s, 0.001 * s * s, "measured") for s in (14, 28, 56)]
    + [("mhsa", s, 1e-4 * s**4, 0.001 * s * s, "measured") for s in (14, 28, 56)]
    + [("mhsa_window", s, 0.3 * s * s, 0.002 * s * s, "measured") for s in (14, 28, 56)]
    + [("mhsa_explicit", 14, 1.0, 1.0, "measured"), ("mhsa_explicit", 28, float("nan"), float("nan"), "skipped")]
)


def test_scaling_slopes_and_crossover():
    slopes = scaling_slopes(SYNTHETIC, "median_ms")
    assert slopes["cbam"] == pytest.approx(1.0) and slopes["mhsa"] == pytest.approx(2.0)
    assert math.isnan(slopes["mhsa_explicit"])  # one measured size only
    assert scaling_slopes(SYNTHETIC, "peak_mib", last=3)["mhsa"] == pytest.approx(1.0)
    # window 0.3 N vs global 1e-4 N^2: the window wins where N > 3000, i.e. at 56 (N = 3136) only.
    assert crossover_side(SYNTHETIC, "mhsa_window", "mhsa") == 56
    assert crossover_side(SYNTHETIC, "mhsa", "mhsa_window") is None
    assert crossover_side(SYNTHETIC, "cbam", "mhsa") == 14
    with pytest.raises(ValueError, match="argument 'quantity'"):
        scaling_slopes(SYNTHETIC, "seconds")
    with pytest.raises(ValueError, match="argument 'last'"):
        scaling_slopes(SYNTHETIC, last=1)
    with pytest.raises(ValueError, match="argument 'faster'"):
        crossover_side(SYNTHETIC, "se", "mhsa")


def test_plot_cost_scaling_draws_one_line_per_configuration_and_the_guides():
    ax = viz.plot_cost_scaling(SYNTHETIC, "median_ms", labels={"mhsa": "global"})
    data = [line for line in ax.lines if not line.get_label().startswith("_")]
    assert [line.get_label() for line in data][:2] == ["CBAM (channel + spatial)", "global"]
    assert len(data) == 4 and ax.get_xscale() == ax.get_yscale() == "log"
    assert data[3].get_linestyle() == "--"  # explicit variant dashed
    guides = [line for line in ax.lines if line.get_label().startswith("_guide")]
    assert [t.get_text() for t in ax.texts] == ["∝ N", "∝ N²"] and len(guides) == 2
    ymin, ymax = ax.get_ylim()  # the guides do not stretch the axes beyond the data
    assert ymin <= 1e-4 * 14**4 and ymax < 10 * 1e-4 * 56**4
    ax = viz.plot_cost_scaling(SYNTHETIC, "peak_mib", guides=())
    assert any(line.get_label() == "_predicted, not run" for line in ax.lines) and not ax.texts
    with pytest.raises(ValueError, match="plot_cost_scaling: argument 'guides' expected positive slopes"):
        viz.plot_cost_scaling(SYNTHETIC, guides=(0,))
    with pytest.raises(ValueError, match="plot_cost_scaling: argument 'table' expected columns"):
        viz.plot_cost_scaling(SYNTHETIC.drop(columns="status"))
    plt.close("all")
