"""The comparison table: a pandas DataFrame that prints differences beside their tolerances."""

from __future__ import annotations

import math
import textwrap

import pandas as pd

_FLOAT = "{:.2e}".format

# Short human headers of the data columns (the HTML columns stay as narrow as the numbers).
_HEADERS = {
    "pair": "pair",
    "output_max_abs": "output |Δ|",
    "output_max_rel": "output |Δ|/|ref|",
    "grad_max_abs": "grad |Δ|",
    "grad_max_rel": "grad |Δ|/|ref|",
    "attention_max_abs": "attention |Δ|",
    "param_grad_max_abs": "param. grad |Δ|",
    "step_max_abs": "SGD step |Δ|",
    "output_tol": "output tol.",
    "grad_tol": "grad tol.",
    "tol_kind": "tol. on",
    "passed": "pass",
}
_TOLERANCE = ("output_tol", "grad_tol", "tol_kind")

# Columns that may say nothing in a given table: relative differences when no row is judged on
# them, and differences nobody computed (all NaN: no gradients, no attention maps, no training
# step). They stay in the DataFrame; the printed table leaves them out, so it fits the column.
_RELATIVE = ("output_max_rel", "grad_max_rel")
_OPTIONAL = ("grad_max_abs", "attention_max_abs", "param_grad_max_abs", "step_max_abs")

# Legend sentences, each shown when its column is.
_LEGEND_PARTS = (
    (None, "|Δ|: largest absolute difference of the pair"),
    ("output_max_rel", "|Δ|/|ref|: the same divided by the largest absolute value of the first of the pair"),
    ("grad_max_abs", "grad: input gradient of the summed output (eval mode)"),
    ("param_grad_max_abs", "param. grad: gradients of every parameter in training mode "
                           "(loss 0.5·mean((y − t)²), random target t)"),
    ("step_max_abs", "SGD step: every weight and BatchNorm statistic after one SGD step from the same weights"),
)


def _legend(columns) -> str:
    parts = [text for column, text in _LEGEND_PARTS if column is None or column in columns]
    bounded_by_output = ["output", "attention maps"] + (["SGD step"] if "step_max_abs" in columns else [])
    bounded_by_grad = ["grad"] + (["param. grad"] if "param_grad_max_abs" in columns else [])
    rel = " unless marked rel. (on |Δ|/|ref|)" if "output_max_rel" in columns else ""
    parts.append(f"tolerance: {', '.join(bounded_by_output)} / {', '.join(bounded_by_grad)}, on |Δ|{rel}")
    return "; ".join(parts) + "."


def _tolerance_text(output_tol: float, grad_tol: float, kind: str) -> str:
    """``"1e-05 / 1e-04"`` (absolute) or ``"1e-04 rel. / –"`` (relative, no gradient bound)."""
    output = f"{output_tol:.0e}" + (" rel." if kind == "rel" else "")
    return f"{output} / {'–' if math.isnan(grad_tol) else f'{grad_tol:.0e}'}"


class ParityTable(pd.DataFrame):
    """A :class:`pandas.DataFrame` of cross-framework differences (one row per framework
    pair). Its text and HTML forms leave out the columns that say nothing in this table
    (relative differences when no row is judged on them, differences that were not computed),
    and show floats as ``1.23e-07``, short headers, the three
    tolerance columns as one ``tolerance`` column, ``passed`` as ✓/✗, a caption from
    ``attrs`` (module name, constructor arguments, input shape) and a legend. The data
    columns keep their names (see :data:`vision_attention.parity.TABLE_COLUMNS`); columns
    of other names (e.g. one added with ``assign``) are shown as they are."""

    @property
    def _constructor(self):
        return ParityTable

    def _caption(self) -> str:
        attrs = self.attrs
        if "name" not in attrs:
            return ""
        kwargs = ", ".join(f"{k}={v!r}" for k, v in attrs.get("kwargs", {}).items())
        shape = tuple(attrs.get("input_shape", ()))
        if shape and isinstance(shape[0], tuple):  # several inputs: (x, g) of a gate
            return f"{attrs['name']}({kwargs}), inputs {' and '.join(map(str, shape))} NCHW float32"
        return f"{attrs['name']}({kwargs}), input {shape} NCHW float32"

    def _shown_columns(self) -> list[str]:
        """The data columns worth printing (see ``_RELATIVE`` and ``_OPTIONAL``)."""
        frame = pd.DataFrame(self)
        relative = "tol_kind" in frame.columns and (frame["tol_kind"] == "rel").any()
        hidden = set() if relative else set(_RELATIVE)
        hidden |= {c for c in _OPTIONAL if c in frame.columns and frame[c].isna().all()}
        if "grad_max_abs" in hidden:
            hidden.add("grad_max_rel")
        return [c for c in frame.columns if c not in hidden]

    def _display(self) -> pd.DataFrame:
        """A plain DataFrame of what is shown: the columns that say something, merged
        tolerance, ✓/✗, human headers."""
        shown = pd.DataFrame(self)[self._shown_columns()]
        if set(_TOLERANCE) <= set(shown.columns):
            text = [_tolerance_text(*row) for row in shown[list(_TOLERANCE)].itertuples(index=False)]
            shown.insert(shown.columns.get_loc("output_tol"), "tolerance", text)
            shown = shown.drop(columns=list(_TOLERANCE))
        if "passed" in shown.columns:
            shown["passed"] = shown["passed"].map({True: "✓", False: "✗"})
        return shown.rename(columns=_HEADERS)

    def __repr__(self) -> str:
        body = self._display().to_string(float_format=_FLOAT, index=False, na_rep="–")
        legend = textwrap.fill(_legend(self._shown_columns()), 100)
        return "\n".join(part for part in (self._caption(), body, legend) if part)

    def _repr_html_(self) -> str:
        html = self._display().to_html(float_format=_FLOAT, index=False, na_rep="–")
        caption = self._caption()
        return (f"<p><b>{caption}</b></p>\n" if caption else "") + f"{html}\n<p><small>{_legend(self._shown_columns())}</small></p>"
