"""The book's own Sphinx extension and notebook writer (book/_ext/)."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import course_book  # noqa: E402
import notebooks  # noqa: E402


def _notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("shared = 1"),
        *[nbformat.v4.new_code_cell(f"x = '{fw}'", metadata={"tags": [f"framework-{fw}"]})
          for fw in ("torch", "paddle", "tensorflow")],
        nbformat.v4.new_code_cell("print(shared)", metadata={"tags": ["hide-input"]}),
    ]
    return nb


def test_per_framework_notebook_keeps_shared_cells_and_its_own_tab_only():
    nb = _notebook()
    paddle = notebooks.for_framework(nb, "paddle")
    sources = [c.source for c in paddle.cells]
    assert sources == ["# Title", "shared = 1", "x = 'paddle'", "print(shared)"]
    assert paddle.metadata["vision_attention"]["framework"] == "paddle"
    assert len(nb.cells) == 6  # the original is not modified


def test_for_framework_rejects_unknown_names():
    with pytest.raises(ValueError, match="argument 'framework' expected one of .*got 'jax'"):
        notebooks.for_framework(_notebook(), "jax")


def test_write_notebooks_writes_one_per_framework_present(tmp_path):
    written = notebooks.write_notebooks(_notebook(), tmp_path, stem="ch")
    assert sorted(p.name for p in written.values()) == [
        "ch.ipynb", "ch.paddle.ipynb", "ch.tensorflow.ipynb", "ch.torch.ipynb"]
    torch_nb = nbformat.read(written["torch"], as_version=4)
    assert [c.source for c in torch_nb.cells if c.cell_type == "code"] == [
        "shared = 1", "x = 'torch'", "print(shared)"]
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    assert list(notebooks.write_notebooks(plain, tmp_path, stem="plain")) == [None]


def test_object_source_strips_docstrings_of_class_and_methods(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text(textwrap.dedent('''
        import math


        @decorator
        class Block(Base):
            """Long docstring.

            With several lines.
            """

            def forward(self, x):
                """Forward docstring."""
                return x  # kept comment

            def other(self):
                return "not a docstring"
    '''))
    source = course_book.object_source(path, "Block")
    assert source.splitlines()[0] == "@decorator"
    assert "docstring" not in source.replace('"not a docstring"', "")
    assert "return x  # kept comment" in source
    method = course_book.object_source(path, "Block.forward")
    assert method == "def forward(self, x):\n    return x  # kept comment"
    kept = course_book.object_source(path, "Block.forward", keep_docstrings=True)
    assert '"""Forward docstring."""' in kept
    with pytest.raises(LookupError, match="'Block.missing' is not defined"):
        course_book.object_source(path, "Block.missing")


def test_every_framework_defines_what_the_chapters_show():
    """The classes the source tabs show exist in every framework (forward is call in TF)."""
    for framework in course_book.FRAMEWORKS:
        package = ROOT / "src" / "vision_attention" / framework
        for module, qualname in [("se", "SEBlock.forward"), ("cbam", "CBAM"), ("bam", "BAM")]:
            name = ".".join(course_book.METHOD_ALIASES.get(framework, {}).get(p, p)
                            for p in qualname.split("."))
            assert course_book.object_source(package / f"{module}.py", name)


def test_source_directives_become_tab_sets_in_notebooks():
    markdown = "Text.\n\n```{framework-source} se.SEBlock.forward\n```\n\nMore."
    expanded = notebooks.expand_source_directives(markdown)
    assert "{framework-source}" not in expanded
    assert expanded.count(":::{tab-item}") == 3
    assert "def call(self" in expanded and expanded.count("def forward(self") == 2
    assert expanded.startswith("Text.\n\n::::{tab-set}") and expanded.endswith("::::\n\nMore.")
    with pytest.raises(LookupError, match="'nope.X' expected module.Object"):
        notebooks.expand_source_directives("```{framework-source} nope.X\n```")


def test_parallel_pre_execution_fills_the_cache_myst_nb_reads(tmp_path, capsys):
    """book/_ext/execute.py caches a chapter under the hash myst-nb looks up."""
    import execute
    from jupyter_cache import get_cache
    from myst_nb.core.read import myst_nb_reader_plugin

    chapter = tmp_path / "chapter.md"
    chapter.write_text(textwrap.dedent("""\
        ---
        kernelspec:
          display_name: Python 3
          language: python
          name: python3
        ---
        # A chapter

        ```{code-cell} ipython3
        :tags: [framework-torch]
        print(6 * 7)
        ```
    """))
    cache_dir = tmp_path / "cache"
    assert execute.main([str(chapter), "--cache", str(cache_dir), "--jobs", "1"]) == 0
    assert "chapter.md in" in capsys.readouterr().out
    record = get_cache(str(cache_dir)).match_cache_notebook(myst_nb_reader_plugin(str(chapter)))
    assert record.data["execution_seconds"] > 0
    _, merged = get_cache(str(cache_dir)).merge_match_into_notebook(
        myst_nb_reader_plugin(str(chapter)))
    assert merged.cells[-1].outputs[0]["text"] == "42\n"
    assert execute.main([str(chapter), "--cache", str(cache_dir)]) == 0
    assert "all 1 chapters are in the cache" in capsys.readouterr().out


def test_a_chapter_marked_alone_runs_by_itself_before_the_others(tmp_path, capsys):
    """``% execute: alone`` (a chapter with worker processes of its own) runs first, by itself."""
    import execute

    header = "---\nkernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n"
    cell = "```{code-cell} ipython3\nimport time; start = time.time(); print(start)\n```\n"
    (tmp_path / "big.md").write_text(header + "# Big\n\n" + "Padding so this one is larger.\n" * 50 + cell)
    (tmp_path / "small.md").write_text(header + execute.ALONE_MARKER + "\n# Small\n\n" + cell)
    (tmp_path / "other.md").write_text(header + "# Other\n\n" + cell)
    paths = [str(tmp_path / name) for name in ("big.md", "small.md", "other.md")]
    assert execute.main([*paths, "--cache", str(tmp_path / "cache"), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "(1 alone first: '% execute: alone')" in out
    finished = [line.split("execute: ")[1].split(" in ")[0] for line in out.splitlines()
                if line.startswith("execute: ") and " in " in line and ".md" in line]
    assert [os.path.basename(name) for name in finished][0] == "small.md"  # despite being the smallest
    assert sorted(os.path.basename(name) for name in finished) == ["big.md", "other.md", "small.md"]
