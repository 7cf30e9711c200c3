"""Chapters as Jupyter notebooks: one with every cell, and one per framework.

A chapter's framework cells are tagged ``framework-torch``, ``framework-paddle`` and
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
import copy
import sys
from pathlib import Path

import nbformat

FRAMEWORKS = {"torch": "PyTorch", "paddle": "PaddlePaddle", "tensorflow": "TensorFlow"}
TAG_PREFIX = "framework-"


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
