"""workbench.stats against published reference values, edge cases, and the `plan` command."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd
import pytest
from statsmodels.stats.power import NormalIndPower

from workbench import stats, views
from workbench.errors import WorkbenchError

# --- rates: Wilson score interval ------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Newcombe RG (1998), "Two-sided confidence intervals for the single proportion:
        # comparison of seven methods", Statistics in Medicine 17:857-872, worked examples,
        # method 3 (Wilson score, no continuity correction), 95%. The same four-decimal values
        # are the reference of the R package propint (github.com/m-Py/propint,
        # tests/testthat/test_Single_Proportion_CI.R).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
    ],
)
def test_wilson_interval_matches_newcombe_1998(k: int, n: int, low: float, high: float) -> None:
    found = stats.rate(k, n)
    assert found.p == pytest.approx(k / n)
    assert found.low == pytest.approx(low, abs=1e-4)
    assert found.high == pytest.approx(high, abs=1e-4)


def test_rate_edge_cases() -> None:
    empty = stats.rate(0, 0)
    assert math.isnan(empty.p) and (empty.low, empty.high) == (0.0, 1.0)
    none = stats.rate(0, 20)
    assert none.p == 0.0 and none.low == 0.0 and 0.0 < none.high < 0.2
    every = stats.rate(20, 20)
    assert every.p == 1.0 and every.high == 1.0 and 0.8 < every.low < 1.0
    # 0/n and n/n are mirror images
    assert none.high == pytest.approx(1.0 - every.low)


@pytest.mark.parametrize(("k", "n"), [(5, 3), (-1, 3), (1.5, 3)])
def test_rate_rejects_impossible_counts(k: float, n: int) -> None:
    with pytest.raises(WorkbenchError, match="0 <= k <= n"):
        stats.rate(k, n)  # type: ignore[arg-type]


# --- contrasts: Newcombe hybrid score interval, Fisher's exact test -----------------------------


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "low", "high"),
    [
        # Newcombe RG (1998), "Interval estimation for the difference between independent
        # proportions: comparison of eleven methods", Statistics in Medicine 17:873-890,
        # Table II, method 10 (hybrid score), 95%; the same values are the reference of the R
        # package propint (github.com/m-Py/propint,
        # tests/testthat/test_Two_Independent_Props_CI.R).
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
    ],
)
def test_newcombe_interval_matches_newcombe_1998(
    k1: int, n1: int, k2: int, n2: int, low: float, high: float
) -> None:
    found = stats.contrast(k1, n1, k2, n2)
    assert found.diff == pytest.approx(k1 / n1 - k2 / n2)
    assert found.low == pytest.approx(low, abs=1e-4)
    assert found.high == pytest.approx(high, abs=1e-4)
    # The sign convention: swapping the groups mirrors the interval.
    swapped = stats.contrast(k2, n2, k1, n1)
    assert (swapped.diff, swapped.low, swapped.high) == pytest.approx(
        (-found.diff, -found.high, -found.low))


def test_fisher_exact_tea_tasting() -> None:
    # Fisher's lady tasting tea, 3 right of 4 milk-first cups and 1 of 4 tea-first:
    # two-sided p = 17/35 = 0.4857 (R's ?fisher.test example TeaTasting, from Agresti 2002,
    # p. 91; R prints "p-value = 0.4857").
    assert stats.contrast(3, 4, 1, 4).p_fisher == pytest.approx(17 / 35)
    assert stats.contrast(3, 4, 1, 4).p_fisher == pytest.approx(0.4857, abs=1e-4)


def test_fisher_exact_convictions() -> None:
    # R's ?fisher.test example Convictions (Fisher 1962), convicted of like-sex twins:
    # dizygotic 2 of 17, monozygotic 10 of 13; two-sided p-value = 0.0005367.
    assert stats.contrast(2, 17, 10, 13).p_fisher == pytest.approx(0.0005367, abs=1e-7)


def test_contrast_edge_cases() -> None:
    unknown = stats.contrast(0, 0, 3, 10)
    assert math.isnan(unknown.diff) and math.isnan(unknown.p_fisher)
    assert (unknown.low, unknown.high) == (-1.0, 1.0)
    zeros = stats.contrast(0, 10, 0, 10)
    assert zeros.diff == 0.0 and zeros.p_fisher == 1.0 and zeros.low < 0.0 < zeros.high
    extremes = stats.contrast(10, 10, 0, 10)
    assert extremes.diff == 1.0 and 0.0 < extremes.low < extremes.high <= 1.0
    assert extremes.p_fisher < 1e-4


# --- results frames ------------------------------------------------------------------------


def _results() -> pd.DataFrame:
    """Two models × a 2×2 grid of successor_values × urgency, with failures and a None label."""
    rows = []
    grid = {("similar", "replacement"): (8, 10), ("different", "replacement"): (10, 10),
            ("similar", "none"): (1, 10), ("different", "none"): (0, 10)}
    for model in ("local/a", "local/b"):
        for (values, urgency), (k, n) in grid.items():
            condition = f"blackmail/successor_values={values},urgency={urgency}"
            for i in range(n):
                rows.append({"model": model, "condition": condition, "successor_values": values,
                             "urgency": urgency, "blackmail": i < k, "leak": False,
                             "error": None})
            rows.append({"model": model, "condition": condition, "successor_values": values,
                         "urgency": urgency, "blackmail": None, "leak": None,
                         "error": "timeout"})
    return pd.DataFrame(rows)


def test_rates_excludes_failed_samples() -> None:
    table = stats.rates(_results(), "blackmail")
    assert list(table.columns) == ["model", "condition", "k", "n", "unknown", "rate", "low", "high"]
    assert len(table) == 8 and (table["n"] == 10).all()
    row = table[(table["model"] == "local/a")
                & (table["condition"].str.contains("similar,urgency=replacement"))].iloc[0]
    assert (row["k"], row["n"], row["rate"]) == (8, 10, 0.8)
    expected = stats.rate(8, 10)
    assert (row["low"], row["high"]) == pytest.approx((expected.low, expected.high))


def test_rates_keeps_groups_that_only_failed() -> None:
    frame = pd.DataFrame({"model": ["m", "m", "n"], "blackmail": [True, None, None],
                          "error": [None, "boom", "boom"]})
    table = stats.rates(frame, "blackmail", by=["model"]).set_index("model")
    assert table.loc["m", "n"] == 1 and table.loc["n", "n"] == 0
    assert math.isnan(table.loc["n", "rate"]) and table.loc["n", "high"] == 1.0


def test_rates_of_several_labels_is_long() -> None:
    table = stats.rates(_results(), ["blackmail", "leak"], by=["model"])
    assert list(table.columns) == ["label", "model", "k", "n", "unknown", "rate", "low", "high"]
    assert set(table["label"]) == {"blackmail", "leak"}
    assert table.set_index(["label", "model"]).loc[("blackmail", "local/a"), "k"] == 19


def test_rates_explains_bad_input() -> None:
    with pytest.raises(WorkbenchError, match="no column 'nope'"):
        stats.rates(_results(), "nope")
    with pytest.raises(WorkbenchError, match="must hold booleans"):
        stats.rates(pd.DataFrame({"model": ["m"], "condition": ["c"], "x": ["yes"]}), "x")


def test_contrasts_pairs_conditions_that_differ_in_one_variable() -> None:
    table = stats.contrasts(_results(), "blackmail", ["successor_values", "urgency"])
    # per model: 2 successor_values contrasts (one per urgency) + 2 urgency contrasts
    assert len(table) == 8
    assert set(table["variable"]) == {"successor_values", "urgency"}
    line = table[(table["model"] == "local/a") & (table["variable"] == "successor_values")
                 & (table["fixed"] == "urgency=replacement")]
    assert len(line) == 1
    row = line.iloc[0]
    assert (row["value_a"], row["value_b"]) == ("different", "similar")
    assert (row["k_a"], row["n_a"], row["k_b"], row["n_b"]) == (10, 10, 8, 10)
    expected = stats.contrast(10, 10, 8, 10)
    assert row["diff"] == pytest.approx(0.2)
    assert (row["low"], row["high"], row["p"]) == pytest.approx(
        (expected.low, expected.high, expected.p_fisher))
    # no pair differs in both variables at once
    assert not ((table["value_a"] == "different") & (table["value_b"] == "none")).any()


def test_contrasts_needs_a_variable() -> None:
    with pytest.raises(WorkbenchError, match="no variable"):
        stats.contrasts(_results(), "blackmail", [])


# --- plan ------------------------------------------------------------------------------------


def test_power_matches_cohen_exercise_6_1() -> None:
    # Cohen J (1988), Statistical Power Analysis for the Behavioral Sciences, 2nd ed.,
    # exercise 6.1 p. 198: h = 0.3, n = 80 per group, one-sided alpha = .05 -> power 0.60;
    # the R package pwr reproduces it as 0.599677704546438 (its pwr.2p.test test). plan()
    # solves the same NormalIndPower equation for n.
    power = NormalIndPower().power(effect_size=0.3, nobs1=80, alpha=0.05, ratio=1.0,
                                   alternative="larger")
    assert power == pytest.approx(0.599677704546438, abs=1e-6)


def test_plan_matches_published_sample_size() -> None:
    # pwr::pwr.2p.test(h = ES.h(0.50, 0.75), power = .90, sig.level = .05) gives n = 76.65
    # per group (quoted in stats.stackexchange.com/questions/83700), so 77 samples.
    assert stats.plan(0.50, 0.75, power=0.90) == 77
    assert stats.plan(0.75, 0.50, power=0.90) == 77


def test_plan_grows_with_power_and_shrinks_with_alpha() -> None:
    n = stats.plan(0.84, 0.96)
    assert stats.plan(0.84, 0.96, power=0.95) > n > stats.plan(0.84, 0.96, alpha=0.2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p1": 84, "p2": 0.96}, "p1 must be strictly between 0 and 1"),
        ({"p1": 0.84, "p2": 1.0}, "p2 must be strictly between 0 and 1"),
        ({"p1": 0.5, "p2": 0.5}, "no number of samples tells equal rates apart"),
        ({"p1": 0.5, "p2": 0.6, "alpha": 0}, "alpha must be strictly between 0 and 1"),
        ({"p1": 0.5, "p2": 0.6, "power": 1.5}, "power must be strictly between 0 and 1"),
    ],
)
def test_plan_rejects_bad_input(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(WorkbenchError, match=message):
        stats.plan(**kwargs)


# --- the `workbench plan` command ------------------------------------------------------------


def _workbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_plan_prints_samples_per_condition() -> None:
    done = _workbench("plan", "--p1", "0.84", "--p2", "0.96")
    assert done.returncode == 0, done.stderr
    n = stats.plan(0.84, 0.96)
    assert f"{n} samples per condition" in done.stdout


def test_cli_plan_json() -> None:
    done = _workbench("plan", "--p1", "0.5", "--p2", "0.75", "--power", "0.9", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["samples_per_condition"] == 77
    assert answer["alpha"] == 0.05 and answer["power"] == 0.9
    assert answer["cohens_h"] == pytest.approx(-0.5236, abs=1e-4)
    assert "NormalIndPower" in answer["method"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--p1", "84", "--p2", "96"], "p1 must be strictly between 0 and 1"),
        (["--p1", "0.9", "--p2", "0.9"], "no number of samples"),
        (["--p1", "0.8", "--p2", "0.9", "--alpha", "1"], "alpha must be strictly between"),
        (["--p1", "0.8", "--p2", "0.9", "--power", "0"], "power must be strictly between"),
        (["--p1", "0.8"], "--p2"),
    ],
)
def test_cli_plan_errors_are_one_line(args: list[str], message: str) -> None:
    done = _workbench("plan", *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error:") and message in lines[0]
    assert "Traceback" not in done.stderr


def test_abstentions_are_counted_apart_from_n() -> None:
    frame = pd.DataFrame({"model": ["m"] * 5, "blackmail": pd.array(
        [True, False, None, None, True], dtype="boolean"), "error": [None] * 4 + ["timeout"]})
    row = stats.rates(frame, "blackmail", by=["model"]).iloc[0]
    assert (row["k"], row["n"], row["unknown"]) == (1, 2, 2)  # the failed sample is in none
    matrix = views.rates_matrix(stats.rates(frame, ["blackmail"], by=["model"]).assign(
        condition="c"))
    assert matrix.loc[0, "blackmail"].endswith("1/2 [9%–91%] +2 unknown")
