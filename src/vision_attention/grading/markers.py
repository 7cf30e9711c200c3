"""Solution markers in instructor files, and the stubs made from them.

Two forms (the same as nbgrader's and otter-grader's):

* a region: the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (each marker
  alone on its line, any indentation);
* one line ending in ``# SOLUTION``.

In a stub each region, and each marked line, becomes one line at the marker's indentation::

    raise NotImplementedError("<exercise>: write the body of <function> (see its docstring)")

so a stub imports, keeps every signature and docstring, and fails every case (the grader
gives it 0). Regions do not nest; a marker-like line in any other spelling is an error, as
is an unclosed region or an ``END`` without ``BEGIN``: :class:`MarkerError` names the file
and line.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
ONE_LINE = "# SOLUTION"
_LOOKS_LIKE = re.compile(r"(BEGIN|END)\s+SOLUTION|#\s*SOLUTION", re.IGNORECASE)


class MarkerError(ValueError):
    """Unbalanced, nested, empty or misspelt solution markers; the message names file and line."""


@dataclass(frozen=True)
class Region:
    """Lines ``start``..``end`` (1-based, inclusive, markers included) of one solution."""

    start: int
    end: int
    one_line: bool
    indent: str


def solution_regions(text: str, filename: str = "<text>") -> list[Region]:
    """The solution regions of ``text``, in order.

    Raises:
        MarkerError: a marker inside a region (nesting), an ``END`` without ``BEGIN``, a
            region still open at the end of the file, a region with no code, or a line
            that looks like a marker but is not spelt exactly as one.
    """
    regions, open_at, indent = [], None, ""
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if open_at is not None:
                raise MarkerError(f"{filename}:{n}: {BEGIN!r} inside the region opened at line {open_at} (regions do not nest)")
            open_at, indent = n, line[: len(line) - len(line.lstrip())]
        elif stripped == END:
            if open_at is None:
                raise MarkerError(f"{filename}:{n}: {END!r} without a {BEGIN!r} before it")
            if not any(l.strip() and not l.strip().startswith("#") for l in lines[open_at : n - 1]):
                raise MarkerError(f"{filename}:{open_at}: the solution region ending at line {n} holds no code")
            regions.append(Region(open_at, n, False, indent))
            open_at = None
        elif line.rstrip().endswith(ONE_LINE) and stripped != ONE_LINE and not stripped.startswith("#"):
            if open_at is not None:
                raise MarkerError(f"{filename}:{n}: a {ONE_LINE!r} line inside the region opened at line {open_at}")
            regions.append(Region(n, n, True, line[: len(line) - len(line.lstrip())]))
        elif _LOOKS_LIKE.search(line):
            raise MarkerError(
                f"{filename}:{n}: {stripped!r} looks like a solution marker but is not one; write "
                f"{BEGIN!r} / {END!r} alone on a line, or end a code line with {ONE_LINE!r}"
            )
    if open_at is not None:
        raise MarkerError(f"{filename}:{open_at}: {BEGIN!r} is never closed by {END!r}")
    return regions


def _enclosing(tree: ast.AST, line: int) -> str:
    """Qualified name of the innermost function or class holding ``line`` ("" at module level)."""
    best, best_span = "", None

    def visit(node, prefix):
        nonlocal best, best_span
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if child.lineno <= line <= child.end_lineno:
                    span = child.end_lineno - child.lineno
                    if best_span is None or span <= best_span:
                        best, best_span = name, span
                visit(child, name + ".")

    visit(tree, "")
    return best


def make_stub(text: str, filename: str, exercise: str) -> str:
    """``text`` with every solution replaced by ``raise NotImplementedError(...)``.

    Raises:
        MarkerError: bad markers (see :func:`solution_regions`), a file without any
            solution, or a source that is not valid Python before or after stubbing.
    """
    regions = solution_regions(text, filename)
    if not regions:
        raise MarkerError(f"{filename}: no solution markers, so the stub would be the solution")
    try:
        tree = ast.parse(text, filename)
    except SyntaxError as exc:
        raise MarkerError(f"{filename}:{exc.lineno}: the instructor file is not valid Python: {exc.msg}") from None
    lines = text.splitlines()
    out, n = [], 1
    for region in regions:
        out += lines[n - 1 : region.start - 1]
        where = _enclosing(tree, region.start)
        task = f"write the body of {where} (see its docstring)" if where else "write this part"
        out.append(f'{region.indent}raise NotImplementedError("{exercise}: {task}")')
        n = region.end + 1
    out += lines[n - 1 :]
    stub = "\n".join(out) + "\n"
    try:
        ast.parse(stub, filename)
    except SyntaxError as exc:
        raise MarkerError(f"{filename}: the stub is not valid Python at line {exc.lineno} ({exc.msg}); "
                          "put markers around whole statements") from None
    return stub


def strip_markers(text: str, filename: str = "<text>") -> str:
    """``text`` with the marker lines removed and ``# SOLUTION`` comments cut: the solution as a student would write it."""
    regions = solution_regions(text, filename)
    drop = {r.start for r in regions if not r.one_line} | {r.end for r in regions if not r.one_line}
    keep = {r.start for r in regions if r.one_line}
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if n in drop:
            continue
        out.append(line.rstrip()[: -len(ONE_LINE)].rstrip() if n in keep else line)
    return "\n".join(out) + "\n"


def signatures(text: str, filename: str = "<text>") -> dict[str, str]:
    """Signatures of the module's functions, classes and methods (``qualname -> arguments/bases``)."""
    tree = ast.parse(text, filename)
    found = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                ret = f" -> {ast.unparse(child.returns)}" if child.returns else ""
                found[prefix + child.name] = f"({ast.unparse(child.args)}){ret}"
                # functions nested in a function belong to its body (a solution may define them)
            elif isinstance(child, ast.ClassDef):
                found[prefix + child.name] = "class(" + ", ".join(ast.unparse(b) for b in child.bases) + ")"
                visit(child, prefix + child.name + ".")

    visit(tree, "")
    return found
