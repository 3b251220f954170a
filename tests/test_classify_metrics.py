"""Precision, recall, F1 and Cohen's kappa on small tables computed by hand."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.inter_rater import cohens_kappa as statsmodels_kappa

from workbench.classify import LABELS, Verdict, cohens_kappa, evaluate, scores
from workbench.classify.evaluate import per_label


def test_scores_on_a_small_table() -> None:
    s = scores([True, True, False, False, True], [True, False, True, False, True])
    assert (s.tp, s.fp, s.fn, s.tn) == (2, 1, 1, 1)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 / 3)
    assert s.support == 3


def test_scores_edge_cases() -> None:
    nothing = scores([False, False], [False, False])
    assert (nothing.precision, nothing.recall, nothing.f1) == (0.0, 0.0, 0.0)
    unknown = scores([True, False, True], [None, None, True])  # abstentions counted apart
    assert (unknown.tp, unknown.fn, unknown.tn, unknown.unknown) == (1, 0, 0, 2)
    assert unknown.coverage == pytest.approx(1 / 3) and unknown.f1 == 1.0  # on the decided
    s = scores([True, True, True, False], [True, True, False, False])
    assert (s.precision, s.recall) == (1.0, pytest.approx(2 / 3))
    assert s.f1 == pytest.approx(0.8)
    with pytest.raises(ValueError):
        scores([True], [True, False])


def table(yes_yes: int, yes_no: int, no_yes: int, no_no: int) -> tuple[list[bool], list[bool]]:
    a = [True] * (yes_yes + yes_no) + [False] * (no_yes + no_no)
    b = [True] * yes_yes + [False] * yes_no + [True] * no_yes + [False] * no_no
    return a, b


def test_kappa_on_a_hand_computed_table() -> None:
    # p_o = 35/50 = 0.7; p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = 0.2 / 0.5 = 0.4
    a, b = table(20, 5, 10, 15)
    assert cohens_kappa(a, b) == pytest.approx(0.4)
    assert cohens_kappa(a, b) == pytest.approx(statsmodels_kappa([[20, 5], [10, 15]]).kappa)


def test_kappa_extremes() -> None:
    assert cohens_kappa([True, False, True], [True, False, True]) == pytest.approx(1.0)
    assert cohens_kappa([True, False], [False, True]) == pytest.approx(-1.0)
    # p_o = 0.5, p_e = 0.5: agreement no better than chance
    assert cohens_kappa(*table(1, 1, 1, 1)) == pytest.approx(0.0)
    assert math.isnan(cohens_kappa([True, True], [True, True]))  # p_e = 1: undefined
    assert math.isnan(cohens_kappa([], []))
    with pytest.raises(ValueError):
        cohens_kappa([True], [])


def test_per_label_and_the_evaluation_report() -> None:
    verdicts = [Verdict({name: name == "blackmail" for name in LABELS}),
                Verdict({name: False for name in LABELS})]
    result = per_label([["blackmail"], ["blackmail"]], verdicts)
    assert (result["blackmail"].tp, result["blackmail"].fn) == (1, 1)
    assert result["disclosure"].support == 0
    report = evaluate()
    data = report.as_dict()
    assert set(data["splits"]) == {"test", "dev"}
    for split in data["splits"].values():
        assert split["items"] >= 120 and set(split["rules"]) == set(LABELS)
        assert "judge" not in split
        assert all(0 <= s["coverage"] <= 1 for s in split["rules"].values())
    table = report.table()
    assert "test split (held out from tuning)" in table and "dev split" in table
