"""The statistics: one paired log-ratio test whose verdict always agrees with its CI."""

import math

import numpy as np
import pytest
from scipy import stats as sp

from harness.analysis.stats import (
    StatsConfig,
    describe,
    instability,
    median_ci,
    precision,
    ratio_test,
    verdict,
)

CFG = StatsConfig()


def test_paired_ratio_is_the_geometric_mean_with_the_t_interval_of_the_log_ratios():
    rng = np.random.default_rng(3)
    ref = rng.lognormal(np.log(2.0), 0.05, 12)
    other = ref / rng.lognormal(np.log(1.5), 0.04, 12)
    test = ratio_test(ref, other, paired=True, cfg=CFG)
    d = np.log(ref / other)
    expected = sp.ttest_1samp(d, 0.0)
    ci = expected.confidence_interval(0.95)
    assert test.ratio == pytest.approx(math.exp(d.mean()))
    assert test.ci_low == pytest.approx(math.exp(ci.low))
    assert test.ci_high == pytest.approx(math.exp(ci.high))
    assert test.p_value == pytest.approx(expected.pvalue)
    assert test.verdict == "faster" and test.paired and test.n == 12


def test_independent_samples_use_welchs_t_on_log_times():
    rng = np.random.default_rng(1)
    a, b = rng.normal(2.0, 0.05, 20), rng.normal(1.0, 0.05, 15)
    test = ratio_test(a, b, paired=False, cfg=CFG)
    expected = sp.ttest_ind(np.log(a), np.log(b), equal_var=False)
    ci = expected.confidence_interval(0.95)
    assert test.ratio == pytest.approx(math.exp(np.log(a).mean() - np.log(b).mean()))
    assert (test.ci_low, test.ci_high) == pytest.approx((math.exp(ci.low), math.exp(ci.high)))
    assert test.p_value == pytest.approx(expected.pvalue)
    assert test.p_value < 0.001 and not test.paired


@pytest.mark.parametrize("seed", range(40))
def test_the_verdict_is_faster_or_slower_exactly_when_the_ci_excludes_1(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 15))
    ref = rng.lognormal(0.0, 0.05, n)
    other = ref * rng.lognormal(rng.normal(0, 0.04), rng.uniform(0.005, 0.1), n)
    test = ratio_test(ref, other, paired=bool(seed % 2), cfg=CFG)
    excludes = test.ci_low > 1 or test.ci_high < 1
    assert excludes == (test.p_value < CFG.alpha)
    assert (test.verdict in ("faster", "slower")) == excludes
    if test.verdict == "faster":
        assert test.ratio > 1 and test.ci_low > 1
    if test.verdict == "slower":
        assert test.ratio < 1 and test.ci_high < 1
    if test.verdict == "equivalent":
        assert 0.95 <= test.ci_low <= 1 <= test.ci_high <= 1.05
    if test.verdict == "inconclusive":
        assert test.ci_low <= 1 <= test.ci_high and (test.ci_low < 0.95 or test.ci_high > 1.05)


def test_a_ci_holding_1_is_equivalent_inside_the_band_and_inconclusive_outside():
    assert verdict(0.97, 1.03, CFG) == "equivalent"
    assert verdict(0.90, 1.03, CFG) == "inconclusive"
    assert verdict(0.99, 1.20, CFG) == "inconclusive"
    assert verdict(1.01, 1.20, CFG) == "faster"
    assert verdict(0.80, 0.99, CFG) == "slower"
    assert verdict(None, None, CFG) == "inconclusive"


def test_one_pair_gives_a_ratio_without_ci_and_no_pairs_give_nothing():
    one = ratio_test(np.array([2.0]), np.array([1.0]), paired=True, cfg=CFG)
    assert one.ratio == pytest.approx(2.0) and one.ci_low is None and one.verdict == "inconclusive"
    none = ratio_test(np.array([]), np.array([]), paired=True, cfg=CFG)
    assert none.ratio is None and none.verdict is None and none.n == 0


def test_identical_pair_ratios_give_a_point_ci():
    ref = np.array([2.0, 3.0, 4.0])
    same = ratio_test(ref, ref, paired=True, cfg=CFG)
    assert (same.ratio, same.ci_low, same.ci_high, same.p_value) == (1.0, 1.0, 1.0, 1.0)
    assert same.verdict == "equivalent"
    double = ratio_test(ref, ref / 2, paired=True, cfg=CFG)
    assert double.ci_low == pytest.approx(2.0) and double.verdict == "faster"


def test_the_median_ci_is_distribution_free_and_absent_below_six_values():
    assert median_ci(np.arange(1.0, 6.0), 0.95) == (None, None)
    assert median_ci(np.arange(1.0, 10.0), 0.95) == (2.0, 8.0)  # x(2), x(8) of 9: 96 %
    d = describe(np.array([3.0, 1.0, 2.0]), 0.95)
    assert d["median"] == 2.0 and d["min"] == 1.0 and d["max"] == 3.0 and d["n"] == 3
    assert d["stddev"] == pytest.approx(1.0)
    assert describe(np.array([]), 0.95)["median"] is None


def test_instability_notes_are_codes_with_their_numbers():
    notes = instability(np.array([1.0, 1.0, 1.01, 0.99, 1.0, 5.0]), CFG)
    by_code = {n["code"]: n for n in notes}
    assert by_code["few_runs"] == {"code": "few_runs", "runs": 6, "minimum": 10}
    assert by_code["unstable"]["cv"] > 0.10
    assert by_code["outliers"]["count"] == 1
    assert instability(np.linspace(1.0, 1.01, 30), CFG) == []


def test_precision_is_the_relative_half_width_of_the_ci():
    assert precision({"ci_low": 1.0 / 1.05, "ci_high": 1.05}) == pytest.approx(0.05)
    assert precision({"ci_low": None, "ci_high": None}) is None
