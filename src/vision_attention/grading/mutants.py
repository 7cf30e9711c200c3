"""Mutation check of the grader: deliberately wrong or cheating submissions and their expected scores.

``exercises/mutants/expected.toml`` lists each mutant: a folder ``<name>/<exercise>/<framework>.py``
(a complete submission file with one mistake or one cheat), and the points it must score. The
check grades every mutant against the reference (hidden cases included, one seed for all) and
fails when any score differs: a mutant that scores more than expected means the grader can be
fooled or a test is too weak; less means a test rejects something it should accept.
Instructor-only (not in the student release): ``make mutants`` / ``python -m
vision_attention.grading mutants``.
"""

from __future__ import annotations

import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .grader import build_cases, compute_reference, grade
from .manifest import ManifestError, load_exercises

EXPECTED = "expected.toml"
_KEYS = {"exercise", "framework", "points", "what"}


@dataclass(frozen=True)
class Mutant:
    name: str
    exercise: str
    framework: str
    points: int
    what: str


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
        if set(raw) != _KEYS:
            raise ManifestError(f"{path}: mutants.{name} needs exactly the keys {sorted(_KEYS)}, has {sorted(raw)}")
        m = Mutant(name, raw["exercise"], raw["framework"], raw["points"], raw["what"])
        if not (folder / name / m.exercise / f"{m.framework}.py").is_file():
            raise ManifestError(f"{path}: mutants.{name}: no file {folder / name / m.exercise / (m.framework + '.py')}")
        mutants.append(m)
    return mutants


def check_mutants(root: str | Path = "exercises", folder: str | Path | None = None, *, hidden_seed: int = 2026,
                  jobs: int = 2, reference: dict | None = None, progress=None) -> list[MutantResult]:
    """Grade every mutant (hidden cases drawn with ``hidden_seed``); one result per mutant."""
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

    def one(m: Mutant) -> MutantResult:
        report = grade(root, submission=folder / m.name, exercises=[m.exercise], frameworks=[m.framework],
                       hidden_seed=hidden_seed, jobs=1, reference=reference, progress=None)
        (runner,) = report.runners
        first = next((c.message for c in runner.cases if c.message), "")
        return MutantResult(m, runner.points, runner.max_points, first)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, mutants))
    return results


def table(results: list[MutantResult]) -> str:
    rows = [("mutant", "exercise", "fw", "expected", "scored", "ok", "first message")]
    for r in results:
        msg = r.first_message if len(r.first_message) <= 90 else r.first_message[:87] + "..."
        rows.append((r.mutant.name, r.mutant.exercise, r.mutant.framework, str(r.mutant.points),
                     f"{r.points}/{r.max_points}", "yes" if r.ok else "NO", msg))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)
