"""supervision_cost: argument checks before anything runs, the stand-in backbone's outputs, the
exact tensor accounting on a case computed by hand, a small real run in a subprocess, the
failure policy and the summary's arithmetic."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest

from vision_attention.profiling import (
    SUPERVISION_COLUMNS,
    SUPERVISION_MODES,
    supervision_cost,
    supervision_summary,
)
from vision_attention.profiling import supervision

MIB = 2.0**20


@pytest.fixture
def no_worker(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a worker was started before the arguments were checked")

    monkeypatch.setattr(supervision, "_run_worker", refuse)


@pytest.mark.parametrize("kwargs, name", [
    ({"backbone": "vit_b_16"}, "backbone"), ({"batch": 0}, "batch"), ({"size": 16}, "size"),
    ({"size": 64.0}, "size"), ({"modes": ()}, "modes"), ({"modes": ("train", "train")}, "modes"),
    ({"modes": "train"}, "modes"), ({"modes": ("fit",)}, "modes"), ({"repeats": 0}, "repeats"),
    ({"warmup": -1}, "warmup"), ({"infer_calls": 0}, "infer_calls"),
    ({"supervision_weight": -0.1}, "supervision_weight"), ({"supervision_weight": True}, "supervision_weight"),
    ({"tensor_memory": 1}, "tensor_memory"), ({"exact_resident": None}, "exact_resident"), ({"threads": 0}, "threads"), ({"timeout": 0}, "timeout"),
    ({"isolation": "none"}, "isolation"), ({"progress": 3}, "progress"), ({"seed": 0.5}, "seed"),
])
def test_bad_arguments_raise_before_anything_runs(no_worker, kwargs, name):
    with pytest.raises(ValueError, match=rf"^supervision_cost: argument '{name}' expected .*, got "):
        supervision_cost(**kwargs)


def test_the_stand_in_backbone_returns_the_guides_dictionary(torch_single_thread):
    import torch

    from vision_attention.profiling._supervision_worker import last_map_backbone

    model, classifier = last_map_backbone("mobilenet_v2", seed=0)
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = model(x)
        out = model(x, return_intermediates=True)
    assert features.shape == (2, 1280) and classifier(features).shape == (2, 10)
    assert set(out) == {"features", "feature_maps", "attention_weights"}
    assert out["feature_maps"].shape == (2, 1280, 2, 2) and out["attention_weights"].shape == (2, 1, 2, 2)
    torch.testing.assert_close(out["features"], features, rtol=0, atol=0)
    torch.testing.assert_close(out["feature_maps"].mean(dim=(2, 3)), features)
    assert 0 < out["attention_weights"].min() and out["attention_weights"].max() < 1


def test_tensor_peak_is_exact_on_a_case_computed_by_hand(torch_single_thread):
    """y = relu(x W^T), loss = y.sum(): forward keeps y (relu's backward needs its output),
    backward creates grad_y (ones like y) and the gradient of W; with x (B x D), W (D x D),
    B = 1024, D = 64, float32: x, W, y, grad_y are 256 KiB, 16 KiB, 256 KiB, 256 KiB."""
    import torch

    from vision_attention.profiling._supervision_worker import tensor_peak

    b, d = 1024, 64
    model = torch.nn.Linear(d, d, bias=False)
    x = torch.randn(b, d)

    def step():
        model.weight.grad = None
        torch.relu(model(x)).sum().backward()

    row = tensor_peak(step, model, torch.nn.Identity(), x)
    kib = 1 / 1024
    assert row["tensor_parameters_mib"] == pytest.approx(16 * kib)
    # the peak, at the backward of the matmul: x and W, y kept by relu, grad_y, grad_W being made
    assert row["tensor_peak_mib"] >= (256 + 16 + 256 + 256) * kib
    assert row["tensor_peak_mib"] <= (256 + 16 + 256 + 256 + 16 + 256) * kib + 1e-3


@pytest.mark.slow
def test_a_small_real_run_in_a_subprocess():
    progress = io.StringIO()
    table = supervision_cost("mobilenet_v2", batch=2, size=64, repeats=1, warmup=0, infer_calls=2, threads=1,
                             progress=progress)
    assert list(table.columns) == list(SUPERVISION_COLUMNS)
    assert list(table["mode"]) == list(SUPERVISION_MODES) and list(table["repeat"]) == [0] * 5
    assert list(table["calls"]) == [1, 1, 1, 2, 2]
    assert (table["status"] == "measured").all() and (table["threads"] == 1).all()
    assert (table["peak_mib"] >= 0).all() and (table["median_ms"] > 0).all()
    by_mode = table.groupby("mode")
    # Training keeps activations for the backward pass and creates gradients; inference does not.
    assert by_mode["tensor_peak_mib"].min()["train"] > by_mode["tensor_peak_mib"].max()["infer"]
    assert by_mode["peak_mib"].min()["train"] > by_mode["peak_mib"].max()["infer"]
    # With intermediates the attended map (2 x 1280 x 2 x 2 float32 = 40 KiB) lives to the end.
    extra = by_mode["tensor_peak_mib"].first()
    assert extra["train_intermediates"] - extra["train"] == pytest.approx(2 * 1280 * 4 * 4 / MIB, abs=2e-3)
    assert extra["infer_intermediates"] == pytest.approx(extra["infer"], abs=1e-9)
    assert table.attrs["channels"] == 1280 and table.attrs["torch_version"]
    assert table.attrs["allocator"].startswith("glibc")
    assert sum(ln.startswith("[cost]") for ln in progress.getvalue().splitlines()) == 1 + len(table)


def test_a_failed_measurement_is_reported_and_the_rest_run(monkeypatch):
    calls = []

    def fake_worker(configs, settings, timeout, progress, module):
        calls.append([c["mode"] for c in configs])
        rows = [dict(supervision._failed_row(c, settings, ""), status="measured") for c in configs]
        if len(calls) == 1:
            return rows[:1], "killed"
        return rows, ""

    monkeypatch.setattr(supervision, "_run_worker", fake_worker)
    table = supervision_cost(modes=("train", "infer", "infer_intermediates"), repeats=1, isolation="reset",
                             progress=None)
    assert calls == [["train", "infer", "infer_intermediates"], ["infer_intermediates"]]
    assert list(table["status"]) == ["measured", "failed", "measured"]
    assert table.loc[1, "note"] == "killed"


def test_summary_medians_and_overheads_by_hand():
    rows = []
    for mode, peaks, rss, tensors, times, cpu in [
        ("train", (100.0, 110.0, 90.0), (900.0, 910.0, 890.0), (500.0,) * 3, (10.0, 12.0, 11.0), (8.0,) * 3),
        ("train_supervised", (105.0, 95.0, 115.0), (905.0, 895.0, 915.0), (505.0,) * 3, (11.0, 11.0, 14.0),
         (9.0, 10.0, 7.0)),
        ("infer", (20.0, 20.0, 20.0), (820.0,) * 3, (200.0,) * 3, (4.0, 4.0, 4.0), (4.0,) * 3),
    ]:
        for r in range(3):
            rows.append({c: math.nan for c in SUPERVISION_COLUMNS} | {
                "mode": mode, "repeat": r, "status": "measured", "peak_mib": peaks[r], "peak_rss_mib": rss[r],
                "tensor_peak_mib": tensors[r], "median_ms": times[r], "cpu_ms": cpu[r]})
    rows.append(dict(rows[0], repeat=3, status="failed", peak_mib=1e6))  # ignored
    summary = supervision_summary(pd.DataFrame(rows, columns=list(SUPERVISION_COLUMNS)))
    assert list(summary.index) == ["train", "train_supervised", "infer"]
    assert summary.loc["train", "n"] == 3 and summary.loc["train", "peak_mib"] == 100.0
    # medians 105 vs 100 -> +5 %; 905 vs 900 -> +0.556 %; tensors 505 vs 500 -> +1 %; 11 vs 11 -> 0 %
    assert summary.loc["train_supervised", "peak_overhead_pct"] == pytest.approx(5.0)
    assert summary.loc["train_supervised", "rss_overhead_pct"] == pytest.approx(100 * 5 / 900)
    assert summary.loc["train_supervised", "tensor_overhead_pct"] == pytest.approx(1.0)
    assert summary.loc["train_supervised", "time_overhead_pct"] == pytest.approx(0.0)
    assert summary.loc["train_supervised", "cpu_overhead_pct"] == pytest.approx(100 * (9 / 8 - 1))
    assert summary.loc["train_supervised", "cpu_min_ms"] == 7.0
    assert summary.loc["train_supervised", "peak_min_mib"] == 95.0
    assert summary.loc["infer", "peak_overhead_pct"] == 0.0
    with pytest.raises(ValueError, match="supervision_summary: argument 'table'"):
        supervision_summary(pd.DataFrame({"mode": ["train"]}))
