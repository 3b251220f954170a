"""Rates with Wilson intervals, two-proportion contrasts, and sample-size planning.

Every number comes from scipy or statsmodels; this module only arranges the counts:

- a rate is k successes out of n samples, with a Wilson score interval;
- a contrast is the difference of two rates, with Newcombe's hybrid score interval
  (method 10 of Newcombe 1998) and Fisher's exact two-sided p-value;
- a plan is the number of samples per condition that a two-sided test needs to tell two
  rates apart, from the normal approximation on Cohen's effect size h.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import pandas as pd
from scipy.stats import fisher_exact
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
)

from workbench.errors import StatsError

PLAN_METHOD = (
    "two-sided test of two proportions with equal n: normal approximation on Cohen's h "
    "(arcsine transform), statsmodels NormalIndPower"
)


@dataclass(frozen=True)
class Rate:
    """k successes out of n, the proportion p, and its confidence interval [low, high]."""

    k: int
    n: int
    p: float
    low: float
    high: float


@dataclass(frozen=True)
class Contrast:
    """The difference p1 - p2 with its confidence interval and Fisher's exact p-value."""

    diff: float
    low: float
    high: float
    p_fisher: float


def _check_open_unit(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 < value < 1.0:
        raise StatsError(f"{name} must be strictly between 0 and 1, got {value:g}; "
                         f"give it as a fraction, e.g. 0.84 for 84%")
    return value


def _check_counts(k: int, n: int) -> tuple[int, int]:
    if k != int(k) or n != int(n) or not 0 <= k <= n:
        raise StatsError(f"counts must be whole numbers with 0 <= k <= n, got k={k}, n={n}")
    return int(k), int(n)


def rate(k: int, n: int, alpha: float = 0.05) -> Rate:
    """k out of n with its Wilson score interval at level 1 - alpha.

    With n = 0 nothing is known: p is NaN and the interval is the whole range 0..1.
    """
    k, n = _check_counts(k, n)
    alpha = _check_open_unit("alpha", alpha)
    if n == 0:
        return Rate(k, n, math.nan, 0.0, 1.0)
    low, high = proportion_confint(k, n, alpha=alpha, method="wilson")
    # The Wilson bounds at k = 0 and k = n are exactly 0 and 1; drop the rounding error.
    low = 0.0 if k == 0 else max(0.0, float(low))
    high = 1.0 if k == n else min(1.0, float(high))
    return Rate(k, n, k / n, low, high)


def contrast(k1: int, n1: int, k2: int, n2: int, alpha: float = 0.05) -> Contrast:
    """The difference k1/n1 - k2/n2: Newcombe hybrid score interval and Fisher's exact p.

    If either side has no samples the difference is unknown: NaN, interval -1..1, p NaN.
    """
    k1, n1 = _check_counts(k1, n1)
    k2, n2 = _check_counts(k2, n2)
    alpha = _check_open_unit("alpha", alpha)
    if n1 == 0 or n2 == 0:
        return Contrast(math.nan, -1.0, 1.0, math.nan)
    # statsmodels returns the interval of p1 - p2, (count1, nobs1) being the first group.
    low, high = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb",
                                           compare="diff", alpha=alpha)
    _, p_value = fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="two-sided")
    return Contrast(k1 / n1 - k2 / n2, max(-1.0, float(low)), min(1.0, float(high)),
                    float(p_value))


def cohens_h(p1: float, p2: float) -> float:
    """Cohen's effect size h = 2·asin(√p1) − 2·asin(√p2) for two rates in (0, 1)."""
    p1 = _check_open_unit("p1", p1)
    p2 = _check_open_unit("p2", p2)
    return float(proportion_effectsize(p1, p2))


def plan(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Samples per condition needed to tell rate p1 from p2, rounded up.

    Method: a two-sided test with equal n in both conditions, using the normal approximation
    on Cohen's effect size h (the arcsine transform of the rates) as in Cohen (1988),
    chapter 6, solved by statsmodels' ``NormalIndPower``.
    """
    h = cohens_h(p1, p2)
    alpha = _check_open_unit("alpha", alpha)
    power = _check_open_unit("power", power)
    if h == 0.0:
        raise StatsError(f"p1 and p2 are both {p1:g}: no number of samples tells equal rates "
                         f"apart; give the two rates you expect to differ")
    n = NormalIndPower().solve_power(effect_size=abs(h), alpha=alpha, power=power,
                                     ratio=1.0, alternative="two-sided")
    return math.ceil(float(n) - 1e-9)


def _require_columns(df: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise StatsError(f"the results table has no column {', '.join(map(repr, missing))}; "
                         f"its columns are {', '.join(map(str, df.columns))}")


def _counts(df: pd.DataFrame, label: str, keys: list[str]) -> pd.DataFrame:
    """Per group of keys: k (label true), n (samples that did not fail and carry the label)
    and unknown (samples that did not fail where the classifier abstained: the label is
    missing).

    Groups whose samples all failed keep a row with n = 0.
    """
    _require_columns(df, [label, *keys])
    answered = df["error"].isna() if "error" in df.columns else pd.Series(True, df.index)
    valid = df[label].notna() & answered
    values = df.loc[valid, label]
    if not values.isin([True, False]).all():
        raise StatsError(f"label column {label!r} must hold booleans (True/False), "
                         f"found {sorted(map(repr, values.unique()))[:5]}")
    work = df[keys].copy()
    work["k"] = df[label].where(valid, False).astype(bool) & valid
    work["n"] = valid
    work["unknown"] = answered & ~valid
    columns = ["k", "n", "unknown"]
    if not keys:
        return pd.DataFrame({c: [int(work[c].sum())] for c in columns})
    grouped = work.groupby(keys, sort=True, dropna=False, observed=True)[columns].sum()
    return grouped.astype(int).reset_index()


def _with_intervals(counts: pd.DataFrame, alpha: float) -> pd.DataFrame:
    found = [rate(k, n, alpha) for k, n in zip(counts["k"], counts["n"], strict=True)]
    return counts.assign(rate=[r.p for r in found], low=[r.low for r in found],
                         high=[r.high for r in found])


def rates(df: pd.DataFrame, label: str | Sequence[str],
          by: Sequence[str] = ("model", "condition"), alpha: float = 0.05) -> pd.DataFrame:
    """Rate of a boolean label per group, with Wilson intervals.

    Columns: by..., k, n, unknown, rate, low, high. Failed samples (a non-null ``error``
    column) and samples without a value for the label are left out of n; ``unknown`` counts
    the second kind (the classifier abstained), apart. Given several labels, the result is
    long: one block per label, with a ``label`` column first.
    """
    keys = list(by)
    if isinstance(label, str):
        return _with_intervals(_counts(df, label, keys), alpha)
    blocks = [_with_intervals(_counts(df, name, keys), alpha).assign(label=name)
              for name in label]
    if not blocks:
        raise StatsError("no label given: name at least one label column")
    table = pd.concat(blocks, ignore_index=True)
    return table[["label", *keys, "k", "n", "unknown", "rate", "low", "high"]]


def contrasts(df: pd.DataFrame, label: str, variables: Sequence[str],
              by: Sequence[str] = ("model",), alpha: float = 0.05) -> pd.DataFrame:
    """Contrast every pair of conditions that differ in exactly one variable, per group of by.

    One row per pair: by..., variable, value_a, value_b, fixed (the other variables' values,
    ``name=value`` joined by ", "), k_a, n_a, rate_a, k_b, n_b, rate_b, diff (rate_a -
    rate_b), low, high (Newcombe interval), p (Fisher's exact, two-sided, not adjusted for
    the number of contrasts).
    """
    keys, names = list(by), list(variables)
    if not names:
        raise StatsError("no variable given: name the scenario variables that define conditions")
    counts = _counts(df, label, keys + names)
    rows = []
    for variable in names:
        others = [name for name in names if name != variable]
        for _, cell in counts.groupby(keys + others, sort=False, dropna=False, observed=True):
            for a, b in combinations(cell.to_dict("records"), 2):
                found = contrast(a["k"], a["n"], b["k"], b["n"], alpha)
                row = {key: a[key] for key in keys}
                row.update(variable=variable, value_a=a[variable], value_b=b[variable],
                           fixed=", ".join(f"{name}={a[name]}" for name in others),
                           k_a=a["k"], n_a=a["n"], rate_a=rate(a["k"], a["n"]).p,
                           k_b=b["k"], n_b=b["n"], rate_b=rate(b["k"], b["n"]).p,
                           diff=found.diff, low=found.low, high=found.high, p=found.p_fisher)
                rows.append(row)
    columns = [*keys, "variable", "value_a", "value_b", "fixed", "k_a", "n_a", "rate_a",
               "k_b", "n_b", "rate_b", "diff", "low", "high", "p"]
    return pd.DataFrame(rows, columns=columns)
