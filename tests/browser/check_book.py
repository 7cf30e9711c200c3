"""Open every page of the built book in headless Chromium and fail on what a reader would see.

Usage (from the repository root; ``make browser-test`` runs it)::

    uv run --frozen python tests/browser/check_book.py [--html _build/html] [--screenshots _build/screenshots]

The built HTML is served on 127.0.0.1 (a random free port) and every page is opened at a
1280x900 viewport, as a first-time visitor (site storage is cleared before each page). Per
page it reports:

1. console errors and uncaught exceptions (``pageerror``);
2. requests that would leave the machine (any host but 127.0.0.1/localhost): they are aborted
   and reported, as are ``<link rel=preconnect|dns-prefetch>`` hints to other hosts;
3. images that did not load (``<img>``, and ``<object>``/``<embed>``/SVG ``<image>`` files
   missing from the build);
4. MathJax errors (``mjx-merror``/``[data-mjx-error]``, and control sequences that MathJax's
   ``noundefined`` extension silently prints in red), after MathJax has typeset the page;
5. content wider than the article column: an element whose right edge passes the article's
   right edge, or whose content is wider than its box while the box cannot be scrolled
   (``overflow-x`` other than auto/scroll). Elements inside a scroll container, hidden
   elements (inactive tab panels, ``display: none``, zero size, screen-reader-only text such
   as MathJax's assistive MathML) and the theme's margin content (``.margin``, ``.sidebar``,
   ``.full-width``) are not flagged; a formula (``mjx-container``) is measured as one box.
   Each problem is reported once, for the element that causes it (the outermost too-wide
   box, the innermost box whose content spills), with its tag, classes, first 60 characters
   of text (TeX for formulas), section and overflow in px.

A meta-refresh page (the book's ``index.html``) is checked for reaching its target, which is
checked as a page of its own. ``/favicon.ico``, which browsers request by themselves, is
answered with 204 when the build has none.

Then, across pages, that a framework choice carries over: on the first page (in book order)
with ``framework`` synced tabs it clicks the PaddlePaddle tab, follows the "next" links to the
next page with framework tabs and checks that every framework tab-set there shows PaddlePaddle;
likewise for TensorFlow. With fewer than two such pages the check is skipped with a warning.

A full-page screenshot of each page is saved as ``<screenshots>/<page path without .html,
"/" replaced by "__">.png``. Exit status: 0 when no problem was found (warnings allowed unless
``--strict``), 1 when a problem was found, 2 when the check could not run.

Chromium is Debian's ``/usr/bin/chromium`` (``--chromium`` to change it); Playwright never
downloads a browser here.
"""

from __future__ import annotations

import argparse
import base64
import functools
import html
import http.server
import re
import shutil
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium contacts Google services at start-up.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}

# Generated pages that are not part of the book's reading flow.
EXCLUDED_PAGES = {"genindex.html", "search.html", "py-modindex.html"}
EXCLUDED_DIRS = {"_static", "_sources", "_images"}

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

# sphinx-design synced tabs: labels carry data-sync-group / data-sync-id; the choice is kept
# in localStorage under STORAGE_PREFIX + group.
SYNC_GROUP = "framework"
SYNC_CHOICES = ("paddle", "tensorflow")
STORAGE_PREFIX = "sphinx-design-tab-id-"

NAV_TIMEOUT_MS = 30_000
SETTLE_TIMEOUT_MS = 10_000  # fonts, images, MathJax
IDLE_TIMEOUT_MS = 3_000  # "network idle" after load (late requests, late errors)
OVERFLOW_TOLERANCE_PX = 1.0  # sub-pixel rounding

# sphinx-book-theme's content that is placed in the right margin on purpose.
MARGIN_CONTENT = ".margin, .sidebar, .full-width, .margin-caption, .tag_margin, .tag_full-width, .tag_popout"


@dataclass
class Finding:
    page: str
    check: str  # load, console, pageerror, external, image, mathjax, overflow, tabs, redirect
    message: str

    def __str__(self) -> str:
        return f"{self.page}: [{self.check}] {self.message}"


@dataclass
class PageResult:
    page: str
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    redirect_to: str | None = None  # page path a meta-refresh page sends the reader to
    next_page: str | None = None  # page path of the "next" link
    framework_tabsets: int = 0
    screenshot: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step

    @property
    def ok(self) -> bool:
        return not self.findings


class _Ticker:
    """Adds the time since its last call to ``result.timings[step]``."""

    def __init__(self, result: PageResult):
        self.result, self.last = result, time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        self.result.timings[step] = self.result.timings.get(step, 0.0) + now - self.last
        self.last = now


@dataclass
class Report:
    pages: list[PageResult]
    tab_findings: list[Finding]
    tab_passes: list[str]
    warnings: list[str]
    seconds: float

    @property
    def findings(self) -> list[Finding]:
        return [f for p in self.pages for f in p.findings] + self.tab_findings

    @property
    def ok(self) -> bool:
        return not self.findings


# --------------------------------------------------------------------------------------------
# Pages and the static server


def list_pages(root: Path) -> list[str]:
    """The book's HTML pages under ``root`` as POSIX paths relative to it, sorted."""
    pages = []
    for path in root.rglob("*.html"):
        rel = path.relative_to(root)
        if rel.parts[0] in EXCLUDED_DIRS or rel.as_posix() in EXCLUDED_PAGES:
            continue
        if path.is_file():
            pages.append(rel.as_posix())
    return sorted(pages)


def screenshot_name(page: str) -> str:
    """``book/preface.html`` -> ``book__preface.png``."""
    return re.sub(r"\.html?$", "", page).replace("/", "__") + ".png"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def do_GET(self):
        # Browsers ask for /favicon.ico by themselves; a book without one is not a defect.
        if self.path.split("?")[0] == "/favicon.ico" and not (Path(self.directory) / "favicon.ico").exists():
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A browser that moves on aborts its downloads (broken pipe): not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class StaticServer:
    """``root`` served on 127.0.0.1 at a free port, in a background thread."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        handler = functools.partial(_QuietHandler, directory=str(self.root))
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> StaticServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, page: str) -> str:
        return urllib.parse.urljoin(self.base_url, urllib.parse.quote(page))

    def page_of(self, url: str) -> str | None:
        """The page path of a URL on this server (no query or fragment), else None."""
        if not url.startswith(self.base_url):
            return None
        path = urllib.parse.unquote(urllib.parse.urlsplit(url).path).lstrip("/")
        if path == "" or path.endswith("/"):
            path += "index.html"
        return path

    def short(self, url: str) -> str:
        return "/" + url[len(self.base_url):] if url.startswith(self.base_url) else url

    def exists(self, url: str) -> bool:
        page = self.page_of(url)
        return page is not None and (self.root / page).is_file()


def is_local(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "javascript"):
        return True
    return (parts.hostname or "") in LOCAL_HOSTS


_META_REFRESH = re.compile(r"<meta\b[^>]*http-equiv\s*=\s*[\"']?refresh[\"']?[^>]*>", re.IGNORECASE)
_REFRESH_URL = re.compile(r"content\s*=\s*[\"']?\s*\d*\s*;\s*url\s*=\s*([^\"'>]+)", re.IGNORECASE)


def meta_refresh_target(text: str) -> str | None:
    """The URL of a ``<meta http-equiv="refresh" content="0; url=...">`` tag, if any."""
    tag = _META_REFRESH.search(text)
    if not tag:
        return None
    target = _REFRESH_URL.search(tag.group(0))
    return html.unescape(target.group(1).strip()) if target else None


# --------------------------------------------------------------------------------------------
# In-page scripts


_SETTLE_JS = """
async (timeoutMs) => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const within = (p, ms) => Promise.race([Promise.resolve(p).then(() => true, () => true), sleep(ms).then(() => false)]);
  const notes = [];
  if (document.fonts && document.fonts.ready) await within(document.fonts.ready, timeoutMs);
  for (const img of document.images) if (img.loading === "lazy") img.loading = "eager";
  const pending = [...document.images].filter((i) => i.getAttribute("src") && !i.complete);
  const loaded = pending.map((i) => new Promise((r) => {
    i.addEventListener("load", r, { once: true });
    i.addEventListener("error", r, { once: true });
  }));
  if (!(await within(Promise.all(loaded), timeoutMs))) notes.push("images still loading");
  let mathjax = "absent";
  if (window.MathJax) {
    const t0 = Date.now();
    const started = () => window.MathJax.startup && window.MathJax.startup.promise;
    while (!started() && Date.now() - t0 < timeoutMs) await sleep(50);
    if (!started()) mathjax = "not started";
    else mathjax = (await within(window.MathJax.startup.promise, timeoutMs)) ? "done" : "timeout";
  }
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return { mathjax, notes };
}
"""

_INFO_JS = """
(group) => {
  const next = document.querySelector(".prev-next-area a.right-next")
    || document.querySelector("a.right-next") || document.querySelector('link[rel="next"]');
  const tabsets = [...document.querySelectorAll(".sd-tab-set")]
    .filter((s) => s.querySelector(`:scope > label.sd-tab-label[data-sync-group="${group}"]`));
  const hints = [...document.querySelectorAll('link[rel~="preconnect"], link[rel~="dns-prefetch"]')]
    .map((l) => l.href).filter(Boolean);
  return { next: next ? next.href : null, tabsets: tabsets.length, hints };
}
"""

_IMAGES_JS = """
async () => {
  const broken = [];
  for (const img of document.images) {
    const src = img.currentSrc || img.getAttribute("src") || "";
    if (!src) continue;
    if (!img.complete) { broken.push({ src, alt: img.alt, why: "still loading" }); continue; }
    if (img.naturalWidth === 0) {
      let decoded = false;
      try { await img.decode(); decoded = true; } catch (e) {}
      if (!decoded) broken.push({ src, alt: img.alt, why: "not loaded" });
    }
  }
  const files = [];
  const add = (kind, ref) => { if (ref) files.push({ kind, url: new URL(ref, document.baseURI).href }); };
  document.querySelectorAll("object[data]").forEach((o) => add("object", o.getAttribute("data")));
  document.querySelectorAll("embed[src]").forEach((e) => add("embed", e.getAttribute("src")));
  document.querySelectorAll("svg image").forEach((i) => add("svg image", i.getAttribute("href") || i.getAttribute("xlink:href")));
  return { broken, files };
}
"""

_MATHJAX_JS = """
() => {
  const out = [];
  const tex = new Map();
  let items = [];
  try {
    const doc = window.MathJax && window.MathJax.startup && window.MathJax.startup.document;
    if (doc && doc.math) items = [...doc.math];
  } catch (e) {}
  for (const item of items) if (item.typesetRoot) tex.set(item.typesetRoot, item.math);
  document.querySelectorAll("mjx-merror, [data-mjx-error]").forEach((el) => {
    if (el.parentElement && el.parentElement.closest("mjx-merror, [data-mjx-error]")) return;
    const box = el.closest("mjx-container");
    out.push({ error: el.getAttribute("data-mjx-error") || el.textContent.trim().slice(0, 120),
               tex: box ? (tex.get(box) || null) : null });
  });
  // MathJax's noundefined extension prints an unknown \\macro in red instead of an error.
  for (const item of items) {
    try {
      if (!item.root || !item.root.walkTree) continue;
      item.root.walkTree((node) => {
        if (!node.isKind || !node.isKind("mtext") || !node.attributes) return;
        if (node.attributes.get("mathcolor") !== "red") return;
        const text = (node.childNodes || []).map((c) => (c.getText ? c.getText() : "")).join("");
        if (text.startsWith("\\\\")) out.push({ error: `undefined control sequence ${text}`, tex: item.math });
      });
    } catch (e) {}
  }
  return out;
}
"""

_OVERFLOW_JS = """
({ tolerance, marginContent }) => {
  const article = document.querySelector("main article") || document.querySelector(".bd-article")
    || document.querySelector("article") || document.querySelector("main");
  if (!article) return { article: null, items: [] };
  // The column's right edge: the article's, or a narrower ancestor's (an article stretched
  // by its content), or the viewport's.
  let right = article.getBoundingClientRect().right;
  for (let a = article.parentElement; a && a !== document.documentElement; a = a.parentElement) {
    const r = a.getBoundingClientRect();
    if (r.width > 0) right = Math.min(right, r.right);
  }
  right = Math.min(right, document.documentElement.clientWidth);

  const scrolls = (v) => v === "auto" || v === "scroll";
  // Visually hidden boxes (screen-reader text such as MathJax's assistive MathML): not seen.
  const unseen = (cs) => cs.display === "none" || (cs.clip && cs.clip !== "auto")
    || (cs.clipPath && cs.clipPath !== "none");
  // The right edge of what is visible of el's content: its text and child boxes, not looking
  // into children that clip or scroll (their own box counts) nor into hidden ones.
  const visibleRight = (el) => {
    let max = -Infinity;
    const visit = (node, shown) => {
      for (const child of node.childNodes) {
        if (child.nodeType === Node.TEXT_NODE) {
          if (!shown || !child.textContent.trim()) continue;
          const range = document.createRange();
          range.selectNodeContents(child);
          for (const r of range.getClientRects()) if (r.width > 0) max = Math.max(max, r.right);
        } else if (child.nodeType === Node.ELEMENT_NODE) {
          const cs = getComputedStyle(child);
          if (unseen(cs) || cs.position === "fixed") continue;
          const visible = cs.visibility === "visible";
          const r = child.getBoundingClientRect();
          if (visible && r.width > 0 && r.height > 0) max = Math.max(max, r.right);
          if (cs.overflowX === "visible" && child.localName !== "mjx-container") visit(child, visible);
        }
      }
    };
    visit(el, getComputedStyle(el).visibility === "visible");
    return max;
  };

  const info = new Map([[article, { inClip: false, clips: false, exempt: false, math: false, wide: false, wideAbove: false }]]);
  const wide = [];  // right edge past the column
  const content = [];  // visible content wider than a box that cannot scroll
  for (const el of article.querySelectorAll("*")) {
    const up = info.get(el.parentElement) || info.get(article);
    const cs = getComputedStyle(el);
    const me = {
      inClip: up.inClip || (el.parentElement !== article && up.clips),
      clips: cs.overflowX !== "visible",
      exempt: up.exempt || unseen(cs) || el.matches(marginContent),
      // MathJax lays glyphs out with deliberate overhangs: a formula is checked as one box.
      math: up.math || el.parentElement.localName === "mjx-container",
      wide: false,
      wideAbove: up.wideAbove || up.wide,
    };
    info.set(el, me);
    if (me.exempt || me.math || cs.visibility !== "visible" || cs.position === "fixed") continue;
    if (el.getClientRects().length === 0) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) continue;
    const inline = cs.display === "inline" || cs.display === "contents";
    if (!me.inClip && r.right > right + tolerance) {
      me.wide = true;
      if (!me.wideAbove) {
        // An inline box (a highlighted token) stands for the block that holds it.
        let target = el;
        while (target.parentElement && target.parentElement !== article
               && getComputedStyle(target).display === "inline") target = target.parentElement;
        wide.push({ el: target, px: r.right - right, inline: target !== el });
      }
    }
    if (!inline && !scrolls(cs.overflowX) && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + tolerance
        && (!me.inClip || me.clips)) {
      const edge = r.left + el.clientLeft + el.clientWidth;  // the padding box's right edge
      const px = visibleRight(el) - edge;
      if (px > tolerance) content.push({ el, px, clipped: me.clips, overflowX: cs.overflowX });
    }
  }
  // Wide boxes: the outermost one (its children are only as wide as it is).
  const wideEls = [];
  const widePx = new Map();
  const ownBox = new Set();  // the box itself passes the edge, not only the inline content in it
  for (const w of wide) {
    if (!widePx.has(w.el)) wideEls.push(w.el);
    widePx.set(w.el, Math.max(widePx.get(w.el) || 0, w.px));
    if (!w.inline) ownBox.add(w.el);
  }
  const outer = wideEls.filter((e) => !wideEls.some((o) => o !== e && o.contains(e)));
  // Too-wide content: the innermost box (a visible overflow widens every ancestor's content).
  const flagged = [...outer, ...content.map((c) => c.el)];
  const inner = content.filter((c) => !flagged.some((o) => o !== c.el && c.el.contains(o)))
    .filter((c) => c.clipped || !c.el.querySelector(marginContent));

  const texOf = new Map();
  try {
    for (const item of window.MathJax.startup.document.math) if (item.typesetRoot) texOf.set(item.typesetRoot, item.math);
  } catch (e) {}
  const describe = (el) => {
    const box = el.closest("mjx-container") || el.querySelector("mjx-container");
    let text = (el.innerText !== undefined ? el.innerText : el.textContent) || "";
    text = text.replace(/\\s+/g, " ").trim();
    if (box && texOf.has(box) && (!text || el.closest(".math, mjx-container"))) text = "TeX: " + texOf.get(box).trim();
    // The nearest anchor (the element's own id, a definition's, a section's): page.html#anchor.
    const anchor = el.closest("[id]");
    return { tag: el.tagName.toLowerCase(), cls: (el.getAttribute("class") || "").trim(), text: text.slice(0, 60),
             section: anchor && article.contains(anchor) && anchor !== article ? anchor.id : null,
             width: Math.round(el.getBoundingClientRect().width) };
  };
  const found = outer.map((el) => ({ el, kind: ownBox.has(el) ? "wide" : "wide text", px: widePx.get(el) }));
  for (const c of inner) if (!outer.includes(c.el)) found.push({ el: c.el, kind: "content", px: c.px, overflowX: c.overflowX });
  found.sort((a, b) => (a.el.compareDocumentPosition(b.el) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1));
  const items = found.map(({ el, ...rest }) => ({ ...rest, ...describe(el) }));
  return { article: article.tagName.toLowerCase(), right, items };
}
"""

_TABS_JS = """
(group) => {
  const inputOf = (label) => {
    const id = label.getAttribute("for");
    const el = id ? document.getElementById(id) : label.previousElementSibling;
    return el instanceof HTMLInputElement ? el : null;
  };
  return [...document.querySelectorAll(".sd-tab-set")]
    .filter((s) => s.querySelector(`:scope > label.sd-tab-label[data-sync-group="${group}"]`))
    .map((s, index) => {
      const labels = [...s.querySelectorAll(":scope > label.sd-tab-label")];
      const checked = labels.find((l) => { const i = inputOf(l); return i && i.checked; });
      const section = s.closest("section[id]");
      return { index, ids: labels.map((l) => l.getAttribute("data-sync-id")),
               checked: checked ? checked.getAttribute("data-sync-id") : null,
               section: section ? section.id : null };
    });
}
"""


# --------------------------------------------------------------------------------------------
# The browser


class Browser:
    """One headless Chromium, one context and one page, reused for every page checked.

    Console errors, page errors and external requests are recorded as findings of the page
    named by :meth:`record_to` (or dropped while it is None).
    """

    def __init__(self, chromium: str = CHROMIUM):
        self.chromium = chromium
        self._sink: list[Finding] | None = None
        self._page_name = ""
        self._blocked: set[str] = set()
        self._short: Callable[[str], str] = lambda u: u
        self._cdp = None

    def __enter__(self) -> Browser:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self.browser = self._pw.chromium.launch(executable_path=self.chromium, args=CHROMIUM_ARGS, headless=True)
            self.context = self.browser.new_context(viewport=VIEWPORT, service_workers="block")
            self.context.route("**/*", self._on_route)
            self.context.route_web_socket(re.compile(r".*"), self._on_websocket)
            self.page = self.context.new_page()
            self.page.set_default_timeout(NAV_TIMEOUT_MS)
            self.page.on("console", self._on_console)
            self.page.on("pageerror", self._on_pageerror)
        except BaseException:
            self._pw.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.browser.close()
        finally:
            self._pw.stop()

    def record_to(
        self, sink: list[Finding] | None, page: str = "", short: Callable[[str], str] | None = None
    ) -> None:
        self._sink, self._page_name = sink, page
        if short is not None:
            self._short = short

    def _add(self, check: str, message: str) -> None:
        if self._sink is not None:
            self._sink.append(Finding(self._page_name, check, message))

    def _on_route(self, route) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
            return
        self._blocked.add(url)
        self._add("external", f"request to {url} ({route.request.resource_type}) blocked: it would leave the machine")
        route.abort("blockedbyclient")

    def _on_websocket(self, ws) -> None:
        if is_local(ws.url):
            ws.connect_to_server()
            return
        self._add("external", f"WebSocket to {ws.url} blocked: it would leave the machine")
        ws.close()

    def _on_console(self, msg) -> None:
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url") or ""
        if where in self._blocked:  # the request was reported as external already
            return
        text = msg.text
        if where and "Failed to load resource" in text:
            text += f" [{self._short(where)}]"
        self._add("console", f"console error: {text}")

    def _on_pageerror(self, error) -> None:
        name = getattr(error, "name", "") or "Error"
        message = getattr(error, "message", "") or str(error)
        self._add("pageerror", f"uncaught {name}: {message}")

    def screenshot(self, path: Path) -> None:
        """A full-page PNG of the current page.

        Through the DevTools protocol with Chromium's fast PNG encoder (the same pixels as
        Playwright's ``full_page`` screenshot, in about half the time on long pages); Playwright's
        own screenshot if that fails.
        """
        try:
            if self._cdp is None:
                self._cdp = self.context.new_cdp_session(self.page)
            size = self._cdp.send("Page.getLayoutMetrics")["cssContentSize"]
            shot = self._cdp.send("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True, "optimizeForSpeed": True,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            })
            path.write_bytes(base64.b64decode(shot["data"]))
        except Exception:
            self._cdp = None
            self.page.screenshot(path=str(path), full_page=True)

    def clear_storage(self, server: StaticServer) -> None:
        if self.page.url.startswith(server.base_url):
            self.page.evaluate("() => { try { localStorage.clear(); sessionStorage.clear(); } catch (e) {} }")


# --------------------------------------------------------------------------------------------
# Checks of one page


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _describe(item: dict) -> str:
    name = item["tag"] + "".join("." + c for c in item["cls"].split())
    where = f" at #{item['section']}" if item.get("section") else ""
    text = f' "{item["text"]}"' if item["text"] else ""
    if item["kind"] == "wide":
        return f"{name}{text}{where} ({item['width']}px wide) extends {item['px']:.0f}px past the article's right edge"
    if item["kind"] == "wide text":
        return (f"{name}{text}{where}: its text runs {item['px']:.0f}px past the article's right edge "
                f"(the box is {item['width']}px wide and does not wrap or scroll it)")
    return (
        f"{name}{text}{where}: content {item['px']:.0f}px wider than its {item['width']}px box, "
        f"which cannot scroll (overflow-x: {item['overflowX']})"
    )


def check_page(browser: Browser, server: StaticServer, page: str, screenshots: Path | None = None) -> PageResult:
    """Open ``page`` (a path relative to the served root) and run the per-page checks."""
    t0 = time.perf_counter()
    result = PageResult(page)
    add = lambda check, message: result.findings.append(Finding(page, check, message))  # noqa: E731
    url = server.url(page)
    try:
        raw = (server.root / page).read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        add("load", f"cannot read the file: {error}")
        return result
    refresh = meta_refresh_target(raw)

    tick = _Ticker(result)
    browser.clear_storage(server)  # every page is checked as a first visit
    browser.record_to(result.findings, page, server.short)
    try:
        if refresh is not None:
            _check_redirect(browser, server, page, url, refresh, result, add)
            tick("load")
        else:
            _check_content(browser, server, page, url, result, add, tick)
        if screenshots is not None:
            screenshots.mkdir(parents=True, exist_ok=True)
            result.screenshot = screenshots / screenshot_name(page)
            browser.screenshot(result.screenshot)
            tick("screenshot")
    except Exception as error:  # a page that breaks the checker is a finding, not a crash
        add("load", f"check aborted: {_first_line(error)}")
    finally:
        browser.record_to(None)
    result.seconds = time.perf_counter() - t0
    return result


def _check_redirect(browser, server, page, url, refresh, result, add) -> None:
    """A meta-refresh page (the book's index.html): its target must exist and be reached."""
    target_url = urllib.parse.urljoin(url, refresh)
    if not is_local(target_url):
        add("redirect", f"redirects off the machine to {target_url}")
        return
    target_url = urllib.parse.urldefrag(target_url)[0]
    result.redirect_to = server.page_of(target_url)
    if not server.exists(target_url):
        add("redirect", f"redirects to {result.redirect_to}, which is not in the build")
        return
    browser.record_to(None)  # what happens next belongs to the target page, checked on its own
    browser.page.goto(url, wait_until="load")
    try:
        browser.page.wait_for_url(lambda u: urllib.parse.urldefrag(u)[0] == target_url, timeout=SETTLE_TIMEOUT_MS)
        browser.page.wait_for_load_state("load")
    except Exception:
        browser.record_to(result.findings, page)
        add("redirect", f"did not redirect to {result.redirect_to} within {SETTLE_TIMEOUT_MS / 1000:.0f}s")


def _check_content(browser, server, page, url, result, add, tick) -> None:
    p = browser.page
    response = p.goto(url, wait_until="load")
    tick("load")
    if response is not None and response.status >= 400:
        add("load", f"HTTP {response.status}")
        return
    try:
        p.wait_for_load_state("networkidle", timeout=IDLE_TIMEOUT_MS)
    except Exception:
        pass  # a page that keeps polling: check it as it is
    tick("idle")
    settled = p.evaluate(_SETTLE_JS, SETTLE_TIMEOUT_MS)
    tick("settle")
    for note in settled["notes"]:
        add("load", f"{note} after {SETTLE_TIMEOUT_MS / 1000:.0f}s")

    info = p.evaluate(_INFO_JS, SYNC_GROUP)
    result.framework_tabsets = info["tabsets"]
    if info["next"]:
        result.next_page = server.page_of(urllib.parse.urldefrag(info["next"])[0])
    for hint in info["hints"]:
        if not is_local(hint):
            add("external", f"<link rel=preconnect/dns-prefetch> to {hint}: the browser would contact that host")

    images = p.evaluate(_IMAGES_JS)
    for img in images["broken"]:
        alt = f' (alt "{img["alt"]}")' if img["alt"] else ""
        add("image", f"image {img['why']}: {server.short(img['src'])}{alt}")
    for ref in images["files"]:
        if ref["url"].startswith(("data:", "blob:")) or not is_local(ref["url"]):
            continue  # an external file is reported as an external request
        if not server.exists(ref["url"]):
            add("image", f"{ref['kind']} file missing: {server.short(ref['url'])}")

    if settled["mathjax"] in ("not started", "timeout"):
        what = "did not start" if settled["mathjax"] == "not started" else "did not finish typesetting"
        add("mathjax", f"MathJax {what} within {SETTLE_TIMEOUT_MS / 1000:.0f}s")
    for error in p.evaluate(_MATHJAX_JS):
        tex = f" in TeX: {error['tex'].strip()[:80]}" if error.get("tex") else ""
        add("mathjax", f"MathJax error: {error['error']}{tex}")
    tick("checks")

    overflow = p.evaluate(_OVERFLOW_JS, {"tolerance": OVERFLOW_TOLERANCE_PX, "marginContent": MARGIN_CONTENT})
    if overflow["article"] is None:
        add("overflow", "no article element (main article / .bd-article / article / main) to check widths against")
    for item in overflow["items"]:
        add("overflow", _describe(item))
    tick("overflow")


# --------------------------------------------------------------------------------------------
# Synced tabs across pages


def book_order(results: list[PageResult]) -> list[str]:
    """Pages in reading order: from the root page along the "next" links, then the rest."""
    by_page = {r.page: r for r in results}
    start = "index.html" if "index.html" in by_page else None
    seen: set[str] = set()
    while start in by_page and by_page[start].redirect_to and start not in seen:
        seen.add(start)
        start = by_page[start].redirect_to
    if start not in by_page or by_page[start].redirect_to:
        targets = {r.next_page for r in results}
        start = next((r.page for r in results if r.page not in targets and not r.redirect_to), None)
    order: list[str] = []
    while start in by_page and start not in order:
        order.append(start)
        start = by_page[start].next_page
    return order + [r.page for r in results if r.page not in order and not r.redirect_to]


def check_tab_sync(
    browser: Browser, server: StaticServer, results: list[PageResult], choices: Iterable[str] = SYNC_CHOICES
) -> tuple[list[Finding], list[str], list[str]]:
    """Choose each of ``choices`` on the first page with framework tabs; the next one must show it.

    Returns (findings, passes, warnings).
    """
    findings: list[Finding] = []
    passes: list[str] = []
    with_tabs = [p for p in book_order(results) if next(r for r in results if r.page == p).framework_tabsets]
    if len(with_tabs) < 2:
        found = ", ".join(with_tabs) or "none"
        return findings, passes, [
            f"tab sync check SKIPPED: it needs two pages with {SYNC_GROUP!r} synced tabs, the book has "
            f"{len(with_tabs)} ({found})"
        ]
    first = with_tabs[0]
    p = browser.page
    browser.record_to(None)  # console errors were reported by the page checks already
    for choice in choices:
        name = f"tab sync ({SYNC_GROUP}={choice})"
        try:
            problem = _tab_sync_once(browser, server, first, choice, len(results))
        except Exception as error:
            problem = (first, f"check aborted: {_first_line(error)}")
        if isinstance(problem, tuple):
            findings.append(Finding(problem[0], "tabs", f"{name}: {problem[1]}"))
        else:
            passes.append(f"{name}: chosen on {first}, shown on {problem}")
    p.evaluate("() => { try { localStorage.clear(); } catch (e) {} }")
    return findings, passes, []


def _tab_sync_once(browser: Browser, server: StaticServer, first: str, choice: str, max_steps: int):
    """Returns the page where the choice was found carried over, or (page, problem)."""
    p = browser.page
    key = STORAGE_PREFIX + SYNC_GROUP
    browser.clear_storage(server)  # the choice seen later must come from this click
    p.goto(server.url(first), wait_until="load")
    label = p.locator(f'label.sd-tab-label[data-sync-group="{SYNC_GROUP}"][data-sync-id="{choice}"]')
    if label.count() == 0:
        return first, f"no tab with data-sync-id={choice!r} to click"
    visible = label.filter(visible=True)
    (visible if visible.count() else label).first.click()
    p.wait_for_timeout(50)
    here = [s for s in p.evaluate(_TABS_JS, SYNC_GROUP) if s["checked"] != choice and choice in s["ids"]]
    if here:
        return first, f"clicking {choice!r} did not switch tab-set(s) {_tabsets(here)} on the same page"
    stored = p.evaluate(f"() => {{ try {{ return localStorage.getItem({key!r}); }} catch (e) {{ return null; }} }}")

    for _ in range(max_steps):
        link = p.locator(".prev-next-area a.right-next")
        if link.count() == 0:
            link = p.locator("a.right-next")
        before = p.url
        if link.count():
            href = link.first.evaluate("a => a.href")
            link.first.click()
        else:
            href = p.evaluate('() => { const l = document.querySelector(\'link[rel="next"]\'); return l ? l.href : null; }')
            if not href:
                return first, (f"no next page with {SYNC_GROUP!r} tabs after {first} "
                               f"(the next links end at {server.page_of(before)})")
            p.goto(href, wait_until="domcontentloaded")
        # A page passed on the way only needs its DOM (its next link); sphinx-design applies
        # the stored choice on DOMContentLoaded, a page with tabs is checked once loaded.
        p.wait_for_url(lambda u: urllib.parse.urldefrag(u)[0] == urllib.parse.urldefrag(href)[0],
                       wait_until="domcontentloaded")
        current = server.page_of(urllib.parse.urldefrag(p.url)[0]) or p.url
        if not p.evaluate(_TABS_JS, SYNC_GROUP):
            continue
        p.wait_for_load_state("load")
        tabsets = p.evaluate(_TABS_JS, SYNC_GROUP)
        wrong = [s for s in tabsets if s["checked"] != choice]
        if not wrong:
            return current
        missing = [s for s in wrong if choice not in s["ids"]]
        shown = sorted({s["checked"] or "none" for s in wrong if choice in s["ids"]})
        parts = []
        if len(wrong) > len(missing):
            parts.append(f"tab-set(s) {_tabsets([s for s in wrong if choice in s['ids']])} show {', '.join(shown)}")
        if missing:
            parts.append(f"tab-set(s) {_tabsets(missing)} have no {choice!r} tab")
        return current, (
            f"chose {choice!r} on {first}, but here " + "; ".join(parts)
            + f" (localStorage[{key!r}] after the click: {stored!r})"
        )
    return first, f"no page with {SYNC_GROUP!r} tabs reached from {first} by the next links"


def _tabsets(sets: list[dict]) -> str:
    return ", ".join(f"#{s['index'] + 1}" + (f" in #{s['section']}" if s["section"] else "") for s in sets)


# --------------------------------------------------------------------------------------------
# The whole book


def check_book(
    root: Path,
    screenshots: Path | None = None,
    chromium: str = CHROMIUM,
    pages: list[str] | None = None,
    out: Callable[[str], None] = print,
    timings: bool = False,
) -> Report:
    t0 = time.perf_counter()
    pages = list_pages(root) if pages is None else pages
    results: list[PageResult] = []
    with StaticServer(root) as server, Browser(chromium) as browser:
        out(f"Checking {len(pages)} pages of {root} at {server.base_url} in {chromium} "
            f"({VIEWPORT['width']}x{VIEWPORT['height']})")
        for page in pages:
            result = check_page(browser, server, page, screenshots)
            results.append(result)
            status = "ok  " if result.ok else "FAIL"
            extra = f" -> {result.redirect_to}" if result.redirect_to else ""
            problems = f", {len(result.findings)} problem(s)" if result.findings else ""
            steps = ("; " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())) if timings else ""
            out(f"  {status} {page}{extra} ({result.seconds:.1f}s{problems}{steps})")
        t_tabs = time.perf_counter()
        tab_findings, tab_passes, warnings = check_tab_sync(browser, server, results)
        t_tabs = time.perf_counter() - t_tabs
        for line in tab_passes:
            out(f"  ok   {line} ({t_tabs / max(1, len(tab_passes) + len(tab_findings)):.1f}s)")
        for finding in tab_findings:
            out(f"  FAIL {finding.message.split(':')[0]}")
        for warning in warnings:
            out(f"  WARN {warning}")
    return Report(results, tab_findings, tab_passes, warnings, time.perf_counter() - t0)


def format_report(report: Report, strict: bool = False) -> str:
    lines = []
    if report.findings:
        lines.append("")
        lines.append("Problems:")
        by_page: dict[str, list[Finding]] = {}
        for f in report.findings:
            by_page.setdefault(f.page, []).append(f)
        for page, findings in by_page.items():
            lines.append(f"  {page}")
            lines.extend(f"    [{f.check}] {f.message}" for f in findings)
    if report.warnings:
        lines.append("")
        lines.append("Warnings:")
        lines.extend(f"  {w}" for w in report.warnings)
    failed_pages = {f.page for f in report.findings}
    verdict = "FAIL" if report.findings or (strict and report.warnings) else "PASS"
    if verdict == "PASS" and report.warnings:
        verdict = "PASS with warnings (a skipped check is not a pass)"
    lines.append("")
    lines.append(
        f"{len(report.pages)} pages checked in {report.seconds:.1f}s: {len(report.findings)} problem(s) on "
        f"{len(failed_pages)} page(s), {len(report.warnings)} warning(s) -> {verdict}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=REPO / "_build" / "html",
                        help="the built book (default: %(default)s)")
    parser.add_argument("--screenshots", type=Path, default=REPO / "_build" / "screenshots",
                        help="where the full-page screenshots go (default: %(default)s)")
    parser.add_argument("--no-screenshots", action="store_true", help="do not save screenshots")
    parser.add_argument("--chromium", default=CHROMIUM, help="the Chromium binary (default: %(default)s)")
    parser.add_argument("--strict", action="store_true", help="fail on warnings (a skipped check) too")
    parser.add_argument("--timings", action="store_true", help="print the time of each step per page")
    args = parser.parse_args(argv)

    root = args.html.resolve()
    pages = list_pages(root) if root.is_dir() else []
    if not pages:
        print(f"error: no built book (no HTML pages) at {root}: run `make book` first", file=sys.stderr)
        return 2
    if not Path(args.chromium).is_file() and shutil.which(args.chromium) is None:
        print(f"error: Chromium not found at {args.chromium} (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    report = check_book(root, None if args.no_screenshots else args.screenshots.resolve(), args.chromium, pages,
                        timings=args.timings)
    print(format_report(report, strict=args.strict))
    if args.screenshots and not args.no_screenshots:
        print(f"Screenshots: {args.screenshots.resolve()}")
    return 0 if report.ok and not (args.strict and report.warnings) else 1


if __name__ == "__main__":
    sys.exit(main())
