"""The grading child: runs submitted exercise code on prepared inputs, in its own process.

The parent (:mod:`.runner`) starts this script as ``python -I -S _child.py job.json`` in a
fresh temporary directory, with a scrubbed environment and in its own process group. It
imports nothing from ``vision_attention`` (so it can be copied into the student release
as is) and trusts nothing it runs: everything it reports is written as files that the
parent reads as *data*, never as a verdict:

* ``progress``                  the current step (the parent times each step with its own clock);
* ``out/<task>/<case>/<k>.npy``  the case's outputs, saved with ``allow_pickle=False``;
* ``err/<task>/<case>.txt``      a short, student-readable error message.

The job file (written by the parent) names the framework, ``sys.path``, the thread count,
and for each task the submission file, the exercise's ``cases.py`` and the case list.
"""

import importlib.abc
import importlib.util
import json
import os
import re
import sys
import traceback

# Top-level modules that an exercise file may not import, and why (the message a student sees).
COURSE_PACKAGE = "vision_attention"
FRAMEWORK_MODULES = {
    "torch": ("torch", "torchvision"),
    "paddle": ("paddle",),
    "tensorflow": ("tensorflow", "keras"),
}
# Libraries TensorFlow and Keras import only when they are present (Keras's scikit-learn
# wrapper, pandas/matplotlib helpers): blocking them halves TensorFlow's import time
# (about 20 s -> 10 s here), and no exercise needs them.
OPTIONAL_LIBRARIES = ("scipy", "sklearn", "pandas", "matplotlib")


class _ImportBlocker(importlib.abc.MetaPathFinder):
    def __init__(self, framework):
        self.framework = framework
        self.reasons = {COURSE_PACKAGE: "write the exercise yourself instead of importing the "
                        "course package's implementation"}
        for other, names in FRAMEWORK_MODULES.items():
            if other != framework:
                for name in names:
                    self.reasons[name] = f"a {framework} exercise runs with {framework} only"
        for name in OPTIONAL_LIBRARIES:
            self.reasons[name] = "exercises use numpy and their framework only"

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in self.reasons:
            raise ModuleNotFoundError(
                f"import of {fullname!r} is not allowed while grading: {self.reasons[top]}",
                name=fullname,
            )
        return None


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _write(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _progress(step):
    _write("progress", step)


def _describe(exc, files):
    """One or two lines for a student: the exception and where in *their* file it happened."""
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) in files:
            where = f" ({os.path.basename(files[os.path.abspath(frame.filename)])}, line {frame.lineno}, in {frame.name})"
    # Keras colours the message and wraps it: "Exception encountered when calling X.call().",
    # the original message, then "Arguments received by ...": keep the original only.
    message = _ANSI.sub("", str(exc)).split("Arguments received by")[0]
    message = re.sub(r"^\s*Exception encountered when calling [^\n]*\n", "", message).strip()
    if isinstance(exc, SystemExit):
        return f"your code called sys.exit({exc.code!r}){where}: remove it"
    if isinstance(exc, NotImplementedError):
        return f"not implemented yet: {message.splitlines()[0] if message else ''}{where}"
    text = " ".join(f"{type(exc).__name__}: {message}".split())
    if len(text) > 600:
        text = text[:600] + " ..."
    return text + where


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _set_threads(framework, threads):
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)
    elif framework == "paddle":
        import paddle

        paddle.set_device("cpu")
    elif framework == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def main(job_path):
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    sys.path[:] = job["sys_path"]
    framework = job["framework"]
    sys.meta_path.insert(0, _ImportBlocker(framework))
    import numpy as np

    _progress("import-framework")
    importlib.import_module(framework)
    _set_threads(framework, job["threads"])

    for task in job["tasks"]:
        key = task["key"]
        files = {os.path.abspath(task["submission"]): task["display_name"]}
        _progress(f"import:{key}")
        try:
            cases = _load(f"_cases_{key}", task["cases_module"])
            submission = _load(f"_submission_{key}", task["submission"])
        except BaseException as exc:  # noqa: BLE001 - the student's import may raise anything
            _write(f"err/{key}/_import.txt", "while importing your file: " + _describe(exc, files))
            continue
        for case in task["cases"]:
            cid = case["id"]
            _progress(f"case:{key}/{cid}")
            try:
                arrays = {
                    name: np.load(f"in/{key}/{cid}/{name}.npy", allow_pickle=False)
                    for name in case["inputs"]
                }
                result = cases.run(framework, submission, dict(case["init"]), arrays)
                if not isinstance(result, dict):
                    raise TypeError(f"the exercise harness expected a dict of outputs, got {type(result).__name__}")
                for name, value in result.items():
                    array = np.asarray(value)
                    if array.dtype.kind not in "biuf":
                        raise TypeError(
                            f"output {name!r} is not a numeric array (got {type(value).__name__} "
                            f"with dtype {array.dtype}): return a {framework} tensor"
                        )
                    os.makedirs(f"out/{key}/{cid}", exist_ok=True)
                    np.save(f"out/{key}/{cid}/{name}.npy", array, allow_pickle=False)
            except BaseException as exc:  # noqa: BLE001
                _write(f"err/{key}/{cid}.txt", _describe(exc, files))
    _progress("done")


if __name__ == "__main__":
    main(sys.argv[1])
