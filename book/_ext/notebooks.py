"""Chapters as Jupyter notebooks: one with every cell, and one per framework.

The book's ``{framework-source}`` directives become MyST tab sets of the code, which
JupyterLab renders with ``jupyterlab-myst``. A chapter's framework cells are tagged ``framework-torch``, ``framework-paddle`` and
``framework-tensorflow`` (see ``book/AUTHORING.md``). The per-framework notebook keeps every
untagged cell and the tagged cells of its own framework only, so a PaddlePaddle reader runs
the chapter without the other frameworks' versions of each step.

Used by the book's Sphinx extension (the download menu of every page offers the executed
notebooks) and by ``make notebooks``::

    python book/_ext/notebooks.py book/*.md --out _build/notebooks

which converts the MyST sources with Jupytext (no execution: the reader runs them).
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import textwrap
from pathlib import Path

import nbformat

FRAMEWORKS = {"torch": "PyTorch", "paddle": "PaddlePaddle", "tensorflow": "TensorFlow"}
TAG_PREFIX = "framework-"
METHOD_ALIASES = {"tensorflow": {"forward": "call"}}
"""Method names that differ by framework: Keras calls the forward pass ``call``."""
REPO = Path(__file__).resolve().parents[2]

# ```{framework-source} se.SEBlock  (options such as :docstrings: on the next lines) ```
_SOURCE_DIRECTIVE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{framework-source\}[ \t]+(?P<args>[^\n]+)\n"
    r"(?P<options>(?:[ \t]*:[\w-]+:[^\n]*\n)*)(?P=fence)[ \t]*$",
    re.MULTILINE,
)


def _strip_docstrings(source: str, first_line: int, tree: ast.AST) -> str:
    """``source`` (the lines of ``tree``, starting at file line ``first_line``) without the
    docstrings of ``tree`` and of every class and function inside it."""
    lines = source.splitlines()
    drop = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            head = node.body[0]
            if isinstance(head, ast.Expr) and isinstance(getattr(head, "value", None), ast.Constant) \
                    and isinstance(head.value.value, str):
                drop.update(range(head.lineno, head.end_lineno + 1))
    kept = [line for number, line in enumerate(lines, start=first_line) if number not in drop]
    return textwrap.dedent("\n".join(kept)).strip("\n")


def object_source(path: Path, qualname: str, keep_docstrings: bool = False) -> str:
    """The source of class/function ``qualname`` (``"SEBlock"`` or ``"SEBlock.forward"``)
    in file ``path``, decorators included, docstrings removed unless ``keep_docstrings``.

    Raises:
        LookupError: ``qualname`` is not defined in ``path``.
    """
    text = Path(path).read_text(encoding="utf-8")
    scope: ast.AST = ast.parse(text)
    for part in qualname.split("."):
        found = [n for n in getattr(scope, "body", [])
                 if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name == part]
        if not found:
            raise LookupError(f"{qualname!r} is not defined in {path}")
        scope = found[0]
    start = min([scope.lineno] + [d.lineno for d in scope.decorator_list])
    source = "\n".join(text.splitlines()[start - 1: scope.end_lineno])
    if keep_docstrings:
        return textwrap.dedent(source).strip("\n")
    return _strip_docstrings(source, start, scope)


def locate_object(root: Path, framework: str, target: str) -> tuple[Path, str, str]:
    """Where ``target`` (``"se.SEBlock.forward"``, relative to ``vision_attention.<framework>``)
    is defined: ``(file, qualified name in the file, importable name of the top object)``.

    Raises:
        LookupError: no file under ``src/vision_attention/<framework>/`` matches.
    """
    package = Path(root) / "src" / "vision_attention" / framework
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        path = package.joinpath(*parts[:cut]).with_suffix(".py")
        if path.is_file():
            names = [METHOD_ALIASES.get(framework, {}).get(p, p) if i else p
                     for i, p in enumerate(parts[cut:])]
            module = ".".join(["vision_attention", framework, *parts[:cut]])
            return path, ".".join(names), f"{module}.{names[0]}"
    raise LookupError(
        f"argument {target!r} expected module.Object with the module a file under {package}; "
        f"no such file"
    )


def expand_source_directives(markdown: str, root: Path = REPO) -> str:
    """Replace each ``{framework-source}`` directive (a directive of the book's Sphinx
    extension, unknown to JupyterLab) by a MyST tab set holding the code, so a notebook
    shows the same source as the book."""
    def tabs(match: re.Match) -> str:
        keep = ":docstrings:" in match["options"]
        items = []
        for framework, label in FRAMEWORKS.items():
            blocks = []
            for target in match["args"].split():
                path, qualname, _ = locate_object(root, framework, target)
                code = object_source(path, qualname, keep)
                blocks.append(f"```python\n{code}\n```")
            items.append(f":::{{tab-item}} {label}\n" + "\n\n".join(blocks) + "\n:::")
        return "::::{tab-set}\n" + "\n".join(items) + "\n::::"

    return _SOURCE_DIRECTIVE.sub(tabs, markdown)


def cell_framework(cell) -> str | None:
    """The framework a cell is tagged for, or None for a cell every framework runs."""
    tags = cell.get("metadata", {}).get("tags", [])
    found = [fw for fw in FRAMEWORKS if TAG_PREFIX + fw in tags]
    return found[0] if found else None


def frameworks_in(notebook) -> list[str]:
    """The frameworks that have tagged cells in ``notebook``, in book order."""
    present = {cell_framework(cell) for cell in notebook.cells}
    return [fw for fw in FRAMEWORKS if fw in present]


def for_framework(notebook, framework: str):
    """A copy of ``notebook`` without the cells tagged for the other frameworks.

    Raises:
        ValueError: ``framework`` is not one of ``FRAMEWORKS``.
    """
    if framework not in FRAMEWORKS:
        raise ValueError(
            f"for_framework: argument 'framework' expected one of {tuple(FRAMEWORKS)}, "
            f"got {framework!r}"
        )
    result = copy.deepcopy(notebook)
    result.cells = [c for c in result.cells if cell_framework(c) in (None, framework)]
    result.metadata.setdefault("vision_attention", {})["framework"] = framework
    return result


def write_notebooks(source, out_dir, stem: str | None = None) -> dict[str | None, Path]:
    """Write ``<stem>.ipynb`` and, when ``source`` has framework cells, ``<stem>.<fw>.ipynb``.

    Args:
        source: a notebook file (``.ipynb``) or a MyST text notebook (``.md``, read with
            Jupytext), or an in-memory :class:`nbformat.NotebookNode`.
        out_dir: folder to write into (created).
        stem: file name stem; defaults to the source's.

    Returns:
        ``{None: all-frameworks path, framework: path, ...}``.
    """
    if isinstance(source, (str, Path)):
        source = Path(source)
        stem = stem or source.stem
        if source.suffix == ".md":
            import jupytext

            notebook = jupytext.read(source)
        else:
            notebook = nbformat.read(source, as_version=4)
    else:
        notebook = source
        if stem is None:
            raise ValueError("write_notebooks: argument 'stem' is required for an in-memory notebook")
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and "{framework-source}" in cell.source:
            cell.source = expand_source_directives(cell.source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {None: out_dir / f"{stem}.ipynb"}
    nbformat.write(notebook, written[None])
    for framework in frameworks_in(notebook):
        written[framework] = out_dir / f"{stem}.{framework}.ipynb"
        nbformat.write(for_framework(notebook, framework), written[framework])
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="+", type=Path, help="MyST chapters (book/*.md)")
    parser.add_argument("--out", type=Path, default=Path("_build/notebooks"))
    args = parser.parse_args(argv)
    for chapter in args.chapters:
        written = write_notebooks(chapter, args.out)
        print(f"{chapter}: " + ", ".join(str(p) for p in written.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
