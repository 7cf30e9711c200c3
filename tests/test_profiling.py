"""Profiling: parameter and FLOP counts against hand-derived values, overhead tables, latency."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from vision_attention import eca_kernel_size
from vision_attention.profiling import (
    count_flops,
    count_parameters,
    forward_latency,
    overhead_table,
    run_framework_benchmark,
    single_module_overhead,
)
from vision_attention.profiling import bench
from vision_attention.torch import SEBlock

# (channels, blocks) of ResNet-50's four stages of bottlenecks (He et al., 2016, Table 1).
RESNET50_STAGES = ((256, 3), (512, 4), (1024, 6), (2048, 3))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def resnet50_table():
    return overhead_table("resnet50", input_size=224)


def test_count_parameters_se_block():
    channels, r = 64, 16
    hidden = channels // r
    expected = channels * hidden + hidden + hidden * channels + channels  # fc1 and fc2, with biases
    assert expected == 2 * 64 * 4 + 4 + 64
    assert count_parameters(SEBlock(channels, r)) == expected


def test_count_parameters_skips_buffers():
    bn = nn.BatchNorm2d(8)  # weight and bias are parameters; running stats are buffers
    assert count_parameters(bn) == 16


def test_count_flops_linear():
    batch, fan_in, fan_out = 4, 32, 16
    counts = count_flops(nn.Linear(fan_in, fan_out), (batch, fan_in))
    assert counts["flops"] == 2 * batch * fan_in * fan_out
    assert counts["macs"] == batch * fan_in * fan_out


@pytest.mark.parametrize("stride, padding, out_side", [(1, 1, 10), (2, 1, 5), (1, 0, 8)])
def test_count_flops_conv2d(stride, padding, out_side):
    c_in, c_out, k, side = 3, 8, 3, 10
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding)
    counts = count_flops(conv, (1, c_in, side, side))
    assert counts["flops"] == 2 * c_out * out_side * out_side * c_in * k * k
    assert counts["flops_by_op"] == {"aten.convolution": counts["flops"]}


def test_count_flops_elementwise_of_se():
    c, h, w, r = 32, 6, 5, 16
    counts = count_flops(SEBlock(c, r), (2, c, h, w))
    assert counts["macs"] == 2 * (c * (c // r) + (c // r) * c)  # the two Linear layers, batch 2
    # mean over H x W reads every element, relu on C/r, sigmoid on C, x * s writes every element
    assert counts["elementwise"] == 2 * (c * h * w + c // r + c + c * h * w)
    assert counts["elementwise_by_op"]["aten.mul.Tensor"] == 2 * c * h * w


def test_count_flops_restores_training_mode():
    module = SEBlock(16, 4).train()
    count_flops(module, (1, 16, 4, 4))
    assert module.training
    module.eval()
    count_flops(module, (1, 16, 4, 4))
    assert not module.training


def test_overhead_table_rows_and_columns(resnet50_table):
    table = resnet50_table
    assert list(table["attention"]) == ["none", "se", "eca", "cbam", "bam"]
    assert {"params", "params_overhead_pct", "gmacs", "gmacs_overhead_pct",
            "melementwise", "melementwise_overhead_pct"} <= set(table.columns)
    overheads = table[["params_overhead_pct", "gmacs_overhead_pct", "melementwise_overhead_pct"]]
    assert (overheads >= 0).all().all()
    row = table.set_index("attention")
    assert row.loc["none", "params"] == 25_557_032  # torchvision's ResNet-50
    assert row.loc["none", "params_overhead_pct"] == 0
    assert 4.0 < row.loc["none", "gmacs"] < 4.2  # ResNet-50 v1.5: about 4.09 G multiply-adds


def test_eca_in_resnet50_adds_its_kernel_sizes(resnet50_table):
    row = resnet50_table.set_index("attention")
    expected = sum(eca_kernel_size(c) * n for c, n in RESNET50_STAGES)
    assert expected == 86  # 5, 5, 5, 7 by Eq. (12); the official 3, 5, 5, 7 would give 80
    assert row.loc["eca", "params"] - row.loc["none", "params"] == expected


def test_se_and_cbam_in_resnet50_add_the_formula(resnet50_table):
    row = resnet50_table.set_index("attention")
    se = sum(n * (2 * c * (c // 16) + c // 16 + c) for c, n in RESNET50_STAGES)
    assert row.loc["se", "params"] - row.loc["none", "params"] == se
    cbam_spatial = 2 * 7 * 7 + 2  # 7x7 conv on [max; mean] without bias, BatchNorm weight and bias
    assert row.loc["cbam", "params"] - row.loc["none", "params"] == se + 16 * cbam_spatial
    assert row.loc["se", "params"] == 28_088_024  # SENet paper: SE-ResNet-50 28.09M


def test_overhead_table_mobilenet_v2():
    table = overhead_table("mobilenet_v2", ("none", "eca"), input_size=64).set_index("attention")
    assert table.loc["none", "params"] == 3_504_872  # torchvision's MobileNetV2
    # 17 inverted residual blocks: 16, 24 x2, 32 x3, 64 x4, 96 x3 channels -> k=3; 160 x3, 320 -> k=5
    assert table.loc["eca", "params"] - table.loc["none", "params"] == 13 * 3 + 4 * 5


def test_single_module_overhead():
    result = single_module_overhead("resnet50", "se")
    assert result["feature_map"] == (2048, 7, 7)
    assert result["module_params"] == 2 * 2048 * 128 + 128 + 2048
    assert result["module_macs"] == 2 * 2048 * 128
    assert result["params"] == 25_557_032 + result["module_params"]
    assert result["params_overhead_pct"] == pytest.approx(100 * result["module_params"] / 25_557_032)
    assert single_module_overhead("mobilenet_v2", "eca")["module_params"] == eca_kernel_size(1280)
    none = single_module_overhead("mobilenet_v2", "none")
    assert none["module_params"] == 0 and none["gmacs_overhead_pct"] == 0


@pytest.mark.parametrize("call, name", [
    (lambda: overhead_table("vgg16"), "arch"),
    (lambda: overhead_table("resnet50", ("none", "sk")), "attention_type"),
    (lambda: single_module_overhead("resnet18", "se"), "arch"),
    (lambda: single_module_overhead("resnet50", "nonlocal"), "attention_type"),
    (lambda: forward_latency("jax", "SEBlock"), "framework"),
    (lambda: forward_latency("torch", "SKBlock"), "module_name"),
    (lambda: run_framework_benchmark("torch", ["SKBlock"]), "module_names"),
])
def test_bad_arguments(call, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        call()


def test_forward_latency_torch():
    result = forward_latency("torch", "CBAM", (2, 16, 8, 8), repeats=3, warmup=1, threads=1)
    assert result["shape"] == (2, 16, 8, 8) and result["threads"] == 1 and result["repeats"] == 3
    assert 0 < result["min_ms"] <= result["q1_ms"] <= result["median_ms"] <= result["q3_ms"] <= result["max_ms"]
    assert result["iqr_ms"] == pytest.approx(result["q3_ms"] - result["q1_ms"])


def test_run_framework_benchmark_subprocess():
    report = run_framework_benchmark("torch", ["SEBlock", "SpatialAttention"], (1, 16, 8, 8),
                                     repeats=2, warmup=1, threads=1, timeout=300)
    assert "error" not in report, report.get("error")
    assert [r["module"] for r in report["results"]] == ["SEBlock", "SpatialAttention"]
    assert all(r["median_ms"] > 0 for r in report["results"])
    assert 0 < report["rss_after_import_mib"] <= report["peak_rss_mib"]
    assert report["threads"] == 1 and report["version"] == torch.__version__


def test_import_profiling_imports_no_framework():
    code = ("import sys, vision_attention.profiling; "
            "print([m for m in ('torch', 'paddle', 'tensorflow') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bench_times_commands_and_reports_failure(tmp_path, capsys):
    out_json = tmp_path / "bench.json"
    status = bench.main(["--no-latency", "--import-runs", "2", "--time", "ok=true", "--time", "bad=exit 3",
                         "--json", str(out_json)])
    assert status == 1  # a timed command failed
    text = capsys.readouterr().out
    assert "ok" in text and "bad" in text and "import vision_attention" in text
    figures = json.loads(out_json.read_text())
    assert [c["returncode"] for c in figures["commands"]] == [0, 3]
    assert figures["import"]["frameworks_loaded"] == []
    for key in ("import_ms", "process_ms"):  # median and quartiles of the two runs, in ms
        summary = figures["import"][key]
        assert summary["n"] == 2 and 0 < summary["q1"] <= summary["median"] <= summary["q3"], summary
    assert re.search(r"import vision_attention in fresh interpreters: [\d.]+ ms \(IQR [\d.]+–[\d.]+, n = 2\)", text)
    assert bench.main(["--no-latency", "--import-runs", "1", "--time", "ok=true"]) == 0


def test_bench_rejects_bad_time_spec():
    with pytest.raises(SystemExit):
        bench.main(["--time", "no-equals-sign"])


def test_format_report_tables():
    figures = {
        "machine": "test", "commands": [], "import": None,
        "settings": {"shape": (8, 256, 56, 56), "repeats": 5, "warmup": 1, "threads": 2,
                     "modules": ["SEBlock", "BAM"]},
        "frameworks": [
            {"framework": "torch", "version": "x", "rss_after_import_mib": 100.0, "peak_rss_mib": 150.0,
             "results": [{"module": "SEBlock", "repeats": 5, "median_ms": 1.234, "q1_ms": 1.2, "q3_ms": 1.3,
                          "iqr_ms": 0.1, "min_ms": 1.1, "max_ms": 9.0},
                         {"module": "BAM", "error": "ValueError: boom"}]},
            {"framework": "paddle", "error": "exit code -11"},
        ],
    }
    text = bench.format_report(figures)
    assert "median (inter-quartile range) ms over 5 runs" in text
    assert "1.23 (1.20–1.30)" in text and "torch/BAM: ValueError: boom" in text
    assert "paddle: exit code -11" in text
    assert "150" in text and "50" in text


def test_bench_report_lists_each_chapters_execution_time():
    from vision_attention.profiling.bench import format_report

    chapters = {"book/a": {"seconds": 12.25, "method": "cache", "succeeded": True},
                "book/b": {"seconds": None, "method": "cache", "succeeded": False}}
    report = format_report({"machine": "m", "commands": [], "chapters": chapters})
    assert "total 12.2 s" in report or "total 12.3 s" in report
    assert any(line.split()[:2] == ["book/a", "12.2"] or line.split()[:2] == ["book/a", "12.3"]
               for line in report.splitlines())
    assert any(line.split()[:2] == ["book/b", "-"] for line in report.splitlines())
