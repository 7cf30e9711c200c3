"""The browser check of the built book (tests/browser/check_book.py) finds what it claims to.

Each test writes a tiny site into a temporary folder, with one defect per page, and runs the
checker's functions on it in the same headless Chromium the book check uses. Without
/usr/bin/chromium these tests are skipped (a skip is not a pass: CI installs Chromium and sets
BROWSER_TESTS_REQUIRED=1, which turns the skip into a failure).
"""

from __future__ import annotations

import importlib.util
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("check_book", HERE / "browser" / "check_book.py")
cb = importlib.util.module_from_spec(_spec)
sys.modules["check_book"] = cb
_spec.loader.exec_module(cb)

CHROMIUM_MISSING = not Path(cb.CHROMIUM).is_file()
needs_chromium = pytest.mark.skipif(
    CHROMIUM_MISSING and not os.environ.get("BROWSER_TESTS_REQUIRED"),
    reason=f"{cb.CHROMIUM} is missing (Debian: apt-get install chromium); the browser check is untested here",
)

# sphinx-design's tab markup and the parts of its CSS that show one panel per tab-set.
TAB_CSS = """
.sd-tab-set { display: flex; flex-wrap: wrap; position: relative; }
.sd-tab-set > input { opacity: 0; position: absolute; }
.sd-tab-set > label { cursor: pointer; padding: 0 1em; }
.sd-tab-content { display: none; width: 100%; }
.sd-tab-set > input:checked + label + .sd-tab-content { display: block; }
"""
FRAMEWORKS = (("torch", "PyTorch"), ("paddle", "PaddlePaddle"), ("tensorflow", "TensorFlow"))
_tab_counter = [0]


def tabset(contents: dict[str, str] | None = None) -> str:
    n = _tab_counter[0] = _tab_counter[0] + 1
    parts = ['<div class="sd-tab-set docutils">']
    for i, (sync_id, label) in enumerate(FRAMEWORKS):
        item = f"sd-tab-item-{n}-{i}"
        checked = " checked" if i == 0 else ""
        body = (contents or {}).get(sync_id, f"<p>{label} code</p>")
        parts.append(
            f'<input{checked} id="{item}" name="sd-tab-set-{n}" type="radio">'
            f'<label class="sd-tab-label" data-sync-group="framework" data-sync-id="{sync_id}" for="{item}">{label}</label>'
            f'<div class="sd-tab-content docutils">{body}</div>'
        )
    parts.append("</div>")
    return "".join(parts)


def page_html(body: str, head: str = "", next_page: str | None = None) -> str:
    nav = f'<div class="prev-next-area"><a class="right-next" href="{next_page}">next</a></div>' if next_page else ""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title>'
        "<style>body { margin: 0; font: 16px sans-serif; } "
        "article { width: 400px; margin-left: 100px; }" + TAB_CSS + "</style>"
        f"{head}</head><body><main><article class=\"bd-article\">{body}</article>{nav}</main></body></html>"
    )


def png(width: int = 4, height: int = 3) -> bytes:
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def write_site(root: Path, pages: dict[str, str | bytes]) -> Path:
    for name, text in pages.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM_MISSING:
        pytest.fail(f"{cb.CHROMIUM} is missing and BROWSER_TESTS_REQUIRED is set")
    with cb.Browser() as b:
        yield b


def check(browser, root: Path, page: str, screenshots: Path | None = None) -> cb.PageResult:
    with cb.StaticServer(root) as server:
        return cb.check_page(browser, server, page, screenshots)


def checks(result: cb.PageResult, kind: str) -> list[str]:
    return [f.message for f in result.findings if f.check == kind]


# ---------------------------------------------------------------------------------------------
# Without a browser


def test_list_pages_skips_generated_pages_and_asset_folders(tmp_path):
    names = ["index.html", "book/a.html", "book/sub/b.html", "genindex.html", "search.html", "py-modindex.html",
             "_static/x.html", "_sources/book/a.md.html", "_images/y.html", "book/notes.txt"]
    write_site(tmp_path, {n: "<p>x</p>" for n in names})
    assert cb.list_pages(tmp_path) == ["book/a.html", "book/sub/b.html", "index.html"]


def test_screenshot_names_flatten_the_page_path():
    assert cb.screenshot_name("book/preface.html") == "book__preface.png"
    assert cb.screenshot_name("index.html") == "index.png"


def test_meta_refresh_target_and_local_hosts():
    assert cb.meta_refresh_target('<meta http-equiv="Refresh" content="0; url=book/preface.html" />') == "book/preface.html"
    assert cb.meta_refresh_target("<meta charset='utf-8'>") is None
    assert cb.is_local("http://127.0.0.1:8000/x.js") and cb.is_local("http://localhost/x") and cb.is_local("data:,x")
    assert not cb.is_local("https://unpkg.com/thebe@0.8.2/lib/index.js")


def test_book_order_follows_next_links_from_the_redirect_target():
    results = [
        cb.PageResult("book/b.html", next_page="book/c.html"),
        cb.PageResult("book/c.html"),
        cb.PageResult("book/a.html", next_page="book/b.html"),
        cb.PageResult("book/orphan.html"),
        cb.PageResult("index.html", redirect_to="book/a.html"),
    ]
    assert cb.book_order(results) == ["book/a.html", "book/b.html", "book/c.html", "book/orphan.html"]


# ---------------------------------------------------------------------------------------------
# Per-page checks


@needs_chromium
def test_clean_page_passes(browser, tmp_path):
    hidden_wide = "<pre style='white-space: pre; overflow: visible'>" + "wide_" * 200 + "</pre>"
    body = (
        "<h1>Clean</h1><p>" + "Some text that wraps within the column. " * 20 + "</p>"
        '<img src="ok.png" alt="ok" width="40"><img src="lazy.png" loading="lazy" alt="lazy">'
        # a wide table that scrolls inside its wrapper (how the book shows wide tables)
        '<div style="overflow-x: auto"><table><tr>' + "<td>cell_with_long_content</td>" * 30 + "</tr></table></div>"
        # a code block that scrolls
        '<pre style="white-space: pre; overflow-x: auto">' + "code " * 200 + "</pre>"
        # wide content in a tab panel that is not shown
        + tabset({"paddle": hidden_wide})
        # MathJax's pattern: inline math box that clips, with wide screen-reader-only MathML
        + '<p>Math <span class="math" style="display: inline-flex; overflow: hidden; max-width: 100%">'
        '<span style="display: inline-block; position: relative">x'
        '<span style="position: absolute; clip: rect(1px, 1px, 1px, 1px); overflow: hidden; width: auto">'
        + "assistive_" * 40 + "</span></span></span> inline.</p>"
        '<span style="position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0)">'
        + "screen_reader_only_" * 30 + "</span>"
    )
    root = write_site(tmp_path, {"clean.html": page_html(body), "ok.png": png(), "lazy.png": png(2, 2)})
    result = check(browser, root, "clean.html")
    assert result.findings == []
    assert result.framework_tabsets == 1


@needs_chromium
def test_console_error_is_reported(browser, tmp_path):
    root = write_site(tmp_path, {"p.html": page_html("<p>x</p>", head="<script>console.error('boom: it broke')</script>")})
    result = check(browser, root, "p.html")
    assert any("boom: it broke" in m for m in checks(result, "console")), result.findings


@needs_chromium
def test_duplicate_script_declaration_is_an_uncaught_syntax_error(browser, tmp_path):
    script = '<script>const THEBE_JS_URL = "https://unpkg.com/thebe@0.8.2/lib/index.js";</script>'
    root = write_site(tmp_path, {"p.html": page_html("<p>x</p>", head=script + script)})
    result = check(browser, root, "p.html")
    errors = checks(result, "pageerror")
    assert errors and "SyntaxError" in errors[0] and "THEBE_JS_URL" in errors[0], result.findings
    # The URL in the script is only a string: no request was made for it.
    assert checks(result, "external") == []


@needs_chromium
def test_requests_off_the_machine_are_blocked_and_reported(browser, tmp_path):
    body = '<img src="https://example.com/x.png" alt="external">'
    head = (
        '<script src="https://unpkg.com/thebe@0.8.2/lib/index.js"></script>'
        "<script>fetch('https://example.org/data.json').catch(() => {});</script>"
        '<link rel="preconnect" href="https://fonts.googleapis.com">'
    )
    root = write_site(tmp_path, {"p.html": page_html(body, head=head)})
    result = check(browser, root, "p.html")
    external = " ".join(checks(result, "external"))
    for url in ("https://example.com/x.png", "https://unpkg.com/thebe@0.8.2/lib/index.js",
                "https://example.org/data.json", "https://fonts.googleapis.com"):
        assert url in external, result.findings
    # The aborted requests are reported once, not again as console errors.
    assert not any("ERR_BLOCKED_BY_CLIENT" in m for m in checks(result, "console")), result.findings


@needs_chromium
def test_missing_images_are_reported(browser, tmp_path):
    body = (
        '<img src="missing.png" alt="gone"><img src="broken.png" alt="broken">'
        '<object data="missing.svg" type="image/svg+xml"></object><img src="ok.png" alt="ok">'
    )
    root = write_site(tmp_path, {"p.html": page_html(body), "ok.png": png(), "broken.png": b"not a png"})
    result = check(browser, root, "p.html")
    images = " ".join(checks(result, "image"))
    assert "missing.png" in images and "broken.png" in images and "missing.svg" in images, result.findings
    assert "ok.png" not in images


@needs_chromium
def test_mathjax_error_elements_are_reported(browser, tmp_path):
    head = "<script>window.MathJax = { startup: { promise: Promise.resolve() } };</script>"
    body = (
        '<p><mjx-container class="MathJax"><mjx-merror data-mjx-error="Undefined control sequence \\foo">'
        "<mjx-mtext>\\foo</mjx-mtext></mjx-merror></mjx-container></p>"
    )
    root = write_site(tmp_path, {"p.html": page_html(body, head=head)})
    result = check(browser, root, "p.html")
    assert any("Undefined control sequence \\foo" in m for m in checks(result, "mathjax")), result.findings


def _installed_mathjax() -> Path | None:
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution("sphinx-mathjax-offline")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax"))
    return path if (path / "tex-chtml.js").is_file() else None


@needs_chromium
def test_real_mathjax_errors_and_undefined_macros_are_reported(browser, tmp_path):
    mathjax = _installed_mathjax()
    assert mathjax is not None, "sphinx-mathjax-offline (a locked book dependency) should ship MathJax"
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "mathjax").symlink_to(mathjax, target_is_directory=True)
    head = (
        "<script>window.MathJax = { tex: { inlineMath: [['\\\\(', '\\\\)']] } };</script>"
        '<script defer src="_static/mathjax/tex-chtml.js"></script>'
    )
    good = page_html(r"<p>Fine: \(x^2 + \frac{a}{b}\).</p>", head=head)
    bad = page_html(r"<p>Bad: \(\left( x \) and \(\frac{1}{\foo}\).</p>", head=head)
    root = write_site(tmp_path, {"good.html": good, "bad.html": bad})
    assert check(browser, root, "good.html").findings == []
    result = check(browser, root, "bad.html")
    errors = " ".join(checks(result, "mathjax"))
    assert "\\right" in errors, result.findings  # "Missing \right": an mjx-merror
    assert "undefined control sequence \\foo" in errors, result.findings  # printed in red, no merror


@needs_chromium
def test_mathjax_that_never_starts_is_reported(browser, tmp_path, monkeypatch):
    monkeypatch.setattr(cb, "SETTLE_TIMEOUT_MS", 500)
    head = '<script>window.MathJax = { tex: {} };</script><script defer src="_static/mathjax/missing.js"></script>'
    root = write_site(tmp_path, {"p.html": page_html(r"<p>\(x\)</p>", head=head)})
    result = check(browser, root, "p.html")
    assert any("did not start" in m for m in checks(result, "mathjax")), result.findings


@needs_chromium
def test_overflowing_pre_in_a_narrow_article_is_reported(browser, tmp_path):
    body = '<pre style="white-space: pre; overflow: visible">' + "x = 1  # " + "a_long_comment_" * 10 + "</pre>"
    root = write_site(tmp_path, {"p.html": page_html(body)})
    result = check(browser, root, "p.html")
    overflow = checks(result, "overflow")
    assert len(overflow) == 1, result.findings  # the pre, not each of its ancestors
    assert overflow[0].startswith("pre") and "x = 1 # a_long_comment_" in overflow[0]
    assert "px" in overflow[0]


@needs_chromium
def test_highlighted_code_that_overflows_is_reported_once_for_its_block(browser, tmp_path):
    spans = "".join(f'<span class="n">token_{i}</span><span class="o">,</span> ' for i in range(40))
    body = f'<div class="highlight"><pre style="white-space: pre; overflow: visible">{spans}</pre></div>'
    root = write_site(tmp_path, {"p.html": page_html(body)})
    overflow = checks(check(browser, root, "p.html"), "overflow")
    assert len(overflow) == 1 and overflow[0].startswith("pre"), overflow


@needs_chromium
def test_clipped_and_fixed_width_elements_are_reported(browser, tmp_path):
    body = (
        '<section id="clip"><pre style="white-space: pre; overflow: hidden">' + "clipped " * 30 + "</pre></section>"
        '<section id="fixed"><div class="wide" style="width: 700px">a fixed-width box</div></section>'
        '<section id="table"><table><tr>' + "<td>unscrollable_cell</td>" * 20 + "</tr></table></section>"
    )
    root = write_site(tmp_path, {"p.html": page_html(body)})
    overflow = checks(check(browser, root, "p.html"), "overflow")
    assert len(overflow) == 3, overflow
    clipped, fixed, table = overflow
    assert clipped.startswith("pre") and "at #clip" in clipped and "overflow-x: hidden" in clipped
    assert fixed.startswith("div.wide") and "at #fixed" in fixed and "extends 300px past" in fixed
    assert table.startswith("table") and "at #table" in table


@needs_chromium
def test_wide_table_inside_a_scroll_wrapper_is_not_reported(browser, tmp_path):
    table = "<table><tr>" + "<td>cell_with_long_content</td>" * 30 + "</tr></table>"
    body = f'<div class="output text_html" style="overflow-x: auto">{table}</div>'
    root = write_site(tmp_path, {"p.html": page_html(body)})
    result = check(browser, root, "p.html")
    assert checks(result, "overflow") == []


@needs_chromium
def test_wide_content_in_a_shown_tab_is_reported_but_not_in_a_hidden_one(browser, tmp_path):
    wide = "<pre style='white-space: pre; overflow: visible'>" + "wide_" * 100 + "</pre>"
    root = write_site(tmp_path, {
        "hidden.html": page_html(tabset({"tensorflow": wide})),
        "shown.html": page_html(tabset({"torch": wide})),
    })
    assert checks(check(browser, root, "hidden.html"), "overflow") == []
    assert len(checks(check(browser, root, "shown.html"), "overflow")) == 1


@needs_chromium
def test_redirect_page_is_followed_and_a_missing_target_reported(browser, tmp_path):
    root = write_site(tmp_path, {
        "index.html": '<meta http-equiv="Refresh" content="0; url=book/a.html" />',
        "book/a.html": page_html("<p>a</p>"),
        "old.html": '<meta http-equiv="Refresh" content="0; url=book/gone.html" />',
    })
    ok = check(browser, root, "index.html")
    assert ok.findings == [] and ok.redirect_to == "book/a.html"
    gone = check(browser, root, "old.html")
    assert any("book/gone.html" in m for m in checks(gone, "redirect")), gone.findings


@needs_chromium
def test_screenshot_is_saved_under_the_flattened_name(browser, tmp_path):
    root = write_site(tmp_path / "site", {"book/a.html": page_html("<p>a</p>")})
    result = check(browser, root, "book/a.html", screenshots=tmp_path / "shots")
    assert result.screenshot == tmp_path / "shots" / "book__a.png"
    assert result.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------
# Synced tabs across pages


def _design_tabs_js() -> str:
    import sphinx_design

    return (Path(sphinx_design.__file__).parent / "static" / "design-tabs.js").read_text(encoding="utf-8")


def _tab_book(root: Path, script_attrs: str = "") -> Path:
    script = f'<script {script_attrs} src="design-tabs.js"></script>'
    return write_site(root, {
        "design-tabs.js": _design_tabs_js(),
        "index.html": '<meta http-equiv="Refresh" content="0; url=a.html" />',
        "a.html": page_html("<h1>A</h1>" + tabset() + "<p>between</p>" + tabset(), head=script, next_page="mid.html"),
        "mid.html": page_html("<h1>No tabs here</h1>", head=script, next_page="b.html"),
        "b.html": page_html("<h1>B</h1>" + tabset() + tabset() + tabset(), head=script),
    })


def _tab_sync(browser, root: Path):
    with cb.StaticServer(root) as server:
        results = [cb.check_page(browser, server, page) for page in cb.list_pages(root)]
        assert all(r.ok for r in results), [f for r in results for f in r.findings]
        return cb.check_tab_sync(browser, server, results)


@needs_chromium
def test_framework_choice_that_persists_passes(browser, tmp_path):
    findings, passes, warnings = _tab_sync(browser, _tab_book(tmp_path))
    assert findings == [] and warnings == []
    assert len(passes) == 2 and all("chosen on a.html, shown on b.html" in p for p in passes)


@needs_chromium
def test_framework_choice_that_does_not_persist_is_reported(browser, tmp_path):
    # An empty storage prefix turns sphinx-design's persistence off: the tabs sync within a
    # page but the next page opens on its first tab.
    findings, passes, warnings = _tab_sync(browser, _tab_book(tmp_path, 'data-sd-tabs-storage-prefix=""'))
    assert passes == [] and warnings == []
    assert len(findings) == 2, findings
    assert all(f.page == "b.html" and f.check == "tabs" for f in findings)
    assert "'paddle'" in findings[0].message and "show torch" in findings[0].message
    assert "'tensorflow'" in findings[1].message


@needs_chromium
def test_fewer_than_two_pages_with_tabs_is_a_warning_not_a_pass(browser, tmp_path):
    root = write_site(tmp_path, {
        "design-tabs.js": _design_tabs_js(),
        "a.html": page_html(tabset(), head='<script src="design-tabs.js"></script>', next_page="b.html"),
        "b.html": page_html("<p>no tabs</p>"),
    })
    findings, passes, warnings = _tab_sync(browser, root)
    assert findings == [] and passes == []
    assert len(warnings) == 1 and "SKIPPED" in warnings[0] and "a.html" in warnings[0]


# ---------------------------------------------------------------------------------------------
# The command line


@needs_chromium
def test_command_line_reports_every_page_and_exits_1(tmp_path):
    # Its own process: the command starts its own Playwright (one per thread).
    root = write_site(tmp_path / "html", {
        "a.html": page_html("<p>a</p>", head="<script>throw new TypeError('first page')</script>", next_page="b.html"),
        "b.html": page_html('<img src="nothing.png" alt="x">'),
        "c.html": page_html("<p>fine</p>"),
    })
    shots = tmp_path / "shots"
    run = subprocess.run(
        [sys.executable, str(HERE / "browser" / "check_book.py"), "--html", str(root), "--screenshots", str(shots)],
        capture_output=True, text=True, timeout=120,
    )
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    assert "TypeError: first page" in out and "nothing.png" in out and "tab sync check SKIPPED" in out
    assert "ok   c.html" in out and "FAIL a.html" in out and "FAIL b.html" in out
    assert sorted(p.name for p in shots.iterdir()) == ["a.png", "b.png", "c.png"]


def test_main_without_a_build_exits_2(tmp_path, capsys):
    assert cb.main(["--html", str(tmp_path / "nothing")]) == 2
    assert "make book" in capsys.readouterr().err

