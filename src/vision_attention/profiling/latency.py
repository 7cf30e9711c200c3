"""Forward latency and peak memory of the attention modules in PyTorch, Paddle and TensorFlow.

Method (the same for the three frameworks):

* **Threads.** Every framework gets the same number ``n`` of intra-op threads, by default
  the cores this process may run on (``os.sched_getaffinity``): the subprocess environment
  sets ``OMP_NUM_THREADS = MKL_NUM_THREADS = n`` before any framework is imported (Paddle
  otherwise forces ``OMP_NUM_THREADS=1`` at import), then :func:`set_threads` calls
  ``torch.set_num_threads(n)``, ``paddle.base.core.set_num_threads(n)`` or
  ``tf.config.threading.set_intra_op_parallelism_threads(n)`` (and the inter-op pool to
  ``n``).
* **Inference mode.** PyTorch modules in ``eval()`` under ``torch.inference_mode()``; Paddle
  in ``eval()`` under ``paddle.no_grad()``; Keras layers called with ``training=False``.
  All three run eagerly (no ``torch.compile``, no static graph, no ``tf.function``), which
  is how the chapters call them.
* **Input.** One float32 tensor drawn from a seeded normal distribution, NCHW
  ``(B, C, H, W)`` for PyTorch and Paddle, the same values transposed to NHWC
  ``(B, H, W, C)`` for TensorFlow (its CPU kernels want NHWC).
* **Timing.** ``warmup`` untimed calls (first-call allocation, Keras weight creation), then
  ``repeats`` calls each timed with :func:`time.perf_counter`; the median and the
  inter-quartile range (IQR, quartiles from :func:`vision_attention.stats.latency_summary`)
  are reported in milliseconds (the minimum and maximum are kept in the results, not
  printed): the interval shows how much a figure varies on the machine that measured it.
  CPU execution is synchronous in all three frameworks, so the call's return marks the end
  of the work.
* **Isolation.** :func:`run_framework_benchmark` runs each framework in its own fresh
  subprocess (``python -m vision_attention.profiling._worker``): no framework competes with
  another's thread pools, and the TensorFlow-before-Paddle import crash cannot happen.
* **Peak memory.** The subprocess reports ``resource.getrusage(RUSAGE_SELF).ru_maxrss``
  (peak resident set size; KiB on Linux) after the framework import and after the runs.
  ``tracemalloc`` is not used: it sees only Python-level allocations, not the frameworks'
  C++ tensor memory.

Importing this module imports no framework.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

__all__ = [
    "FRAMEWORKS",
    "MODULE_NAMES",
    "DEFAULT_SHAPE",
    "available_cores",
    "set_threads",
    "forward_latency",
    "run_framework_benchmark",
    "peak_memory",
]

FRAMEWORKS = ("torch", "paddle", "tensorflow")
MODULE_NAMES = ("SEBlock", "ECA", "ChannelAttention", "SpatialAttention", "CBAM", "BAM")
DEFAULT_SHAPE = (8, 256, 56, 56)
"""Default input, NCHW: a ResNet layer1-sized feature map (256 channels at 56x56), batch 8."""

_RESULT_PREFIX = "VA_BENCH_JSON "
_PROGRESS_PREFIX = "[bench]"


def _check(name: str, value, choices):
    if value not in choices:
        raise ValueError(f"argument '{name}' expected one of {tuple(choices)}, got {value!r}")
    return value


def available_cores() -> int:
    """Number of CPU cores this process may run on (``os.sched_getaffinity``, else ``os.cpu_count``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _thread_env(threads: int) -> dict:
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def set_threads(framework: str, threads: int | None = None) -> int:
    """Give ``framework`` ``threads`` intra-op threads (default: :func:`available_cores`).

    Imports the framework (through :mod:`vision_attention._frameworks` for Paddle and
    TensorFlow). For TensorFlow this must happen before its runtime starts (before the first
    op); afterwards TensorFlow refuses the change and a :class:`RuntimeError` is raised if the
    current setting differs.

    Returns:
        The number of threads set.

    Raises:
        ValueError: unknown ``framework``.
        RuntimeError: TensorFlow already initialised with a different thread count.
    """
    _check("framework", framework, FRAMEWORKS)
    threads = int(threads or available_cores())
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
    elif framework == "paddle":
        from .._frameworks import import_paddle

        paddle = import_paddle()
        paddle.base.core.set_num_threads(threads)
    else:
        from .._frameworks import import_tensorflow

        tf = import_tensorflow()
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError as err:
            if tf.config.threading.get_intra_op_parallelism_threads() != threads:
                raise RuntimeError(
                    f"set_threads: TensorFlow is already initialised with "
                    f"{tf.config.threading.get_intra_op_parallelism_threads()} intra-op threads "
                    f"(0 = TensorFlow's default); cannot set {threads}: {err}"
                ) from err
    return threads


def _make_call(framework: str, module_name: str, input_shape, seed: int):
    """Build the module and input; return a zero-argument callable running one forward pass."""
    import numpy as np

    batch, channels, height, width = (int(d) for d in input_shape)
    x = np.random.default_rng(seed).standard_normal((batch, channels, height, width)).astype(np.float32)
    package = importlib.import_module(f"vision_attention.{framework}")
    cls = getattr(package, module_name)
    module = cls() if module_name == "SpatialAttention" else cls(channels)
    if framework == "torch":
        import torch

        module.eval()
        xt = torch.from_numpy(x)

        def call():
            with torch.inference_mode():
                return module(xt)

    elif framework == "paddle":
        from .._frameworks import import_paddle

        paddle = import_paddle()
        module.eval()
        xt = paddle.to_tensor(x)

        def call():
            with paddle.no_grad():
                return module(xt)

    else:
        from .._frameworks import import_tensorflow

        from ..parity.layouts import activation_to_framework

        tf = import_tensorflow()
        xt = tf.constant(activation_to_framework("tensorflow", x))  # NCHW -> NHWC, one place

        def call():
            return module(xt, training=False)

    return call, tuple(int(d) for d in xt.shape)


def forward_latency(
    framework: str,
    module_name: str,
    input_shape=DEFAULT_SHAPE,
    repeats: int = 20,
    warmup: int = 3,
    threads: int | None = None,
    seed: int = 0,
) -> dict:
    """Time the forward pass of one attention module in this process.

    Args:
        framework: ``"torch"``, ``"paddle"`` or ``"tensorflow"``.
        module_name: one of :data:`MODULE_NAMES`, built with default arguments and
            ``in_channels = C`` (``SpatialAttention`` takes no channel count).
        input_shape: ``(B, C, H, W)``; TensorFlow receives the same values as ``(B, H, W, C)``.
        repeats: timed calls (the statistics are over these).
        warmup: untimed calls before timing.
        threads: intra-op threads (see :func:`set_threads`), default all available cores.
        seed: seed of the input values.

    Returns:
        ``{"framework", "module", "shape" (as given to the module), "threads", "repeats",
        "warmup", "median_ms", "q1_ms", "q3_ms", "iqr_ms", "min_ms", "max_ms"}``: the
        :func:`vision_attention.stats.latency_summary` of the ``repeats`` timings, in ms.

    Raises:
        ValueError: unknown ``framework`` or ``module_name``, non-positive ``repeats``.
    """
    from ..stats import latency_summary

    _check("framework", framework, FRAMEWORKS)
    _check("module_name", module_name, MODULE_NAMES)
    if int(repeats) < 1 or int(warmup) < 0:
        raise ValueError(f"arguments 'repeats' >= 1 and 'warmup' >= 0 expected, got {repeats!r}, {warmup!r}")
    threads = set_threads(framework, threads)
    call, shape = _make_call(framework, module_name, input_shape, seed)
    for _ in range(int(warmup)):
        call()
    times = []
    for _ in range(int(repeats)):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    summary = latency_summary(times, unit="ms")
    return {
        "framework": framework, "module": module_name, "shape": shape, "threads": threads,
        "repeats": int(repeats), "warmup": int(warmup), "median_ms": summary.median, "q1_ms": summary.q1,
        "q3_ms": summary.q3, "iqr_ms": summary.iqr, "min_ms": summary.min, "max_ms": summary.max,
    }


def _max_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _framework_version(framework: str) -> str:
    module = {"torch": "torch", "paddle": "paddle", "tensorflow": "tensorflow"}[framework]
    return getattr(sys.modules.get(module), "__version__", "?")


def run_framework_benchmark(
    framework: str,
    module_names=MODULE_NAMES,
    input_shape=DEFAULT_SHAPE,
    repeats: int = 20,
    warmup: int = 3,
    threads: int | None = None,
    timeout: float = 600,
    progress=None,
) -> dict:
    """Run :func:`forward_latency` for ``module_names`` in a fresh subprocess of ``framework``.

    Args:
        framework: ``"torch"``, ``"paddle"`` or ``"tensorflow"``.
        module_names: modules to time, in order (an empty sequence measures the import only).
        input_shape, repeats, warmup, threads: as in :func:`forward_latency`.
        timeout: seconds before the subprocess is killed.
        progress: a text stream for the subprocess's progress lines (e.g. ``sys.stderr``),
            or ``None`` for silence.

    Returns:
        The subprocess's report: ``framework``, ``version``, ``threads``, ``import_s``,
        ``rss_after_import_mib`` (peak RSS after importing the framework and the package),
        ``results`` (one :func:`forward_latency` dict per module, or ``{"module", "error"}``,
        each with ``peak_rss_mib_so_far``) and ``peak_rss_mib``, all in MiB. If the
        subprocess fails or times out: ``{"framework", "error"}`` with its last stderr lines.

    Raises:
        ValueError: unknown ``framework`` or module name.
    """
    _check("framework", framework, FRAMEWORKS)
    for name in module_names:
        _check("module_names", name, MODULE_NAMES)
    threads = int(threads or available_cores())
    cmd = [
        sys.executable, "-m", "vision_attention.profiling._worker", "--framework", framework,
        "--modules", ",".join(module_names), "--shape", ",".join(str(int(d)) for d in input_shape),
        "--repeats", str(int(repeats)), "--warmup", str(int(warmup)), "--threads", str(threads),
    ]
    env = {**os.environ, **_thread_env(threads)}
    tail: list[str] = []
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True, env=env)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            for line in proc.stderr:  # forward our progress lines live, keep the rest for errors
                if line.startswith(_PROGRESS_PREFIX):
                    if progress is not None:
                        print(line.rstrip(), file=progress, flush=True)
                else:
                    tail = (tail + [line.rstrip()])[-15:]
            returncode = proc.wait()
        finally:
            timer.cancel()
        out.seek(0)
        lines = [ln for ln in out.read().splitlines() if ln.startswith(_RESULT_PREFIX)]
    if returncode != 0 or not lines:
        why = "killed after timeout" if returncode in (-9, 137) else f"exit code {returncode}"
        return {"framework": framework, "error": f"{why}; stderr tail: " + " | ".join(tail[-5:])}
    return json.loads(lines[-1][len(_RESULT_PREFIX):])


def peak_memory(framework: str, module_name: str | None = None, input_shape=DEFAULT_SHAPE,
                repeats: int = 5, warmup: int = 1, threads: int | None = None) -> dict:
    """Peak resident memory (MiB) of a fresh process importing ``framework`` and running a module.

    Args:
        framework: ``"torch"``, ``"paddle"`` or ``"tensorflow"``.
        module_name: module whose forward runs (see :func:`forward_latency`); ``None``
            measures the import alone.
        input_shape, repeats, warmup, threads: as in :func:`forward_latency`.

    Returns:
        ``{"framework", "module", "import_peak_mib", "peak_mib", "forward_increment_mib"}``:
        peak RSS (``ru_maxrss``) after importing, at the end, and their difference.
        Note: :mod:`vision_attention.tensorflow` imports Paddle first (see
        :mod:`vision_attention._frameworks`), so TensorFlow's figures include Paddle's import.

    Raises:
        RuntimeError: the subprocess failed (the message has its stderr tail).
    """
    names = () if module_name is None else (module_name,)
    report = run_framework_benchmark(framework, names, input_shape, repeats, warmup, threads)
    if "error" in report:
        raise RuntimeError(f"peak_memory({framework!r}, {module_name!r}): {report['error']}")
    errors = [r["error"] for r in report["results"] if "error" in r]
    if errors:
        raise RuntimeError(f"peak_memory({framework!r}, {module_name!r}): {errors[0]}")
    return {
        "framework": framework,
        "module": module_name,
        "import_peak_mib": report["rss_after_import_mib"],
        "peak_mib": report["peak_rss_mib"],
        "forward_increment_mib": report["peak_rss_mib"] - report["rss_after_import_mib"],
    }
