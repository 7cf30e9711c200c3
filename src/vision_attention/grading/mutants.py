"""Mutation check of the grader: deliberately wrong or cheating submissions and their expected scores.

``exercises/mutants/expected.toml`` lists each mutant: a folder ``<name>/<exercise>/<framework>.py``
(a complete submission file with one mistake or one cheat), and the points it must score. The
check grades every mutant against the reference (hidden cases included, one seed for all) and
fails when any score differs: a mutant that scores more than expected means the grader can be
fooled or a test is too weak; less means a test rejects something it should accept.

Ordinary mistakes of one framework are graded together, one task each in one child process
(the runner already runs several submission files per job, as for the reference); each
framework import is what a grading child spends its time on, so this is what keeps the check
fast. A mutant marked ``isolate = true`` in the table (one that ends, hangs or patches the
process: ``os._exit``, an endless loop, a monkeypatch) is graded alone, exactly as a student's
file is, by :func:`~.grader.grade`. Comparison always happens in the parent.
Instructor-only (not in the student release): ``make mutants`` / ``python -m
vision_attention.grading mutants``.
"""

from __future__ import annotations

import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .grader import RunnerResult, build_cases, compute_reference, forbidden_import, grade, score_runner
from .manifest import ManifestError, load_exercises
from .runner import Task, run_job

EXPECTED = "expected.toml"
_KEYS = {"exercise", "framework", "points", "what"}
_OPTIONAL = {"isolate"}


@dataclass(frozen=True)
class Mutant:
    name: str
    exercise: str
    framework: str
    points: int
    what: str
    isolate: bool = False


@dataclass
class MutantResult:
    mutant: Mutant
    points: int
    max_points: int
    first_message: str

    @property
    def ok(self) -> bool:
        return self.points == self.mutant.points


def load_mutants(folder: str | Path) -> list[Mutant]:
    """The mutant table. Raises :class:`ManifestError` for a bad entry or a missing file."""
    folder = Path(folder)
    path = folder / EXPECTED
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))["mutants"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the [mutants.<name>] table ({exc})") from None
    mutants = []
    for name, raw in table.items():
        if not _KEYS <= set(raw) <= _KEYS | _OPTIONAL:
            raise ManifestError(f"{path}: mutants.{name} needs the keys {sorted(_KEYS)} (optional: "
                                f"{sorted(_OPTIONAL)}), has {sorted(raw)}")
        if not isinstance(raw.get("isolate", False), bool):
            raise ManifestError(f"{path}: mutants.{name}.isolate expected true or false, got {raw['isolate']!r}")
        m = Mutant(name, raw["exercise"], raw["framework"], raw["points"], raw["what"],
                   raw.get("isolate", False))
        if not (folder / name / m.exercise / f"{m.framework}.py").is_file():
            raise ManifestError(f"{path}: mutants.{name}: no file {folder / name / m.exercise / (m.framework + '.py')}")
        mutants.append(m)
    return mutants


def check_mutants(root: str | Path = "exercises", folder: str | Path | None = None, *, hidden_seed: int = 2026,
                  jobs: int = 2, reference: dict | None = None, progress=None) -> list[MutantResult]:
    """Grade every mutant (hidden cases drawn with ``hidden_seed``); one result per mutant, in
    the table's order. Ordinary mutants share one child per framework; ``isolate`` ones get
    their own (see the module docstring)."""
    root = Path(root)
    folder = Path(folder) if folder is not None else root / "mutants"
    mutants = load_mutants(folder)
    exercises = {e.id: e for e in load_exercises(root, sorted({m.exercise for m in mutants}))}
    unknown = sorted({m.exercise for m in mutants} - set(exercises))
    if unknown:
        raise ManifestError(f"{folder / EXPECTED}: unknown exercise(s) {unknown}")
    if reference is None:
        needed = [exercises[i] for i in sorted({m.exercise for m in mutants})]
        built = {e.id: build_cases(e, hidden_seed) for e in needed}
        reference = compute_reference(needed, built, sorted({m.framework for m in mutants}), progress, jobs)

    def result(m: Mutant, runner: RunnerResult) -> MutantResult:
        first = next((c.message for c in runner.cases if c.message), "")
        return MutantResult(m, runner.points, runner.max_points, first)

    def alone(m: Mutant) -> MutantResult:
        report = grade(root, submission=folder / m.name, exercises=[m.exercise], frameworks=[m.framework],
                       hidden_seed=hidden_seed, jobs=1, reference=reference, progress=None)
        (runner,) = report.runners
        return result(m, runner)

    built = {i: build_cases(e, hidden_seed) for i, e in exercises.items()}

    def together(framework: str, group: list[Mutant]) -> list[MutantResult]:
        runners, tasks = {}, []
        for m in group:
            e = exercises[m.exercise]
            runner = runners[m.name] = RunnerResult(e, framework)
            path = folder / m.name / m.exercise / f"{framework}.py"
            runner.error = forbidden_import(path)
            if runner.error is None:
                tasks.append(Task(m.name, path, e.path / "cases.py", f"{framework}.py",
                                  [(c.id, init, arrays) for c, init, arrays in built[m.exercise]]))
        job = None
        if tasks:
            used = [exercises[m.exercise] for m in group]
            job = run_job(framework, tasks, timeout_s=max(e.timeout_s for e in used),
                          import_timeout_s=max(e.import_timeout_s for e in used))
        return [result(m, score_runner(runners[m.name], built[m.exercise], reference[(m.exercise, framework)],
                                       job, m.name)) for m in group]

    by_framework: dict[str, list[Mutant]] = {}
    for m in mutants:
        if not m.isolate:
            by_framework.setdefault(m.framework, []).append(m)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        isolated = {m.name: pool.submit(alone, m) for m in mutants if m.isolate}
        shared = {fw: pool.submit(together, fw, group) for fw, group in by_framework.items()}
        done = {r.mutant.name: r for fut in shared.values() for r in fut.result()}
        done |= {name: fut.result() for name, fut in isolated.items()}
    return [done[m.name] for m in mutants]


def table(results: list[MutantResult]) -> str:
    rows = [("mutant", "exercise", "fw", "expected", "scored", "ok", "first message")]
    for r in results:
        msg = r.first_message if len(r.first_message) <= 90 else r.first_message[:87] + "..."
        rows.append((r.mutant.name, r.mutant.exercise, r.mutant.framework, str(r.mutant.points),
                     f"{r.points}/{r.max_points}", "yes" if r.ok else "NO", msg))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)
