"""The student release: a template repository built from the instructor's exercises.

``make release`` (``python -m vision_attention.grading release``) writes ``_build/student/``:

* ``exercises/<NN>_<name>/``: the exercise's ``README.md`` and ``cases.py``, one stub per
  framework (every solution replaced by ``raise NotImplementedError``, signatures and
  docstrings kept), ``exercise.json`` (the manifest without hidden groups) and
  ``public/<framework>/<case>/<output>.npy``, the reference outputs of the public cases;
* ``grader/``: this package (``python -m grader grade``), without this module;
* ``Makefile`` (``make grade``), ``README.md``, ``pyproject.toml`` (the pinned frameworks),
  ``.gitignore`` and ``.github/workflows/classroom.yml``, which runs ``make grade`` on push
  and hands one payload per exercise x framework to GitHub Classroom's reporter.

The tree is deterministic (sorted, no timestamps; the same inputs give the same bytes) and
is checked before it replaces the old one: no solution line survives in a stub, every stub
keeps the reference's signatures, no hidden group is written.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import numpy as np

from .grader import PUBLIC_DIR, build_cases, compute_reference
from .manifest import FRAMEWORKS, ManifestError, load_exercises
from .markers import MarkerError, make_stub, signatures, solution_regions

_HERE = Path(__file__).parent
_GRADER_FILES = ("__init__.py", "__main__.py", "_child.py", "cli.py", "compare.py", "grader.py",
                 "harness.py", "manifest.py", "markers.py", "report.py", "runner.py")
_PINNED = ("numpy", "torch", "paddlepaddle", "tensorflow-cpu")


def _pins(project_root: Path) -> list[str]:
    path = project_root / "pyproject.toml"
    try:
        deps = tomllib.loads(path.read_text(encoding="utf-8"))["project"]["dependencies"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read [project].dependencies for the release's pins ({exc})") from None
    pins = []
    for name in _PINNED:
        hits = [d for d in deps if d.split("=")[0].split("<")[0].split(">")[0].strip() == name]
        if not hits:
            raise ManifestError(f"{path}: no dependency {name!r} to pin in the student release")
        pins.append(hits[0])
    return pins


def _pyproject(pins: list[str], python: str) -> str:
    deps = "".join(f'    "{p}",\n' for p in pins)
    return (
        "# The environment the exercises are graded in (the course's pins).\n"
        "# `uv sync` installs it into .venv; `make grade` then uses .venv/bin/python.\n"
        "[project]\n"
        'name = "attention-exercises"\n'
        'version = "1.0.0"\n'
        f'requires-python = "{python}"\n'
        f"dependencies = [\n{deps}]\n\n"
        "[tool.uv]\n"
        "package = false  # a template repository, not a package\n"
    )


def _workflow(runner_ids: list[str]) -> str:
    env = "".join(f'          {rid.upper()}_RESULTS: "${{{{ steps.grade.outputs.{rid} }}}}"\n'
                  for rid in runner_ids)
    return (
        "# GitHub Classroom autograding: `make grade` writes one result per exercise x framework\n"
        "# to $GITHUB_OUTPUT; the reporter adds them up and records the points.\n"
        "name: Autograding\n"
        "'on':\n"
        "  - push\n"
        "  - repository_dispatch\n"
        "  - workflow_dispatch\n"
        "permissions:\n"
        "  checks: write\n"
        "  actions: read\n"
        "  contents: read\n"
        "jobs:\n"
        "  grade:\n"
        "    runs-on: ubuntu-latest\n"
        "    if: github.actor != 'github-classroom[bot]'\n"
        "    timeout-minutes: 30\n"
        "    steps:\n"
        "      - name: Checkout code\n"
        "        uses: actions/checkout@v4\n"
        "      - name: Set up Python\n"
        "        uses: actions/setup-python@v5\n"
        "        with:\n"
        "          python-version: '3.11'\n"
        "      - name: Install the pinned frameworks\n"
        "        run: python -m pip install uv && uv sync\n"
        "      - name: Grade\n"
        "        id: grade\n"
        "        run: make grade\n"
        "      - name: Report to GitHub Classroom\n"
        "        if: always()\n"
        "        uses: classroom-resources/autograding-grading-reporter@v1\n"
        "        env:\n"
        f"{env}"
        "        with:\n"
        f"          runners: {','.join(runner_ids)}\n"
    )


def _check_stub(exercise_id: str, path: Path, text: str, stub: str) -> None:
    ref_sigs, stub_sigs = signatures(text, str(path)), signatures(stub, str(path))
    if ref_sigs != stub_sigs:
        diff = sorted(set(ref_sigs.items()) ^ set(stub_sigs.items()))
        raise MarkerError(f"{path}: the stub's signatures differ from the reference's: {diff}")
    lines = text.splitlines()
    stub_lines = {l.strip() for l in stub.splitlines()}
    for region in solution_regions(text, str(path)):
        body = lines[region.start - 1 : region.end] if region.one_line else lines[region.start : region.end - 1]
        for line in body:
            s = line.strip()
            if len(s) > 8 and not s.startswith("#") and s in stub_lines:
                raise MarkerError(f"{path}: solution line {s!r} would appear in the stub")


def build_release(root: str | Path = "exercises", out: str | Path = "_build/student", *,
                  python: str = ">=3.11,<3.14", reference: dict | None = None, progress=print) -> Path:
    """Write the student template repository for the exercises under ``root`` to ``out``.

    Args:
        root: the instructor's exercise folder.
        out: the release folder (replaced).
        python: ``requires-python`` of the release's ``pyproject.toml``.
        reference: precomputed :func:`~vision_attention.grading.compute_reference` outputs
            covering the public cases (by default they are computed here, one child process
            per framework).
        progress: callable for progress lines, or ``None``.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.

    Raises:
        ManifestError: invalid exercises (or ``root`` already a release).
        MarkerError: unbalanced, nested, stray or empty solution markers; a stub whose
            signatures differ from the reference's, or that would contain a solution line.
        RuntimeError: a reference solution fails a public case.
    """
    root, out = Path(root), Path(out)
    exercises = load_exercises(root)
    released = [e.id for e in exercises if e.release]
    if released:
        raise ManifestError(f"{root}: {released} are already student-release folders; build from the instructor's exercises")
    stubs = {}
    for e in exercises:
        for fw in e.frameworks:
            path = e.path / f"{fw}.py"
            text = path.read_text(encoding="utf-8")
            stub = make_stub(text, str(path), e.id)
            _check_stub(e.id, path, text, stub)
            stubs[(e.id, fw)] = stub
    built = {e.id: build_cases(e, hidden_seed=None) for e in exercises}
    if reference is None:
        if progress:
            progress(f"computing the public reference outputs of {len(exercises)} exercise(s)")
        reference = compute_reference(exercises, built, list(FRAMEWORKS), progress)

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    def write(rel: str, data: str | bytes) -> None:
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8", newline="\n")
        else:
            path.write_bytes(data)

    runner_ids = []
    for e in exercises:
        base = f"exercises/{e.id}"
        write(f"{base}/README.md", (e.path / "README.md").read_text(encoding="utf-8")
              if (e.path / "README.md").is_file() else f"# {e.title}\n")
        write(f"{base}/cases.py", (e.path / "cases.py").read_text(encoding="utf-8"))
        write(f"{base}/exercise.json", json.dumps(e.public_manifest(), indent=2) + "\n")
        for fw in e.frameworks:
            write(f"{base}/{fw}.py", stubs[(e.id, fw)])
            runner_ids.append(f"ex{e.id[:2]}_{fw}")
            public = {c.id for c, _init, _arrays in built[e.id]}
            for case_id, outputs in sorted(reference[(e.id, fw)].items()):
                if case_id not in public:
                    continue
                for name, array in sorted(outputs.items()):
                    target = tmp / base / PUBLIC_DIR / fw / case_id / f"{name}.npy"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    np.save(target, array, allow_pickle=False)
    for name in _GRADER_FILES:
        write(f"grader/{name}", (_HERE / name).read_text(encoding="utf-8"))
    write("README.md", (_HERE / "templates" / "README.md").read_text(encoding="utf-8"))
    write("Makefile", (_HERE / "templates" / "Makefile").read_text(encoding="utf-8"))
    write(".gitignore", (_HERE / "templates" / "gitignore").read_text(encoding="utf-8"))
    write("pyproject.toml", _pyproject(_pins(root.resolve().parent), python))
    write(".github/workflows/classroom.yml", _workflow(runner_ids))

    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    if progress:
        progress(f"{len(stubs)} stub(s) in {len(exercises)} exercise(s), {len(runner_ids)} Classroom runner(s)")
    return out
