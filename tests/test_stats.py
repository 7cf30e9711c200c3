"""vision_attention.stats against numbers computed independently here and a textbook example."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as scipy_stats

from vision_attention.stats import LatencySummary, latency_summary, paired_comparison, paired_table

# Student's sleep data (Cushny & Peebles 1905, R's `sleep`): extra hours of sleep with two
# drugs on the same ten patients. R's t.test(extra ~ group, paired = TRUE) gives
# t = -4.0621, df = 9, p-value = 0.002833, 95 % CI -2.4598858 to -0.7001142, mean difference -1.58.
DRUG_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
DRUG_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]

BASELINE = [81.0, 79.5, 80.2, 82.1, 80.7]  # accuracy in points, one value per seed


def shifted(values, differences):
    return [v + d for v, d in zip(values, differences)]


def test_textbook_example_student_sleep_data():
    c = paired_comparison(DRUG_1, DRUG_2)
    assert c.n == 10
    assert c.mean_diff == pytest.approx(-1.58)
    assert c.t == pytest.approx(-4.0621, abs=1e-4)
    assert c.p_value == pytest.approx(0.002833, abs=1e-6)
    assert (c.ci_low, c.ci_high) == pytest.approx((-2.4598858, -0.7001142), abs=1e-7)
    assert c.measurable


def test_statistics_match_the_formulas_written_out():
    d = np.array([-0.5, 0.3, -0.2, 0.4, -0.6])
    treatment = shifted(BASELINE, d)
    c = paired_comparison(treatment, BASELINE, alpha=0.1)
    n = len(d)
    mean, sd = d.sum() / n, math.sqrt(((d - d.sum() / n) ** 2).sum() / (n - 1))
    t = mean / (sd / math.sqrt(n))
    p = 2 * scipy_stats.t.sf(abs(t), df=n - 1)
    half = scipy_stats.t.ppf(1 - 0.1 / 2, df=n - 1) * sd / math.sqrt(n)
    assert c.n == n
    assert c.mean_diff == pytest.approx(mean) and c.std_diff == pytest.approx(sd)
    assert c.t == pytest.approx(t) and c.p_value == pytest.approx(p)
    assert (c.ci_low, c.ci_high) == pytest.approx((mean - half, mean + half))
    assert c.treatment_mean == pytest.approx(sum(treatment) / n)
    assert c.baseline_mean == pytest.approx(sum(BASELINE) / n)
    b = np.array(BASELINE)
    assert c.baseline_std == pytest.approx(math.sqrt(((b - b.mean()) ** 2).sum() / (n - 1)))
    assert c.measurable == (p < 0.1)


def test_swapping_treatment_and_baseline_flips_the_sign():
    treatment = shifted(BASELINE, [-0.9, -0.6, -1.1, -0.5, -0.9])
    forward, backward = paired_comparison(treatment, BASELINE), paired_comparison(BASELINE, treatment)
    assert backward.mean_diff == pytest.approx(-forward.mean_diff)
    assert backward.t == pytest.approx(-forward.t)
    assert backward.p_value == pytest.approx(forward.p_value)
    assert (backward.ci_low, backward.ci_high) == pytest.approx((-forward.ci_high, -forward.ci_low))
    assert backward.std_diff == pytest.approx(forward.std_diff)


def test_sentence_worse():
    # differences -0.8 ± 0.35: mean -0.8, sd sqrt(0.49/4) = 0.35, t = -0.8 / (0.35 / sqrt 5) = -5.11
    d = [-0.8, -0.8 + 0.35 * math.sqrt(2), -0.8 - 0.35 * math.sqrt(2), -0.8, -0.8]
    c = paired_comparison(shifted(BASELINE, d), BASELINE, treatment_name="CBAM", baseline_name="no attention")
    p = 2 * scipy_stats.t.sf(0.8 / (0.35 / math.sqrt(5)), df=4)
    assert f"{p:.3f}" == "0.007"
    assert c.sentence == ("CBAM is worse than no attention by 0.80 ± 0.35 points "
                          "(95 % CI -1.23 to -0.37, paired t-test p = 0.007, n = 5)")
    assert c.verdict == "worse" and c.as_row()["verdict"] == "CBAM worse"


def test_sentence_better_and_lower_is_better():
    d = [-2.0, -1.5, -2.5, -2.0, -2.0]  # ms saved per seed
    c = paired_comparison(shifted([10.0] * 5, d), [10.0] * 5, treatment_name="ECA", unit="ms",
                          higher_is_better=False)
    assert c.sentence.startswith("ECA is better than baseline by 2.00 ± 0.35 ms (95 % CI -2.44 to -1.56, ")
    assert c.sentence.endswith("paired t-test p < 0.001, n = 5)")
    worse = paired_comparison(shifted([10.0] * 5, d), [10.0] * 5, treatment_name="ECA", unit="ms")
    assert worse.sentence.startswith("ECA is worse than baseline by 2.00 ± 0.35 ms")


def test_sentence_no_measurable_difference():
    # mean -0.13; squared deviations sum to 0.748, sd sqrt(0.748 / 4) = 0.432, t = -0.672;
    # CI -0.13 ± 2.776 * 0.432 / sqrt 5 = -0.67 to 0.41
    d = [0.2, -0.5, 0.4, -0.6, -0.15]
    c = paired_comparison(shifted(BASELINE, d), BASELINE)
    assert not c.measurable and c.verdict == "no measurable difference"
    assert f"{2 * scipy_stats.t.sf(0.13 / (math.sqrt(0.748 / 4) / math.sqrt(5)), df=4):.2f}" == "0.54"
    assert c.sentence == ("no measurable difference at n = 5 (mean difference -0.13 ± 0.43 points, "
                          "95 % CI -0.67 to 0.41, paired t-test p = 0.54)")


def test_identical_zero_differences_are_no_difference_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = paired_comparison(BASELINE, list(BASELINE))
    assert (c.mean_diff, c.std_diff, c.t, c.p_value, c.ci_low, c.ci_high) == (0, 0, 0, 1, 0, 0)
    assert not c.measurable and c.sentence.startswith("no measurable difference at n = 5")


@pytest.mark.parametrize("shift, sign", [(0.1, 1), (-0.25, -1)])
def test_identical_nonzero_differences_give_infinite_t_without_warnings(shift, sign):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy alone warns of catastrophic cancellation here
        c = paired_comparison(shifted(BASELINE, [shift] * 5), BASELINE)
    assert c.t == sign * math.inf and c.p_value == 0 and c.measurable
    assert c.std_diff == 0 and c.ci_low == c.ci_high == pytest.approx(shift)
    assert c.verdict == ("better" if sign > 0 else "worse")


def test_confidence_level_follows_alpha():
    c = paired_comparison(DRUG_1, DRUG_2, alpha=0.01)
    assert "99 % CI" in c.sentence and "99 % CI" in c.as_row()
    assert c.measurable  # p = 0.0028 < 0.01
    assert not paired_comparison(DRUG_1, DRUG_2, alpha=0.001).measurable


def test_paired_table_one_row_per_comparison():
    cbam = paired_comparison(shifted(BASELINE, [0.2, -0.5, 0.4, -0.6, -0.15]), BASELINE, treatment_name="CBAM")
    drugs = paired_comparison(DRUG_1, DRUG_2, treatment_name="drug 1", baseline_name="drug 2", unit="h")
    table = paired_table({"CBAM, test accuracy": cbam, "sleep": drugs})
    assert list(table.index) == ["CBAM, test accuracy", "sleep"] and table.index.name == "comparison"
    assert list(table.columns) == ["treatment", "baseline", "n", "mean ± std (treatment)", "mean ± std (baseline)",
                                   "difference", "95 % CI", "p", "verdict"]
    row = table.loc["sleep"]
    assert row["mean ± std (treatment)"] == "0.75 ± 1.79" and row["difference"] == "-1.58 ± 1.23 h"
    assert row["95 % CI"] == "-2.46 to -0.70" and row["p"] == "0.003" and row["verdict"] == "drug 1 worse"
    assert table.loc["CBAM, test accuracy", "verdict"] == "no measurable difference"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"treatment": [[1.0, 2.0], [3.0, 4.0]]}, r"'treatment' expected a 1-D .*got shape \(2, 2\)"),
        ({"baseline": 3.0}, r"'baseline' expected a 1-D .*got shape \(\)"),
        ({"baseline": [1.0, 2.0, 3.0]}, r"'baseline' expected 5 values \(one per seed, as in 'treatment'\), got 3"),
        ({"treatment": [1.0], "baseline": [2.0]}, r"'treatment' expected .*at least 2 .*got 1 value"),
        ({"baseline": [80.0, math.nan, 80.0, 80.0, 80.0]}, r"'baseline' expected .*finite .*got non-finite"),
        ({"treatment": [80.0, math.inf, 80.0, 80.0, 80.0]}, r"'treatment' expected .*finite .*got non-finite"),
        ({"treatment": ["a", "b", "c", "d", "e"]}, r"'treatment' expected .*real numbers, got dtype <U1"),
        ({"treatment": [True] * 5}, r"'treatment' expected .*real numbers, got dtype bool"),
        ({"treatment": [[1.0], [2.0, 3.0]]}, r"'treatment' expected a 1-D .*got \[\[1.0\], \[2.0, 3.0\]\]"),
        ({"treatment": None}, r"'treatment' expected .*got dtype object"),
        ({"alpha": 0}, r"'alpha' expected a number in \(0, 1\), got 0"),
        ({"alpha": 1.5}, r"'alpha' expected a number in \(0, 1\), got 1.5"),
        ({"alpha": "0.05"}, r"'alpha' expected a number in \(0, 1\), got '0.05'"),
        ({"treatment_name": 3}, r"'treatment_name' expected a string, got 3"),
        ({"unit": None}, r"'unit' expected a string, got None"),
        ({"higher_is_better": 1}, r"'higher_is_better' expected True or False, got 1"),
    ],
)
def test_paired_comparison_rejects_bad_input(kwargs, match):
    arguments = {"treatment": shifted(BASELINE, [0.1, 0.2, 0.0, 0.3, 0.1]), "baseline": BASELINE, **kwargs}
    with pytest.raises(ValueError, match=f"paired_comparison: argument {match}"):
        paired_comparison(**arguments)


@pytest.mark.parametrize(
    "comparisons, match",
    [({}, "non-empty mapping"), ([1, 2], "non-empty mapping"), ({"a": 0.5}, "PairedComparison values, got float")],
)
def test_paired_table_rejects_bad_input(comparisons, match):
    with pytest.raises(ValueError, match=f"paired_table: argument 'comparisons' expected .*{match}"):
        paired_table(comparisons)


def test_latency_summary_quartiles_and_text():
    samples = [12.0, 12.4, 12.2, 12.3, 15.0, 12.2, 12.6]  # sorted: 12.0 12.2 12.2 12.3 12.4 12.6 15.0
    s = latency_summary(samples)
    # linear percentiles of 7 values: rank p/100 * 6 -> 25 % at rank 1.5, 75 % at rank 4.5
    assert s == LatencySummary(n=7, median=12.3, q1=pytest.approx(12.2), q3=pytest.approx(12.5),
                               min=12.0, max=15.0, unit="ms")
    assert s.iqr == pytest.approx(0.3)
    assert str(s) == "12.3 ms (IQR 12.2–12.5, n = 7)"
    assert str(latency_summary([0.01234, 0.01238, 0.0125], unit="s")) == "0.0124 s (IQR 0.0124–0.0124, n = 3)"
    single = latency_summary([1234.5])
    assert (single.median, single.q1, single.q3, single.n) == (1234.5, 1234.5, 1234.5, 1)
    assert str(single) == "1234 ms (IQR 1234–1234, n = 1)"


@pytest.mark.parametrize(
    "samples, unit, match",
    [
        ([[1.0, 2.0]], "ms", r"'samples' expected a 1-D .*got shape \(1, 2\)"),
        ([], "ms", r"'samples' expected .*at least 1 .*got 0 value"),
        ([1.0, math.nan], "ms", r"'samples' expected .*finite .*got non-finite"),
        ([1.0, -0.5], "ms", r"'samples' expected .*non-negative .*got negative"),
        (["1 ms"], "ms", r"'samples' expected .*got dtype <U4"),
        ([1.0], 1000, r"'unit' expected a string, got 1000"),
    ],
)
def test_latency_summary_rejects_bad_input(samples, unit, match):
    with pytest.raises(ValueError, match=f"latency_summary: argument {match}"):
        latency_summary(samples, unit=unit)
