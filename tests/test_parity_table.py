"""The parity table judges hand-made results against the contract's tolerances and prints them.

No framework runs here: :func:`difference_table` gets results built by hand with known
differences on either side of each tolerance.
"""

from __future__ import annotations

import math
import re

import conftest
import numpy as np
import pandas as pd
import pytest

from vision_attention import parity
from vision_attention.parity import GRAD_ATOL, OUTPUT_ATOL, RESNET_RTOL, difference_table

SHAPE = (2, 4, 3, 5)


def result(output_offset=0.0, grad_offset=None, channel_offset=None, scale=1.0):
    """``(outputs, input_grad)`` as :func:`run_module` returns them, offset by known amounts."""
    base = np.linspace(-scale, scale, math.prod(SHAPE)).reshape(SHAPE)
    outputs = {"output": base + output_offset}
    if channel_offset is not None:
        outputs["channel"] = np.full((2, 4, 1, 1), 0.5) + channel_offset
    return outputs, None if grad_offset is None else base + grad_offset


def test_the_contract_values_are_defined_once():
    assert (OUTPUT_ATOL, GRAD_ATOL, RESNET_RTOL) == (1e-5, 1e-4, 1e-4)
    assert (conftest.OUTPUT_ATOL, conftest.GRAD_ATOL, conftest.RESNET_RTOL) == (OUTPUT_ATOL, GRAD_ATOL, RESNET_RTOL)


def test_module_rows_over_an_absolute_tolerance_fail():
    table = difference_table({
        "torch": result(grad_offset=0.0, channel_offset=0.0),
        "paddle": result(output_offset=2 * OUTPUT_ATOL, grad_offset=0.0, channel_offset=0.0),  # output over
        "tensorflow": result(output_offset=OUTPUT_ATOL / 2, grad_offset=GRAD_ATOL / 2, channel_offset=0.0),
    })
    assert list(table.columns) == list(parity.TABLE_COLUMNS)
    by_pair = table.set_index("pair")
    assert by_pair.loc["torch-paddle", "output_max_abs"] == pytest.approx(2 * OUTPUT_ATOL)
    assert by_pair["passed"].to_dict() == {"torch-paddle": False, "torch-tensorflow": True, "paddle-tensorflow": False}
    assert (table["output_tol"] == OUTPUT_ATOL).all() and (table["grad_tol"] == GRAD_ATOL).all()
    assert (table["tol_kind"] == "abs").all()


@pytest.mark.parametrize(
    "other, passed",
    [
        (result(grad_offset=2 * GRAD_ATOL, channel_offset=0.0), False),  # input gradient over
        (result(grad_offset=GRAD_ATOL / 2, channel_offset=2 * OUTPUT_ATOL), False),  # attention map over
        (result(grad_offset=GRAD_ATOL / 2, channel_offset=OUTPUT_ATOL / 2), True),
        (result(output_offset=math.nan, grad_offset=0.0, channel_offset=0.0), False),  # NaN is not a pass
    ],
)
def test_gradients_and_attention_maps_are_judged_too(other, passed):
    table = difference_table({"torch": result(grad_offset=0.0, channel_offset=0.0), "paddle": other})
    assert table["passed"].tolist() == [passed]


def test_without_gradients_only_outputs_are_judged():
    table = difference_table({"torch": result(), "paddle": result(output_offset=OUTPUT_ATOL / 2)})
    assert math.isnan(table["grad_max_abs"].iloc[0]) and table["passed"].tolist() == [True]


def test_whole_networks_are_judged_by_the_relative_tolerance():
    scale = 100.0  # logits of size 100: an absolute difference of 5e-3 is 5e-5 relative
    table = difference_table(
        {
            "torch": result(scale=scale),
            "paddle": result(output_offset=RESNET_RTOL / 2 * scale, scale=scale),
            "tensorflow": result(output_offset=-RESNET_RTOL * 2 * scale, scale=scale),
        },
        name="attention_resnet",
    )
    by_pair = table.set_index("pair")
    assert by_pair.loc["torch-paddle", "output_max_abs"] > 100 * OUTPUT_ATOL  # would fail an absolute bound
    assert by_pair.loc["torch-paddle", "output_max_rel"] == pytest.approx(RESNET_RTOL / 2)
    assert by_pair["passed"].to_dict() == {"torch-paddle": True, "torch-tensorflow": False, "paddle-tensorflow": False}
    assert (table["tol_kind"] == "rel").all() and (table["output_tol"] == RESNET_RTOL).all()
    assert table["grad_tol"].isna().all()  # the contract bounds no gradient of a whole network


def _html_headers(html: str) -> list[str]:
    return re.findall(r"<th>(.*?)</th>", html)


def test_text_and_html_show_the_same_readable_columns():
    table = difference_table(
        {"torch": result(grad_offset=0.0, channel_offset=0.0),
         "paddle": result(output_offset=2 * OUTPUT_ATOL, grad_offset=0.0, channel_offset=0.0)},
        name="CBAM", kwargs={"in_channels": 4}, input_shape=SHAPE,
    )
    # Judged on absolute differences, without a training step: the relative and training
    # columns stay in the DataFrame but are not printed (nor explained in the legend).
    headers = ["pair", "output |Δ|", "grad |Δ|", "attention |Δ|", "tolerance", "pass"]
    text, html = repr(table), table._repr_html_()
    assert _html_headers(html) == headers
    lines = text.splitlines()
    assert lines[0] == "CBAM(in_channels=4), input (2, 4, 3, 5) NCHW float32" and "CBAM(in_channels=4)" in html
    positions = [lines[1].find(h) for h in headers]
    assert -1 not in positions and positions == sorted(positions), lines[1]
    assert lines[2].split()[-4:] == ["1e-05", "/", "1e-04", "✗"]
    assert "2.00e-05" in lines[2] and "<td>2.00e-05</td>" in html and "<td>✗</td>" in html
    assert "output_max_rel" in table.columns and "param_grad_max_abs" in table.columns
    assert "|Δ|/|ref|" not in text and "|Δ|/|ref|" not in html and "SGD step" not in text
    assert "grad: input gradient of the summed output" in text and "grad: input gradient" in html
    assert not any(name in text or name in html for name in ("output_max_rel", "grad_tol", "passed"))


def test_whole_network_tables_show_the_relative_column_they_are_judged_on():
    table = difference_table({"torch": result(scale=10.0), "paddle": result(scale=10.0, output_offset=1e-3)},
                             name="attention_resnet")
    headers = _html_headers(table._repr_html_())
    assert "output |Δ|/|ref|" in headers and "param. grad |Δ|" not in headers
    assert "|Δ|/|ref|: the same divided by" in repr(table) and "unless marked rel." in repr(table)


def test_concatenated_tables_print_per_row_tolerances():
    """The chapters concatenate tables of several modules and put a column in front."""
    module = difference_table({"torch": result(), "paddle": result()}, name="ECA")
    network = difference_table({"torch": result(scale=10.0), "paddle": result(scale=10.0)}, name="attention_resnet")
    both = pd.concat([module.assign(module="ECA"), network.assign(module="ResNet-50")], ignore_index=True)
    both = both[["module"] + [c for c in both.columns if c != "module"]]
    html = both._repr_html_()
    assert _html_headers(html)[:2] == ["module", "pair"]
    assert "<td>1e-05 / 1e-04</td>" in html and "<td>1e-04 rel. / –</td>" in html
    assert "1e-04 rel. / –" in repr(both) and both["passed"].all()
