"""Unit tests of the grader's parts that need no framework: markers, manifests, comparison,
reports, the child's environment and the static import check."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from vision_attention.grading import (
    ManifestError, MarkerError, forbidden_import, load_exercise, load_exercises, make_stub,
    solution_regions, strip_markers,
)
from vision_attention.grading import report as rep
from vision_attention.grading.compare import compare_outputs
from vision_attention.grading.grader import CaseResult, GradeReport, RunnerResult
from vision_attention.grading.runner import child_env, child_sys_path

ROOT = Path(__file__).resolve().parents[1] / "exercises"

GOOD = '''import math


def area(r: float) -> float:
    """Area of a circle."""
    ### BEGIN SOLUTION
    return math.pi * r * r
    ### END SOLUTION


class Box:
    def __init__(self, w, h):
        self.w = w  # SOLUTION
        self.h = h
'''


# --- markers --------------------------------------------------------------------------

def test_regions_and_stub_replace_each_solution_with_not_implemented():
    regions = solution_regions(GOOD, "good.py")
    assert [(r.start, r.end, r.one_line) for r in regions] == [(6, 8, False), (13, 13, True)]
    stub = make_stub(GOOD, "good.py", "00_demo")
    assert "math.pi" not in stub and "self.w = w" not in stub
    assert '    raise NotImplementedError("00_demo: write the body of area (see its docstring)")' in stub
    assert '        raise NotImplementedError("00_demo: write the body of Box.__init__ (see its docstring)")' in stub
    assert '"""Area of a circle."""' in stub and "self.h = h" in stub
    namespace = {}
    exec(compile(stub, "stub.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="00_demo"):
        namespace["area"](1.0)


def test_strip_markers_gives_the_runnable_solution():
    solution = strip_markers(GOOD)
    assert "SOLUTION" not in solution
    namespace = {}
    exec(compile(solution, "solution.py", "exec"), namespace)
    assert namespace["area"](1.0) == pytest.approx(np.pi)
    assert namespace["Box"](2, 3).w == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\n", r"x\.py:3: .*do not nest"),
        ("x = 1\n### END SOLUTION\n", r"x\.py:2: .*without"),
        ("### BEGIN SOLUTION\nx = 1\n", r"x\.py:1: .*never closed"),
        ("## BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", r"x\.py:1: .*looks like a solution marker"),
        ("### BEGIN SOLUTION\n# nothing\n### END SOLUTION\n", r"x\.py:1: .*holds no code"),
        ("### BEGIN SOLUTION\nx = 1  # SOLUTION\n### END SOLUTION\n", r"x\.py:2: .*inside the region"),
        ("### begin solution\nx = 1\n", r"x\.py:1: .*looks like"),
    ],
)
def test_bad_markers_raise_with_file_and_line(text, message):
    with pytest.raises(MarkerError, match=message):
        make_stub(text, "x.py", "00_demo")


def test_stub_of_a_file_without_markers_or_with_broken_statements_is_refused():
    with pytest.raises(MarkerError, match="no solution markers"):
        make_stub("x = 1\n", "x.py", "00_demo")
    half = "x = (1 +\n### BEGIN SOLUTION\n2)\n### END SOLUTION\n"  # a region inside an expression
    with pytest.raises(MarkerError, match="not valid Python|whole statements"):
        make_stub(half, "x.py", "00_demo")


# --- manifests ------------------------------------------------------------------------

MANIFEST = '''title = "Demo"
chapter = "preface"
frameworks = ["torch"]
atol = 1e-5
rtol = 0.0

[groups.public]
visibility = "public"
points = 2
cases = [{ seed = 1, n = 2 }, { seed = 2, n = 3 }]

[groups.hidden]
visibility = "hidden"
points = 1
count = 1
choices = { n = [4, 5] }
'''


def _exercise(tmp_path: Path, manifest: str = MANIFEST, name: str = "07_demo") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "manifest.toml").write_text(manifest)
    (folder / "cases.py").write_text("def make_case(rng, n):\n    return {}, {}\n\ndef run(*a):\n    return {}\n")
    (folder / "torch.py").write_text("x = 1  # SOLUTION\n")
    return folder


def test_valid_manifest_loads_and_draws_hidden_cases_from_the_seed(tmp_path):
    ex = load_exercise(_exercise(tmp_path))
    assert (ex.id, ex.number, ex.frameworks, ex.points_per_case, ex.max_points()) == ("07_demo", 7, ("torch",), 1, 3)
    assert ex.max_points(hidden=False) == 2
    public = ex.cases(None)
    assert [(c.id, c.seed, c.params) for c in public] == [("public-1", 1, {"n": 2}), ("public-2", 2, {"n": 3})]
    a, b, c = ex.cases(5), ex.cases(5), ex.cases(6)
    assert a == b and len(a) == 3 and a[2].params["n"] in (4, 5)
    assert a[2].seed != c[2].seed  # another grading seed draws another hidden case
    assert "hidden" not in json.dumps(ex.public_manifest())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m + "\nextra = 1\n", r"unknown key\(s\) \['extra'\]"),
        (lambda m: m.replace('["torch"]', '["jax"]'), "frameworks must be"),
        (lambda m: m.replace('["torch"]', '["torch", "paddle"]'), "paddle.py does not exist"),
        (lambda m: m.replace("points = 1\n", "points = 2\n"), "same whole number of points"),
        (lambda m: m.replace("seed = 1,", "seed = -1,"), r"cases\[0\]\.seed"),
        (lambda m: m.replace('visibility = "hidden"', 'visibility = "secret"'), "visibility must be"),
        (lambda m: m.replace("atol = 1e-5", 'atol = "tiny"'), "atol must be a number"),
        (lambda m: m.replace('visibility = "public"', 'visibility = "hidden"'), "hidden group draws its cases"),
        (lambda m: m.replace("count = 1", "cases = []"), "use 'count' and 'choices'"),
        (lambda m: m.replace("title = ", "titel = "), "unknown key"),
        (lambda m: m + "[[", "not valid TOML"),
    ],
)
def test_bad_manifests_raise_naming_the_file(tmp_path, edit, message):
    folder = _exercise(tmp_path, edit(MANIFEST))
    with pytest.raises(ManifestError, match=message) as info:
        load_exercise(folder)
    assert "manifest.toml" in str(info.value)


def test_exercise_folders_and_selection(tmp_path):
    with pytest.raises(ManifestError, match="NN_name"):
        load_exercise(_exercise(tmp_path, name="7demo"))
    _exercise(tmp_path, name="08_other")
    (tmp_path / "09_broken").mkdir()
    with pytest.raises(ManifestError, match="no manifest.toml"):
        load_exercises(tmp_path)
    assert [e.id for e in load_exercises(tmp_path, ["8"])] == ["08_other"]  # the broken one is not read
    with pytest.raises(ManifestError, match=r"EX='12' matches no exercise"):
        load_exercises(tmp_path, ["12"])


def test_the_course_exercises_are_valid_and_numbered_in_book_order():
    exercises = load_exercises(ROOT)
    assert [e.number for e in exercises] == list(range(1, len(exercises) + 1))
    assert len(exercises) >= 5
    for e in exercises:
        assert (e.path / "README.md").is_file(), e.id
        assert e.timeout_s <= 30  # a hang costs at most this per runner


# --- comparison -----------------------------------------------------------------------

def test_compare_accepts_within_tolerance_and_explains_each_mismatch():
    ref = {"y": np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4)}
    assert compare_outputs(ref, {"y": ref["y"] + 1e-6}, 1e-5, 0.0) is None
    wrong = ref["y"].copy()
    wrong[1, 2, 3] += 0.31
    msg = compare_outputs(ref, {"y": wrong}, 1e-5, 1e-4)
    assert "differs from the reference by 0.31 at position (1, 2, 3)" in msg and "1 of 24 values" in msg
    assert "shape (2, 3)" in compare_outputs(ref, {"y": ref["y"][:, :, 0]}, 1e-5, 0)
    assert "missing" in compare_outputs(ref, {"z": ref["y"]}, 1e-5, 0)
    nan = ref["y"].copy()
    nan[0, 0, 1] = np.nan
    assert "nan at position (0, 0, 1)" in compare_outputs(ref, {"y": nan}, 1e-5, 0)
    assert "dtype" in compare_outputs(ref, {"y": ref["y"].astype(np.complex64)}, 1e-5, 0)


def test_compare_holds_non_finite_references_to_the_same_values():
    ref = {"s": np.array([0.5, np.nan, np.inf], dtype=np.float32)}
    assert compare_outputs(ref, {"s": ref["s"].copy()}, 1e-5, 0) is None
    finite = ref["s"].copy()
    finite[1] = 0.0  # a number where the reference is NaN (e.g. an entropy that is undefined)
    assert "holds 0.0 at position (1,); the reference is nan there" in compare_outputs(ref, {"s": finite}, 1e-5, 0)
    flipped = ref["s"].copy()
    flipped[2] = -np.inf
    assert "holds -inf at position (2,); the reference is inf there" in compare_outputs(ref, {"s": flipped}, 1e-5, 0)
    swapped = ref["s"].copy()
    swapped[1] = np.inf
    assert "holds inf at position (1,); the reference is nan there" in compare_outputs(ref, {"s": swapped}, 1e-5, 0)


# --- reports --------------------------------------------------------------------------

def _report(tmp_path, message="boom " * 400):
    ex = load_exercise(_exercise(tmp_path))
    ok = RunnerResult(ex, "torch", [CaseResult("public-1 (n=2)", "public", 1, 1, None)], wall_s=1.0)
    bad = RunnerResult(ex, "torch", [CaseResult(f"public-{i}", "public", 0, 1, message) for i in (1, 2)],
                       error=message)
    return GradeReport([ok, bad], hidden_seed=3, wall_s=2.0), ok, bad


def test_classroom_payload_is_always_complete_and_bounded(tmp_path):
    report, ok, bad = _report(tmp_path)
    for runner, status, score in ((ok, "pass", 1), (bad, "error", 0)):
        data = json.loads(base64.b64decode(rep.encoded_payload(runner)))
        assert data["version"] == 1 and data["status"] == status and data["max_score"] == runner.max_points
        assert data["tests"] and sum(t["score"] for t in data["tests"]) == score
        assert {"name", "status", "score", "message", "test_code", "filename", "line_no", "duration"} <= set(data["tests"][0])
        assert all(len(t["message"]) <= rep.MESSAGE_LIMIT for t in data["tests"])
    huge = RunnerResult(bad.exercise, "torch", [CaseResult(f"c{i}", "public", 0, 1, "x" * 5000) for i in range(200)])
    assert len(rep.encoded_payload(huge)) <= rep.PAYLOAD_LIMIT


def test_junit_markdown_and_terminal_reports(tmp_path):
    report, ok, bad = _report(tmp_path, "output 'y' differs")
    suites = ET.fromstring(rep.junit(report))
    assert suites.get("tests") == "3" and suites.get("failures") == "2"
    assert len(suites.findall(".//failure")) == 2
    md = rep.markdown(report)
    assert md.startswith("## Grading: 1/3 points (33 %)") and "output 'y' differs" in md
    text = rep.terminal(report)
    assert "total: 1/3 points (33 %)" in text and "all 2 failed cases: output 'y' differs" in text


# --- isolation ------------------------------------------------------------------------

def test_child_environment_is_an_allowlist(tmp_path, monkeypatch):
    for name in ("GITHUB_TOKEN", "GITHUB_OUTPUT", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL",
                 "MY_API_TOKEN", "AWS_SECRET_ACCESS_KEY", "PYTHONPATH"):
        monkeypatch.setenv(name, "secret")
    env = child_env(tmp_path, threads=1)
    assert "secret" not in env.values()
    assert not any(k.startswith(("GITHUB_", "ACTIONS_")) or "TOKEN" in k or "SECRET" in k for k in env)
    assert env["OMP_NUM_THREADS"] == "1" and env["CUDA_VISIBLE_DEVICES"] == "" and env["HOME"] == str(tmp_path)


def test_child_path_cannot_reach_the_course_package():
    src = str(Path(__file__).resolve().parents[1] / "src")
    assert src not in child_sys_path()
    assert not any((Path(p) / "vision_attention").is_dir() for p in child_sys_path())


@pytest.mark.parametrize(
    ("source", "rejected"),
    [
        ("import vision_attention\n", True),
        ("from vision_attention.torch import SEBlock\n", True),
        ("import importlib\nm = importlib.import_module('vision_attention.torch')\n", True),
        ("from vision_attention import stats\n", True),
        ("import torch\nimport numpy as np\n", False),
        ("def f(:\n", True),
    ],
)
def test_static_check_rejects_the_course_package(tmp_path, source, rejected):
    path = tmp_path / "torch.py"
    path.write_text(source)
    reason = forbidden_import(path)
    assert (reason is not None) is rejected
    if rejected:
        assert reason.startswith("rejected:")


def test_each_exercise_is_listed_in_its_chapter():
    """The manifest's chapter shows the exercise in an {exercise} box that names its folder."""
    book = ROOT.parent / "book"
    for e in load_exercises(ROOT):
        page = (book / f"{e.chapter}.md").read_text(encoding="utf-8")
        boxes = page.split(":::{exercise}")[1:]
        assert any(f"exercises/{e.id}/" in box.split("\n:::")[0] for box in boxes), (e.id, e.chapter)
        assert f"make grade EX={e.id[:2]}" in page


def test_compare_handles_scalar_outputs():
    ref = {"k": np.array(3)}
    assert compare_outputs(ref, {"k": np.array(3)}, 0, 0) is None
    assert "differs from the reference by 2" in compare_outputs(ref, {"k": np.array(5)}, 0, 0)


# --- mutants: ordinary ones share a child per framework, isolated ones are graded alone -

def _mutant_folder(tmp_path: Path, entries: dict) -> Path:
    folder = tmp_path / "mutants"
    lines = []
    for name, (framework, extra) in entries.items():
        target = folder / name / "02_eca" / f"{framework}.py"
        target.parent.mkdir(parents=True)
        target.write_text(strip_markers((ROOT / "02_eca" / f"{framework}.py").read_text()))
        lines += [f"[mutants.{name}]", 'exercise = "02_eca"', f'framework = "{framework}"', "points = 0",
                  'what = "test"', *extra, ""]
    (folder / "expected.toml").write_text("\n".join(lines))
    return folder


def test_ordinary_mutants_share_one_child_per_framework_and_isolated_ones_run_alone(tmp_path, monkeypatch):
    from vision_attention.grading import mutants as mut
    from vision_attention.grading.runner import JobResult

    folder = _mutant_folder(tmp_path, {"a": ("torch", []), "b": ("torch", []), "c": ("paddle", []),
                                       "d": ("torch", ["isolate = true"])})
    jobs, alone = [], []

    def fake_run_job(framework, tasks, **_):
        jobs.append((framework, sorted(t.key for t in tasks)))
        result = JobResult()
        for t in tasks:
            for cid, _init, _arrays in t.cases:
                result.failures[(t.key, cid)] = f"failed {t.key}"
        return result

    def fake_grade(root, *, submission, exercises, frameworks, **_):
        alone.append((Path(submission).name, tuple(exercises), tuple(frameworks)))
        runner = RunnerResult(load_exercise(ROOT / "02_eca"), frameworks[0])
        runner.cases.append(CaseResult("public-1", "public", 0, 1, "failed alone"))
        return GradeReport([runner], 1, 0.0)

    monkeypatch.setattr(mut, "run_job", fake_run_job)
    monkeypatch.setattr(mut, "grade", fake_grade)
    reference = {("02_eca", fw): {} for fw in ("torch", "paddle")}
    results = mut.check_mutants(ROOT, folder, hidden_seed=1, jobs=1, reference=reference)
    assert sorted(jobs) == [("paddle", ["c"]), ("torch", ["a", "b"])]
    assert alone == [("d", ("02_eca",), ("torch",))]
    assert [r.mutant.name for r in results] == ["a", "b", "c", "d"]  # the table's order
    assert [r.first_message for r in results] == ["failed a", "failed b", "failed c", "failed alone"]
    assert all(r.points == 0 and r.ok for r in results)


def test_mutant_table_rejects_a_bad_isolate_flag(tmp_path):
    from vision_attention.grading.mutants import load_mutants

    folder = _mutant_folder(tmp_path, {"a": ("torch", ['isolate = "yes"'])})
    with pytest.raises(ManifestError, match=r"mutants\.a\.isolate expected true or false"):
        load_mutants(folder)
    folder2 = _mutant_folder(tmp_path / "x", {"b": ("torch", ["colour = 1"])})
    with pytest.raises(ManifestError, match=r"optional: \['isolate'\]"):
        load_mutants(folder2)
