"""``python -m vision_attention.profiling.bench``: the project's measured figures.

Prints, as plain-text tables on stdout (progress goes to stderr as it runs):

1. the wall time and exit status of each shell command given with
   ``--time "LABEL=COMMAND"`` (``make bench`` passes the cold book build, the cached rebuild
   and the test suite this way), run once each, in order;
2. ``import vision_attention`` time in fresh interpreters (median and inter-quartile range of
   ``--import-runs``), and whether that import loaded any framework (it must not);
3. forward latency (median (q1–q3) ms) of each attention module in each framework at
   ``--shape`` (default ``8,256,56,56`` NCHW; NHWC for TensorFlow), each framework in its own
   subprocess with the same thread count (see :mod:`vision_attention.profiling.latency`);
4. peak resident memory (MiB) of each framework's subprocess after import and after the runs.

Exit status 0 if every timed command and every measurement succeeded, 1 otherwise (the
tables are printed either way). ``--json PATH`` also writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time

from ..stats import LatencySummary, latency_summary
from .latency import DEFAULT_SHAPE, FRAMEWORKS, MODULE_NAMES, available_cores, run_framework_benchmark

_IMPORT_SNIPPET = (
    "import sys, time; t = time.perf_counter(); import vision_attention; "
    "dt = time.perf_counter() - t; "
    "print(dt, ','.join(m for m in ('torch', 'paddle', 'tensorflow') if m in sys.modules))"
)


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def time_command(label: str, command: str) -> dict:
    """Run ``command`` through the shell once; return ``{"label", "command", "seconds", "returncode"}``."""
    _log(f"timing '{label}': {command}")
    start = time.perf_counter()
    # The command's output goes to our stderr (line by line, as it comes), keeping stdout
    # for the tables; a pipe works even where sys.stderr has no file descriptor.
    proc = subprocess.Popen(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        sys.stderr.write(line)
    returncode = proc.wait()
    seconds = time.perf_counter() - start
    _log(f"'{label}' took {seconds:.1f} s (exit {returncode})")
    return {"label": label, "command": command, "seconds": seconds, "returncode": returncode}


def import_time(runs: int = 5) -> dict:
    """Time ``import vision_attention`` in ``runs`` fresh interpreters.

    Returns:
        ``{"runs", "import_ms", "process_ms", "frameworks_loaded"}``: the import statement's
        own time and the whole interpreter's wall time (start-up included), each a
        :func:`vision_attention.stats.latency_summary` as a dict (``dataclasses.asdict``, in
        ms), and the frameworks found in ``sys.modules`` after the import (should be empty).
    """
    inner, outer, loaded = [], [], set()
    for _ in range(runs):
        start = time.perf_counter()
        cmd = [sys.executable, "-c", _IMPORT_SNIPPET]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        outer.append(time.perf_counter() - start)
        seconds, _, frameworks = out.stdout.strip().partition(" ")
        inner.append(float(seconds))
        loaded.update(f for f in frameworks.split(",") if f)
    return {"runs": runs, "import_ms": dataclasses.asdict(latency_summary([1e3 * s for s in inner])),
            "process_ms": dataclasses.asdict(latency_summary([1e3 * s for s in outer])),
            "frameworks_loaded": sorted(loaded)}


def _table(header, rows) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def fmt(row):  # first column left-aligned, numbers right-aligned
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells)

    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _latency_cell(report: dict, module: str) -> str:
    if "error" in report:
        return "failed"
    for result in report["results"]:
        if result["module"] == module:
            if "error" in result:
                return "error"
            return LatencySummary(n=result["repeats"], median=result["median_ms"], q1=result["q1_ms"],
                                  q3=result["q3_ms"], min=result["min_ms"], max=result["max_ms"]).compact()
    return "-"


def format_report(figures: dict) -> str:
    """Render the figures collected by :func:`main` as plain-text tables."""
    parts = [f"vision_attention bench -- {figures['machine']}"]
    if figures.get("load_average"):
        start, end = figures["load_average"]
        parts[0] += (f"\nload average (1 min) at start {start:.2f}, at end {end:.2f}: latency figures "
                     "are only meaningful on an otherwise idle machine")
    if figures["commands"]:
        rows = [[c["label"], f"{c['seconds']:.1f}", c["returncode"]] for c in figures["commands"]]
        parts.append("Timed commands (one run each)\n" + _table(["command", "seconds", "exit"], rows))
    chapters = figures.get("chapters")
    if chapters:
        rows = [[page, "-" if d["seconds"] is None else f"{d['seconds']:.1f}", d["method"]]
                for page, d in chapters.items()]
        total = sum(d["seconds"] or 0.0 for d in chapters.values())
        parts.append("Chapter execution, seconds (myst-nb's measurement of the run that filled the "
                     f"execution cache; total {total:.1f} s)\n"
                     + _table(["page", "seconds", "method"], rows))
    imp = figures.get("import")
    if imp:
        parts.append(
            f"import vision_attention in fresh interpreters: {LatencySummary(**imp['import_ms'])}; "
            f"whole interpreter {LatencySummary(**imp['process_ms'])}; "
            f"frameworks loaded: {', '.join(imp['frameworks_loaded']) or 'none'}"
        )
    reports = figures.get("frameworks", [])
    if reports:
        s = figures["settings"]
        heads = [f"{r['framework']} {r.get('version', '')}".strip() for r in reports]
        rows = [[m] + [_latency_cell(r, m) for r in reports] for m in s["modules"]]
        parts.append(
            f"Forward latency, median (inter-quartile range) ms over {s['repeats']} runs after "
            f"{s['warmup']} warm-up; "
            f"input {tuple(s['shape'])} NCHW (NHWC for tensorflow), float32, eager, "
            f"{s['threads']} intra-op threads per framework\n" + _table(["module"] + heads, rows)
        )
        mem_rows = []
        for r in reports:
            if "error" in r:
                mem_rows.append([r["framework"], "-", "-", "-"])
            else:
                after, peak = r["rss_after_import_mib"], r["peak_rss_mib"]
                mem_rows.append([r["framework"], f"{after:.0f}", f"{peak:.0f}", f"{peak - after:.0f}"])
        parts.append(
            "Peak resident memory of each framework's subprocess, MiB (ru_maxrss; tensorflow's "
            "includes Paddle, which vision_attention imports first)\n"
            + _table(["framework", "after import", "peak", "increase"], mem_rows)
        )
        errors = [f"{r['framework']}: {r['error']}" for r in reports if "error" in r]
        errors += [f"{r['framework']}/{x['module']}: {x['error']}" for r in reports if "error" not in r
                   for x in r["results"] if "error" in x]
        if errors:
            parts.append("Errors\n" + "\n".join(errors))
    return "\n\n".join(parts)


def _parse_time(spec: str) -> tuple[str, str]:
    label, sep, command = spec.partition("=")
    if not sep or not label.strip() or not command.strip():
        raise argparse.ArgumentTypeError(f"--time expected 'LABEL=COMMAND', got {spec!r}")
    return label.strip(), command.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vision_attention.profiling.bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--time", type=_parse_time, action="append", default=[], metavar="LABEL=COMMAND",
                        help="time a shell command once (repeatable)")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--modules", default=",".join(MODULE_NAMES))
    parser.add_argument("--shape", default=",".join(map(str, DEFAULT_SHAPE)), help="B,C,H,W")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="default: available cores")
    parser.add_argument("--import-runs", type=int, default=5)
    parser.add_argument("--no-latency", action="store_true", help="skip latency and memory")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--chapter-times", default=None, metavar="PATH",
                        help="execution_times.json written by the book build (after --time commands)")
    args = parser.parse_args(argv)

    frameworks = [f for f in args.frameworks.split(",") if f]
    modules = [m for m in args.modules.split(",") if m]
    for f in frameworks:
        if f not in FRAMEWORKS:
            parser.error(f"--frameworks: expected names from {FRAMEWORKS}, got {f!r}")
    for m in modules:
        if m not in MODULE_NAMES:
            parser.error(f"--modules: expected names from {MODULE_NAMES}, got {m!r}")
    shape = tuple(int(s) for s in args.shape.split(","))
    threads = args.threads or available_cores()
    figures = {
        "machine": f"{platform.platform()}, Python {platform.python_version()}, "
                   f"{os.cpu_count()} CPUs ({available_cores()} available)",
        "settings": {"shape": shape, "repeats": args.repeats, "warmup": args.warmup, "threads": threads,
                     "modules": modules},
    }
    load_start = os.getloadavg()[0]
    figures["commands"] = [time_command(label, command) for label, command in args.time]
    if args.chapter_times:
        try:
            with open(args.chapter_times) as fh:
                figures["chapters"] = json.load(fh)
        except (OSError, ValueError) as error:
            parser.error(f"--chapter-times: expected the build's execution_times.json, got {error}")
    _log(f"timing 'import vision_attention' in {args.import_runs} fresh interpreters")
    figures["import"] = import_time(args.import_runs)
    figures["frameworks"] = []
    if not args.no_latency:
        for framework in frameworks:
            _log(f"{framework}: starting a subprocess ({threads} threads)")
            start = time.perf_counter()
            report = run_framework_benchmark(framework, modules, shape, args.repeats, args.warmup, threads,
                                             progress=sys.stderr)
            _log(f"{framework}: done in {time.perf_counter() - start:.1f} s"
                 + (f" -- {report['error']}" if "error" in report else ""))
            figures["frameworks"].append(report)
    figures["load_average"] = (load_start, os.getloadavg()[0])
    print(format_report(figures), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2, default=str)
    failed = any(c["returncode"] != 0 for c in figures["commands"])
    failed |= bool(figures["import"]["frameworks_loaded"])
    failed |= any("error" in r or any("error" in x for x in r["results"]) for r in figures["frameworks"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
