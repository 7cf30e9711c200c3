"""Statistics the chapters print: paired comparisons across seeds, latency summaries.

**Paired comparisons.** The chapters compare a network with attention against one without
over a handful of seeds. A seed fixes the data split, the initial weights and the batch
order, so run ``i`` with attention and run ``i`` without it share everything but the
attention module: the runs are *paired*, and the question is whether the mean of the
per-seed differences ``d_i = treatment_i - baseline_i`` is distinguishable from zero.
:func:`paired_comparison` answers it with the two-sided paired t-test (Student, 1908;
``scipy.stats.ttest_rel``, https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.ttest_rel.html):
``t = mean(d) / (std(d, ddof=1) / sqrt(n))`` with ``n - 1`` degrees of freedom, and the
``1 - alpha`` confidence interval of the mean difference from the same t distribution
(``TtestResult.confidence_interval``). Pairing removes the seed-to-seed variation both arms
share, which an unpaired test (or comparing the two means' error bars) would count as noise.
With five seeds the test only detects differences that are large against their spread;
"no measurable difference at n = 5" is a statement about this experiment, not proof of equality.

**Latency.** :func:`latency_summary` reduces repeated timings to the median and the
inter-quartile range (numpy's default linear percentiles 25 and 75), which a few slow outliers
(other processes on a shared machine) do not move, unlike the mean or the minimum.

Importing this module imports numpy only; scipy and pandas are imported by the functions
that need them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["PairedComparison", "paired_comparison", "paired_table", "LatencySummary", "latency_summary"]


def _samples(owner: str, name: str, values, min_size: int, non_negative: bool = False) -> np.ndarray:
    """``values`` as a 1-D float64 array of at least ``min_size`` finite numbers, else ValueError."""
    expected = f"a 1-D sequence of at least {min_size} finite {'non-negative ' if non_negative else ''}real numbers"
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as err:  # e.g. ragged nested lists
        raise ValueError(f"{owner}: argument '{name}' expected {expected}, got {values!r} ({err})") from None
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{owner}: argument '{name}' expected {expected}, got dtype {array.dtype}: {values!r}")
    if array.ndim != 1:
        raise ValueError(f"{owner}: argument '{name}' expected {expected}, got shape {array.shape}")
    if array.size < min_size:
        raise ValueError(f"{owner}: argument '{name}' expected {expected}, got {array.size} value(s)")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{owner}: argument '{name}' expected {expected}, got non-finite values {values!r}")
    if non_negative and (array < 0).any():
        raise ValueError(f"{owner}: argument '{name}' expected {expected}, got negative values {values!r}")
    return array


def _check_type(owner: str, name: str, value, kind: type, expected: str):
    if not isinstance(value, kind):
        raise ValueError(f"{owner}: argument '{name}' expected {expected}, got {value!r}")
    return value


def _decimals(scale: float, significant: int) -> int:
    """Decimals that show ``scale`` to ``significant`` significant digits (at least 2 for 0)."""
    if scale == 0:
        return 2
    return max(0, significant - 1 - math.floor(math.log10(abs(scale))))


def _format_p(p: float) -> str:
    if p < 0.001:
        return "< 0.001"
    return f"= {p:.3f}" if p < 0.01 else f"= {p:.2f}"


@dataclass(frozen=True)
class PairedComparison:
    """Result of :func:`paired_comparison`: per-arm statistics, the paired t-test and a verdict.

    Means, standard deviations (``ddof=1``), ``mean_diff = mean(treatment - baseline)``,
    ``std_diff`` and the interval ``[ci_low, ci_high]`` are in ``unit``; ``t`` is the paired
    t statistic (``n - 1`` degrees of freedom), ``p_value`` its two-sided p-value and
    ``measurable`` is ``p_value < alpha``.
    """

    n: int
    treatment_mean: float
    treatment_std: float
    baseline_mean: float
    baseline_std: float
    mean_diff: float
    std_diff: float
    t: float
    p_value: float
    ci_low: float
    ci_high: float
    measurable: bool
    treatment_name: str = "attention"
    baseline_name: str = "baseline"
    unit: str = "points"
    alpha: float = 0.05
    higher_is_better: bool = True

    @property
    def verdict(self) -> str:
        """``"better"``, ``"worse"`` (for the treatment, by sign and ``higher_is_better``) or
        ``"no measurable difference"``."""
        if not self.measurable:
            return "no measurable difference"
        return "better" if (self.mean_diff > 0) == self.higher_is_better else "worse"

    @property
    def _confidence(self) -> str:
        return f"{100 * (1 - self.alpha):g} % CI"

    def _fmt(self, value: float) -> str:
        """``value`` with two significant digits of the paired spread (at least 2 decimals)."""
        scale = self.std_diff or self.mean_diff
        return f"{value:.{max(2, _decimals(scale, 2))}f}"

    @property
    def sentence(self) -> str:
        """The sentence the chapters print, e.g. ``"CBAM is worse than baseline by 0.80 ± 0.35
        points (95 % CI -1.23 to -0.37, paired t-test p = 0.008, n = 5)"`` or ``"no measurable
        difference at n = 5 (mean difference -0.13 ± 0.40 points, 95 % CI -0.63 to 0.37,
        paired t-test p = 0.52)"``; "±" gives the standard deviation of the paired differences."""
        f = self._fmt
        ci = f"{self._confidence} {f(self.ci_low)} to {f(self.ci_high)}"
        test = f"paired t-test p {_format_p(self.p_value)}"
        if not self.measurable:
            return (f"no measurable difference at n = {self.n} (mean difference {f(self.mean_diff)} ± "
                    f"{f(self.std_diff)} {self.unit}, {ci}, {test})")
        return (f"{self.treatment_name} is {self.verdict} than {self.baseline_name} by "
                f"{f(abs(self.mean_diff))} ± {f(self.std_diff)} {self.unit} ({ci}, {test}, n = {self.n})")

    def as_row(self) -> dict:
        """One table row of formatted strings: ``treatment``, ``baseline``, ``n``, ``mean ± std
        (treatment)``, ``mean ± std (baseline)``, ``difference`` (mean ± std of the paired
        differences, with the unit), ``95 % CI`` (the level follows ``alpha``), ``p`` and
        ``verdict`` (``"<treatment> better"``, ``"<treatment> worse"`` or ``"no measurable
        difference"``)."""
        f = self._fmt
        verdict = self.verdict if not self.measurable else f"{self.treatment_name} {self.verdict}"
        return {
            "treatment": self.treatment_name,
            "baseline": self.baseline_name,
            "n": self.n,
            "mean ± std (treatment)": f"{f(self.treatment_mean)} ± {f(self.treatment_std)}",
            "mean ± std (baseline)": f"{f(self.baseline_mean)} ± {f(self.baseline_std)}",
            "difference": f"{f(self.mean_diff)} ± {f(self.std_diff)} {self.unit}",
            self._confidence: f"{f(self.ci_low)} to {f(self.ci_high)}",
            "p": _format_p(self.p_value).removeprefix("= "),
            "verdict": verdict,
        }


def paired_comparison(
    treatment,
    baseline,
    *,
    treatment_name: str = "attention",
    baseline_name: str = "baseline",
    unit: str = "points",
    alpha: float = 0.05,
    higher_is_better: bool = True,
) -> PairedComparison:
    """Compare two arms measured on the same seeds with a two-sided paired t-test.

    Args:
        treatment, baseline: 1-D sequences of ``n >= 2`` finite real numbers in ``unit``,
            entry ``i`` of both from the same seed (same data, initialisation, batch order).
        treatment_name, baseline_name: names used in :attr:`PairedComparison.sentence`.
        unit: unit of the values, e.g. ``"points"`` (percentage points of accuracy) or ``"ms"``.
        alpha: significance level in (0, 1); the interval has confidence ``1 - alpha``.
        higher_is_better: whether a larger value is an improvement (accuracy) or not (latency,
            loss); decides "better" or "worse".

    Returns:
        A :class:`PairedComparison`. The t-test and interval come from
        ``scipy.stats.ttest_rel(treatment, baseline)`` and its ``confidence_interval``, except
        when all paired differences are identical (to within ``10 * eps`` of their mean, where
        scipy would warn of catastrophic cancellation): then ``std_diff = 0``, the interval is
        the point ``[mean_diff, mean_diff]``, and ``t = 0, p = 1`` if the differences are zero,
        ``t = ±inf, p = 0`` otherwise. No numpy or scipy warning is emitted.

    Raises:
        ValueError: an argument of the wrong type; ``treatment`` or ``baseline`` not 1-D, with
            fewer than 2 values, non-numeric or non-finite values; lengths that differ;
            ``alpha`` not in (0, 1).
    """
    owner = "paired_comparison"
    treatment = _samples(owner, "treatment", treatment, 2)
    baseline = _samples(owner, "baseline", baseline, 2)
    if treatment.size != baseline.size:
        raise ValueError(
            f"{owner}: argument 'baseline' expected {treatment.size} values (one per seed, as in "
            f"'treatment'), got {baseline.size}"
        )
    for name, value in (("treatment_name", treatment_name), ("baseline_name", baseline_name), ("unit", unit)):
        _check_type(owner, name, value, str, "a string")
    _check_type(owner, "higher_is_better", higher_is_better, bool, "True or False")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ValueError(f"{owner}: argument 'alpha' expected a number in (0, 1), got {alpha!r}")

    n = int(treatment.size)
    d = treatment - baseline
    mean_diff = float(d.mean())
    if np.max(np.abs(d - mean_diff)) <= 10 * np.finfo(np.float64).eps * abs(mean_diff):
        std_diff, ci_low, ci_high = 0.0, mean_diff, mean_diff
        t, p = (0.0, 1.0) if mean_diff == 0 else (math.copysign(math.inf, mean_diff), 0.0)
    else:
        from scipy import stats

        result = stats.ttest_rel(treatment, baseline)
        ci = result.confidence_interval(confidence_level=1 - alpha)
        std_diff, t, p = float(d.std(ddof=1)), float(result.statistic), float(result.pvalue)
        ci_low, ci_high = float(ci.low), float(ci.high)
    return PairedComparison(
        n=n,
        treatment_mean=float(treatment.mean()),
        treatment_std=float(treatment.std(ddof=1)),
        baseline_mean=float(baseline.mean()),
        baseline_std=float(baseline.std(ddof=1)),
        mean_diff=mean_diff,
        std_diff=std_diff,
        t=t,
        p_value=p,
        ci_low=ci_low,
        ci_high=ci_high,
        measurable=bool(p < alpha),
        treatment_name=treatment_name,
        baseline_name=baseline_name,
        unit=unit,
        alpha=float(alpha),
        higher_is_better=higher_is_better,
    )


def paired_table(comparisons: Mapping[str, PairedComparison]):
    """A :class:`pandas.DataFrame` with one row (:meth:`PairedComparison.as_row`) per
    comparison, indexed by the mapping's keys (index name ``"comparison"``), in its order.

    Raises:
        ValueError: ``comparisons`` is not a non-empty mapping of :class:`PairedComparison`.
    """
    if not isinstance(comparisons, Mapping) or not comparisons:
        raise ValueError(
            f"paired_table: argument 'comparisons' expected a non-empty mapping of name -> "
            f"PairedComparison, got {comparisons!r}"
        )
    for key, value in comparisons.items():
        if not isinstance(value, PairedComparison):
            raise ValueError(
                f"paired_table: argument 'comparisons' expected PairedComparison values, got "
                f"{type(value).__name__} for {key!r}"
            )
    import pandas as pd

    table = pd.DataFrame([c.as_row() for c in comparisons.values()], index=list(comparisons))
    table.index.name = "comparison"
    return table


@dataclass(frozen=True)
class LatencySummary:
    """Median and inter-quartile range of repeated timings (all in ``unit``)."""

    n: int
    median: float
    q1: float
    q3: float
    min: float
    max: float
    unit: str = "ms"

    @property
    def iqr(self) -> float:
        """Inter-quartile range ``q3 - q1``."""
        return self.q3 - self.q1

    def _figures(self) -> tuple[str, str, str]:
        """Median, q1 and q3 to three significant digits of the median."""
        d = _decimals(self.median, 3)
        return f"{self.median:.{d}f}", f"{self.q1:.{d}f}", f"{self.q3:.{d}f}"

    def compact(self) -> str:
        """``"12.3 (12.1–12.6)"``: median (q1–q3), for table cells whose header gives the unit and ``n``."""
        median, q1, q3 = self._figures()
        return f"{median} ({q1}–{q3})"

    def __str__(self) -> str:
        """``"12.3 ms (IQR 12.1–12.6, n = 15)"``: three significant digits of the median."""
        median, q1, q3 = self._figures()
        return f"{median} {self.unit} (IQR {q1}–{q3}, n = {self.n})"


def latency_summary(samples, unit: str = "ms") -> LatencySummary:
    """Summarise repeated timings by median and quartiles.

    Args:
        samples: 1-D sequence of ``n >= 1`` finite, non-negative durations in ``unit``.
        unit: their unit, e.g. ``"ms"`` or ``"s"`` (only printed).

    Returns:
        A :class:`LatencySummary`: ``median``, ``q1``, ``q3`` from ``numpy.percentile`` (25,
        50, 75; linear interpolation, numpy's default), ``min``, ``max``; ``str()`` of it is
        ``"12.3 ms (IQR 12.1–12.6, n = 15)"``.

    Raises:
        ValueError: ``samples`` not 1-D, empty, non-numeric, non-finite or negative; ``unit``
            not a string.
    """
    values = _samples("latency_summary", "samples", samples, 1, non_negative=True)
    _check_type("latency_summary", "unit", unit, str, "a string")
    q1, median, q3 = (float(v) for v in np.percentile(values, [25, 50, 75]))
    return LatencySummary(
        n=int(values.size), median=median, q1=q1, q3=q3,
        min=float(values.min()), max=float(values.max()), unit=unit,
    )
