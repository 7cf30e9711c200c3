"""Latency and peak memory of one network, eager and exported, each runtime in its own process.

Method (as :mod:`vision_attention.profiling.latency`, whose thread settings it reuses):

* **Runtimes.** Eager ``torch``, ``paddle``, ``tensorflow`` (the network built in the worker:
  :func:`attention_mobilenet_v2` with the pretrained trunk, ``eval()`` / ``no_grad`` /
  ``training=False``, no compilation), and the exported artefacts: ``onnxruntime`` (an ``.onnx``
  file), ``litert`` (a ``.tflite`` file, ``ai-edge-litert``'s interpreter), ``paddle-inference``
  (the prefix of ``paddle.jit.save``'s files, Paddle Inference with oneDNN).
* **Threads.** The same intra-op thread count for every runtime (``OMP_NUM_THREADS``, the
  frameworks' own settings, ONNX Runtime's ``intra_op_num_threads``, LiteRT's ``num_threads``,
  Paddle Inference's ``set_cpu_math_library_num_threads``).
* **Input.** A seeded normal float32 batch (values do not change a CNN's speed), NCHW, NHWC for
  TensorFlow and LiteRT.
* **Timing.** ``warmup`` untimed calls, then ``repeats`` calls timed with
  :func:`time.perf_counter`; the median and quartiles of
  :func:`vision_attention.stats.latency_summary`, in ms, for every batch size.
* **Memory.** Peak resident set size (``VmHWM``, see :func:`_rss_mib`) after the imports, after loading the model
  and after the runs, in MiB: ``model_mib`` is the growth from the imports to the end, the
  memory the model and its runs add to the runtime itself.

:func:`runtime_benchmark` starts the worker (``python -m vision_attention.deploy.bench``) and
returns its JSON report. Importing this module imports no framework.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

__all__ = ["RUNTIMES", "EAGER", "runtime_benchmark"]

RUNTIMES = ("torch", "paddle", "tensorflow", "onnxruntime", "litert", "paddle-inference")
"""What :func:`runtime_benchmark` can time."""

EAGER = ("torch", "paddle", "tensorflow")
"""The eager frameworks among :data:`RUNTIMES` (the others run an exported artefact)."""

_PREFIX = "VA_DEPLOY_BENCH "
_NHWC = ("tensorflow", "litert")


def _rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB: ``VmHWM`` of ``/proc/self/status``.

    Not ``ru_maxrss``: Linux keeps that across ``execve``, so a worker started from a large
    process (a notebook kernel holding several models) would report its parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _import_runtime(runtime: str) -> None:
    """Import the runtime's framework, so that the memory after import is measured without the model."""
    from .. import _frameworks

    if runtime == "torch":
        _frameworks.import_torch()
    elif runtime in ("paddle", "paddle-inference"):
        _frameworks.import_paddle()
    elif runtime == "tensorflow":
        _frameworks.import_tensorflow()
    elif runtime == "onnxruntime":
        import onnxruntime  # noqa: F401
    else:
        import ai_edge_litert.interpreter  # noqa: F401


def _eager_call(runtime: str, attention: str, threads: int):
    from ..profiling.latency import set_threads

    set_threads(runtime, threads)
    if runtime == "torch":
        import torch

        from ..torch.models import attention_mobilenet_v2

        net = attention_mobilenet_v2(attention, pretrained=True).eval()

        def call(x):
            with torch.inference_mode():
                return net(torch.from_numpy(x)).numpy()

    elif runtime == "paddle":
        from .._frameworks import import_paddle
        from ..paddle.models import attention_mobilenet_v2

        paddle = import_paddle()
        net = attention_mobilenet_v2(attention, pretrained=True)
        net.eval()

        def call(x):
            with paddle.no_grad():
                return net(paddle.to_tensor(x)).numpy()

    else:
        from .._frameworks import import_tensorflow
        from ..tensorflow.models import attention_mobilenet_v2

        tf = import_tensorflow()
        net = attention_mobilenet_v2(attention, pretrained=True)

        def call(x):
            return net(tf.constant(x), training=False).numpy()

    return call


def _artefact_call(runtime: str, artefact: str, threads: int):
    if runtime == "onnxruntime":
        from .onnx import onnx_session, run_onnx

        session = onnx_session(artefact, threads=threads)
        return lambda x: run_onnx(session, x)
    if runtime == "litert":
        from .litert import litert_interpreter, run_litert

        interpreter = litert_interpreter(artefact, threads=threads)
        return lambda x: run_litert(interpreter, x)
    from .paddle_inference import paddle_predictor, run_paddle_inference

    predictor = paddle_predictor(artefact, threads=threads)
    return lambda x: run_paddle_inference(predictor, x)


def _worker(args) -> dict:
    import numpy as np

    from ..stats import latency_summary

    start = time.perf_counter()
    _import_runtime(args.runtime)
    rss_import = _rss_mib()
    if args.runtime in EAGER:
        call = _eager_call(args.runtime, args.attention, args.threads)
    else:
        call = _artefact_call(args.runtime, args.artefact, args.threads)
    load_s = time.perf_counter() - start
    rss_loaded = _rss_mib()
    results = {}
    rng = np.random.default_rng(0)
    for batch in args.batches:
        shape = (batch, 3, args.size, args.size)
        x = rng.standard_normal(shape).astype(np.float32)
        if args.runtime in _NHWC:
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        for _ in range(args.warmup):
            call(x)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            call(x)
            times.append((time.perf_counter() - t0) * 1e3)
        s = latency_summary(times, unit="ms")
        results[str(batch)] = {"median_ms": s.median, "q1_ms": s.q1, "q3_ms": s.q3}
    rss_end = _rss_mib()
    return {"runtime": args.runtime, "threads": args.threads, "repeats": args.repeats, "load_s": load_s,
            "rss_after_import_mib": rss_import, "rss_after_load_mib": rss_loaded, "peak_rss_mib": rss_end,
            "model_mib": rss_end - rss_import, "latency": results}


def runtime_benchmark(runtime: str, *, artefact=None, attention: str = "cbam", batches=(1, 8), size: int = 224,
                      threads: int = 1, repeats: int = 10, warmup: int = 2, timeout: float = 300) -> dict:
    """Time one runtime on MobileNetV2 (eager) or on an exported artefact, in a fresh subprocess.

    Args:
        runtime: one of :data:`RUNTIMES`.
        artefact: path of the exported model for ``onnxruntime`` (``.onnx``), ``litert``
            (``.tflite``) and ``paddle-inference`` (path prefix of ``.json`` + ``.pdiparams``);
            ``None`` for the eager frameworks.
        attention: the eager network's ``attention_type`` (``"none"``, ``"se"``, ``"eca"``, ``"cbam"``).
        batches: batch sizes to time, in order.
        size: input height and width in pixels.
        threads: intra-op threads of the runtime.
        repeats, warmup: timed and untimed calls per batch size.
        timeout: seconds before the worker is killed.

    Returns:
        ``{"runtime", "threads", "repeats", "load_s", "rss_after_import_mib",
        "rss_after_load_mib", "peak_rss_mib", "model_mib", "latency": {"<batch>": {"median_ms",
        "q1_ms", "q3_ms"}}}`` (times in ms, memory in MiB, ``load_s`` in seconds).

    Raises:
        ValueError: an argument out of its range (named in the message), ``artefact`` missing
            for an exported runtime or given for an eager one, or not an existing file/prefix.
        RuntimeError: the worker failed or timed out (its last output lines in the message).
    """
    from .._checks import check_choice, check_positive_int

    check_choice("runtime_benchmark", "runtime", runtime, RUNTIMES)
    check_choice("runtime_benchmark", "attention", attention, ("none", "se", "eca", "cbam"))
    batches = tuple(check_positive_int("runtime_benchmark", "batches", b) for b in batches)
    if not batches:
        raise ValueError("runtime_benchmark: argument 'batches' expected at least one batch size, got ()")
    size = check_positive_int("runtime_benchmark", "size", size)
    threads = check_positive_int("runtime_benchmark", "threads", threads)
    repeats = check_positive_int("runtime_benchmark", "repeats", repeats)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"runtime_benchmark: argument 'warmup' expected a non-negative int, got {warmup!r}")
    if runtime in EAGER:
        if artefact is not None:
            raise ValueError(f"runtime_benchmark: argument 'artefact' must be None for eager {runtime!r}, "
                             f"got {artefact!r}")
    else:
        if artefact is None:
            raise ValueError(f"runtime_benchmark: argument 'artefact' expected the exported model for "
                             f"{runtime!r}, got None")
        artefact = os.fspath(artefact)
        exists = os.path.exists(artefact + ".json") if runtime == "paddle-inference" else os.path.isfile(artefact)
        if not exists:
            raise ValueError(f"runtime_benchmark: argument 'artefact' expected an existing exported model, "
                             f"got {artefact!r}")
    cmd = [sys.executable, "-m", "vision_attention.deploy.bench", "--runtime", runtime, "--attention", attention,
           "--batches", ",".join(map(str, batches)), "--size", str(size), "--threads", str(threads),
           "--repeats", str(repeats), "--warmup", str(warmup)]
    if artefact is not None:
        cmd += ["--artefact", artefact]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"runtime_benchmark: {runtime} did not finish in {timeout} s") from err
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(_PREFIX)]
    if proc.returncode != 0 or not lines:
        tail = " | ".join(proc.stderr.strip().splitlines()[-6:])
        raise RuntimeError(f"runtime_benchmark: {runtime} failed (exit code {proc.returncode}): {tail}")
    return json.loads(lines[-1][len(_PREFIX):])


def _main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vision_attention.deploy.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--runtime", required=True, choices=RUNTIMES)
    parser.add_argument("--artefact")
    parser.add_argument("--attention", default="cbam")
    parser.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[1, 8])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args(argv)
    print(_PREFIX + json.dumps(_worker(args)), flush=True)


if __name__ == "__main__":
    _main()
