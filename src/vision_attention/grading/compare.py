"""Compare a submission's outputs with the reference's, in the parent, with numpy only.

Nothing the submission returned is trusted to compare itself: outputs arrive as plain
``numpy.ndarray`` (loaded with ``allow_pickle=False``) and are checked for names, dtype,
shape, non-finite values (exactly where the reference has the same ones) and ``|got - ref| <= atol + rtol * |ref|`` element by element.
"""

from __future__ import annotations

import numpy as np


def _fmt(v) -> str:
    return f"{float(v):.4g}"


def compare_outputs(expected: dict, got: dict, atol: float, rtol: float) -> str | None:
    """``None`` when ``got`` matches ``expected``; otherwise one message a student understands."""
    for name, ref in expected.items():
        if name not in got:
            return f"output {name!r} is missing (got {sorted(got)})"
        out = got[name]
        if out.dtype.kind not in "biuf":
            return f"output {name!r} has dtype {out.dtype}; expected numbers like the reference's {ref.dtype}"
        if out.shape != ref.shape:
            return f"output {name!r} has shape {tuple(out.shape)} but the reference has {tuple(ref.shape)}"
        out64, ref64 = np.atleast_1d(out.astype(np.float64)), np.atleast_1d(ref.astype(np.float64))
        bad, ref_bad = ~np.isfinite(out64), ~np.isfinite(ref64)
        # Non-finite values must sit where the reference has the same one (NaN where it is NaN,
        # +inf where it is +inf): a finite answer where the reference is NaN is wrong too.
        both = bad & ref_bad
        same = np.isnan(out64) == np.isnan(ref64)
        same[both & ~np.isnan(out64)] = (out64 == ref64)[both & ~np.isnan(out64)]
        mismatch = (bad != ref_bad) | (both & ~same)
        if mismatch.any():
            pos = tuple(int(i) for i in np.argwhere(mismatch)[0])
            there = "finite" if not ref_bad[pos] else f"{ref64[pos]}"
            return f"output {name!r} holds {out64[pos]} at position {pos}; the reference is {there} there"
        excess = np.abs(out64 - ref64) - (atol + rtol * np.abs(ref64))
        excess[~np.isfinite(excess)] = -1.0
        if excess.max(initial=-1.0) > 0:
            pos = np.unravel_index(int(np.argmax(excess)), excess.shape)
            pos = tuple(int(i) for i in pos)
            diff = abs(out64[pos] - ref64[pos])
            n_bad = int((excess > 0).sum())
            return (
                f"output {name!r} differs from the reference by {_fmt(diff)} at position {pos} "
                f"(yours {_fmt(out64[pos])}, reference {_fmt(ref64[pos])}; {n_bad} of {excess.size} "
                f"values outside {atol:g} + {rtol:g}*|reference|)"
            )
    return None
