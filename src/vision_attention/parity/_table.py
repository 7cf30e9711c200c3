"""The comparison table: a pandas DataFrame that prints differences in scientific notation."""

from __future__ import annotations

import pandas as pd

_FLOAT = "{:.2e}".format


class ParityTable(pd.DataFrame):
    """A :class:`pandas.DataFrame` of cross-framework differences (one row per framework
    pair) whose text and HTML forms show floats as ``1.23e-07`` and a caption from
    ``attrs`` (module name, constructor arguments, input shape)."""

    @property
    def _constructor(self):
        return ParityTable

    def _caption(self) -> str:
        attrs = self.attrs
        if "name" not in attrs:
            return ""
        kwargs = ", ".join(f"{k}={v!r}" for k, v in attrs.get("kwargs", {}).items())
        return f"{attrs['name']}({kwargs}), input {tuple(attrs.get('input_shape', ()))} NCHW float32"

    def __repr__(self) -> str:
        body = self.to_string(float_format=_FLOAT, index=False)
        caption = self._caption()
        return f"{caption}\n{body}" if caption else body

    def _repr_html_(self) -> str:
        html = self.to_html(float_format=_FLOAT, index=False)
        caption = self._caption()
        return f"<p><b>{caption}</b></p>\n{html}" if caption else html
