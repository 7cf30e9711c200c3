"""Sphinx extension of the course book: framework tabs that run, trimmed source tabs, downloads.

How chapter authors use it is documented in ``book/AUTHORING.md``. In short:

* **Executed framework tabs.** Three consecutive code cells tagged ``framework-torch``,
  ``framework-paddle`` and ``framework-tensorflow`` (in that order: the import order the
  package needs) are executed like every other cell and then grouped, code *and* output, into
  one sphinx-design tab set of the ``framework`` sync group. So the code a tab shows is the
  code that ran for that framework, and one click selects a framework across the whole book.
  A tagged cell outside such a triple is a build error (a warning, and the book builds with
  warnings as errors).
* **Trimmed source tabs.** ``{framework-source} se.SEBlock`` shows the object from
  ``src/vision_attention/<framework>/se.py`` in each framework's tab with its docstrings
  removed, and links to the API page that carries the full docstring. ``forward`` is shown
  as ``call`` in the TensorFlow tab (Keras' name for the forward pass).
* **Notebook downloads.** Every executed page offers its notebook (``.ipynb``, with outputs)
  and, when it has framework tabs, one notebook per framework holding only that framework's
  tabbed cells, beside the ``.md`` source in the download menu.
* **Execution times.** ``_build/execution_times.json`` lists each page's execution time,
  which ``make bench`` prints.
* **No dead Thebe scripts.** Jupyter Book always loads ``sphinx_thebe``, whose inline
  configuration script is added twice and throws ``SyntaxError: Identifier 'THEBE_JS_URL' has
  already been declared`` on every page. The book does not use Thebe (``launch_buttons.thebe``
  is false), so its scripts are dropped from the pages.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.transforms import SphinxTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx_design.shared import create_component

import notebooks

LOGGER = logging.getLogger(__name__)

FRAMEWORKS = notebooks.FRAMEWORKS
"""Tab order, sync ids and labels: the order is also the execution order the package needs."""
SYNC_GROUP = "framework"
METHOD_ALIASES = notebooks.METHOD_ALIASES
object_source = notebooks.object_source


def _framework_tab_set(items: list[tuple[str, list[nodes.Node]]], classes=()) -> nodes.container:
    """A sphinx-design tab set of the framework sync group; ``items`` = [(framework, nodes)]."""
    tab_set = create_component("tab-set", classes=["sd-tab-set", *classes])
    for framework, content in items:
        label_text = FRAMEWORKS[framework]
        label = nodes.rubric(label_text, "", nodes.Text(label_text), classes=["sd-tab-label"])
        label["sync_id"] = framework
        label["sync_group"] = SYNC_GROUP
        tab_item = create_component("tab-item", classes=["sd-tab-item"], selected=False)
        tab_item += label
        tab_item += create_component(
            "tab-content", classes=["sd-tab-content"], children=list(content)
        )
        tab_set += tab_item
    return tab_set


def _cell_framework(node: nodes.Node) -> str | None:
    if not isinstance(node, nodes.container) or node.get("nb_element") != "cell_code":
        return None
    tagged = [fw for fw in FRAMEWORKS if f"tag_{notebooks.TAG_PREFIX}{fw}" in node["classes"]]
    if len(tagged) > 1:
        LOGGER.warning(
            f"a code cell is tagged for several frameworks {tagged}; tag it for one [course.tabs]",
            location=node,
        )
    return tagged[0] if tagged else None


class FrameworkCellTabs(SphinxTransform):
    """Group each run of torch, paddle, tensorflow tagged cells into one framework tab set."""

    default_priority = 500

    def apply(self, **kwargs) -> None:
        order = list(FRAMEWORKS)
        parents = {id(n.parent): n.parent for n in self.document.findall(nodes.container)
                   if _cell_framework(n) is not None}
        for parent in parents.values():
            children, run = list(parent.children), []
            new_children = []
            for child in children + [None]:
                framework = _cell_framework(child) if child is not None else None
                if framework is not None:
                    run.append((framework, child))
                    if len(run) < len(order):
                        continue
                if run:
                    found = [fw for fw, _ in run]
                    if found != order[: len(found)] or len(found) != len(order):
                        LOGGER.warning(
                            f"framework cells must come as three consecutive cells tagged "
                            f"{', '.join(notebooks.TAG_PREFIX + fw for fw in order)}, in that "
                            f"order; found {found} [course.tabs]",
                            location=run[0][1],
                        )
                        new_children.extend(cell for _, cell in run)
                    else:
                        new_children.append(
                            _framework_tab_set([(fw, [cell]) for fw, cell in run],
                                               classes=["framework-cells"])
                        )
                    run = []
                if child is not None and framework is None:
                    new_children.append(child)
            parent.children = []
            parent.extend(new_children)


class FrameworkSource(SphinxDirective):
    """``{framework-source} module.Object[.method] ...``: the objects' source in framework tabs.

    Each argument names an object relative to ``vision_attention.<framework>``; the module
    part may be dotted (``models.resnet.attention_resnet``). Options: ``:docstrings:`` keeps
    the docstrings (stripped by default; the API page shows them).
    """

    required_arguments = 1
    optional_arguments = 10
    option_spec = {"docstrings": directives.flag}

    def _locate(self, framework: str, target: str) -> tuple[Path, str, str]:
        try:
            return notebooks.locate_object(Path(self.env.srcdir), framework, target)
        except LookupError as error:
            raise self.error(f"framework-source: {error}") from None

    def run(self) -> list[nodes.Node]:
        items = []
        for framework in FRAMEWORKS:
            content = []
            for target in self.arguments:
                path, qualname, api_target = self._locate(framework, target)
                self.env.note_dependency(str(path))
                try:
                    code = object_source(path, qualname, "docstrings" in self.options)
                except LookupError as error:
                    raise self.error(f"framework-source: {error}") from None
                block = nodes.literal_block(code, code, language="python")
                block["classes"].append("framework-source")
                link = addnodes.pending_xref(
                    "", nodes.literal(api_target, api_target, classes=["xref", "py", "py-obj"]),
                    refdomain="py", reftype="obj", reftarget=api_target, refexplicit=True,
                    refwarn=True,
                )
                note = nodes.paragraph(
                    "", "", nodes.Text(f"{path.relative_to(self.env.srcdir)} · full docstring: "),
                    link, classes=["framework-source-caption"],
                )
                content += [block, note]
            items.append((framework, content))
        return [_framework_tab_set(items, classes=["framework-source-tabs"])]


def _drop_thebe_scripts(context: dict) -> None:
    scripts = context.get("script_files")
    if scripts is None:
        return
    kept = []
    for script in scripts:
        body = getattr(script, "attributes", {}).get("body", "") or ""
        name = str(getattr(script, "filename", script) or "")
        if "THEBE_JS_URL" in body or name.endswith("sphinx-thebe.js"):
            continue
        kept.append(script)
    scripts[:] = kept


def _notebook_downloads(app, pagename: str, context: dict) -> None:
    """Copy the executed notebook (and per-framework ones) next to the page's sources and
    add them to sphinx-book-theme's download menu (runs after the theme built the menu)."""
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    sources = Path(app.outdir) / "_sources"
    written = notebooks.write_notebooks(executed, sources / Path(pagename).parent,
                                        stem=Path(pagename).name)
    for button in context.get("header_buttons", []):
        if button.get("label") != "download-buttons":
            continue
        entries = []
        for framework, path in written.items():
            label = ".ipynb" if framework is None else f".ipynb ({FRAMEWORKS[framework]} only)"
            entries.append({
                "type": "link",
                "url": f"{context['pathto']('_sources', 1)}/{path.relative_to(sources).as_posix()}",
                "text": label,
                "icon": "fas fa-code",
                "tooltip": "Download the executed notebook" if framework is None
                else f"Download a notebook with the {FRAMEWORKS[framework]} cells only",
                "label": f"download-notebook-{framework or 'all'}-button",
            })
        button["buttons"] = entries + [b for b in button["buttons"]
                                       if b.get("label") != "download-notebook-button"]


def on_page_context(app, pagename, templatename, context, doctree):
    _drop_thebe_scripts(context)
    _notebook_downloads(app, pagename, context)


def write_execution_times(app, exception) -> None:
    """Write ``_build/execution_times.json``: each executed page's run time in seconds, as
    myst-nb measured it (for a page taken from the cache, the time of the run that filled
    the cache). ``make bench`` prints it as the chapters' cold execution times."""
    if exception is not None:
        return
    import json

    from myst_nb.sphinx_ import NbMetadataCollector

    times = {}
    for docname in sorted(app.env.found_docs):
        data = NbMetadataCollector.get_exec_data(app.env, docname)
        if data:
            times[docname] = {"seconds": data.get("runtime"), "method": data.get("method"),
                              "succeeded": data.get("succeeded")}
    path = Path(app.outdir).parent / "execution_times.json"
    path.write_text(json.dumps(times, indent=2) + "\n", encoding="utf-8")


def class_signature(app, what, name, obj, options, signature, return_annotation):
    """The API page's class signatures from ``__init__``.

    The API page imports the package with the frameworks mocked (``autodoc_mock_imports``),
    so a module's base class (``nn.Module``, ``keras.layers.Layer``) is a mock whose
    metaclass hides the real constructor: autodoc would print ``(*args, **kwargs)``.
    """
    if what != "class" or signature not in (None, "(*args, **kwargs)"):
        return None
    import inspect

    init = obj.__dict__.get("__init__")
    if init is None:
        return None
    # without self, and without annotations (the docstring's Args give the types)
    parameters = [p.replace(annotation=inspect.Parameter.empty)
                  for p in list(inspect.signature(init).parameters.values())[1:]]
    text = str(inspect.Signature(parameters))
    return text, return_annotation


def setup(app):
    app.add_transform(FrameworkCellTabs)
    app.add_directive("framework-source", FrameworkSource)
    app.connect("html-page-context", on_page_context, priority=600)  # after the theme's 501
    app.connect("build-finished", write_execution_times)
    app.connect("autodoc-process-signature", class_signature)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
