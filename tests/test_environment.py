"""environment.yml (for conda readers) must pin exactly what pyproject.toml pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _requirements(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        req = Requirement(line)
        out[canonicalize_name(req.name)] = str(req.specifier)
    return out


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lines = list(data["project"]["dependencies"])
    for group in data.get("dependency-groups", {}).values():
        lines += [g for g in group if isinstance(g, str)]
    return _requirements(lines)


def _environment() -> tuple[dict[str, str], list]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lines = []
    conda = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_lines += [p for p in dep["pip"] if not p.startswith("-e")]
        else:
            conda.append(dep)
    return _requirements(pip_lines), conda


def _no_deps_installs() -> dict[str, str]:
    """Packages environment.yml's header installs with ``pip install --no-deps``."""
    text = (ROOT / "environment.yml").read_text()
    return _requirements(re.findall(r"pip install --no-deps (\S+)", text))


def test_no_deps_installs_are_the_dependency_free_packages():
    """What conda readers install with --no-deps is what pyproject.toml declares
    dependency-free for uv ([[tool.uv.dependency-metadata]] with an empty requires-dist)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {canonicalize_name(m["name"]): f"=={m['version']}"
                for m in data["tool"]["uv"].get("dependency-metadata", [])
                if not m.get("requires-dist")}
    assert _no_deps_installs() == declared


def test_environment_yml_pins_match_pyproject():
    pyproject = _pyproject()
    environment, _ = _environment()
    environment.update(_no_deps_installs())
    missing = sorted(set(pyproject) - set(environment))
    extra = sorted(set(environment) - set(pyproject))
    differ = {n: (pyproject[n], environment[n]) for n in set(pyproject) & set(environment)
              if pyproject[n] != environment[n]}
    assert not missing, f"in pyproject.toml but not environment.yml: {missing}"
    assert not extra, f"in environment.yml but not pyproject.toml: {extra}"
    assert not differ, f"pins differ (pyproject, environment.yml): {differ}"


def _conda_python_spec(dep: str):
    """conda's ``python=3.11`` means 3.11.*; ``python>=3.11,<3.14`` is a range as in PEP 440."""
    from packaging.specifiers import SpecifierSet

    spec = dep[len("python"):].replace(" ", "")
    if spec.startswith("=") and not spec.startswith("=="):
        return SpecifierSet(f"=={spec[1:]}.*"), spec[1:]
    return SpecifierSet(spec), None


def test_environment_yml_python_matches_requires_python():
    from packaging.specifiers import SpecifierSet

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requires = SpecifierSet(data["project"]["requires-python"])
    _, conda = _environment()
    python = [d for d in conda if re.fullmatch(r"python\s*([=<>!~].*)?", d)]
    assert python, "environment.yml does not pin python"
    spec, pinned = _conda_python_spec(python[0])
    if pinned is not None:  # python=X.Y: that minor version must be allowed by requires-python
        assert requires.contains(pinned + ".0"), (python[0], str(requires))
    else:  # a range: the same range as requires-python, so conda and uv accept the same Pythons
        assert spec == requires, (python[0], str(requires))


def test_lock_pins_the_framework_versions():
    """uv.lock must hold the exact framework versions the book's numbers were measured with."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    versions = {canonicalize_name(p["name"]): p["version"] for p in lock["package"]}
    for name, spec in _pyproject().items():
        if spec.startswith("=="):
            assert versions.get(name) == spec[2:], (name, spec, versions.get(name))
