"""ECA's kernel-size rule, checked against the paper's definition written independently."""

from __future__ import annotations

import math

import pytest

from vision_attention import eca_kernel_size


def nearest_odd(t: float) -> set[int]:
    """The paper's |t|_odd: the odd integer(s) nearest to t (two of them on a tie)."""
    below = 2 * math.floor((t - 1) / 2) + 1
    above = below + 2
    if math.isclose(t - below, above - t):
        return {below, above}
    return {below} if t - below < above - t else {above}


@pytest.mark.parametrize("channels", [1, 3, 16, 24, 32, 64, 96, 100, 128, 160, 256, 320, 512, 1024, 1280, 2048])
@pytest.mark.parametrize("gamma, b", [(2, 1), (3, 1), (2, 0)])
def test_kernel_size_is_odd_and_agrees_with_the_paper_except_where_truncation_differs(channels, gamma, b):
    k = eca_kernel_size(channels, gamma, b)
    t = (math.log2(channels) + b) / gamma
    assert k % 2 == 1 and k >= 1
    # The code truncates t before rounding up to odd: it can differ from the nearest odd
    # number only by one step, and only when t is within 1 of the next odd number.
    assert k in nearest_odd(t) or abs(k - t) <= 1.0, (channels, t, k, nearest_odd(t))


def test_values_printed_in_the_book():
    # t = 3.5 -> 3; t = 4.5 -> 5; t = 6 -> int 6, even -> 7; t = 4 (a tie) -> 5.
    assert [eca_kernel_size(c) for c in (64, 256, 2048, 128)] == [3, 5, 7, 5]


@pytest.mark.parametrize(
    "kwargs, argument",
    [({"channels": 0}, "'channels'"), ({"channels": 64.0}, "'channels'"),
     ({"channels": 64, "gamma": 0}, "'gamma'"), ({"channels": 64, "b": "1"}, "'b'"),
     ({"channels": 64, "b": float("nan")}, "'b'")],
)
def test_bad_arguments_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        eca_kernel_size(**kwargs)
