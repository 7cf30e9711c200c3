"""Run one job (submission files x cases, one framework) in an isolated child process.

The parent, not the child, holds the clock: the child writes which step it is on
(``progress``), and the parent kills the child's whole process group when a step runs
past its limit (importing the framework: ``import_timeout_s``; importing the submission
and each case: ``timeout_s``). Outputs are read back as ``.npy`` files with
``allow_pickle=False``; a case without outputs fails with the reason the parent saw
(timeout, the process ending early, or the error text the child wrote).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHILD = Path(__file__).with_name("_child.py")
# The child's environment is built from this allowlist: every other variable of the parent
# (GITHUB_*, ACTIONS_*, tokens, credentials, proxies) stays out of the submission's reach.
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "LD_LIBRARY_PATH", "SYSTEMROOT")
_POLL_S = 0.02


def child_env(workdir: Path, threads: int) -> dict[str, str]:
    """The complete environment of a grading child (nothing else is inherited)."""
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    t = str(threads)
    env.update(
        HOME=str(workdir), TMPDIR=str(workdir / "tmp"), PYTHONHASHSEED="0",
        OMP_NUM_THREADS=t, MKL_NUM_THREADS=t, OPENBLAS_NUM_THREADS=t,
        TF_NUM_INTRAOP_THREADS=t, TF_NUM_INTEROP_THREADS=t,
        CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3", GLOG_minloglevel="2",
        KERAS_BACKEND="tensorflow",
    )
    return env


def child_sys_path() -> list[str]:
    """The child's ``sys.path``: the standard library and the site directories, without ``.pth`` files.

    The child runs with ``-I -S`` and gets this list: the frameworks are importable, an
    editable install of the course package (a ``.pth`` entry pointing at ``src/``) is not.
    """
    stdlib = [p for p in sys.path if p and "site-packages" not in p and "dist-packages" not in p
              and Path(p).is_dir() and not (Path(p) / "vision_attention").is_dir()]
    sites = [p for p in site.getsitepackages() + [site.getusersitepackages()] if Path(p).is_dir()]
    return [p for p in stdlib if p.startswith(sys.base_prefix) or p.startswith(sys.prefix)] + sites


@dataclass
class Task:
    """One submission file and its cases, inside a job."""

    key: str  # unique in the job, e.g. "01_se_block"
    submission: Path
    cases_module: Path
    display_name: str  # the student's file name, for messages
    cases: list  # [(case_id, init dict, {name: array})]


@dataclass
class JobResult:
    outputs: dict = field(default_factory=dict)  # (key, case_id) -> {name: array}
    failures: dict = field(default_factory=dict)  # (key, case_id) -> message
    wall_s: float = 0.0


def _read(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:limit].strip()
    except OSError:
        return ""


def run_job(framework: str, tasks: list[Task], *, timeout_s: float, import_timeout_s: float,
            threads: int = 1) -> JobResult:
    """Run ``tasks`` for ``framework`` in one child; never raises because of the submission."""
    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"grade-{framework}-"))
    result = JobResult()
    try:
        (work / "tmp").mkdir()
        # harness.py (helpers of the exercises' cases.py) is the one module on the work dir's path
        shutil.copyfile(Path(__file__).with_name("harness.py"), work / "harness.py")
        job = {"framework": framework, "threads": threads, "sys_path": [str(work)] + child_sys_path(),
               "tasks": []}
        for task in tasks:
            sub = work / "sub" / f"{task.key}.py"
            cases_py = work / "cases" / f"{task.key}.py"
            sub.parent.mkdir(exist_ok=True)
            cases_py.parent.mkdir(exist_ok=True)
            shutil.copyfile(task.submission, sub)
            shutil.copyfile(task.cases_module, cases_py)
            entry = {"key": task.key, "submission": str(sub), "cases_module": str(cases_py),
                     "display_name": task.display_name, "cases": []}
            for cid, init, arrays in task.cases:
                folder = work / "in" / task.key / cid
                folder.mkdir(parents=True)
                for name, array in arrays.items():
                    np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
                entry["cases"].append({"id": cid, "init": init, "inputs": sorted(arrays)})
            job["tasks"].append(entry)
        (work / "job.json").write_text(json.dumps(job), encoding="utf-8")
        with open(work / "child.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", str(CHILD), "job.json"],
                cwd=work, env=child_env(work, threads), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
            killed_at, step, step_start = None, None, time.monotonic()
            try:
                while proc.poll() is None:
                    now = _read(work / "progress", 200) or "starting"
                    if now != step:
                        step, step_start = now, time.monotonic()
                    limit = import_timeout_s if step in ("starting", "import-framework") else timeout_s
                    if time.monotonic() - step_start > limit:
                        killed_at = (step, limit)
                        break
                    time.sleep(_POLL_S)
            finally:
                try:  # the whole group: also whatever the submission started
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait()
        last = _read(work / "progress", 200) or "starting"
        ended = f"the process ended (exit code {proc.returncode})" if killed_at is None else None
        log_tail = _read(work / "child.log", 100_000).splitlines()[-3:]
        for task in tasks:
            import_err = _read(work / "err" / task.key / "_import.txt", 1500)
            for cid, _init, _arrays in task.cases:
                key = (task.key, cid)
                folder = work / "out" / task.key / cid
                err = _read(work / "err" / task.key / f"{cid}.txt", 1500)
                step_here = f"case:{task.key}/{cid}"
                if err or import_err:
                    result.failures[key] = err or import_err
                elif folder.is_dir() and (outputs := _load_outputs(folder)) is not None:
                    if isinstance(outputs, str):
                        result.failures[key] = outputs
                    else:
                        result.outputs[key] = outputs
                elif killed_at is not None and killed_at[0] == step_here:
                    result.failures[key] = f"timed out: still running after {killed_at[1]:g} s (an endless loop?)"
                elif killed_at is not None and killed_at[0] == f"import:{task.key}":
                    result.failures[key] = f"timed out while importing your file (limit {killed_at[1]:g} s)"
                elif killed_at is not None:
                    result.failures[key] = f"not run: the grader stopped the process at step {killed_at[0]!r} after {killed_at[1]:g} s"
                elif last == f"import:{task.key}":
                    result.failures[key] = (f"no result: {ended} while your file was being imported "
                                            "(os._exit or a crash at import time?)")
                elif last == step_here:
                    result.failures[key] = f"no result: {ended} during this case (a crash, or os._exit?)"
                elif last in ("starting", "import-framework"):
                    tail = " | ".join(log_tail)[-400:]
                    result.failures[key] = f"no result: {ended} before your file was imported ({tail})"
                else:
                    result.failures[key] = f"no result: {ended} before this case ran"
    finally:
        shutil.rmtree(work, ignore_errors=True)
        result.wall_s = time.monotonic() - start
    return result


def _load_outputs(folder: Path):
    outputs = {}
    for path in sorted(folder.glob("*.npy")):
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            return f"output {path.stem!r} could not be read back as a numeric array ({exc})"
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
            return f"output {path.stem!r} is not a numeric array"
        outputs[path.stem] = array
    return outputs if outputs else None
