"""Grade submissions: build the cases, run reference and submission in child processes, compare.

:func:`grade` is what ``make grade`` (``python -m vision_attention.grading grade``) calls.
"""

from __future__ import annotations

import ast
import importlib.util
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .compare import compare_outputs
from .manifest import Exercise, ManifestError, load_exercises, select
from .runner import Task, run_job

COURSE_PACKAGE = "vision_attention"
PUBLIC_DIR = "public"  # release: <exercise>/public/<framework>/<case>/<output>.npy


@dataclass
class CaseResult:
    name: str
    group: str
    points: int
    max_points: int
    message: str | None  # None: passed

    @property
    def passed(self) -> bool:
        return self.message is None


@dataclass
class RunnerResult:
    """One exercise x framework: a GitHub Classroom runner."""

    exercise: Exercise
    framework: str
    cases: list = field(default_factory=list)
    error: str | None = None  # the whole runner failed before any case (reported on every case)
    wall_s: float = 0.0

    @property
    def id(self) -> str:
        return f"ex{self.exercise.id[:2]}_{self.framework}"

    @property
    def points(self) -> int:
        return sum(c.points for c in self.cases)

    @property
    def max_points(self) -> int:
        return sum(c.max_points for c in self.cases)

    @property
    def status(self) -> str:
        if self.points == self.max_points:
            return "pass"
        return "error" if self.error or all(not c.passed and _is_error(c.message) for c in self.cases) else "fail"


def _is_error(message: str | None) -> bool:
    return bool(message) and message.startswith(("no result", "timed out", "not run", "while importing",
                                                 "rejected", "file not found"))


@dataclass
class GradeReport:
    runners: list
    hidden_seed: int | None
    wall_s: float

    @property
    def points(self) -> int:
        return sum(r.points for r in self.runners)

    @property
    def max_points(self) -> int:
        return sum(r.max_points for r in self.runners)

    def scores(self) -> dict[tuple[str, str], tuple[int, int]]:
        """``(exercise id, framework) -> (points, max points)``."""
        return {(r.exercise.id, r.framework): (r.points, r.max_points) for r in self.runners}


def load_cases_module(exercise: Exercise):
    """Import the exercise's ``cases.py`` (numpy only at module level) in the parent."""
    name = f"_grading_cases_{exercise.id}"
    spec = importlib.util.spec_from_file_location(name, exercise.path / "cases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for attr in ("make_case", "run"):
        if not callable(getattr(module, attr, None)):
            raise ManifestError(f"{exercise.path / 'cases.py'}: defines no function {attr}()")
    return module


def build_cases(exercise: Exercise, hidden_seed: int | None) -> list:
    """``[(Case, init, arrays)]``: each case's constructor arguments and float32 input arrays."""
    module = load_cases_module(exercise)
    built = []
    for case in exercise.cases(hidden_seed):
        init, arrays = module.make_case(np.random.default_rng(case.seed), **case.params)
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        built.append((case, dict(init), arrays))
    return built


def forbidden_import(path: Path) -> str | None:
    """Why the file at ``path`` may not be graded (it uses the course package), or ``None``.

    The check reads the source: an ``import``/``from`` of ``vision_attention``, or the name in
    any string (``importlib.import_module("vision_attention...")``). The child also blocks
    the import at run time; this check turns it into a clear zero before anything runs.
    """
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except SyntaxError as exc:
        return f"rejected: {path.name} is not valid Python (line {exc.lineno}: {exc.msg})"
    except (OSError, UnicodeDecodeError) as exc:
        return f"rejected: {path.name} could not be read ({exc})"
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value] if COURSE_PACKAGE in node.value else []
        if any(n.split(".")[0] == COURSE_PACKAGE or COURSE_PACKAGE in n for n in names):
            return (f"rejected: {path.name} line {node.lineno} uses the course package "
                    f"({COURSE_PACKAGE}); an exercise must be your own code, so this file scores 0")
    return None


def _expected_from_files(exercise: Exercise, framework: str, cases: list) -> dict:
    expected = {}
    for case, _init, _arrays in cases:
        folder = exercise.path / PUBLIC_DIR / framework / case.id
        files = sorted(folder.glob("*.npy"))
        if not files:
            raise ManifestError(f"{folder}: no expected outputs for public case {case.id}")
        expected[case.id] = {p.stem: np.load(p, allow_pickle=False) for p in files}
    return expected


def compute_reference(exercises: list[Exercise], built: dict, frameworks: list[str],
                      progress=None, jobs: int = 2) -> dict:
    """Run the instructor solutions, one child per framework: ``(exercise id, fw) -> {case id: outputs}``.

    Raises:
        RuntimeError: a reference solution fails a case (the instructor's files are broken).
    """
    results = {}
    planned = []
    for fw in frameworks:
        tasks = [Task(e.id, e.path / f"{fw}.py", e.path / "cases.py", f"{fw}.py",
                      [(c.id, init, arrays) for c, init, arrays in built[e.id]])
                 for e in exercises if fw in e.frameworks]
        if tasks:
            timeout = max(e.timeout_s for e in exercises if fw in e.frameworks)
            imp = max(e.import_timeout_s for e in exercises if fw in e.frameworks)
            planned.append((fw, tasks, timeout, imp))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {fw: pool.submit(run_job, fw, tasks, timeout_s=t, import_timeout_s=i)
                   for fw, tasks, t, i in planned}
        for fw, fut in futures.items():
            job = fut.result()
            if progress:
                progress(f"  reference {fw}: {job.wall_s:.1f} s")
            if job.failures:
                (key, cid), msg = next(iter(job.failures.items()))
                raise RuntimeError(f"the reference solution {key}/{fw}.py fails case {cid}: {msg}")
            for (key, cid), outputs in job.outputs.items():
                results.setdefault((key, fw), {})[cid] = outputs
    return results


def score_runner(runner: RunnerResult, cases: list, expected_all: dict, job, key: str) -> RunnerResult:
    """Fill ``runner.cases`` from a finished job: one :class:`CaseResult` per case.

    ``cases`` are the exercise's built cases, ``expected_all`` the reference outputs by case id,
    ``job`` the :class:`~.runner.JobResult` (``None`` when ``runner.error`` is set: every case
    then fails with that message) and ``key`` the task key the job used for this submission.
    Comparison happens here, in the parent; a hint from the exercise's ``diagnose`` is added to
    a mismatch.
    """
    e = runner.exercise
    diagnose = getattr(load_cases_module(e), "diagnose", None)
    for case, _init, arrays in cases:
        if runner.error is not None:
            message = runner.error
        elif (key, case.id) in job.failures:
            message = job.failures[(key, case.id)]
        else:
            got = job.outputs[(key, case.id)]
            expected = expected_all[case.id]
            message = compare_outputs(expected, got, e.atol, e.rtol)
            if message and callable(diagnose):
                try:
                    hint = diagnose(dict(case.params), arrays, expected, got)
                except Exception:  # noqa: BLE001 - a hint must never break grading
                    hint = None
                if hint:
                    message = f"{message}. Hint: {hint}"
        ppc = e.points_per_case
        runner.cases.append(CaseResult(case.name, case.group, 0 if message else ppc, ppc, message))
    return runner


def grade(root: str | Path, *, submission: str | Path | None = None, exercises: list[str] | None = None,
          frameworks: list[str] | None = None, hidden_seed: int | None = None, jobs: int = 2,
          reference: dict | None = None, progress=print) -> GradeReport:
    """Grade the submission files against the exercises under ``root``.

    Args:
        root: an instructor ``exercises/`` folder (reference solutions, hidden groups) or a
            student release's ``exercises/`` (public groups, expected outputs shipped).
        submission: folder holding ``<exercise id>/<framework>.py``; default ``root``
            itself (the instructor's reference, or the student's files in a release).
        exercises, frameworks: restrict to these (``EX=``/``FW=``); ``None`` means all.
        hidden_seed: seed that draws the hidden cases; ``None`` draws a fresh one (printed
            in the report so a grading can be repeated).
        jobs: child processes run at once.
        reference: precomputed :func:`compute_reference` output for these cases (tests).
        progress: callable for progress lines, or ``None``.

    Returns:
        A :class:`GradeReport`; one :class:`RunnerResult` per exercise x framework.

    Raises:
        ManifestError: an invalid exercise, or ``exercises``/``frameworks`` matching nothing.
        RuntimeError: the reference solution itself fails (instructor root only).
    """
    start = time.monotonic()
    root = Path(root)
    submission = Path(submission) if submission is not None else root
    chosen = select(load_exercises(root, exercises), exercises)
    release = all(e.release for e in chosen)
    if frameworks:
        unknown = [f for f in frameworks if not any(f in e.frameworks for e in chosen)]
        if unknown:
            raise ManifestError(f"FW={unknown} matches no framework of the chosen exercises "
                                f"(they use {sorted({f for e in chosen for f in e.frameworks})})")
    fws = [f for f in ("torch", "paddle", "tensorflow") if not frameworks or f in frameworks]
    if release:
        hidden_seed = None
    elif hidden_seed is None:
        hidden_seed = secrets.randbelow(2**31)
    built = {e.id: build_cases(e, hidden_seed) for e in chosen}
    pairs = [(e, fw) for e in chosen for fw in e.frameworks if fw in fws]
    if progress:
        seed = "public cases only" if release else f"hidden cases drawn with seed {hidden_seed}"
        progress(f"grading {len(pairs)} runner(s) of {len(chosen)} exercise(s) ({seed}) from {submission}")

    runners = {}
    pending = []
    for e, fw in pairs:
        runner = RunnerResult(e, fw)
        runners[(e.id, fw)] = runner
        path = submission / e.id / f"{fw}.py"
        if not path.is_file():
            runner.error = f"file not found: {path}"
        else:
            runner.error = forbidden_import(path)
        if runner.error is None:
            pending.append((e, fw, path))

    # Reference and submissions share the pool; TensorFlow (slowest import) first.
    order = {"tensorflow": 0, "paddle": 1, "torch": 2}
    pending.sort(key=lambda p: order[p[1]])
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        ref_future = None
        if not release and reference is None:
            ref_future = pool.submit(compute_reference, chosen, built, fws, progress, 1)
        futures = {
            (e.id, fw): pool.submit(
                run_job, fw,
                [Task(e.id, path, e.path / "cases.py", f"{fw}.py",
                      [(c.id, init, arrays) for c, init, arrays in built[e.id]])],
                timeout_s=e.timeout_s, import_timeout_s=e.import_timeout_s)
            for e, fw, path in pending
        }
        if ref_future is not None:
            reference = ref_future.result()
        job_results = {}
        for key, fut in futures.items():
            job_results[key] = fut.result()
            runners[key].wall_s = job_results[key].wall_s
            if progress:
                r = runners[key]
                progress(f"  {r.exercise.id} {r.framework}: {r.wall_s:.1f} s")

    for (eid, fw), runner in runners.items():
        e = runner.exercise
        expected_all = (_expected_from_files(e, fw, built[eid]) if release
                        else reference[(eid, fw)])
        score_runner(runner, built[eid], expected_all, job_results.get((eid, fw)), eid)
    report = GradeReport(list(runners.values()), hidden_seed, time.monotonic() - start)
    return report


def main_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
