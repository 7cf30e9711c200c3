"""What attention supervision costs: memory and time of a training step and of inference.

The Med-Framework attention guide claims (its Q5) that ``enable_attention_supervision`` costs
"about 5-10 % more memory" in training, because the attention weights must be returned, and
nothing at inference with ``return_intermediates=False``. :func:`supervision_cost` measures
both in PyTorch on the CPU, for a backbone with one CBAM on the trunk's last feature map (the
guide's placement), in a fresh subprocess with the method of
:func:`vision_attention.profiling.attention_cost` (peak resident memory, reset between
measurements); :func:`supervision_summary` reduces the measurements to one row per mode, with
the overhead against the plain mode.

Importing this module imports no framework (the subprocess imports PyTorch).
"""

from __future__ import annotations

import math
import numbers
import sys

from .cost import _PROGRESS_PREFIX, _can_reset_peak, _run_worker
from .latency import available_cores

__all__ = ["SUPERVISION_MODES", "SUPERVISION_BACKBONES", "SUPERVISION_COLUMNS", "supervision_cost",
           "supervision_summary"]

SUPERVISION_MODES = {
    "train": ("training step", "features only: cross-entropy, backward"),
    "train_intermediates": ("training step", "return_intermediates=True, cross-entropy only"),
    "train_supervised": ("training step", "return_intermediates=True, cross-entropy + λ BCE(map, mask)"),
    "infer": ("inference", "forward(x)"),
    "infer_intermediates": ("inference", "forward(x, return_intermediates=True)"),
}
"""The modes :func:`supervision_cost` measures: key -> (phase, what runs)."""

BASE_MODE = {"train": "train", "train_intermediates": "train", "train_supervised": "train",
             "infer": "infer", "infer_intermediates": "infer"}
"""The mode each mode's overhead is measured against (same phase, nothing returned)."""

SUPERVISION_BACKBONES = {"resnet50": 2048, "mobilenet_v2": 1280}
"""Trunks :func:`supervision_cost` can build (our parity-proven ones), and their last map's
channel count."""

SUPERVISION_COLUMNS = ("mode", "phase", "repeat", "status", "peak_mib", "baseline_mib", "peak_rss_mib",
                       "tensor_peak_mib", "tensor_parameters_mib", "tensor_gradients_mib",
                       "tensor_activations_mib", "tensor_temporaries_mib", "median_ms", "cpu_ms", "calls",
                       "threads", "note")
"""The columns of :func:`supervision_cost`'s table, in order."""


def _error(name: str, expected: str, value) -> ValueError:
    return ValueError(f"supervision_cost: argument '{name}' expected {expected}, got {value!r}")


def _int(name: str, value, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise _error(name, f"an integer >= {minimum}", value)
    return int(value)


def _validate(backbone, batch, size, modes, repeats, warmup, infer_calls, supervision_weight,
              tensor_memory, exact_resident, threads, timeout, isolation, progress, seed):
    if not isinstance(backbone, str) or backbone not in SUPERVISION_BACKBONES:
        raise _error("backbone", f"one of {tuple(SUPERVISION_BACKBONES)}", backbone)
    batch = _int("batch", batch, 1)
    size = _int("size", size, 32)
    if isinstance(modes, (str, bytes)) or not hasattr(modes, "__iter__"):
        raise _error("modes", f"a non-empty sequence of distinct keys from {tuple(SUPERVISION_MODES)}", modes)
    modes = list(modes)
    if not modes or len(set(modes)) != len(modes) or any(m not in SUPERVISION_MODES for m in modes):
        raise _error("modes", f"a non-empty sequence of distinct keys from {tuple(SUPERVISION_MODES)}", modes)
    repeats = _int("repeats", repeats, 1)
    warmup = _int("warmup", warmup, 0)
    infer_calls = _int("infer_calls", infer_calls, 1)
    if isinstance(supervision_weight, bool) or not isinstance(supervision_weight, numbers.Real) or \
            not 0 <= supervision_weight < math.inf:
        raise _error("supervision_weight", "a finite number >= 0", supervision_weight)
    if not isinstance(tensor_memory, bool):
        raise _error("tensor_memory", "True or False", tensor_memory)
    if not isinstance(exact_resident, bool):
        raise _error("exact_resident", "True or False", exact_resident)
    if threads is not None:
        threads = _int("threads", threads, 1)
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not 0 < timeout < math.inf:
        raise _error("timeout", "a positive finite number", timeout)
    if not isinstance(isolation, str) or isolation not in ("auto", "reset", "process"):
        raise _error("isolation", "one of ('auto', 'reset', 'process')", isolation)
    if progress is True:
        progress = sys.stderr
    elif progress is False:
        progress = None
    if progress is not None and not callable(getattr(progress, "write", None)):
        raise _error("progress", "True, False, None or a text stream (with .write)", progress)
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise _error("seed", "an integer", seed)
    return (backbone, batch, size, modes, repeats, warmup, infer_calls, float(supervision_weight),
            tensor_memory, exact_resident, threads, float(timeout), isolation, progress, int(seed))


def _failed_row(config: dict, settings: dict, why: str) -> dict:
    nan = float("nan")
    return {"mode": config["mode"], "phase": SUPERVISION_MODES[config["mode"]][0], "repeat": config["repeat"],
            "status": "failed", **{c: nan for c in SUPERVISION_COLUMNS if c.endswith("_mib") or c.endswith("_ms")},
            "calls": 0, "threads": settings["threads"], "note": why}


def supervision_cost(
    backbone: str = "resnet50",
    batch: int = 8,
    size: int = 224,
    modes=tuple(SUPERVISION_MODES),
    repeats: int = 3,
    warmup: int = 1,
    infer_calls: int = 5,
    supervision_weight: float = 0.1,
    tensor_memory: bool = True,
    exact_resident: bool = True,
    threads: int | None = None,
    timeout: float = 300.0,
    isolation: str = "auto",
    progress=True,
    seed: int = 0,
):
    """Peak memory and time of a training step and of inference, with and without supervision.

    The network is ``backbone``'s trunk (our ``attention_resnet(50)`` without its pooling and
    classifier, ``(B, 3, size, size) -> (B, 2048, size/32, size/32)``, or
    ``attention_mobilenet_v2().features``, 1280 channels), one
    :class:`~vision_attention.torch.CBAM` (``r = 16``, 7x7) on that last map, global average
    pooling and a linear classifier to 10 classes: the placement of the Med-Framework guide's
    ``create_vision_backbone`` (until the package's factory replaces this stand-in).
    ``forward(x)`` returns the features ``(B, C)``; ``forward(x, return_intermediates=True)``
    the guide's dict ``{"features", "feature_maps" (after the attention), "attention_weights"
    (CBAM's spatial map, (B, 1, h, w))}``. Weights are random (seeded; values change neither
    memory nor time); the input is a seeded standard normal batch, float32 NCHW, with labels and
    a binary mask (a centred square covering a quarter of the image) per image.

    Modes (:data:`SUPERVISION_MODES`):

    * ``"train"``: ``model.train()``, gradients set to ``None``, then forward, cross-entropy and
      ``backward()`` (the optimiser step, identical in every mode, is left out);
    * ``"train_intermediates"``: the same with ``return_intermediates=True`` (the dict is kept
      alive until the step ends), cross-entropy only;
    * ``"train_supervised"``: the guide's recipe, ``cross_entropy + supervision_weight *
      binary_cross_entropy(attention_weights, interpolate(masks, mode="area"))``;
    * ``"infer"`` / ``"infer_intermediates"``: ``model.eval()`` under ``torch.inference_mode()``,
      ``forward(x)`` or ``forward(x, return_intermediates=True)`` (results dropped after the call).

    Method. One fresh subprocess (``python -m vision_attention.profiling._supervision_worker``,
    through the workers' shared runner) builds the network once, with ``threads`` intra-op
    threads; every mode runs ``warmup`` times first. Then the measurements run interleaved
    (``repeats`` rounds of ``modes``, so that a drift of the machine hits every mode alike).
    Each measurement drops the gradients an earlier step left, frees what is left
    (``gc.collect``, glibc ``malloc_trim``), resets the
    process's peak resident set size (Linux ``/proc/self/clear_refs``; see
    :func:`~vision_attention.profiling.attention_cost`), reads the resident size, and runs the
    mode once for memory: ``peak_mib`` is the rise of the peak (``VmHWM``) above that resident
    size, i.e. what the step needs on top of the parameters and the input (activations saved
    for the backward pass, gradients, temporaries), and ``peak_rss_mib`` the process's absolute
    peak. With glibc's default settings the resident size also holds what the allocator keeps or
    fragments, so repeats of the same step differ by several percent (measured here: up to 10 %
    for ResNet-50's training step); with ``exact_resident=True`` (default) the subprocess fixes
    glibc's mmap threshold at 64 KiB (``mallopt``), so that every larger allocation is mapped on
    its own and returned to the system when freed, and the resident peak follows live memory
    (repeats then agree to 0.1 MiB). The page faults this costs make every call slower (about a
    third, for ResNet-50), equally in every mode: compare times between modes, not with other
    measurements. With ``tensor_memory=True``, each mode also runs
    once (after its warm-up, before any measurement) under PyTorch's ``MemTracker``
    (``torch.distributed._tools.mem_tracker``, a dispatch mode that follows every tensor
    storage), which gives the exact peak of live tensor memory, ``tensor_peak_mib``
    (parameters, gradients, activations, temporaries and the inputs), and its parts at that
    moment; it is deterministic, the same in every row of a mode. Inference modes then run ``infer_calls - 1`` more times; ``median_ms`` is the median
    wall time of the calls (:func:`vision_attention.stats.latency_summary`), ``cpu_ms`` the
    median process CPU time. With ``isolation="process"`` (or ``"auto"`` where the reset is
    unavailable) each measurement gets its own subprocess, and its mark includes the warm-up.

    Args:
        backbone: ``"resnet50"`` or ``"mobilenet_v2"``.
        batch: ``B``.
        size: input side (``>= 32``).
        modes: distinct keys of :data:`SUPERVISION_MODES`.
        repeats: measurements per mode (rounds).
        warmup: untimed runs of each mode before measuring (``>= 0``).
        infer_calls: timed calls per inference measurement (``>= 1``).
        supervision_weight: λ of ``"train_supervised"`` (``>= 0``).
        tensor_memory: also measure the exact tensor-level peak (one extra run per mode).
        exact_resident: fix glibc's mmap threshold in the subprocess (see Method); ignored, and
            ``attrs["allocator"]`` says so, where the C library is not glibc.
        threads: intra-op threads; ``None``: the cores this process may use.
        timeout: seconds one measurement may take before its subprocess is killed; that
            measurement is reported ``"failed"`` and the others go on in a new subprocess.
        isolation: ``"auto"``, ``"reset"`` or ``"process"``.
        progress: ``True`` (``sys.stderr``), a text stream, or ``None``/``False``.
        seed: seed of the weights and the input.

    Returns:
        A :class:`pandas.DataFrame`, one row per measurement, columns
        :data:`SUPERVISION_COLUMNS`: ``mode``, ``phase`` (``"training step"`` or
        ``"inference"``), ``repeat``, ``status`` (``"measured"`` or ``"failed"``), ``peak_mib``,
        ``baseline_mib``, ``peak_rss_mib``, ``tensor_peak_mib``, ``tensor_parameters_mib``,
        ``tensor_gradients_mib``, ``tensor_activations_mib``, ``tensor_temporaries_mib`` (MiB;
        the tensor columns ``NaN`` without ``tensor_memory``), ``median_ms``, ``cpu_ms``,
        ``calls``, ``threads``, ``note``. ``attrs``: ``torch_version``, ``allocator``, ``backbone``,
        ``batch``, ``size``, ``channels``, ``threads``, ``isolation``, ``supervision_weight``.

    Raises:
        ValueError: an argument out of range or of the wrong type, before anything runs.
        RuntimeError: ``isolation="reset"`` where the peak cannot be reset.
    """
    import pandas as pd

    (backbone, batch, size, modes, repeats, warmup, infer_calls, supervision_weight, tensor_memory,
     exact_resident, threads, timeout, isolation, progress, seed) = _validate(
        backbone, batch, size, modes, repeats, warmup, infer_calls, supervision_weight, tensor_memory,
        exact_resident, threads, timeout, isolation, progress, seed)
    threads = int(threads or available_cores())
    if isolation == "auto":
        isolation = "reset" if _can_reset_peak() else "process"
    elif isolation == "reset" and not _can_reset_peak():
        raise RuntimeError("supervision_cost: isolation='reset' needs /proc/self/clear_refs (Linux >= 4.0); "
                           "use isolation='process'")
    settings = {"backbone": backbone, "batch": batch, "size": size, "modes": modes, "warmup": warmup,
                "infer_calls": infer_calls, "supervision_weight": supervision_weight,
                "tensor_memory": tensor_memory, "exact_resident": exact_resident, "threads": threads,
                "seed": seed, "reset_peak": isolation == "reset"}
    configs = [{"mode": m, "repeat": r} for r in range(repeats) for m in modes]
    if progress is not None:
        print(f"{_PROGRESS_PREFIX} {backbone}, batch {batch}, {size}x{size}: {len(configs)} measurements, "
              f"{threads} thread(s), {'one subprocess' if isolation == 'reset' else 'one subprocess each'}",
              file=progress, flush=True)
    module = "vision_attention.profiling._supervision_worker"
    done: dict[tuple, dict] = {}
    meta: dict = {}
    pending = list(configs)
    while pending:
        batch_configs = pending if isolation == "reset" else pending[:1]
        rows, why = _run_worker(batch_configs, settings, timeout, progress, module=module)
        for row in rows:
            meta["torch_version"] = row.pop("torch_version", "")
            meta["allocator"] = row.pop("allocator", "")
            done[row["mode"], row["repeat"]] = row
        pending = [c for c in pending if (c["mode"], c["repeat"]) not in done]
        if why and pending:
            first = pending.pop(0)
            done[first["mode"], first["repeat"]] = _failed_row(first, settings, why)
            if progress is not None:
                print(f"{_PROGRESS_PREFIX} {first['mode']} #{first['repeat']}: failed: {why}", file=progress,
                      flush=True)
    table = pd.DataFrame([done[c["mode"], c["repeat"]] for c in configs], columns=list(SUPERVISION_COLUMNS))
    table.attrs.update(torch_version=meta.get("torch_version", ""), allocator=meta.get("allocator", ""),
                       backbone=backbone, batch=batch, size=size,
                       channels=SUPERVISION_BACKBONES[backbone], threads=threads, isolation=isolation,
                       supervision_weight=supervision_weight)
    return table


def supervision_summary(table):
    """One row per mode of a :func:`supervision_cost` table, with the overhead of each mode.

    Over the ``"measured"`` rows of each mode: the medians of ``peak_mib``, ``peak_rss_mib``
    and ``median_ms``, their minimum and maximum across repeats, and against the mode's base
    (:data:`BASE_MODE`: ``"train"`` for the training modes, ``"infer"`` for inference):
    ``peak_overhead_pct = 100 * (peak - base peak) / base peak`` (the step's own memory),
    ``rss_overhead_pct`` (the same for the process's absolute peak, parameters and framework
    included), ``tensor_overhead_pct`` (the exact tensor-level peak), ``time_overhead_pct`` (wall
    time) and ``cpu_overhead_pct`` (process CPU time: with one thread, what the work takes on an
    idle core, which other programs on a busy machine inflate much less than the wall time). Overheads are ``NaN`` where the base mode was not
    measured.

    Returns:
        A :class:`pandas.DataFrame` indexed by mode (in the table's order), columns ``phase``,
        ``n``, ``peak_mib``, ``peak_min_mib``, ``peak_max_mib``, ``peak_rss_mib``,
        ``tensor_peak_mib``, ``median_ms``, ``min_ms``, ``max_ms``, ``cpu_ms``, ``cpu_min_ms``,
        ``cpu_max_ms``, ``peak_overhead_pct``, ``rss_overhead_pct``, ``tensor_overhead_pct``,
        ``time_overhead_pct``, ``cpu_overhead_pct``.

    Raises:
        ValueError: ``table`` lacks the columns of :data:`SUPERVISION_COLUMNS`.
    """
    import pandas as pd

    missing = [c for c in SUPERVISION_COLUMNS if c not in getattr(table, "columns", ())]
    if missing:
        raise ValueError(f"supervision_summary: argument 'table' expected a table from supervision_cost "
                         f"(columns {SUPERVISION_COLUMNS}), got one without {missing}")
    measured = table[table["status"] == "measured"]
    rows = {}
    for mode in dict.fromkeys(table["mode"]):
        r = measured[measured["mode"] == mode]
        rows[mode] = {
            "phase": SUPERVISION_MODES[mode][0], "n": len(r),
            "peak_mib": r["peak_mib"].median(), "peak_min_mib": r["peak_mib"].min(),
            "peak_max_mib": r["peak_mib"].max(), "peak_rss_mib": r["peak_rss_mib"].median(),
            "tensor_peak_mib": r["tensor_peak_mib"].median(),
            "median_ms": r["median_ms"].median(), "min_ms": r["median_ms"].min(), "max_ms": r["median_ms"].max(),
            "cpu_ms": r["cpu_ms"].median(), "cpu_min_ms": r["cpu_ms"].min(), "cpu_max_ms": r["cpu_ms"].max(),
        }
    summary = pd.DataFrame.from_dict(rows, orient="index")
    nan = float("nan")
    for mode in summary.index:
        base = BASE_MODE[mode]
        for column, out in (("peak_mib", "peak_overhead_pct"), ("peak_rss_mib", "rss_overhead_pct"),
                            ("tensor_peak_mib", "tensor_overhead_pct"), ("median_ms", "time_overhead_pct"),
                            ("cpu_ms", "cpu_overhead_pct")):
            if base in summary.index and summary.loc[base, "n"] > 0:
                summary.loc[mode, out] = 100 * (summary.loc[mode, column] / summary.loc[base, column] - 1)
            else:
                summary.loc[mode, out] = nan
    summary.index.name = "mode"
    return summary
