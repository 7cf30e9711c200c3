"""Execute the book's chapters in parallel, into the execution cache the book build reads.

Sphinx reads (and myst-nb executes) pages one after the other here: one of Jupyter Book's
own extensions (``sphinx_multitoc_numbering``) does not declare parallel reading safe, so
``sphinx-build -j`` falls back to a serial read. Each chapter imports the three frameworks
and spends much of its time in single-threaded Python, so running two chapters at once on
two cores cuts the cold build by about a third (``make bench`` measures it). ``make book``
therefore runs this first::

    python book/_ext/execute.py book/*.md --cache _build/.jupyter_cache --jobs 2

It reads each chapter as myst-nb does (``myst_nb_reader_plugin``), skips those whose code
already has a cached execution, executes the others in separate processes with the book's
timeout and error settings (``_config.yml``), and stores each successful run in the
jupyter-cache exactly as myst-nb would (same notebook hash, ``execution_seconds``). The book
build then finds every chapter in the cache.

A chapter that starts worker processes of its own (the practice chapter's Optuna study with two
workers) says so with the MyST comment line ``% execute: alone``: it then runs by itself, before
the others, so that its workers and another chapter do not share two cores three ways. A chapter that fails here is reported and left
out of the cache, so the build executes it again and fails with the cell's traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _settings() -> dict:
    execute = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8")).get("execute", {})
    return {"timeout": int(execute.get("timeout", 30)),
            "allow_errors": bool(execute.get("allow_errors", False))}


def _read(path: Path):
    from myst_nb.core.read import myst_nb_reader_plugin

    return myst_nb_reader_plugin(str(path))


def _execute(path: str, timeout: int, allow_errors: bool):
    """Run one chapter in this (worker) process; return (path, notebook, seconds, error)."""
    from jupyter_cache.executors.utils import single_nb_execution

    notebook = _read(Path(path))
    result = single_nb_execution(notebook, cwd=str(Path(path).parent), timeout=timeout,
                                 allow_errors=allow_errors, meta_override=True)
    error = None if result.err is None else f"{type(result.err).__name__}: {result.err}"
    return path, notebook, result.time, error


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="+", type=Path)
    parser.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs: expected a positive number, got {args.jobs}")

    from jupyter_cache import get_cache

    cache = get_cache(str(args.cache))
    todo = []
    for chapter in args.chapters:
        try:
            cache.match_cache_notebook(_read(chapter))
        except KeyError:
            todo.append(str(chapter.resolve()))
    if not todo:
        print(f"execute: all {len(args.chapters)} chapters are in the cache")
        return 0
    # Longest first, so that the two workers finish together (longest-processing-time
    # scheduling); a chapter's source size is a fair proxy of its run time.
    todo.sort(key=lambda path: Path(path).stat().st_size, reverse=True)
    alone = [path for path in todo if ALONE_MARKER in Path(path).read_text(encoding="utf-8").splitlines()]
    shared = [path for path in todo if path not in alone]
    settings = _settings()
    print(f"execute: {len(todo)} of {len(args.chapters)} chapters to run, {args.jobs} at a time"
          + (f" ({len(alone)} alone first: {ALONE_MARKER!r})" if alone else ""), flush=True)
    start, failed = time.perf_counter(), 0
    for group, jobs in ((alone, 1), (shared, args.jobs)):
        if group:
            failed += _run(group, min(jobs, len(group)), settings, cache)
    print(f"execute: done in {time.perf_counter() - start:.1f} s"
          + (f", {failed} failed" if failed else ""), flush=True)
    return 0  # failures are reported by the book build, with their tracebacks


ALONE_MARKER = "% execute: alone"
"""A line of a chapter's source that makes it run by itself (see the module docstring)."""


def _run(paths: list, jobs: int, settings: dict, cache) -> int:
    """Execute ``paths`` ``jobs`` at a time into ``cache``; return how many failed."""
    from jupyter_cache.cache.main import CacheBundleIn

    failed = 0
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_execute, path, **settings) for path in paths]
        for future in as_completed(futures):
            path, notebook, seconds, error = future.result()
            name = os.path.relpath(path, ROOT)
            if error is not None:
                failed += 1
                print(f"execute: {name} FAILED after {seconds:.1f} s ({error}); the book build "
                      "will run it again and show the traceback", flush=True)
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(notebook, path, data={"execution_seconds": seconds}),
                check_validity=False, overwrite=True,
            )
            print(f"execute: {name} in {seconds:.1f} s", flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main())
