"""The grader's proof (issue: graded exercises): reference 100 %, stubs 0, mutants as expected,
a deterministic student release whose own `make grade` works, and no way around the grader.

Everything here runs real child processes (PyTorch, Paddle and TensorFlow imports), so the
module shares work: the reference outputs are computed once (in their own processes, as
the grader always does) and reused by the reference grading and the mutant check.
"""

from __future__ import annotations

import base64
import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from vision_attention.grading import build_release, grade, load_exercises, signatures, solution_regions, strip_markers
from vision_attention.grading.grader import build_cases, compute_reference, load_cases_module
from vision_attention.grading.mutants import check_mutants, load_mutants, table

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "exercises"
SEED = 2026


@pytest.fixture(scope="module")
def reference():
    exercises = load_exercises(ROOT)
    built = {e.id: build_cases(e, SEED) for e in exercises}
    return compute_reference(exercises, built, ["torch", "paddle", "tensorflow"])


def test_reference_solutions_score_full_marks_in_every_runner(reference):
    report = grade(ROOT, hidden_seed=SEED, reference=reference, progress=None)
    pairs = {(e.id, fw) for e in load_exercises(ROOT) for fw in e.frameworks}
    assert {(r.exercise.id, r.framework) for r in report.runners} == pairs
    for r in report.runners:
        assert r.points == r.max_points > 0, (r.id, [c.message for c in r.cases if c.message])
        assert any(c.group != "public" for c in r.cases), "hidden cases are graded too"


def test_every_mutant_scores_exactly_its_expected_points(reference):
    results = check_mutants(ROOT, hidden_seed=SEED, reference=reference)
    print(table(results))
    assert len(results) >= 13
    wrong = [(r.mutant.name, r.mutant.points, r.points, r.first_message) for r in results if not r.ok]
    assert not wrong
    # Exercises 08's to 11's hints come from a numpy model of each mistake: each must name its
    # mistake on the real frameworks' output (the model of every resampling convention included).
    hints = {"gate_align_corners": "align_corners=True gives", "gate_nearest": "nearest-neighbour resampling",
             "gate_tf1_resize_bilinear": "without half-pixel centres", "gate_psi_no_batchnorm": "without its BatchNorm",
             "gate_psi_no_sigmoid": "before the sigmoid", "gate_no_relu": "ReLU of the sum",
             "gate_one_minus_alpha": "x * (1 - alpha)", "gate_returns_alpha": "alpha's shape",
             "msa_softmax_over_batch": "over the images of the batch", "msa_sigmoid": "a sigmoid of the MLP's outputs",
             "msa_first_stage_weights": "from the first (finest) stage", "msa_max_pooling": "max-pooled",
             "msa_unscaled_concat": "without their weights", "msa_reversed_weights": "weight of stage S-1-i",
             "stats_std_ddof1": "sample standard deviation", "stats_inclusive_thresholds": "equal to the threshold",
             "stats_entropy_not_normalised": "not normalised", "stats_log2_entropy": "log base 2",
             "stats_entropy_over_batch": "whole batch as one distribution", "stats_no_zero_guard": "0 * ln 0",
             "stats_channel_entropy_zero": "spatial=False",
             "quant_no_clip": "not clipped", "quant_scale_256": "by 256", "quant_round_half_up": "half to even",
             "quant_zero_point_truncated": "truncated", "quant_no_zero_in_range": "must contain 0",
             "quant_symmetric": "symmetric"}
    messages = {r.mutant.name: r.first_message for r in results}
    for name, words in hints.items():
        assert words in messages[name].partition("Hint: ")[2], (name, messages[name])


def test_attention_gate_references_agree_and_the_hints_numpy_gate_is_the_reference(reference):
    """Exercise 08: the three reference solutions resample alike (half-pixel centres), the numpy
    gate that its hints compare against equals them, every other resampling convention and
    every left-out step is over 10 times the tolerance away where g is resampled (so the mutants'
    points are what the manifest says), and resampling g before W_g is the same gate (the
    task sheet's fact, checked here in float64 for every convention)."""
    (e,) = load_exercises(ROOT, ["08"])
    cases = load_cases_module(e)
    tol = {"atol": e.atol, "rtol": e.rtol}
    for case, _init, arrays in build_cases(e, SEED):
        outputs = {fw: reference[(e.id, fw)][case.id] for fw in e.frameworks}
        for fw in ("paddle", "tensorflow"):
            for name in ("attention", "y"):
                np.testing.assert_allclose(outputs[fw][name], outputs["torch"][name], **tol,
                                           err_msg=f"{case.id} {fw} {name}")
        alpha = cases._variant(arrays)
        for fw in e.frameworks:
            np.testing.assert_allclose(outputs[fw]["attention"], alpha, **tol, err_msg=f"{case.id} {fw}")
        resampled = arrays["g"].shape[2:] != arrays["x"].shape[2:]
        assert resampled == (case.id != "public-3"), case.id
        for change in ({"mode": "align_corners"}, {"mode": "asymmetric"}, {"mode": "nearest"},
                       {"mode": "nearest_half"}, {"relu": False}, {"psi_bn": False}, {"sigmoid": False}):
            gap = np.abs(cases._variant(arrays, **change) - alpha).max()
            if resampled or "mode" not in change:
                assert gap > 10 * (e.atol + e.rtol), (case.id, change, gap)
            else:
                assert gap < 1e-12, (case.id, change, gap)
        a = {k: v.astype(np.float64) for k, v in arrays.items()}
        (hx, wx), (hg, wg) = a["x"].shape[2:], a["g"].shape[2:]
        for mode in ("half_pixel", "align_corners", "asymmetric", "nearest", "nearest_half"):
            rh, rw = cases._resampling(hx, hg, mode), cases._resampling(wx, wg, mode)
            np.testing.assert_allclose(rh.sum(axis=1), 1.0, rtol=0, atol=1e-12)
            after = np.einsum("Hh,bchw,Ww->bcHW", rh, cases._project(a, "W_g", a["g"]), rw)
            before = cases._project(a, "W_g", np.einsum("Hh,bchw,Ww->bcHW", rh, a["g"], rw))
            np.testing.assert_allclose(before, after, rtol=0, atol=1e-12, err_msg=f"{case.id} {mode}")


def test_multiscale_attention_references_agree_with_the_package_module(reference):
    """Exercise 09: the three reference solutions agree with each other and with the package's
    own ``vision_attention.torch.MultiScaleAttention`` (written separately) on every graded case,
    so the exercise grades the module the IQA chapter uses."""
    import torch

    from vision_attention.torch import MultiScaleAttention

    (e,) = load_exercises(ROOT, ["09"])
    tol = {"atol": e.atol, "rtol": e.rtol}
    for case, init, arrays in build_cases(e, SEED):
        stages = [arrays[f"f{i}"] for i in range(sum(1 for k in arrays if k[0] == "f" and k[1:].isdigit()))]
        module = MultiScaleAttention(**init).eval()
        module.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("attention_net")})
        with torch.no_grad():
            y, extra = module(*[torch.from_numpy(f) for f in stages], return_attention=True)
        for fw in e.frameworks:
            got = reference[(e.id, fw)][case.id]
            np.testing.assert_allclose(got["scale_weights"], extra["scale_weights"].numpy(), **tol,
                                       err_msg=f"{case.id} {fw}")
            np.testing.assert_allclose(got["y"], y.numpy(), **tol, err_msg=f"{case.id} {fw}")


def test_attention_statistics_references_equal_the_package_function(reference):
    """Exercise 10: the three reference solutions (float32 framework ops) equal the package's
    ``vision_attention.monitor.attention_statistics`` (numpy, float64, written separately) on
    every graded case, and the cases hold what the manifest says: the thresholds themselves,
    zero corners in every spatial map, NaN entropy exactly for the channel case."""
    from vision_attention.monitor import attention_statistics

    (e,) = load_exercises(ROOT, ["10"])
    tol = {"atol": e.atol, "rtol": e.rtol}
    for case, init, arrays in build_cases(e, SEED):
        a = arrays["weights"]
        assert a.dtype == np.float32 and (a == np.float32(0.05)).any() and (a == np.float32(0.95)).any(), case.id
        if init["spatial"]:
            assert a.shape[0] >= 2 and a.shape[1] == 1 and (a[:, 0, 0, 0] == 0).all(), case.id
        expected = attention_statistics(a, spatial=init["spatial"])
        for fw in e.frameworks:
            got = reference[(e.id, fw)][case.id]
            for key, value in expected.items():
                if np.isnan(value):
                    assert np.isnan(got[key]) and got["entropy_defined"] == 0.0, (case.id, fw, key)
                else:
                    np.testing.assert_allclose(got[key], value, **tol, err_msg=f"{case.id} {fw} {key}")
            assert got["entropy_defined"] == float(init["spatial"]), (case.id, fw)


def test_mutant_table_covers_the_required_mistakes_and_cheats():
    names = {m.name for m in load_mutants(ROOT / "mutants")}
    required = {"missing_sigmoid", "pool_wrong_axis", "ignored_reduction_ratio", "no_rescale",
                "swapped_max_mean", "hardcoded_public", "eq_always_true", "os_exit_at_import",
                "infinite_loop", "fake_score", "imports_package", "monkeypatch_allclose", "random_output"}
    assert required <= names


def test_the_grader_cli_keeps_github_outputs_and_stdout_out_of_the_childs_reach(tmp_path):
    """The fake-score mutant appends a full-marks result to every GitHub output file it can find;
    the grader restores the file and writes the real (zero) result."""
    output = Path("/tmp") / f"{tmp_path.name}_github_output"  # findable by the mutant's glob
    summary = tmp_path / "summary"
    output.write_text("earlier=1\n")
    env = {**os.environ, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "vision_attention.grading", "grade", "--submission",
             str(ROOT / "mutants" / "fake_score"), "-e", "01", "-f", "torch", "--seed", "1",
             "--report-dir", str(tmp_path / "reports")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        lines = output.read_text().splitlines()
    finally:
        output.unlink(missing_ok=True)
    assert proc.returncode == 1, proc.stderr
    assert "18/18" not in proc.stdout and "total: 0/6 points" in proc.stdout
    assert lines[0] == "earlier=1" and len(lines) == 2, lines
    key, _, value = lines[1].partition("=")
    data = json.loads(base64.b64decode(value))
    assert key == "ex01_torch" and data["max_score"] == 6 and sum(t["score"] for t in data["tests"]) == 0
    assert "Grading: 0/6" in summary.read_text()
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert results["points"] == 0 and results["hidden_seed"] == 1


def _release(out: Path) -> Path:
    proc = subprocess.run([sys.executable, "-m", "vision_attention.grading", "release", "-q", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return _release(tmp_path_factory.mktemp("release") / "student")


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_release_is_deterministic(release, reference, tmp_path):
    """A second release, with the public outputs of another, independent reference run, is
    byte-identical: the tree is deterministic and so are the reference computations."""
    again = build_release(ROOT, tmp_path / "student", reference=reference, progress=None)
    assert _tree(release) == _tree(again)
    _, mismatch, errors = filecmp.cmpfiles(release, again, _tree(release), shallow=False)
    assert not mismatch and not errors


def test_release_holds_no_solution_hidden_group_or_instructor_file(release):
    files = _tree(release)
    assert not any("mutants" in f or f.endswith("manifest.toml") or "release.py" in f for f in files)
    text = "\n".join((release / f).read_text(encoding="utf-8") for f in files
                      if f.startswith("exercises/") and not f.endswith(".npy"))
    assert "BEGIN SOLUTION" not in text and "# SOLUTION" not in text and '"hidden"' not in text
    for e in load_exercises(ROOT):
        public = json.loads((release / "exercises" / e.id / "exercise.json").read_text())
        assert set(public["groups"]) == {g.name for g in e.groups if g.visibility == "public"}
        for fw in e.frameworks:
            ref = (e.path / f"{fw}.py").read_text()
            stub = (release / "exercises" / e.id / f"{fw}.py").read_text()
            assert signatures(stub) == signatures(ref), (e.id, fw)
            lines = ref.splitlines()
            body = set()
            for r in solution_regions(ref):
                inside = lines[r.start - 1 : r.end] if r.one_line else lines[r.start : r.end - 1]
                body |= {line.strip() for line in inside if len(line.strip()) > 8}
            assert body, (e.id, fw)
            assert not body & {line.strip() for line in stub.splitlines()}, (e.id, fw)
            assert "raise NotImplementedError" in stub


def _workflow_grade_step(release: Path) -> dict:
    workflow = yaml.safe_load((release / ".github" / "workflows" / "classroom.yml").read_text())
    steps = workflow["jobs"]["grade"]["steps"]
    (grade_step,) = [s for s in steps if s.get("id") == "grade"]
    (reporter,) = [s for s in steps if "autograding-grading-reporter" in s.get("uses", "")]
    runners = reporter["with"]["runners"].split(",")
    assert reporter.get("if") == "always()"
    for rid in runners:
        assert reporter["env"][f"{rid.upper()}_RESULTS"] == f"${{{{ steps.grade.outputs.{rid} }}}}"
    return {"run": grade_step["run"], "runners": runners, "on": workflow["on"]}


def _run_workflow_command(release: Path, tmp_path: Path):
    step = _workflow_grade_step(release)
    output = tmp_path / "github_output"
    output.write_text("")
    env = {**os.environ, "PYTHON": sys.executable, "GITHUB_OUTPUT": str(output),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    proc = subprocess.run(step["run"], shell=True, cwd=release, env=env, capture_output=True, text=True,
                          timeout=600)
    payloads = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert set(payloads) == set(step["runners"])
    decoded = {rid: json.loads(base64.b64decode(v)) for rid, v in payloads.items()}
    for rid, data in decoded.items():
        assert data["version"] == 1 and data["tests"] and data["status"] in ("pass", "fail", "error")
    return proc, decoded


def test_workflow_is_valid_and_names_the_release_grade_command(release):
    step = _workflow_grade_step(release)
    assert step["run"] == "make grade"
    assert "push" in step["on"]
    exercises = load_exercises(ROOT)
    assert step["runners"] == [f"ex{e.id[:2]}_{fw}" for e in exercises for fw in e.frameworks]


def test_release_grades_its_stubs_zero_in_every_runner(release, tmp_path):
    proc, decoded = _run_workflow_command(release, tmp_path)
    assert proc.returncode != 0, proc.stderr[-2000:]  # make reports the grader's 1 as 2
    for rid, data in decoded.items():
        assert data["max_score"] > 0 and sum(t["score"] for t in data["tests"]) == 0, rid
        assert all(t["message"].startswith("not implemented yet: " + rid[2:4]) for t in data["tests"]), rid
        assert all("\x1b" not in t["message"] and "\n" not in t["message"] for t in data["tests"]), rid
    assert "(0 %)" in proc.stdout


def test_release_grades_the_pasted_back_reference_full_marks(release, tmp_path):
    student = tmp_path / "student"
    shutil.copytree(release, student)
    for e in load_exercises(ROOT):
        for fw in e.frameworks:
            (student / "exercises" / e.id / f"{fw}.py").write_text(strip_markers((e.path / f"{fw}.py").read_text()))
    proc, decoded = _run_workflow_command(student, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    for rid, data in decoded.items():
        assert data["status"] == "pass" and sum(t["score"] for t in data["tests"]) == data["max_score"], rid
    assert "(100 %)" in proc.stdout


def test_release_expected_outputs_equal_an_independent_reference_run(release, reference):
    """The shipped public outputs (one reference run) equal another reference run bit for bit."""
    for e in load_exercises(ROOT):
        for fw in e.frameworks:
            for case_id, outputs in reference[(e.id, fw)].items():
                if not case_id.startswith("public"):
                    continue
                for name, array in outputs.items():
                    shipped = np.load(release / "exercises" / e.id / "public" / fw / case_id / f"{name}.npy")
                    np.testing.assert_array_equal(shipped, array)
