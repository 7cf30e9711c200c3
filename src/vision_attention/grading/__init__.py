"""Graded exercises: the grader and the student release.

Instructor sources live in ``exercises/<NN>_<name>/`` (``manifest.toml``, ``cases.py``,
``README.md`` and one file per framework with ``### BEGIN SOLUTION`` / ``### END SOLUTION``
markers). ``make grade`` grades them (every runner must score 100 %); ``make release``
writes the student template repository to ``_build/student/``, whose own ``make grade``
grades a student's files against the public cases.

How a grading runs (:func:`grade`):

1. The parent builds every case's inputs and weights with numpy from seeds (public seeds
   in the manifest, hidden ones drawn at grading time).
2. The reference solutions run in their own child process per framework; each submission
   file runs in its own child (one per exercise x framework), started with ``python -I -S``
   in a temporary directory, in a new process group, with an allowlisted environment (no
   ``GITHUB_*``, ``ACTIONS_*`` or tokens) and an import blocker (the course package, the
   other frameworks, libraries no exercise needs).
3. The parent times each step, kills the group on timeout, reads the outputs back as
   ``.npy`` (``allow_pickle=False``) and compares them itself. Exit codes, stdout and
   objects from the child are never trusted.

Only relative imports are used here, so the release can ship this package as ``grader``.
"""

from .grader import GradeReport, RunnerResult, CaseResult, compute_reference, forbidden_import, grade
from .manifest import Exercise, ManifestError, load_exercise, load_exercises
from .markers import MarkerError, make_stub, signatures, solution_regions, strip_markers

__all__ = [
    "CaseResult", "Exercise", "GradeReport", "ManifestError", "MarkerError", "RunnerResult",
    "compute_reference", "forbidden_import", "grade", "load_exercise", "load_exercises",
    "make_stub", "signatures", "solution_regions", "strip_markers", "build_release",
]


def build_release(*args, **kwargs):
    """See :func:`vision_attention.grading.release.build_release`."""
    from .release import build_release as _build

    return _build(*args, **kwargs)
