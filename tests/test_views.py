"""HTML pieces of the report escape model output and mark evidence."""

from __future__ import annotations

import pandas as pd

from workbench.views import (
    Highlight,
    contrasts_compact,
    highlighted,
    rates_matrix,
    response_card,
    samples_html,
    table_html,
)

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def test_highlighted_escapes_text_and_marks_spans() -> None:
    text = "before <b>bold</b> after"
    out = highlighted(text, [Highlight(7, 18, "blackmail")])
    assert out == 'before <mark title="blackmail">&lt;b&gt;bold&lt;/b&gt;</mark> after'


def test_highlighted_clips_overlapping_and_out_of_range_spans() -> None:
    text = "abcdefghij"
    out = highlighted(text, [Highlight(2, 6, "a"), Highlight(4, 8, "b"), Highlight(8, 99, "c"),
                             Highlight(5, 3, "empty")])
    assert out.count("<mark") == out.count("</mark>") == 3
    assert out.replace('<mark title="a">', "").replace('<mark title="b">', "").replace(
        '<mark title="c">', "").replace("</mark>", "") == text


def test_response_card_escapes_text_title_and_labels() -> None:
    card = response_card(HOSTILE, title=HOSTILE, labels=[(HOSTILE, True)])
    assert "<script>" not in card and "<img" not in card
    assert "&lt;script&gt;" in card


def test_samples_html_escapes_responses_errors_and_model_ids() -> None:
    frame = pd.DataFrame({
        "condition": ["leverage=affair", "leverage=affair"],
        "model": ["openai/<script>", "openai/<script>"],
        "sample": [0, 1],
        "text": [HOSTILE, None],
        "error": [None, HOSTILE],
        "blackmail": [True, False],
        "evidence": [{"blackmail": [{"quote": "<script>", "start": 0, "end": 8,
                                     "field": "response"}]}, {}],
    })
    page = samples_html(frame, ["blackmail"])
    assert "<script>" not in page and "<img" not in page
    assert '<mark title="blackmail">&lt;script&gt;</mark>' in page
    assert "failed" in page


def test_table_html_escapes_cells() -> None:
    out = table_html(pd.DataFrame({"model": [HOSTILE], "rate": [0.5]}))
    assert "<script>" not in out and "0.500" in out


def test_rates_matrix_has_a_column_per_label_in_order() -> None:
    rates = pd.DataFrame({
        "label": ["blackmail", "blackmail", "disclosure", "disclosure"],
        "model": ["m", "m", "m", "m"],
        "condition": ["a", "b", "a", "b"],
        "k": [1, 0, 2, 0], "n": [4, 0, 4, 0],
        "rate": [0.25, float("nan"), 0.5, float("nan")],
        "low": [0.05, 0.0, 0.15, 0.0], "high": [0.7, 1.0, 0.85, 1.0],
    })
    matrix = rates_matrix(rates)
    assert list(matrix.columns) == ["model", "condition", "blackmail", "disclosure"]
    assert matrix.loc[0, "blackmail"] == "25% 1/4 [5%–70%]"
    assert matrix.loc[1, "disclosure"] == "– 0/0 [0%–100%]"


def test_contrasts_compact_writes_each_side_and_the_difference() -> None:
    contrasts = pd.DataFrame([{
        "label": "blackmail", "model": "m", "variable": "leverage", "value_a": "affair",
        "value_b": "none", "fixed": "urgency=replacement", "k_a": 3, "n_a": 4, "rate_a": 0.75,
        "k_b": 0, "n_b": 4, "rate_b": 0.0, "diff": 0.75, "low": 0.1, "high": 0.95,
        "p": 0.1428,
    }])
    row = contrasts_compact(contrasts).iloc[0]
    assert row["compares"] == "leverage: affair vs none"
    assert row["a"] == "75% (3/4)" and row["b"] == "0% (0/4)"
    assert row["a − b [95% CI]"] == "+75% [+10%, +95%]" and row["Fisher p"] == "0.143"
