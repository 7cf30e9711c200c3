"""What self-attention costs: time and peak memory of attention modules as the map grows.

:func:`attention_cost` measures SE, CBAM, the non-local block and multi-head self-attention
(global and windowed; fused ``scaled_dot_product_attention`` and the explicit
``softmax(Q K^T / sqrt(d)) V``) in PyTorch on the CPU, at several map sizes, in a fresh
subprocess; :func:`scaling_slopes` and :func:`crossover_side` read the table.

Importing this module imports no framework (the subprocess imports PyTorch).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import subprocess
import sys
import tempfile
import threading

from .._checks import check_num_heads, check_reduction_ratio
from .latency import _thread_env, available_cores

__all__ = [
    "COST_MODULES",
    "COST_COLUMNS",
    "attention_cost",
    "predicted_attention_mib",
    "attention_gflops",
    "scaling_slopes",
    "crossover_side",
]

COST_MODULES = {
    "se": ("SEBlock", "channel"),
    "cbam": ("CBAM", "channel + spatial"),
    "nonlocal": ("NonLocalBlock", "embedded Gaussian"),
    "mhsa": ("MultiHeadSelfAttention2d", "global, fused"),
    "mhsa_explicit": ("MultiHeadSelfAttention2d", "global, explicit"),
    "mhsa_window": ("MultiHeadSelfAttention2d", "window, fused"),
    "mhsa_window_explicit": ("MultiHeadSelfAttention2d", "window, explicit"),
}
"""The configurations :func:`attention_cost` knows: key -> (class, variant)."""

COST_COLUMNS = (
    "key", "module", "variant", "side", "positions", "tokens", "status", "median_ms", "q1_ms",
    "q3_ms", "iqr_ms", "cpu_median_ms", "cpu_q1_ms", "cpu_q3_ms", "repeats", "warmup", "peak_mib", "predicted_attention_mib", "gflops", "sdpa_backend",
    "threads", "note",
)
"""The columns of :func:`attention_cost`'s table, in order."""

_RESULT_PREFIX = "VA_COST_JSON "
_PROGRESS_PREFIX = "[cost]"
_FLOAT32_BYTES = 4
_MIB = 2.0**20
REDUCTION_RATIO = 16  # SE and CBAM, the papers' value


def _owner_error(name: str, expected: str, value) -> ValueError:
    return ValueError(f"attention_cost: argument '{name}' expected {expected}, got {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if not _is_int(value) or value < minimum:
        raise _owner_error(name, f"an integer >= {minimum}", value)
    return int(value)


def _positive_number(name: str, value, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 < value < math.inf):
        raise _owner_error(name, "a positive finite number" + (" or None" if allow_none else ""), value)
    return float(value)


def predicted_attention_mib(key: str, side: int, channels: int = 256, batch: int = 1, num_heads: int = 8,
                            window_size: int = 7, sdpa_materialises: bool = False) -> float:
    """Predicted size (MiB) of the attention matrices that are alive together at the peak.

    float32, ``N = side**2`` positions, ``B = batch``:

    * ``"se"``, ``"cbam"``: 0 (no position-by-position matrix).
    * ``"nonlocal"``: ``2 * B * N * N * 4`` bytes: the logits ``theta^T phi`` and their
      softmax both live while ``A @ g`` runs.
    * ``"mhsa_explicit"``: ``2 * B * heads * N * N * 4`` bytes (logits and softmax).
    * ``"mhsa_window_explicit"``: ``2 * B * heads * N * w**2 * 4`` bytes
      (``N / w**2`` windows of ``w**2 x w**2``).
    * ``"mhsa"``, ``"mhsa_window"`` (fused): 0 when the fused kernel works in blocks (PyTorch's
      CPU flash-attention kernel, which is what it picks for float32 without a mask);
      with ``sdpa_materialises=True`` (the ``math`` fallback) the explicit figures.

    Other activations (``O(N * C)``: q, k, v, the output) are not included.
    """
    n = int(side) ** 2
    per_head = {
        "se": 0, "cbam": 0, "nonlocal": n * n,
        "mhsa_explicit": num_heads * n * n, "mhsa_window_explicit": num_heads * n * window_size**2,
        "mhsa": num_heads * n * n if sdpa_materialises else 0,
        "mhsa_window": num_heads * n * window_size**2 if sdpa_materialises else 0,
    }
    if key not in per_head:
        raise ValueError(f"predicted_attention_mib: argument 'key' expected one of {tuple(COST_MODULES)}, "
                         f"got {key!r}")
    return 2 * batch * per_head[key] * _FLOAT32_BYTES / _MIB


def attention_gflops(key: str, side: int, channels: int = 256, batch: int = 1, window_size: int = 7) -> float:
    """FLOPs (10^9) of the matmuls and convolutions of one forward pass, multiply-add = 2 FLOPs.

    The convention of :func:`vision_attention.profiling.count_flops` (PyTorch's
    ``FlopCounterMode``; element-wise work such as the softmax, sigmoids and poolings not
    counted), written out, so the measuring subprocess need not pay that counter's first use
    (several seconds of imports). ``N = side**2``, ``C = channels``, ``B = batch``:

    * ``"se"``: ``4 B C (C/16)`` (two fully connected layers);
    * ``"cbam"``: ``8 B C (C/16)`` (the shared MLP on two descriptors) ``+ 196 B N``
      (the 7x7 convolution from 2 maps to 1);
    * ``"nonlocal"`` (``d = C/2``): ``8 B N C d`` (``theta``, ``phi``, ``g``, ``W``) ``+ 4 B N^2 d``
      (``theta^T phi`` and ``A g``);
    * MHSA, global: ``8 B N C^2`` (``qkv`` and ``proj``) ``+ 4 B N^2 C`` (``Q K^T`` and
      ``A V`` over all heads); windowed: ``N^2`` becomes ``N w^2``. Fused and explicit alike.
    """
    if key not in COST_MODULES:
        raise ValueError(f"attention_gflops: argument 'key' expected one of {tuple(COST_MODULES)}, got {key!r}")
    n, c, b = int(side) ** 2, int(channels), int(batch)
    hidden = c // REDUCTION_RATIO
    if key == "se":
        flops = 4 * b * c * hidden
    elif key == "cbam":
        flops = 8 * b * c * hidden + 2 * b * n * 2 * 49
    elif key == "nonlocal":
        d = max(c // 2, 1)
        flops = 8 * b * n * c * d + 4 * b * n * n * d
    else:
        keys = window_size**2 if key.startswith("mhsa_window") else n
        flops = 8 * b * n * c * c + 4 * b * n * keys * c
    return flops / 1e9


def _validate(sides, modules, channels, batch, num_heads, window_size, repeats, min_repeats, warmup,
              budget_s, threads, memory_cap_mib, timeout, isolation, progress, seed):
    """Check every argument of :func:`attention_cost`; return the normalised ones."""
    if isinstance(sides, (str, bytes)) or not hasattr(sides, "__iter__"):
        raise _owner_error("sides", "a non-empty sequence of positive integers", sides)
    sides = list(sides)
    if not sides or not all(_is_int(s) and s > 0 for s in sides) or len(set(sides)) != len(sides):
        raise _owner_error("sides", "a non-empty sequence of distinct positive integers", sides)
    if isinstance(modules, (str, bytes)) or not hasattr(modules, "__iter__"):
        raise _owner_error("modules", f"a non-empty sequence of keys from {tuple(COST_MODULES)}", modules)
    modules = list(modules)
    if not modules or any(m not in COST_MODULES for m in modules) or len(set(modules)) != len(modules):
        raise _owner_error("modules", f"a non-empty sequence of distinct keys from {tuple(COST_MODULES)}",
                           modules)
    channels = _positive_int("channels", channels)
    batch = _positive_int("batch", batch)
    num_heads = _positive_int("num_heads", num_heads)
    window_size = _positive_int("window_size", window_size)
    if any(m in ("se", "cbam") for m in modules):
        try:
            check_reduction_ratio("attention_cost", channels, REDUCTION_RATIO)
        except ValueError:
            raise _owner_error("channels", f"an integer >= {REDUCTION_RATIO} for SE and CBAM "
                               f"(reduction ratio {REDUCTION_RATIO})", channels) from None
    if any(m.startswith("mhsa") for m in modules):
        try:
            check_num_heads("attention_cost", channels, num_heads)
        except ValueError:
            raise _owner_error("num_heads", f"a positive integer dividing channels={channels}",
                               num_heads) from None
    if any(m.startswith("mhsa_window") for m in modules):
        bad = [s for s in sides if s % window_size]
        if bad:
            raise _owner_error("sides", f"sides divisible by window_size={window_size} for the "
                               f"windowed modules", bad)
    repeats = _positive_int("repeats", repeats)
    min_repeats = _positive_int("min_repeats", min_repeats)
    if min_repeats > repeats:
        raise _owner_error("min_repeats", f"an integer between 1 and repeats={repeats}", min_repeats)
    warmup = _positive_int("warmup", warmup, minimum=0)
    budget_s = _positive_number("budget_s", budget_s, allow_none=True)
    if threads is not None:
        threads = _positive_int("threads", threads)
    memory_cap_mib = _positive_number("memory_cap_mib", memory_cap_mib, allow_none=True)
    timeout = _positive_number("timeout", timeout)
    if isolation not in ("auto", "reset", "process") or not isinstance(isolation, str):
        raise _owner_error("isolation", "one of ('auto', 'reset', 'process')", isolation)
    if progress is True:
        progress = sys.stderr  # looked up at call time: a notebook's stderr, not the import-time one
    elif progress is False:
        progress = None
    if progress is not None and not callable(getattr(progress, "write", None)):
        raise _owner_error("progress", "True, False, None or a text stream (with .write)", progress)
    if not _is_int(seed):
        raise _owner_error("seed", "an integer", seed)
    return (sorted(sides), modules, channels, batch, num_heads, window_size, repeats, min_repeats, warmup,
            budget_s, threads, memory_cap_mib, float(timeout), isolation, progress, int(seed))


def _can_reset_peak() -> bool:
    """Whether this kernel lets a process reset its peak RSS (Linux >= 4.0, ``clear_refs`` 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        with open("/proc/self/status") as fh:
            return any(line.startswith("VmHWM:") for line in fh)
    except OSError:
        return False


def _run_worker(configs: list[dict], settings: dict, timeout: float, progress,
                module: str = "vision_attention.profiling._cost_worker") -> tuple[list[dict], str]:
    """Run the configurations in one fresh subprocess, ``python -m module``; return the rows it
    reported and, if it stopped early, why (``""`` if it finished).

    The protocol, shared by every worker module: ``{"settings": {...}, "configs": [...]}`` as JSON
    on stdin; one line per finished configuration on stdout, ``_RESULT_PREFIX`` + a JSON row;
    progress lines starting with ``_PROGRESS_PREFIX`` on stderr (forwarded to ``progress``);
    ``timeout`` seconds per configuration (the watchdog is re-armed at every row)."""
    payload = json.dumps({"settings": settings, "configs": configs})
    cmd = [sys.executable, "-m", module]
    env = {**os.environ, **_thread_env(settings["threads"])}
    rows: list[dict] = []
    tail: list[str] = []
    state = {"timer": None, "timed_out": False}

    def arm(proc):  # a per-configuration watchdog: re-armed at every reported row
        if state["timer"] is not None:
            state["timer"].cancel()

        def kill():
            state["timed_out"] = True
            proc.kill()

        state["timer"] = threading.Timer(timeout, kill)
        state["timer"].daemon = True
        state["timer"].start()

    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)

        def drain():  # forward progress lines live, keep the rest for error messages
            for line in proc.stderr:
                if line.startswith(_PROGRESS_PREFIX):
                    if progress is not None:
                        print(line.rstrip(), file=progress, flush=True)
                else:
                    err.write(line)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        arm(proc)
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
            for line in proc.stdout:
                if line.startswith(_RESULT_PREFIX):
                    rows.append(json.loads(line[len(_RESULT_PREFIX):]))
                    arm(proc)
            returncode = proc.wait()
        finally:
            if state["timer"] is not None:
                state["timer"].cancel()
            reader.join(timeout=10)
        err.seek(0)
        tail = [ln.rstrip() for ln in err.read().splitlines() if ln.strip()][-5:]
    if len(rows) >= len(configs) and returncode == 0:
        return rows, ""
    if state["timed_out"]:
        why = f"no result within timeout={timeout:g} s (killed)"
    elif returncode in (-9, 137):
        why = "the subprocess was killed (out of memory?)"
    else:
        why = f"the subprocess stopped with exit code {returncode}"
    return rows, why + ("; stderr: " + " | ".join(tail) if tail else "")


def attention_cost(
    sides=(14, 28, 56, 112),
    modules=tuple(COST_MODULES),
    channels: int = 256,
    batch: int = 1,
    num_heads: int = 8,
    window_size: int = 7,
    repeats: int = 20,
    min_repeats: int = 3,
    warmup: int = 1,
    budget_s: float | None = 2.0,
    threads: int | None = None,
    memory_cap_mib: float | None = 2048.0,
    timeout: float = 300.0,
    isolation: str = "auto",
    progress=True,
    seed: int = 0,
):
    """Forward time and peak memory of attention modules on ``side x side`` maps, PyTorch CPU.

    Each configuration is one module (``modules``, keys of :data:`COST_MODULES`) on one input
    ``(batch, channels, side, side)`` float32 NCHW (seeded standard normal), ``N = side**2``
    positions:

    * ``"se"``: :class:`~vision_attention.torch.SEBlock` (``r = 16``);
    * ``"cbam"``: :class:`~vision_attention.torch.CBAM` (``r = 16``, 7x7);
    * ``"nonlocal"``: :class:`~vision_attention.torch.NonLocalBlock`, embedded Gaussian,
      ``d = C / 2``, no sub-sampling, BatchNorm, unscaled (the paper's block);
    * ``"mhsa"`` / ``"mhsa_window"``: :class:`~vision_attention.torch.MultiHeadSelfAttention2d`
      (``num_heads``; global, or ``window_size`` windows), called as a network calls it, which
      runs the fused ``torch.nn.functional.scaled_dot_product_attention``;
    * ``"mhsa_explicit"`` / ``"mhsa_window_explicit"``: the same module called with
      ``return_attention=True``, the only switch to its explicit
      ``softmax(q k^T / sqrt(d)) v`` path. Returning the weights costs neither time nor
      memory: the matrix exists anyway for ``A @ v``, and the peak (logits and softmax alive
      together) is reached inside the forward pass.

    Method. All configurations run in one fresh subprocess (PyTorch imported once), in
    ``eval()`` under ``torch.inference_mode()``, with ``threads`` intra-op threads (default: the
    cores this process may use; ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` set likewise). For
    each configuration: ``warmup`` untimed calls, then timed calls (``time.perf_counter``) until
    ``repeats`` calls, or until ``budget_s`` seconds of timed calls once ``min_repeats`` are done
    (slow configurations get fewer, at least ``min_repeats``); the median and quartiles are
    :func:`vision_attention.stats.latency_summary` of those calls, for the wall clock and for the
    process's CPU time (``time.process_time``, user + system). With one thread the CPU time is
    what the call takes on an idle core: it leaves out the time the operating system gives
    other programs, which the wall clock of a busy machine includes. A configuration predicted to
    take longer than ``budget_s`` per call (its module's previous size's median times the
    larger of the FLOP and position ratios; one subprocess only) gets no warm-up: what a warm-up absorbs, first-call allocations
    and lazy initialisation, takes milliseconds, lost in such a call (``warmup`` column, and
    ``note``).

    Peak memory (``peak_mib``) is the rise of the subprocess's peak resident set size (Linux
    ``VmHWM``) during the first timed call, above its resident size just before that call: the
    memory a forward pass needs on top of the module's parameters and the input (intermediate
    tensors, attention matrices, the output), as the operating system sees it (PyTorch's C++
    tensors included, which ``tracemalloc`` would miss). The peak resident size
    (``ru_maxrss``, ``VmHWM``) is a high-water mark of the whole process, so after the warm-up
    the worker frees what is left (``gc.collect``, glibc ``malloc_trim(0)``, so that re-used
    heap pages count again) and resets the mark (``/proc/self/clear_refs``, value 5); every
    configuration starts clean although all share one process. One call only: over several
    calls glibc's heap can keep more than one output resident, which is allocator history,
    not what the forward pass needs. With ``isolation="process"`` (or ``"auto"`` where the reset
    is unavailable) every configuration gets its own fresh subprocess instead (one PyTorch
    import each, slower), and the mark, which cannot be reset there, covers the warm-up calls
    too: the figure then includes the one-off allocations of a process's first forward pass
    (thread pools, kernel caches; 5-15 MiB more than the reset figure in our runs), which
    matters only for the small configurations.

    Memory policy. Before building a configuration the worker predicts the size of its
    attention matrices (:func:`predicted_attention_mib`; for the fused call it asks PyTorch
    which kernel it would pick, and counts the matrices if that kernel materialises them). A
    configuration whose prediction exceeds ``memory_cap_mib``, or 80 % of the memory the
    system reports available (``MemAvailable``), is not run: its row has ``status =
    "skipped"``, the predicted size and the reason in ``note``. With the defaults, explicit
    global MHSA at 112 x 112 (8 heads: about 9.4 GiB) is skipped. If the subprocess dies or a
    configuration produces no result within ``timeout`` seconds, that configuration's row says
    ``"failed"`` (with the reason) and the remaining ones run in a new subprocess.

    FLOPs (``gflops``) are :func:`attention_gflops`: matmuls and convolutions, a multiply-add
    = 2 FLOPs, the convention of :func:`vision_attention.profiling.count_flops` (which the
    tests check them against); the fused call does the same matmuls in blocks.

    Args:
        sides: map sides (``H = W``), distinct positive ints; run in ascending order.
        modules: keys of :data:`COST_MODULES`, distinct, in the order of the rows.
        channels: ``C`` (>= 16 for SE and CBAM; divisible by ``num_heads`` for MHSA).
        batch: ``B``.
        num_heads: heads of the MHSA variants.
        window_size: window side ``w`` of the windowed variants (must divide every side).
        repeats: most timed calls per configuration.
        min_repeats: fewest timed calls per configuration (``<= repeats``).
        warmup: untimed calls first (``>= 0``).
        budget_s: seconds of timed calls after which a configuration stops (once
            ``min_repeats`` are done); ``None``: always ``repeats``.
        threads: intra-op threads; ``None`` means :func:`~vision_attention.profiling.latency.available_cores`.
        memory_cap_mib: largest predicted attention-matrix size run, MiB; ``None``: no cap
            (the 80 % of available memory still applies).
        timeout: seconds one configuration may take before its subprocess is killed.
        isolation: ``"auto"``, ``"reset"`` (one subprocess, peak reset per configuration) or
            ``"process"`` (one subprocess per configuration).
        progress: where one line per configuration goes: ``True`` (default) for ``sys.stderr``
            at call time, a text stream, or ``None``/``False`` for silence.
        seed: seed of the weights (``torch.manual_seed``) and of the input.

    Returns:
        A :class:`pandas.DataFrame`, one row per (module, side), columns :data:`COST_COLUMNS`:
        ``key``; ``module`` (class name); ``variant``; ``side``; ``positions`` (``N``);
        ``tokens`` (keys each query attends to: ``N``, ``w**2`` windowed, ``NaN`` for SE and
        CBAM); ``status`` (``"measured"``, ``"skipped"``, ``"failed"``); ``median_ms``,
        ``q1_ms``, ``q3_ms``, ``iqr_ms`` (wall clock, milliseconds per forward pass);
        ``cpu_median_ms``, ``cpu_q1_ms``, ``cpu_q3_ms`` (CPU time, ms); ``repeats`` (timed
        calls); ``warmup`` (untimed calls made first); ``peak_mib`` (MiB, see above);
        ``predicted_attention_mib``; ``gflops`` (10^9 FLOPs per forward pass);
        ``sdpa_backend`` (the fused kernel PyTorch picked, e.g. ``"flash_attention"``, or
        ``""``); ``threads``; ``note``. Figures of rows not measured
        are ``NaN``. ``attrs`` holds ``torch_version``, ``threads``, ``isolation``, ``channels``,
        ``batch``, ``num_heads`` and ``window_size``.

    Raises:
        ValueError: any argument out of range or of the wrong type (the message names it,
            says what was expected and what was given), before anything runs.
        RuntimeError: ``isolation="reset"`` where the peak cannot be reset.
    """
    import pandas as pd

    (sides, modules, channels, batch, num_heads, window_size, repeats, min_repeats, warmup, budget_s,
     threads, memory_cap_mib, timeout, isolation, progress, seed) = _validate(
        sides, modules, channels, batch, num_heads, window_size, repeats, min_repeats, warmup, budget_s,
        threads, memory_cap_mib, timeout, isolation, progress, seed)
    threads = int(threads or available_cores())
    if isolation == "auto":
        isolation = "reset" if _can_reset_peak() else "process"
    elif isolation == "reset" and not _can_reset_peak():
        raise RuntimeError("attention_cost: isolation='reset' needs /proc/self/clear_refs (Linux >= 4.0); "
                           "use isolation='process'")
    settings = {
        "channels": channels, "batch": batch, "num_heads": num_heads, "window_size": window_size,
        "repeats": repeats, "min_repeats": min_repeats, "warmup": warmup, "budget_s": budget_s,
        "threads": threads, "memory_cap_mib": memory_cap_mib, "seed": seed,
        "reset_peak": isolation == "reset",
    }
    configs = [{"key": m, "side": s} for m in modules for s in sides]
    if progress is not None:
        print(f"{_PROGRESS_PREFIX} {len(configs)} configurations, {threads} thread(s), "
              f"{'one subprocess' if isolation == 'reset' else 'one subprocess each'}",
              file=progress, flush=True)
    done: dict[tuple, dict] = {}
    meta: dict = {}
    pending = list(configs)
    while pending:
        batch_configs = pending if isolation == "reset" else pending[:1]
        rows, why = _run_worker(batch_configs, settings, timeout, progress)
        for row in rows:
            meta["torch_version"] = row.pop("torch_version", "")
            done[row["key"], row["side"]] = row
        pending = [c for c in pending if (c["key"], c["side"]) not in done]
        if why and pending:  # the configuration it was on failed; go on with the others
            first = pending.pop(0)
            done[first["key"], first["side"]] = _failed_row(first, settings, why)
            if progress is not None:
                print(f"{_PROGRESS_PREFIX} {first['key']} at {first['side']}x{first['side']}: failed: {why}",
                      file=progress, flush=True)
    table = pd.DataFrame([done[c["key"], c["side"]] for c in configs], columns=list(COST_COLUMNS))
    table.attrs.update(torch_version=meta.get("torch_version", ""), threads=threads, isolation=isolation,
                       channels=channels, batch=batch, num_heads=num_heads, window_size=window_size)
    return table


def _failed_row(config: dict, settings: dict, why: str) -> dict:
    nan = float("nan")
    module, variant = COST_MODULES[config["key"]]
    side = config["side"]
    return {
        "key": config["key"], "module": module, "variant": variant, "side": side, "positions": side * side,
        "tokens": _tokens(config["key"], side, settings["window_size"]), "status": "failed",
        "median_ms": nan, "q1_ms": nan, "q3_ms": nan, "iqr_ms": nan, "cpu_median_ms": nan, "cpu_q1_ms": nan,
        "cpu_q3_ms": nan, "repeats": 0, "warmup": 0, "peak_mib": nan,
        "predicted_attention_mib": predicted_attention_mib(
            config["key"], side, settings["channels"], settings["batch"], settings["num_heads"],
            settings["window_size"]),
        "gflops": attention_gflops(config["key"], side, settings["channels"], settings["batch"],
                                   settings["window_size"]),
        "sdpa_backend": "", "threads": settings["threads"], "note": why,
    }


def _tokens(key: str, side: int, window_size: int) -> float:
    if key in ("se", "cbam"):
        return float("nan")
    return float(window_size**2 if key.startswith("mhsa_window") else side * side)


def scaling_slopes(table, quantity: str = "median_ms", last: int = 2):
    """Log-log slope of ``quantity`` against the positions ``N``, per configuration key.

    The least-squares slope of ``log(quantity)`` on ``log(N)`` over the ``last`` largest
    measured sizes of each key (default the two largest: where the leading term dominates).
    A slope near 1 means cost proportional to ``N``, near 2 proportional to ``N**2``.

    Args:
        table: a table from :func:`attention_cost`.
        quantity: a numeric column, e.g. ``"median_ms"`` or ``"peak_mib"``.
        last: how many of the largest measured sizes to fit (``>= 2``).

    Returns:
        A :class:`pandas.Series` indexed by ``key``; ``NaN`` where fewer than two sizes were
        measured with positive values.

    Raises:
        ValueError: ``quantity`` not a column of ``table``; ``last`` not an integer >= 2.
    """
    import numpy as np
    import pandas as pd

    if quantity not in getattr(table, "columns", ()):
        raise ValueError(f"scaling_slopes: argument 'quantity' expected a column of the table, got {quantity!r}")
    if not _is_int(last) or last < 2:
        raise ValueError(f"scaling_slopes: argument 'last' expected an integer >= 2, got {last!r}")
    slopes = {}
    for key, rows in table.groupby("key", sort=False):
        rows = rows[(rows["status"] == "measured") & (rows[quantity] > 0)].sort_values("positions").tail(last)
        if len(rows) < 2:
            slopes[key] = float("nan")
            continue
        slopes[key] = float(np.polyfit(np.log(rows["positions"]), np.log(rows[quantity]), 1)[0])
    return pd.Series(slopes, name=f"slope of {quantity}")


def crossover_side(table, faster: str = "mhsa_window", slower: str = "mhsa", quantity: str = "median_ms"):
    """Smallest side from which ``faster`` beats ``slower`` at that size and every larger one.

    Args:
        table: a table from :func:`attention_cost` with both keys measured at common sides.
        faster, slower: configuration keys (rows of ``table``).
        quantity: the column compared (smaller is better), e.g. ``"median_ms"``, ``"peak_mib"``.

    Returns:
        The side (``int``), or ``None`` if ``faster`` does not win at the largest common side.

    Raises:
        ValueError: a key without measured rows, no common measured side, or ``quantity`` not
            a column.
    """
    if quantity not in getattr(table, "columns", ()):
        raise ValueError(f"crossover_side: argument 'quantity' expected a column of the table, got {quantity!r}")
    values = {}
    for name, key in (("faster", faster), ("slower", slower)):
        rows = table[(table["key"] == key) & (table["status"] == "measured")]
        if rows.empty:
            raise ValueError(f"crossover_side: argument '{name}' expected a key with measured rows, got {key!r}")
        values[name] = dict(zip(rows["side"], rows[quantity]))
    common = sorted(set(values["faster"]) & set(values["slower"]))
    if not common:
        raise ValueError(f"crossover_side: arguments 'faster' and 'slower' expected common measured sides, "
                         f"got {sorted(values['faster'])} and {sorted(values['slower'])}")
    side = None
    for s in reversed(common):
        if values["faster"][s] < values["slower"][s]:
            side = int(s)
        else:
            break
    return side
