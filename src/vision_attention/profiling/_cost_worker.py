"""Subprocess entry point of :func:`vision_attention.profiling.attention_cost`.

``python -m vision_attention.profiling._cost_worker`` reads ``{"settings": {...}, "configs":
[{"key", "side"}, ...]}`` as JSON on stdin, measures each configuration with
:func:`measure_configuration` and prints one JSON line per configuration (prefixed
``VA_COST_JSON``) on stdout as soon as it is done; progress lines (prefixed ``[cost]``) go to
stderr. The thread environment (``OMP_NUM_THREADS``...) is set by the parent.
"""

from __future__ import annotations

import ctypes
import gc
import json
import sys
import time

from .cost import (
    _PROGRESS_PREFIX,
    _RESULT_PREFIX,
    COST_MODULES,
    _tokens,
    attention_gflops,
    predicted_attention_mib,
)

_KIB = 1024.0


def _status_mib(field: str) -> float:
    """``VmRSS`` / ``VmHWM`` of this process from ``/proc/self/status``, in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / _KIB
    raise RuntimeError(f"/proc/self/status has no {field}")


def _available_mib() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / _KIB
    except OSError:
        pass
    return float("inf")


def _release_memory() -> None:
    """Free what earlier work left: Python garbage, then glibc's free heap pages."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM (and ru_maxrss) to the current RSS


def _build(key: str, channels: int, num_heads: int, window_size: int):
    from ..torch import CBAM, MultiHeadSelfAttention2d, NonLocalBlock, SEBlock

    if key == "se":
        return SEBlock(channels, 16)
    if key == "cbam":
        return CBAM(channels, 16)
    if key == "nonlocal":
        return NonLocalBlock(channels, mode="embedded_gaussian", sub_sample=False, bn_layer=True, scale=False)
    window = window_size if key.startswith("mhsa_window") else None
    return MultiHeadSelfAttention2d(channels, num_heads=num_heads, qkv_bias=True, window_size=window)


def _sdpa_backend(key: str, side: int, batch: int, channels: int, num_heads: int, window_size: int) -> str:
    """The kernel ``scaled_dot_product_attention`` picks for the fused variants' q, k, v."""
    import torch

    if key not in ("mhsa", "mhsa_window"):
        return ""
    tokens = window_size**2 if key == "mhsa_window" else side * side
    rows = batch * (side * side // tokens)
    q = torch.empty(rows, num_heads, tokens, channels // num_heads)
    try:
        choice = torch._fused_sdp_choice(q, q, q)
        return torch.nn.attention.SDPBackend(choice).name.lower()
    except Exception:  # private API: if it moves, report unknown and predict the worst case
        return "unknown"


def measure_configuration(key: str, side: int, settings: dict, predicted_s: float | None = None) -> dict:
    """Measure one configuration in this process (see :func:`~vision_attention.profiling.attention_cost`).

    ``predicted_s``: the predicted seconds per call (from the previous size); above
    ``settings["budget_s"]`` the warm-up is left out. Returns the table row as a dict (status
    ``"measured"`` or ``"skipped"``).
    """
    import numpy as np
    import torch

    from ..stats import latency_summary

    c, b, heads, w = settings["channels"], settings["batch"], settings["num_heads"], settings["window_size"]
    module_name, variant = COST_MODULES[key]
    nan = float("nan")
    backend = _sdpa_backend(key, side, b, c, heads, w)
    materialises = backend in ("math", "unknown")
    predicted = predicted_attention_mib(key, side, c, b, heads, w, sdpa_materialises=materialises)
    row = {
        "key": key, "module": module_name, "variant": variant, "side": side, "positions": side * side,
        "tokens": _tokens(key, side, w), "status": "measured", "median_ms": nan, "q1_ms": nan, "q3_ms": nan,
        "iqr_ms": nan, "cpu_median_ms": nan, "cpu_q1_ms": nan, "cpu_q3_ms": nan, "repeats": 0, "warmup": 0,
        "peak_mib": nan, "predicted_attention_mib": predicted,
        "gflops": attention_gflops(key, side, c, b, w),
        "sdpa_backend": backend, "threads": torch.get_num_threads(), "note": "",
        "torch_version": torch.__version__,
    }
    cap = settings["memory_cap_mib"]
    available = _available_mib()
    if cap is not None and predicted > cap:
        row.update(status="skipped", note=f"predicted attention matrices {predicted:,.1f} MiB > "
                   f"memory_cap_mib={cap:g}")
        return row
    if predicted > 0.8 * available:
        row.update(status="skipped", note=f"predicted attention matrices {predicted:,.1f} MiB > 80 % of "
                   f"available memory ({available:,.0f} MiB)")
        return row

    torch.manual_seed(settings["seed"])
    module = _build(key, c, heads, w).eval()
    x = torch.from_numpy(
        np.random.default_rng(settings["seed"]).standard_normal((b, c, side, side)).astype(np.float32))
    explicit = key.endswith("_explicit")

    def call():
        with torch.inference_mode():
            module(x, return_attention=True) if explicit else module(x)  # result dropped at once

    # Memory: the rise of the high-water mark during the first timed call, from a clean state
    # (what is left freed, so re-used heap pages count again). One call only: over several
    # calls glibc's heap can keep more than one output resident (aligned chunks that do not
    # fit the hole the last one left), which is allocator history, not the forward's need.
    warmup = settings["warmup"]
    budget = settings["budget_s"]
    if budget is not None and predicted_s is not None and predicted_s > budget:
        warmup = 0  # what a warm-up absorbs (milliseconds) is lost in a call this long
        row["note"] = f"no warm-up: predicted {predicted_s:.2g} s per call > budget_s={budget:g}"
    if settings["reset_peak"]:
        for _ in range(warmup):
            call()
        _release_memory()
        _reset_peak()
        baseline = _status_mib("VmRSS")
    else:  # a fresh process per configuration: the mark covers the warm-up calls too
        _release_memory()
        baseline = _status_mib("VmRSS")
        for _ in range(warmup):
            call()
    times, cpu_times = [], []
    started = time.perf_counter()
    while len(times) < settings["repeats"]:
        start, cpu_start = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - start) * 1e3)
        cpu_times.append(max(time.process_time() - cpu_start, 0.0) * 1e3)
        if len(times) == 1:
            peak = _status_mib("VmHWM")
        if budget is not None and len(times) >= settings["min_repeats"] and time.perf_counter() - started > budget:
            break
    summary = latency_summary(times, unit="ms")
    cpu = latency_summary(cpu_times, unit="ms")
    row.update(median_ms=summary.median, q1_ms=summary.q1, q3_ms=summary.q3, iqr_ms=summary.iqr,
               cpu_median_ms=cpu.median, cpu_q1_ms=cpu.q1, cpu_q3_ms=cpu.q3,
               repeats=summary.n, warmup=warmup, peak_mib=max(peak - baseline, 0.0))
    return row


def _describe(row: dict) -> str:
    head = f"{_PROGRESS_PREFIX} {row['module']} ({row['variant']}), {row['side']}x{row['side']} (N = {row['positions']}):"
    if row["status"] != "measured":
        return f"{head} {row['status']}: {row['note']}"
    note = f"; {row['note']}" if row["note"] else ""
    return (f"{head} {row['median_ms']:.3g} ms (IQR {row['q1_ms']:.3g}-{row['q3_ms']:.3g}, "
            f"n = {row['repeats']}; CPU {row['cpu_median_ms']:.3g} ms), peak +{row['peak_mib']:.1f} MiB{note}")


def main() -> int:
    request = json.loads(sys.stdin.read())
    settings = request["settings"]
    from .latency import set_threads  # the benchmarks' one way of fixing the thread count

    set_threads("torch", int(settings["threads"]))
    last: dict = {}  # key -> (gflops, positions, median seconds) of its previous, smaller size
    for config in request["configs"]:
        key, side = config["key"], int(config["side"])
        predicted_s = None
        if key in last:  # the previous size's time, scaled by the FLOP or position ratio
            gflops, positions, seconds = last[key]
            flops_now = attention_gflops(key, side, settings["channels"], settings["batch"], settings["window_size"])
            predicted_s = seconds * max(flops_now / gflops, side * side / positions)
        row = measure_configuration(key, side, settings, predicted_s)
        if row["status"] == "measured" and row["gflops"] > 0:
            last[key] = (row["gflops"], row["positions"], row["median_ms"] / 1e3)
        print(_describe(row), file=sys.stderr, flush=True)
        print(_RESULT_PREFIX + json.dumps(row), flush=True)
        _release_memory()
    return 0


if __name__ == "__main__":
    sys.exit(main())
