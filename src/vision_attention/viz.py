"""Matplotlib helpers for attention weights and maps (framework-neutral: numpy in, Axes out).

Every function takes plain arrays (anything :func:`numpy.asarray` accepts, so a CPU
PyTorch tensor, a Paddle tensor's ``.numpy()`` or a TensorFlow tensor's ``.numpy()``),
draws on a given :class:`matplotlib.axes.Axes` (or a new figure when ``ax`` is ``None``)
and returns that Axes. Shapes are checked before anything is drawn; a bad argument raises
:class:`ValueError` naming the argument, what was expected and what was given.

* :func:`plot_channel_weights` -- one bar per channel, e.g. SE/ECA/CBAM channel weights
  ``(B, C, 1, 1)`` for one image.
* :func:`plot_channel_grid` -- the same weights as a ``rows x columns`` heat map, for channels
  that come in families (the Gabor bank of :func:`vision_attention.data.image_feature_maps`
  is 8 orientations per (colour source, frequency) pair).
* :func:`overlay_attention` -- a spatial attention map ``(h, w)`` upsampled to the image size
  (bilinear, scikit-image ``resize``) and drawn over the image with a colour bar.
* :func:`plot_cost_scaling` -- a cost (time, memory) against the number of positions ``N`` on
  log-log axes, one line per configuration of
  :func:`vision_attention.profiling.attention_cost`, with ``N`` and ``N**2`` guides.
* :func:`plot_attention_statistics` -- one statistic of
  :meth:`vision_attention.monitor.AttentionMonitor.table` (e.g. the saturated fraction)
  over training steps, one line per attention module and weight key.
* :func:`plot_decision_tree` -- a yes/no decision tree (questions, answers) with a note under
  each answer, coloured by what the book's measurements say about it.
* :func:`use_book_style` -- the house style of the book's figures (called by every chapter).

House style: perceptually uniform colour maps only (:data:`ATTENTION_CMAP` for attention
weights, :data:`FEATURE_CMAP` for feature maps and counts; never ``jet``, whose bright bands
invent edges), attention weights on the fixed scale [0, 1] with a colour bar unless the
caption says otherwise, constrained layout so titles do not overlap, and vector (SVG) output
in notebooks so figures stay sharp on HiDPI screens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "ATTENTION_CMAP",
    "FEATURE_CMAP",
    "ATTENTION_RANGE",
    "use_book_style",
    "as_vector",
    "as_map",
    "plot_channel_weights",
    "plot_channel_grid",
    "overlay_attention",
    "plot_cost_scaling",
    "plot_attention_statistics",
    "plot_decision_tree",
    "VERDICT_COLOURS",
]

ATTENTION_CMAP = "viridis"
"""Colour map of attention weights (perceptually uniform, readable in grey and by most
colour-blind readers)."""
FEATURE_CMAP = "magma"
"""Colour map of feature maps, gradients and other non-negative magnitudes."""
ATTENTION_RANGE = (0.0, 1.0)
"""The fixed colour scale of attention weights: sigmoid outputs lie in (0, 1)."""

BOOK_RC = {
    "figure.dpi": 100,
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "figure.titlesize": 11,
    "image.cmap": FEATURE_CMAP,
    "savefig.bbox": "tight",
    "svg.fonttype": "none",  # text stays text in the SVG: sharp and searchable
}
"""The matplotlib settings of the house style (see :func:`use_book_style`)."""


def use_book_style(inline_format: str = "svg") -> None:
    """Apply the house style to matplotlib, and vector output to notebook figures.

    Sets :data:`BOOK_RC` and, inside IPython/Jupyter, the inline figure format
    (``"svg"`` by default: sharp at any zoom; ``"retina"`` gives 2x PNG). Outside IPython
    only the matplotlib settings change.

    Raises:
        ValueError: ``inline_format`` is not ``"svg"``, ``"retina"`` or ``"png"``.
    """
    if inline_format not in ("svg", "retina", "png"):
        raise ValueError(
            f"argument 'inline_format' expected 'svg', 'retina' or 'png', got {inline_format!r}"
        )
    import matplotlib

    matplotlib.rcParams.update(BOOK_RC)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is in the book environment
        return
    if get_ipython() is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats(inline_format)


def _new_axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    return ax


def as_vector(weights, name: str = "weights") -> np.ndarray:
    """Return ``weights`` as a 1-D float array ``(C,)``.

    Singleton axes are dropped, so the channel weights of one image in any layout work:
    ``(C,)``, ``(1, C)``, ``(1, C, 1, 1)`` (NCHW) or ``(1, 1, 1, C)`` (NHWC).

    Raises:
        ValueError: if ``weights`` is empty or has more than one non-singleton axis
            (e.g. a batch of several images: select one first).
    """
    array = np.asarray(weights, dtype=np.float64)
    squeezed = np.squeeze(array)
    if squeezed.ndim == 0 and array.size == 1:
        squeezed = squeezed.reshape(1)
    if squeezed.ndim != 1 or squeezed.size == 0:
        raise ValueError(
            f"argument '{name}' expected the weights of one image, shape (C,) or with singleton "
            f"axes such as (1, C, 1, 1); got shape {array.shape}"
        )
    return squeezed


def as_map(attention_map, name: str = "attention_map") -> np.ndarray:
    """Return ``attention_map`` as a 2-D float array ``(h, w)``.

    Singleton axes are dropped, so one image's spatial map works in any layout:
    ``(h, w)``, ``(1, 1, h, w)`` (NCHW) or ``(1, h, w, 1)`` (NHWC).

    Raises:
        ValueError: if the map does not have exactly two non-singleton axes.
    """
    array = np.asarray(attention_map, dtype=np.float64)
    squeezed = np.squeeze(array)
    if squeezed.ndim != 2:
        raise ValueError(
            f"argument '{name}' expected one spatial map, shape (h, w) or with singleton axes "
            f"such as (1, 1, h, w); got shape {array.shape}"
        )
    return squeezed


def _check_labels(labels, count: int, name: str) -> list[str]:
    labels = [str(label) for label in labels]
    if len(labels) != count:
        raise ValueError(f"argument '{name}' expected {count} labels, got {len(labels)}")
    return labels


def plot_channel_weights(
    weights,
    labels: Sequence[str] | None = None,
    ax=None,
    *,
    title: str | None = None,
    color: str = "tab:blue",
    reference: float | None = 0.5,
):
    """Bar chart of per-channel attention weights.

    Args:
        weights: ``(C,)`` or one image's ``(1, C, 1, 1)`` / ``(1, 1, 1, C)`` weights.
        labels: optional ``C`` channel names, drawn as x tick labels (vertical, small).
        ax: the Axes to draw on; a new figure when ``None``.
        title: optional title.
        color: bar colour.
        reference: y value of a dashed horizontal reference line (default 0.5, the output of
            a sigmoid at 0, i.e. "no preference"); ``None`` draws none.

    Returns:
        The Axes, with one bar per channel (``ax.patches``).

    Raises:
        ValueError: ``weights`` not one image's weights; ``labels`` of the wrong length.
    """
    values = as_vector(weights)
    if labels is not None:
        labels = _check_labels(labels, values.size, "labels")
    ax = _new_axes(ax)
    positions = np.arange(values.size)
    ax.bar(positions, values, color=color, width=0.8)
    if reference is not None:
        ax.axhline(reference, color="0.3", linestyle="--", linewidth=1)
    ax.set_xlim(-0.6, values.size - 0.4)
    if labels is not None:
        ax.set_xticks(positions)
        ax.set_xticklabels(labels, rotation=90, fontsize=6)
    ax.set_xlabel("channel")
    ax.set_ylabel("weight")
    if title:
        ax.set_title(title)
    return ax


def plot_channel_grid(
    weights,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    ax=None,
    *,
    title: str | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    annotate: bool = False,
    fontsize: float = 8,
):
    """Heat map of ``C = rows x columns`` channel weights, channel ``c`` at ``divmod(c, columns)``.

    Args:
        weights: ``(C,)`` or one image's ``(1, C, 1, 1)`` / ``(1, 1, 1, C)`` weights.
        row_labels, column_labels: names of the rows and columns; their lengths must
            multiply to ``C``.
        ax: the Axes to draw on; a new figure when ``None``.
        title, cmap, vmin, vmax: as in :meth:`matplotlib.axes.Axes.imshow`.
        colorbar: draw a colour bar beside the Axes.
        annotate: write each value (2 decimals) in its cell.
        fontsize: size of the row and column labels (points).

    Returns:
        The Axes; ``ax.images[0]`` holds the ``(rows, columns)`` array.

    Raises:
        ValueError: ``weights`` not one image's weights, or
            ``len(row_labels) * len(column_labels) != C``.
    """
    values = as_vector(weights)
    rows, columns = len(row_labels), len(column_labels)
    if rows * columns != values.size:
        raise ValueError(
            f"argument 'row_labels'/'column_labels' expected {rows} x {columns} = {values.size} "
            f"cells (C), got {rows * columns}"
        )
    grid = values.reshape(rows, columns)
    ax = _new_axes(ax)
    image = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_yticks(np.arange(rows))
    ax.set_yticklabels([str(label) for label in row_labels], fontsize=fontsize)
    ax.set_xticks(np.arange(columns))
    ax.set_xticklabels([str(label) for label in column_labels], fontsize=fontsize)
    if annotate:
        middle = (np.nanmin(grid) + np.nanmax(grid)) / 2
        for (r, c), value in np.ndenumerate(grid):
            ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=6,
                    color="black" if value > middle else "white")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title)
    return ax


def overlay_attention(
    image,
    attention_map,
    ax=None,
    alpha: float = 0.5,
    *,
    cmap: str = ATTENTION_CMAP,
    title: str | None = None,
    vmin: float | None = ATTENTION_RANGE[0],
    vmax: float | None = ATTENTION_RANGE[1],
    colorbar: bool = True,
    colorbar_label: str | None = None,
):
    """Draw a spatial attention map over an image, upsampled to the image size.

    The map ``(h, w)`` is resized to the image's ``(H, W)`` with bilinear interpolation
    (scikit-image ``resize``, ``order=1``, values preserved), then drawn with ``alpha`` over
    the image; both layers share the image's extent, so pixel ``(i, j)`` of the map lies on
    pixel ``(i, j)`` of the image.

    Args:
        image: ``(H, W)`` grey or ``(H, W, 3|4)`` RGB(A); floats in [0, 1] or ``uint8``.
        attention_map: ``(h, w)``, or one image's ``(1, 1, h, w)`` (NCHW) / ``(1, h, w, 1)``
            (NHWC) map. Any aspect ratio; it is stretched to ``(H, W)``.
        ax: the Axes to draw on; a new figure when ``None``.
        alpha: opacity of the map in [0, 1].
        cmap, vmin, vmax: colour mapping of the map; default the house style's
            :data:`ATTENTION_CMAP` on the fixed range [0, 1] (pass ``vmin=None, vmax=None``
            for the map's own range, and say so in the caption).
        title: optional title.
        colorbar: draw a colour bar for the map beside the Axes.
        colorbar_label: optional label of the colour bar.

    Returns:
        The Axes: ``ax.images[0]`` is the image, ``ax.images[1]`` the upsampled ``(H, W)`` map.

    Raises:
        ValueError: ``image`` not ``(H, W)`` or ``(H, W, 3|4)``; ``attention_map`` not one 2-D
            map; ``alpha`` outside [0, 1].
    """
    picture = np.asarray(image)
    if picture.ndim not in (2, 3) or (picture.ndim == 3 and picture.shape[2] not in (3, 4)) \
            or 0 in picture.shape:
        raise ValueError(
            f"argument 'image' expected an (H, W) or (H, W, 3|4) array, got shape {picture.shape}"
        )
    small = as_map(attention_map)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"argument 'alpha' expected a number in [0, 1], got {alpha!r}")
    from skimage.transform import resize

    height, width = picture.shape[:2]
    large = resize(small, (height, width), order=1, mode="edge", anti_aliasing=False,
                   preserve_range=True)
    ax = _new_axes(ax)
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None)
    layer = ax.imshow(large, cmap=cmap, alpha=alpha, vmin=vmin, vmax=vmax)
    ax.set_axis_off()
    if colorbar:
        bar = ax.figure.colorbar(layer, ax=ax, fraction=0.046, pad=0.04)
        if colorbar_label:
            bar.set_label(colorbar_label)
    if title:
        ax.set_title(title)
    return ax


_COST_MARKERS = "osD^vP*X"
_COST_LABELS = {"median_ms": "forward pass, ms (median)", "cpu_median_ms": "forward pass, CPU ms (median)",
                "peak_mib": "peak memory, MiB"}


def _power_label(power: float) -> str:
    if power == 1:
        return "∝ N"
    if power == 2:
        return "∝ N²"
    return f"∝ N^{power:g}"


def plot_cost_scaling(table, quantity: str = "median_ms", ax=None, *, guides=(1, 2), labels=None,
                      show_skipped: bool = True, legend: bool = True, title: str | None = None):
    """Log-log plot of a cost against the number of positions ``N``, one line per configuration.

    Each configuration key of ``table`` (a table of
    :func:`vision_attention.profiling.attention_cost`) is one line through its measured
    rows, in the table's order (so two panels drawn from one table share colours and
    markers); explicit variants are dashed. On log-log axes a cost ``∝ N**k`` is a straight
    line of slope ``k``: ``guides`` draws grey dotted reference lines of those slopes, through
    the geometric mean of the measured values at the smallest ``N``, labelled at the right.
    Values that are not positive (nothing measured) are left out.

    Args:
        table: a :class:`pandas.DataFrame` with columns ``key``, ``module``, ``variant``,
            ``positions``, ``status`` and ``quantity``.
        quantity: the column on the y axis, e.g. ``"median_ms"``, ``"cpu_median_ms"`` or
            ``"peak_mib"``.
        ax: the Axes to draw on; a new figure when ``None``.
        guides: slopes of the reference lines (positive numbers); ``()`` for none.
        labels: optional ``{key: legend label}``; default ``"module (variant)"``.
        show_skipped: with ``quantity="peak_mib"``, draw skipped rows at their
            ``predicted_attention_mib`` as open markers on a dotted line ("predicted, not run").
        legend: draw a legend.
        title: optional title.

    Returns:
        The Axes; ``ax.lines`` holds the data lines (labelled), then the guides (whose labels
        start with ``_``).

    Raises:
        ValueError: a missing column, or a guide slope that is not a positive number.
    """
    needed = {"key", "module", "variant", "positions", "status", quantity}
    missing = sorted(needed - set(getattr(table, "columns", ())))
    if missing:
        raise ValueError(f"plot_cost_scaling: argument 'table' expected columns {sorted(needed)}, "
                         f"missing {missing}")
    guides = list(guides)
    if any(isinstance(g, bool) or not isinstance(g, (int, float)) or not g > 0 for g in guides):
        raise ValueError(f"plot_cost_scaling: argument 'guides' expected positive slopes, got {guides!r}")
    ax = _new_axes(ax)
    measured_all = table[(table["status"] == "measured") & (table[quantity] > 0)]
    for i, (key, rows) in enumerate(table.groupby("key", sort=False)):
        colour, marker = f"C{i % 10}", _COST_MARKERS[i % len(_COST_MARKERS)]
        first = rows.iloc[0]
        label = (labels or {}).get(key, f"{first['module']} ({first['variant']})")
        style = "--" if "explicit" in str(first["variant"]) else "-"
        done = rows[(rows["status"] == "measured") & (rows[quantity] > 0)].sort_values("positions")
        ax.plot(done["positions"], done[quantity], linestyle=style, marker=marker, color=colour,
                label=label, markersize=4)
        if show_skipped and quantity == "peak_mib" and "predicted_attention_mib" in rows:
            skipped = rows[(rows["status"] == "skipped") & (rows["predicted_attention_mib"] > 0)]
            if not skipped.empty:
                tail = done.tail(1)
                xs = list(tail["positions"]) + list(skipped["positions"])
                ys = list(tail[quantity]) + list(skipped["predicted_attention_mib"])
                ax.plot(xs, ys, linestyle=":", color=colour, label="_predicted")
                ax.plot(skipped["positions"], skipped["predicted_attention_mib"], linestyle="none",
                        marker=marker, markerfacecolor="none", color=colour, label="_predicted, not run")
    ax.set_xscale("log")
    ax.set_yscale("log")
    sides = sorted(int(n) for n in measured_all["positions"].unique())
    if sides:  # ticks at the measured sizes, labelled by their side: 14², 28², ...
        ax.set_xticks(sides, [f"{math.isqrt(n)}²" if math.isqrt(n) ** 2 == n else str(n) for n in sides])
        ax.minorticks_off()
    if guides and not measured_all.empty:
        x0, x1 = float(sides[0]), float(sides[-1])
        at_min = measured_all.loc[measured_all["positions"] == sides[0], quantity].to_numpy(dtype=float)
        anchor = float(np.exp(np.mean(np.log(at_min))))
        xlim, ylim = ax.get_xlim(), ax.get_ylim()  # the data's limits: guides must not stretch them
        for power in guides:
            x = np.geomspace(x0, x1, 50)
            ax.plot(x, anchor * (x / x0) ** power, linestyle=":", color="0.45", linewidth=1,
                    label=f"_guide {_power_label(power)}")
            # the label: where the guide leaves the axes at the top (right of it, clear of the
            # line), or at its right end (above it)
            x_top = x0 * (ylim[1] / anchor) ** (1.0 / power)
            if x_top < x1:
                where, offset, ha, va = (x_top, ylim[1]), (4, -2), "left", "top"
            else:
                where, offset, ha, va = (x1, anchor * (x1 / x0) ** power), (-4, 2), "right", "bottom"
            ax.annotate(_power_label(power), where, xytext=offset, textcoords="offset points", ha=ha, va=va,
                        color="0.35", fontsize=8)
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
    ax.set_xlabel("positions N = H × W (log scale)")
    ax.set_ylabel(_COST_LABELS.get(quantity, quantity))
    if legend:
        ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    return ax


VERDICT_COLOURS = {"supported": "#1b7837", "partly": "#b8860b", "contradicted": "#b2182b",
                   "not measured": "0.45"}
"""Edge colours of :func:`plot_decision_tree`'s notes, by verdict (green, amber, red, grey)."""


def _tree_leaves(node, path="tree") -> list:
    if isinstance(node, str):
        return [node]
    if (not isinstance(node, (tuple, list)) or len(node) != 2 or not isinstance(node[0], str)
            or not isinstance(node[1], (tuple, list)) or len(node[1]) < 1):
        raise ValueError(f"plot_decision_tree: argument 'tree' expected at {path} an answer string or "
                         f"(question, [(edge label, child), ...]), got {node!r}")
    leaves = []
    for i, edge in enumerate(node[1]):
        if not isinstance(edge, (tuple, list)) or len(edge) != 2 or not isinstance(edge[0], str):
            raise ValueError(f"plot_decision_tree: argument 'tree' expected at {path}[1][{i}] an "
                             f"(edge label, child) pair, got {edge!r}")
        leaves += _tree_leaves(edge[1], f"{path}[1][{i}][1]")
    return leaves


def plot_decision_tree(tree, ax=None, *, notes=None, wrap: int = 30, title: str | None = None):
    """Draw a decision tree: boxed questions, labelled edges, answers, a note under each answer.

    Layout: answers (leaves) take the x positions 0, 1, 2, ... from left to right in the order
    given; a question sits above the mean x of its children; depth goes downwards. Used for the
    Med-Framework attention guide's "which attention module?" tree, annotated with what the
    book measured.

    Args:
        tree: a question node ``(question, [(edge label, child), ...])``; a child is another
            question node or an answer string.
        ax: the Axes to draw on; a new figure (width from the number of answers) when ``None``.
        notes: optional sequence with one entry per answer, left to right: ``None`` (no note)
            or ``(verdict, text)`` with ``verdict`` a key of :data:`VERDICT_COLOURS` (the note
            box's edge colour and its first line) and ``text`` wrapped at ``wrap`` characters.
        wrap: line length of the notes, in characters.
        title: optional title.

    Returns:
        The Axes (its texts: questions, answers, edge labels, notes; no axis frame).

    Raises:
        ValueError: ``tree`` is not such a structure (the message gives the path of the bad
            node), ``notes`` has a different length from the number of answers, or a verdict
            is unknown.
    """
    import textwrap

    leaves = _tree_leaves(tree)
    if notes is not None:
        notes = list(notes)
        if len(notes) != len(leaves):
            raise ValueError(f"plot_decision_tree: argument 'notes' expected {len(leaves)} entries "
                             f"(one per answer), got {len(notes)}")
        for i, note in enumerate(notes):
            if note is not None and (len(note) != 2 or note[0] not in VERDICT_COLOURS):
                raise ValueError(f"plot_decision_tree: argument 'notes'[{i}] expected None or "
                                 f"(verdict, text) with verdict in {sorted(VERDICT_COLOURS)}, got {note!r}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(max(6.0, 2.4 * len(leaves)), 5.2))
    nodes, edges, counter = [], [], iter(range(len(leaves)))

    def place(node, depth):
        if isinstance(node, str):
            x = float(next(counter))
            nodes.append((x, -depth, node, "answer"))
            return x
        xs = [place(child, depth + 1) for _, child in node[1]]
        x = float(np.mean(xs))
        for (label, _), cx in zip(node[1], xs):
            edges.append((x, -depth, cx, label))
        nodes.append((x, -depth, node[0], "question"))
        return x

    place(tree, 0)
    child_y = {}
    for x, y, text, kind in nodes:
        child_y.setdefault(x, []).append(y)
    boxes = {"question": dict(boxstyle="round,pad=0.4", facecolor="#eef3fb", edgecolor="#4a6fa5"),
             "answer": dict(boxstyle="round,pad=0.4", facecolor="#f4f4f4", edgecolor="0.3")}
    for x0, y0, x1, label in edges:
        # the child's y: the node at x1 one level below y0
        y1 = max(y for y in child_y[x1] if y < y0)
        ax.annotate("", xy=(x1, y1 + 0.18), xytext=(x0, y0 - 0.18),
                    arrowprops=dict(arrowstyle="-|>", color="0.35", linewidth=1))
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, label, ha="center", va="center", fontsize=8,
                color="0.2", bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none"))
    leaf_nodes = sorted((n for n in nodes if n[3] == "answer"), key=lambda n: n[0])
    for x, y, text, kind in nodes:
        ax.text(x, y, text, ha="center", va="center", fontsize=9,
                fontweight="bold" if kind == "answer" else "normal", bbox=boxes[kind])
    lowest = min(y for _, y, _, _ in nodes)
    for (x, y, _, _), note in zip(leaf_nodes, notes or [None] * len(leaves)):
        if note is None:
            continue
        verdict, text = note
        body = "\n".join(textwrap.wrap(str(text), wrap))
        ax.text(x, y - 0.35, f"{verdict}\n{body}", ha="center", va="top", fontsize=7.5,
                bbox=dict(boxstyle="round,pad=0.35", facecolor="white",
                          edgecolor=VERDICT_COLOURS[verdict], linewidth=1.5))
    ax.set_xlim(-0.6, len(leaves) - 0.4)
    ax.set_ylim(lowest - 1.7, 0.4)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


STATISTIC_LABELS = {
    "mean": "mean weight",
    "std": "standard deviation of the weights",
    "low": "fraction of weights < 0.05",
    "high": "fraction of weights > 0.95",
    "saturated": "fraction saturated (< 0.05 or > 0.95)",
    "entropy": "normalised entropy of the map",
}
"""Axis labels of the statistics of :func:`vision_attention.monitor.attention_statistics`."""

_KEY_STYLES = ("-", "--", ":", "-.")


def plot_attention_statistics(table, stat: str = "saturated", ax=None, *, title: str | None = None,
                              cmap: str = ATTENTION_CMAP, legend: bool = True):
    """One attention statistic over training steps, one line per (module, weight key).

    Rows of the same step, module and key (several passes per step) are averaged. Modules are
    coloured in network order along ``cmap`` (early modules dark, late ones light with
    ``viridis``), weight keys drawn with their own line style (solid, dashed, dotted, ...);
    lines whose statistic is NaN throughout (``entropy`` of channel weights) are left out. The
    y axis is the fixed range [0, 1] of every statistic. The legend is compact: small type,
    outside the Axes on the right, two columns beyond eight lines.

    Args:
        table: :meth:`vision_attention.monitor.AttentionMonitor.table`, or any
            :class:`pandas.DataFrame` with columns ``step``, ``module``, ``key`` and ``stat``.
        stat: one of :data:`vision_attention.monitor.STATISTICS`.
        ax: the Axes to draw on; a new figure when ``None``.
        title: optional title.
        cmap: colour map of the modules (perceptually uniform, :data:`ATTENTION_CMAP`).
        legend: draw the legend.

    Returns:
        The Axes; ``ax.lines`` holds one line per drawn (module, key), labelled
        ``"module: key"``.

    Raises:
        ValueError: ``stat`` not a statistic; ``table`` missing a column, or with no finite
            value of ``stat``.
    """
    from matplotlib import colormaps

    from .monitor import STATISTICS

    if stat not in STATISTICS:
        raise ValueError(f"plot_attention_statistics: argument 'stat' expected one of {STATISTICS}, got {stat!r}")
    needed = {"step", "module", "key", stat}
    missing = sorted(needed - set(getattr(table, "columns", ())))
    if missing:
        raise ValueError(f"plot_attention_statistics: argument 'table' expected columns {sorted(needed)}, "
                         f"missing {missing}")
    finite = table[np.isfinite(table[stat].to_numpy(dtype=np.float64))]
    if finite.empty:
        raise ValueError(f"plot_attention_statistics: argument 'table' has no finite {stat!r} value "
                         "(entropy exists for spatial maps only)")
    modules = list(dict.fromkeys(finite["module"]))
    keys = list(dict.fromkeys(finite["key"]))
    colours = colormaps[cmap]
    ax = _new_axes(ax)
    for (module, key), rows in finite.groupby(["module", "key"], sort=False):
        series = rows.groupby("step")[stat].mean()
        shade = modules.index(module) / max(len(modules) - 1, 1)
        ax.plot(series.index, series.to_numpy(), color=colours(0.9 * shade),
                linestyle=_KEY_STYLES[keys.index(key) % len(_KEY_STYLES)], marker="." if len(series) < 30 else None,
                linewidth=1.2, label=f"{module}: {key}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training step")
    ax.set_ylabel(STATISTIC_LABELS[stat])
    if legend:
        ax.legend(fontsize=6, ncol=1 if len(ax.lines) <= 8 else 2, loc="center left", bbox_to_anchor=(1.01, 0.5),
                  frameon=False, handlelength=2.5, columnspacing=1.0)
    if title:
        ax.set_title(title)
    return ax
