"""Command line: ``grade`` and ``release`` (``python -m vision_attention.grading --help``).

Exit status of ``grade``: 0 when every case passed, 1 when some failed, 2 when the grader
could not grade (bad manifest, unknown ``EX``/``FW``, a broken reference solution).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import report as rep
from .grader import grade
from .manifest import ManifestError
from .markers import MarkerError


def _guard(name: str):
    """Snapshot a GitHub Actions command file: anything a child appends is dropped on restore."""
    path = os.environ.get(name)
    if not path:
        return None, None
    try:
        return path, Path(path).read_bytes()
    except FileNotFoundError:
        return path, b""


def _restore_and_append(path, before: bytes | None, text: str) -> None:
    if path is None:
        return
    with open(path, "wb") as f:  # rewrite: drops whatever else was written while grading
        f.write(before + text.encode())


def _cmd_grade(args) -> int:
    out_path, out_before = _guard("GITHUB_OUTPUT")
    sum_path, sum_before = _guard("GITHUB_STEP_SUMMARY")
    say = (lambda line: print(line, file=sys.stderr, flush=True)) if not args.quiet else None
    try:
        report = grade(args.root, submission=args.submission, exercises=args.exercise or None,
                       frameworks=args.framework or None, hidden_seed=args.seed, jobs=args.jobs,
                       progress=say)
    except (ManifestError, RuntimeError) as exc:
        print(f"grading error: {exc}", file=sys.stderr)
        return 2
    print(rep.terminal(report), flush=True)
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "junit.xml").write_text(rep.junit(report), encoding="utf-8")
    (report_dir / "summary.md").write_text(rep.markdown(report), encoding="utf-8")
    (report_dir / "results.json").write_text(json.dumps(rep.as_json(report), indent=1), encoding="utf-8")
    payloads = {r.id: rep.encoded_payload(r) for r in report.runners}
    (report_dir / "classroom.json").write_text(json.dumps(payloads, indent=1, sort_keys=True), encoding="utf-8")
    _restore_and_append(out_path, out_before, "".join(f"{k}={v}\n" for k, v in payloads.items()))
    _restore_and_append(sum_path, sum_before, rep.markdown(report))
    print(f"reports: {report_dir}/junit.xml, summary.md, results.json, classroom.json", file=sys.stderr)
    return 0 if report.points == report.max_points else 1


def _cmd_release(args) -> int:
    from .release import build_release

    try:
        out = build_release(args.root, args.out, progress=None if args.quiet else print)
    except (ManifestError, MarkerError, RuntimeError) as exc:
        print(f"release error: {exc}", file=sys.stderr)
        return 2
    print(f"student release written to {out}")
    return 0


def _cmd_mutants(args) -> int:
    from .mutants import check_mutants, table

    try:
        results = check_mutants(args.root, args.mutants, hidden_seed=args.seed, jobs=args.jobs)
    except (ManifestError, RuntimeError) as exc:
        print(f"mutants error: {exc}", file=sys.stderr)
        return 2
    print(table(results))
    bad = [r.mutant.name for r in results if not r.ok]
    print(f"{len(results) - len(bad)} of {len(results)} mutants scored as expected" + (f"; wrong: {bad}" if bad else ""))
    return 1 if bad else 0


def main(argv=None, prog: str = "python -m vision_attention.grading") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade the exercise files (reference solutions, or a student's)")
    g.add_argument("--root", default="exercises", help="exercise folder (default: exercises)")
    g.add_argument("--submission", help="folder with <exercise>/<framework>.py to grade (default: --root)")
    g.add_argument("--exercise", "-e", action="append", help="exercise id or number (repeatable)")
    g.add_argument("--framework", "-f", action="append", choices=["torch", "paddle", "tensorflow"])
    g.add_argument("--seed", type=int, help="seed of the hidden cases (default: a fresh one, printed)")
    g.add_argument("--jobs", "-j", type=int, default=2, help="child processes at once (default: 2)")
    g.add_argument("--report-dir", default="_build/grading", help="where junit.xml etc. go")
    g.add_argument("--quiet", "-q", action="store_true")
    g.set_defaults(func=_cmd_grade)
    r = sub.add_parser("release", help="write the student template repository")
    r.add_argument("--root", default="exercises")
    r.add_argument("--out", default="_build/student")
    r.add_argument("--quiet", "-q", action="store_true")
    r.set_defaults(func=_cmd_release)
    m = sub.add_parser("mutants", help="instructor: check that every mutant scores its expected points")
    m.add_argument("--root", default="exercises")
    m.add_argument("--mutants", help="mutant folder (default: <root>/mutants)")
    m.add_argument("--seed", type=int, default=2026, help="seed of the hidden cases")
    m.add_argument("--jobs", "-j", type=int, default=2)
    m.set_defaults(func=_cmd_mutants)
    args = parser.parse_args(argv)
    return args.func(args)
