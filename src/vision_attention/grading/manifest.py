"""Exercise manifests: what is graded, for how many points, with which tolerances.

Each exercise is a folder ``<NN>_<name>/`` holding a manifest, the exercise's ``cases.py``
(inputs and the call into a submission) and one file per framework. Instructors write
``manifest.toml``; the student release carries ``exercise.json``, the same structure
without hidden groups, written by :func:`vision_attention.grading.build_release`.

``manifest.toml``::

    title = "SEBlock forward"             # shown in reports
    chapter = "channel_attention"         # the book page that lists the exercise
    frameworks = ["torch", "paddle", "tensorflow"]
    timeout_s = 20                        # per case, seconds (wall clock, parent's clock)
    atol = 1e-5                           # pass: |got - ref| <= atol + rtol * |ref|
    rtol = 1e-4

    [groups.public]                       # cases fixed here, shipped with the release
    visibility = "public"
    points = 2                            # split equally over the group's cases
    cases = [{seed = 1, batch = 2, channels = 8}, ...]

    [groups.hidden]                       # instructor only: drawn at grading time
    visibility = "hidden"
    points = 3
    count = 3                             # number of cases to draw
    choices = {batch = [1, 2, 3], channels = [16, 32]}   # each parameter drawn from its list

Every case in an exercise is worth the same number of points (GitHub Classroom's reporter
assumes equal weights within a runner), so ``points / number of cases`` must be the same
integer in every group. Any other mistake is a :class:`ManifestError` naming the file and key.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FRAMEWORKS = ("torch", "paddle", "tensorflow")
INSTRUCTOR_MANIFEST = "manifest.toml"
RELEASE_MANIFEST = "exercise.json"
_FOLDER = re.compile(r"^(\d{2})_[a-z0-9_]+$")
_TOP_KEYS = {"title", "chapter", "frameworks", "timeout_s", "import_timeout_s", "atol", "rtol", "groups"}
_GROUP_KEYS = {"visibility", "points", "cases", "count", "choices"}


class ManifestError(ValueError):
    """A manifest (or an exercise folder) that the grader cannot use; the message names the file."""


@dataclass(frozen=True)
class Case:
    """One graded case: its id (``<group>-<n>``), the group, the seed and the parameters."""

    id: str
    group: str
    seed: int
    params: dict

    @property
    def name(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.id} ({shown})" if shown else self.id


@dataclass(frozen=True)
class Group:
    name: str
    visibility: str
    points: int
    cases: tuple = ()
    count: int = 0
    choices: dict = field(default_factory=dict)

    @property
    def n_cases(self) -> int:
        return len(self.cases) if self.visibility == "public" else self.count


@dataclass(frozen=True)
class Exercise:
    """An exercise folder and its validated manifest."""

    id: str
    path: Path
    title: str
    chapter: str
    frameworks: tuple
    timeout_s: float
    import_timeout_s: float
    atol: float
    rtol: float
    groups: tuple
    release: bool  # True for a student-release folder (exercise.json, public groups only)

    @property
    def number(self) -> int:
        return int(self.id[:2])

    @property
    def points_per_case(self) -> int:
        group = self.groups[0]
        return group.points // group.n_cases

    def max_points(self, hidden: bool = True) -> int:
        return sum(g.points for g in self.groups if hidden or g.visibility == "public")

    def cases(self, hidden_seed: int | None) -> list[Case]:
        """Public cases, then (unless ``hidden_seed`` is None) hidden cases drawn from it."""
        out = []
        for gi, group in enumerate(self.groups):
            if group.visibility == "public":
                for i, params in enumerate(group.cases, 1):
                    params = dict(params)
                    seed = params.pop("seed")
                    out.append(Case(f"{group.name}-{i}", group.name, seed, params))
            elif hidden_seed is not None:
                rng = np.random.default_rng([hidden_seed, self.number, gi])
                for i in range(1, group.count + 1):
                    params = {k: v[int(rng.integers(len(v)))] for k, v in group.choices.items()}
                    seed = int(rng.integers(2**31 - 1))
                    out.append(Case(f"{group.name}-{i}", group.name, seed, params))
        return out

    def public_manifest(self) -> dict:
        """The manifest without its hidden groups, as written to the release's exercise.json."""
        groups = {
            g.name: {"visibility": "public", "points": g.points, "cases": [dict(c) for c in g.cases]}
            for g in self.groups
            if g.visibility == "public"
        }
        return {
            "title": self.title, "chapter": self.chapter, "frameworks": list(self.frameworks),
            "timeout_s": self.timeout_s, "import_timeout_s": self.import_timeout_s,
            "atol": self.atol, "rtol": self.rtol, "groups": groups,
        }


def _err(path, message):
    return ManifestError(f"{path}: {message}")


def _number(path, key, value, *, positive=True):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise _err(path, f"{key} must be a number, got {value!r}")
    if positive and value <= 0:
        raise _err(path, f"{key} must be > 0, got {value!r}")
    if not positive and value < 0:
        raise _err(path, f"{key} must be >= 0, got {value!r}")
    return float(value)


def _scalar_params(path, where, params):
    if not isinstance(params, dict):
        raise _err(path, f"{where} must be a table of parameters, got {params!r}")
    for k, v in params.items():
        if not isinstance(v, (int, float, str, bool)):
            raise _err(path, f"{where}.{k} must be a number, string or boolean, got {v!r}")
    return params


def _group(path, name, raw, release):
    if not isinstance(raw, dict):
        raise _err(path, f"groups.{name} must be a table, got {raw!r}")
    unknown = set(raw) - _GROUP_KEYS
    if unknown:
        raise _err(path, f"groups.{name}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_GROUP_KEYS)}")
    visibility = raw.get("visibility")
    if visibility not in ("public", "hidden"):
        raise _err(path, f"groups.{name}.visibility must be 'public' or 'hidden', got {visibility!r}")
    if release and visibility == "hidden":
        raise _err(path, f"groups.{name}: a student release holds no hidden group")
    points = raw.get("points")
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise _err(path, f"groups.{name}.points must be a positive integer, got {points!r}")
    if visibility == "public":
        if "count" in raw or "choices" in raw:
            raise _err(path, f"groups.{name}: a public group lists its cases; 'count'/'choices' are for hidden groups")
        cases = raw.get("cases")
        if not isinstance(cases, list) or not cases:
            raise _err(path, f"groups.{name}.cases must be a non-empty list of parameter tables, got {cases!r}")
        for i, case in enumerate(cases):
            _scalar_params(path, f"groups.{name}.cases[{i}]", case)
            seed = case.get("seed")
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise _err(path, f"groups.{name}.cases[{i}].seed must be a non-negative integer, got {seed!r}")
        return Group(name, visibility, points, cases=tuple(cases))
    if "cases" in raw:
        raise _err(path, f"groups.{name}: a hidden group draws its cases at grading time; use 'count' and 'choices', not 'cases'")
    count = raw.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        raise _err(path, f"groups.{name}.count must be a positive integer, got {count!r}")
    choices = raw.get("choices", {})
    if not isinstance(choices, dict):
        raise _err(path, f"groups.{name}.choices must be a table of lists, got {choices!r}")
    for k, values in choices.items():
        if not isinstance(values, list) or not values:
            raise _err(path, f"groups.{name}.choices.{k} must be a non-empty list, got {values!r}")
        _scalar_params(path, f"groups.{name}.choices.{k}", dict(enumerate(values)))
    return Group(name, visibility, points, count=count, choices=dict(choices))


def load_exercise(folder: str | Path) -> Exercise:
    """Read and validate one exercise folder (instructor ``manifest.toml`` or release ``exercise.json``).

    Raises:
        ManifestError: folder name not ``NN_name``; no manifest or no ``cases.py``; a key
            missing, unknown or of the wrong type; unequal points per case; a framework
            listed without its file.
    """
    folder = Path(folder)
    if not _FOLDER.match(folder.name):
        raise ManifestError(f"{folder}: exercise folders are named NN_name (two digits, lower case), got {folder.name!r}")
    toml_path, json_path = folder / INSTRUCTOR_MANIFEST, folder / RELEASE_MANIFEST
    if toml_path.is_file():
        path, release = toml_path, False
        try:
            raw = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise _err(path, f"not valid TOML: {exc}") from None
    elif json_path.is_file():
        path, release = json_path, True
        try:
            raw = json.loads(json_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise _err(path, f"not valid JSON: {exc}") from None
    else:
        raise ManifestError(f"{folder}: no {INSTRUCTOR_MANIFEST} (instructor) or {RELEASE_MANIFEST} (release)")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise _err(path, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    for key in ("title", "chapter"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _err(path, f"{key} must be a non-empty string, got {raw.get(key)!r}")
    frameworks = raw.get("frameworks")
    if not isinstance(frameworks, list) or not frameworks or any(f not in FRAMEWORKS for f in frameworks):
        raise _err(path, f"frameworks must be a non-empty list drawn from {list(FRAMEWORKS)}, got {frameworks!r}")
    if len(set(frameworks)) != len(frameworks):
        raise _err(path, f"frameworks lists a framework twice: {frameworks!r}")
    frameworks = tuple(f for f in FRAMEWORKS if f in frameworks)
    for fw in frameworks:
        if not (folder / f"{fw}.py").is_file():
            raise _err(path, f"frameworks lists {fw!r} but {folder / (fw + '.py')} does not exist")
    if not (folder / "cases.py").is_file():
        raise ManifestError(f"{folder}: no cases.py (it builds each case's inputs and calls the submission)")
    timeout = _number(path, "timeout_s", raw.get("timeout_s", 20))
    import_timeout = _number(path, "import_timeout_s", raw.get("import_timeout_s", 120))
    atol = _number(path, "atol", raw.get("atol"), positive=False)
    rtol = _number(path, "rtol", raw.get("rtol"), positive=False)
    groups_raw = raw.get("groups")
    if not isinstance(groups_raw, dict) or not groups_raw:
        raise _err(path, "groups must be a table with at least one group")
    groups = tuple(_group(path, name, g, release) for name, g in groups_raw.items())
    if not any(g.visibility == "public" for g in groups):
        raise _err(path, "at least one group must be public (the student release grades it)")
    per_case = {g.name: g.points / g.n_cases for g in groups}
    if any(p != int(p) for p in per_case.values()) or len(set(per_case.values())) != 1:
        raise _err(
            path,
            "every case must be worth the same whole number of points (GitHub Classroom weighs the tests "
            f"of a runner equally); points per case by group: {per_case}",
        )
    return Exercise(
        id=folder.name, path=folder, title=raw["title"], chapter=raw["chapter"], frameworks=frameworks,
        timeout_s=timeout, import_timeout_s=import_timeout, atol=atol, rtol=rtol, groups=groups,
        release=release,
    )


def _matches(folder_name: str, wanted: str) -> bool:
    return wanted == folder_name or wanted == folder_name[:2] or (
        wanted.isdigit() and folder_name[:2].isdigit() and int(wanted) == int(folder_name[:2]))


def load_exercises(root: str | Path, wanted: list[str] | None = None) -> list[Exercise]:
    """Every exercise folder under ``root`` (folders named ``NN_name``), in number order.

    With ``wanted`` (ids or numbers, as ``EX=``), only those folders are read, so one
    exercise can be graded while another is half written.

    Raises:
        ManifestError: ``root`` missing or without exercises, two exercises with one number,
            or any invalid exercise (see :func:`load_exercise`).
    """
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"exercise root {root} is not a directory")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name[:2].isdigit())
    if not folders:
        raise ManifestError(f"{root}: no exercise folders (NN_name)")
    if wanted:
        for w in wanted:
            if not any(_matches(p.name, w) for p in folders):
                raise ManifestError(f"EX={w!r} matches no exercise; choose from {[p.name for p in folders]}")
        folders = [p for p in folders if any(_matches(p.name, w) for w in wanted)]
    exercises = [load_exercise(p) for p in folders]
    numbers = [e.number for e in exercises]
    dupes = sorted({n for n in numbers if numbers.count(n) > 1})
    if dupes:
        raise ManifestError(f"{root}: exercise number(s) {dupes} used by more than one folder")
    return exercises


def select(exercises: list[Exercise], wanted: list[str] | None) -> list[Exercise]:
    """Exercises whose id or number matches an entry of ``wanted`` (``"01"``, ``"1"``, ``"01_se_block"``).

    Raises:
        ManifestError: an entry that matches no exercise (the message lists the ids).
    """
    if not wanted:
        return exercises
    chosen = []
    for w in wanted:
        hits = [e for e in exercises if _matches(e.id, w)]
        if not hits:
            raise ManifestError(f"EX={w!r} matches no exercise; choose from {[e.id for e in exercises]}")
        chosen += [e for e in hits if e not in chosen]
    return chosen
