"""Subprocess entry point of :func:`vision_attention.profiling.run_framework_benchmark`.

``python -m vision_attention.profiling._worker --framework torch [--modules SEBlock,ECA ...]``
imports one framework, times the modules with
:func:`vision_attention.profiling.latency.forward_latency` and prints one JSON report line
(prefixed ``VA_BENCH_JSON``) on stdout; progress lines (prefixed ``[bench]``) go to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

from .latency import (
    _PROGRESS_PREFIX,
    _RESULT_PREFIX,
    DEFAULT_SHAPE,
    FRAMEWORKS,
    MODULE_NAMES,
    _framework_version,
    _max_rss_mib,
    _thread_env,
    available_cores,
    forward_latency,
    set_threads,
)


def main(argv=None) -> int:
    """Subprocess entry point: import one framework, time the modules, print JSON on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", required=True, choices=FRAMEWORKS)
    parser.add_argument("--modules", default=",".join(MODULE_NAMES))
    parser.add_argument("--shape", default=",".join(map(str, DEFAULT_SHAPE)))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    threads = args.threads or available_cores()
    for key, value in _thread_env(threads).items():
        os.environ.setdefault(key, value)
    shape = tuple(int(s) for s in args.shape.split(","))
    modules = [m for m in args.modules.split(",") if m]

    start = time.perf_counter()
    importlib.import_module(f"vision_attention.{args.framework}")
    set_threads(args.framework, threads)
    report = {
        "framework": args.framework,
        "version": _framework_version(args.framework),
        "threads": threads,
        "import_s": time.perf_counter() - start,
        "rss_after_import_mib": _max_rss_mib(),
        "results": [],
    }
    for name in modules:
        print(f"{_PROGRESS_PREFIX} {args.framework}: {name} ...", file=sys.stderr, flush=True)
        try:
            result = forward_latency(args.framework, name, shape, args.repeats, args.warmup, threads)
        except Exception as err:  # report and go on: one broken module must not hide the others
            result = {"framework": args.framework, "module": name, "error": f"{type(err).__name__}: {err}"}
        result["peak_rss_mib_so_far"] = _max_rss_mib()
        report["results"].append(result)
    report["peak_rss_mib"] = _max_rss_mib()
    print(_RESULT_PREFIX + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
