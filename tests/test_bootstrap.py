"""The uv bootstrap (``tools/uv.sh``, which every Makefile target calls) as a new user meets it.

Each test copies the Makefile and ``tools/uv.sh`` into a temporary project and runs them as
``env -i PATH=... HOME=<empty dir>`` would: PATH holds a ``python3`` shim (and, per test, a fake
``uv`` or ``pipx``) and links to a few system tools, not all of /usr/bin, so that a uv or pipx
installed on the test machine cannot hide what a fresh machine does.

The ``python3`` shim is externally managed as PEP 668 defines it: an interpreter (not a
virtual environment) with an ``EXTERNALLY-MANAGED`` file in its stdlib directory, as on
Debian and Ubuntu, so its ``pip install`` fails with "externally-managed-environment"
(checked). It is the test interpreter's base Python run with ``PYTHONHOME`` set to a
temporary prefix whose stdlib links to the real one plus that file.

NEEDS NETWORK: ``test_make_setup_installs_uv_on_externally_managed_python`` pip-installs uv
from PyPI (about 10 s). The other tests run offline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_TOOLS = ("bash", "sh", "env", "make", "cat", "chmod", "cp", "cut", "dirname", "find",
                "grep", "head", "ln", "ls", "mkdir", "mktemp", "mv", "readlink", "rm", "sed",
                "sort", "tail", "tr", "uname")
NO_VENV_MESSAGE = """\
The virtual environment was not successfully created because ensurepip is not
available.  On Debian/Ubuntu systems, you need to install the python3-venv
package using the following command.

    apt install python3.11-venv

You may need to use sudo with that command.  After installing the python3-venv
package, recreate your virtual environment.

Failing command: /somewhere/.tools/uv-venv/bin/python3
"""


def _write_exe(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """HOME, the system tools, and an externally managed Python prefix, shared by the tests."""
    base = tmp_path_factory.mktemp("bootstrap")
    home = base / "home"
    home.mkdir()

    sysbin = base / "sysbin"
    sysbin.mkdir()
    for tool in SYSTEM_TOOLS:
        found = shutil.which(tool, path="/usr/bin:/bin")
        if found:
            (sysbin / tool).symlink_to(found)

    # The fake prefix: the base interpreter's stdlib (linked entry by entry), an
    # EXTERNALLY-MANAGED marker, and pip (from ensurepip's wheel) but no site-packages: no uv
    # module. pip goes into the stdlib directory itself, which is on sys.path whatever the
    # distribution's site-packages layout (Debian's dist-packages).
    python = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    stdlib = Path(os.__file__).resolve().parent
    wheels = sorted((stdlib / "ensurepip" / "_bundled").glob("pip-*.whl")) or sorted(
        Path("/usr/share/python-wheels").glob("pip-*.whl"))  # Debian keeps them there
    prefix = base / "externally-managed"
    fake_stdlib = prefix / "lib" / stdlib.name
    fake_stdlib.mkdir(parents=True)
    for entry in stdlib.iterdir():
        if entry.name not in ("site-packages", "dist-packages", "EXTERNALLY-MANAGED"):
            (fake_stdlib / entry.name).symlink_to(entry)
    (fake_stdlib / "EXTERNALLY-MANAGED").write_text(
        "[externally-managed]\nError=This Python is managed by the test's package manager.\n")
    if wheels:
        with zipfile.ZipFile(wheels[-1]) as wheel:
            wheel.extractall(fake_stdlib)
    run_python = f'export PYTHONHOME="{prefix}"\nexec "{python}" "$@"\n'

    shims = {}
    for name, body in {
        "pep668": run_python,
        # Debian without python3-venv: `python3 -m venv` fails, everything else works.
        "novenv": 'if [ "$1" = -m ] && [ "$2" = venv ]; then\n'
                  f"  cat >&2 <<'EOF'\n{NO_VENV_MESSAGE}EOF\n  exit 1\nfi\n" + run_python,
    }.items():
        shims[name] = base / f"bin-{name}"
        shims[name].mkdir()
        _write_exe(shims[name] / "python3", "#!/bin/sh\n" + body)
    return {"home": home, "sysbin": sysbin, "shims": shims, "stdlib": fake_stdlib,
            "pip": bool(wheels), "python": python}


def _needs_pip(world):
    if not world["pip"]:
        pytest.skip(f"{world['python']} has no wheel of pip (ensurepip) to make venvs with")


def _project(tmp_path: Path) -> Path:
    proj = tmp_path / "project"
    (proj / "tools").mkdir(parents=True)
    shutil.copy2(ROOT / "Makefile", proj / "Makefile")
    shutil.copy2(ROOT / "tools" / "uv.sh", proj / "tools" / "uv.sh")
    # An empty project: `uv sync` here proves the bootstrap without downloading the frameworks.
    (proj / "pyproject.toml").write_text(
        '[project]\nname = "bootstrap-probe"\nversion = "0"\nrequires-python = ">=3.8"\n'
        'dependencies = []\n\n[tool.uv]\npackage = false\n')
    return proj


def _run(world, proj: Path, shim: str, *args: str, extra_bin: Path | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess:
    path = [str(world["shims"][shim]), str(world["sysbin"])]
    if extra_bin is not None:
        path.insert(0, str(extra_bin))
    env = {"PATH": os.pathsep.join(path), "HOME": str(world["home"])}  # as `env -i` would
    return subprocess.run(list(args), cwd=proj, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _explain(r: subprocess.CompletedProcess) -> str:
    return f"exit status {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def test_the_shim_python_is_externally_managed(world, tmp_path):
    """The premise: the shim's own pip refuses to install (PEP 668), as Debian's does."""
    _needs_pip(world)
    r = _run(world, tmp_path, "pep668", "python3", "-m", "pip", "install", "uv")
    assert r.returncode != 0 and "externally-managed-environment" in r.stderr, _explain(r)
    r = _run(world, tmp_path, "pep668", "python3", "-c",
             "import sys, sysconfig; print(sys.prefix == sys.base_prefix, "
             "sysconfig.get_path('stdlib'))")
    assert r.stdout.split() == ["True", str(world["stdlib"])], _explain(r)


@pytest.mark.network
def test_make_setup_installs_uv_on_externally_managed_python(world, tmp_path):
    """NEEDS NETWORK (PyPI). No uv anywhere, python3 externally managed: the bootstrap puts uv
    in .tools/uv-venv, and in one `make` run `setup` installs it and later recipes use it."""
    if not (world["sysbin"] / "make").exists():
        pytest.skip("make is not installed")
    _needs_pip(world)
    proj = _project(tmp_path)
    uv = proj / ".tools" / "uv-venv" / "bin" / "uv"

    r = _run(world, proj, "pep668", "bash", "tools/uv.sh", "--install-only")
    assert r.returncode == 0, _explain(r)
    assert "Installing uv into .tools/uv-venv" in r.stderr, _explain(r)
    assert r.stdout.strip() == str(uv), _explain(r)
    version = subprocess.run([uv, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("uv "), _explain(version)

    r = _run(world, proj, "pep668", "bash", "tools/uv.sh", "lock")  # reuses it, quietly
    assert r.returncode == 0 and (proj / "uv.lock").is_file(), _explain(r)
    assert "Installing" not in r.stderr, _explain(r)

    # From scratch through make: `setup` installs uv, then a recipe's $(RUN) must find it
    # (a uv looked up when make parsed the Makefile would not exist yet).
    shutil.rmtree(proj / ".tools")
    r = _run(world, proj, "pep668", "make", "--no-print-directory",
             "--eval", "probe: setup\n\t@$(RUN) python -c 'print(6 * 7)'", "probe")
    assert r.returncode == 0, _explain(r)
    assert "Installing uv into .tools/uv-venv" in r.stderr, _explain(r)
    assert r.stdout.strip().splitlines()[-1] == "42", _explain(r)
    assert uv.is_file() and (proj / ".venv" / "pyvenv.cfg").is_file(), _explain(r)


def test_uv_on_path_is_used_and_nothing_installed(world, tmp_path):
    proj = _project(tmp_path)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    _write_exe(bin_ / "uv", '#!/bin/sh\necho "uv-on-path $*"\n')
    r = _run(world, proj, "pep668", "bash", "tools/uv.sh", "sync", "--frozen", extra_bin=bin_)
    assert r.returncode == 0 and r.stdout.strip() == "uv-on-path sync --frozen", _explain(r)
    assert not (proj / ".tools").exists() and r.stderr == "", _explain(r)


def test_pipx_is_the_fallback_when_venv_fails(world, tmp_path):
    proj = _project(tmp_path)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    # A stand-in for pipx: `pipx install uv` puts a uv into $PIPX_BIN_DIR, as pipx does.
    _write_exe(bin_ / "pipx", '#!/bin/sh\n[ "$1 $2" = "install uv" ] || exit 2\n'
               'mkdir -p "$PIPX_BIN_DIR" && printf \'#!/bin/sh\\necho "uv-from-pipx $*"\\n\' '
               '> "$PIPX_BIN_DIR/uv" && chmod +x "$PIPX_BIN_DIR/uv"\n')
    r = _run(world, proj, "novenv", "bash", "tools/uv.sh", "--version", extra_bin=bin_)
    assert r.returncode == 0 and r.stdout.strip() == "uv-from-pipx --version", _explain(r)
    assert "Installing uv with pipx" in r.stderr, _explain(r)
    assert (proj / ".tools" / "bin" / "uv").is_file(), _explain(r)
    assert not (proj / ".tools" / "uv-venv").exists(), "the failed venv was left behind"


def test_clear_message_when_neither_venv_nor_pipx_works(world, tmp_path):
    if not (world["sysbin"] / "make").exists():
        pytest.skip("make is not installed")
    proj = _project(tmp_path)
    r = _run(world, proj, "novenv", "make", "--no-print-directory", "setup")
    assert r.returncode != 0, _explain(r)
    for needed in ("https://docs.astral.sh/uv/", "apt install python3-venv", "pipx install uv",
                   "python3 -m venv .tools/uv-venv failed", "ensurepip is not"):
        assert needed in r.stderr, f"{needed!r} missing from the message\n{_explain(r)}"
    assert not (proj / ".tools" / "uv-venv").exists(), "the failed venv was left behind"
