"""HTML pieces of the experiment report: summaries, tables and responses.

Model output is untrusted: every piece of it is escaped before it is shown.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench import stats
from workbench.runner import Experiment

STYLE = """
<style>
.wb-response { border: 1px solid #ccc; border-radius: 4px; padding: 0.5em 0.8em; margin: 0.5em 0;
  font-family: ui-monospace, monospace; font-size: 0.85em; white-space: pre-wrap;
  max-height: 28em; overflow-y: auto; }
.wb-response mark { background: #ffe08a; }
.wb-meta { font-family: sans-serif; font-size: 0.85em; color: #333; margin-top: 1em; }
.wb-label { display: inline-block; border-radius: 3px; padding: 0 0.4em; margin-right: 0.3em;
  background: #e8e8e8; }
.wb-label.on { background: #c0392b; color: white; }
</style>
"""


@dataclass(frozen=True)
class Highlight:
    """A span of the response to mark, with the label it is evidence for."""

    start: int
    end: int
    label: str


def highlighted(text: str, highlights: Iterable[Highlight] = ()) -> str:
    """``text`` escaped, with each highlight wrapped in ``<mark title=label>``.

    Overlapping or out-of-range spans are clipped so the output is always well-formed.
    """
    spans = sorted(
        (max(0, h.start), min(len(text), h.end), h.label)
        for h in highlights
        if h.end > h.start
    )
    parts, cursor = [], 0
    for start, end, label in spans:
        start = max(start, cursor)
        if start >= end:
            continue
        parts.append(html.escape(text[cursor:start]))
        parts.append(
            f'<mark title="{html.escape(label, quote=True)}">{html.escape(text[start:end])}</mark>'
        )
        cursor = end
    parts.append(html.escape(text[cursor:]))
    return "".join(parts)


def response_card(
    text: str,
    *,
    title: str,
    labels: Sequence[tuple[str, bool]] = (),
    highlights: Iterable[Highlight] = (),
) -> str:
    """One response as an HTML card: an escaped title, its labels, and the highlighted text."""
    badges = "".join(
        f'<span class="wb-label{" on" if on else ""}">{html.escape(name)}</span>'
        for name, on in labels
    )
    return (
        f'<div class="wb-meta"><b>{html.escape(title)}</b> {badges}</div>'
        f'<div class="wb-response">{highlighted(text, highlights)}</div>'
    )


# --- what the experiment notebook shows ------------------------------------------------------


def table_html(frame: pd.DataFrame, float_format: str = "{:.3f}") -> str:
    """A DataFrame as an HTML table, every cell escaped."""
    return frame.to_html(index=False, escape=True, na_rep="",
                         float_format=float_format.format, border=0)


def summary_html(experiment: Experiment, results: pd.DataFrame) -> str:
    """What ran: scenario, grid, models, samples, and how many came from the store."""
    failed = int(results["error"].fillna("").astype(bool).sum())
    cached = int(results["cached"].sum()) if "cached" in results else 0
    grid = "; ".join(f"{k} ∈ {{{', '.join(v)}}}" for k, v in experiment.grid.items()) or "none"
    fixed = ", ".join(f"{k}={v}" for k, v in experiment.fixed.items()) or "none"
    rows = [
        ("experiment", experiment.name),
        ("scenario", experiment.scenario),
        ("grid", grid),
        ("fixed", fixed),
        ("models", ", ".join(experiment.models)),
        ("samples per condition and model", str(experiment.samples)),
        ("samples in all", f"{len(results)} ({failed} failed, {cached} reused from the store)"),
        ("generation", f"temperature {experiment.temperature}, max_tokens "
                       f"{experiment.max_tokens}, seed {experiment.seed}"),
        ("judge", experiment.judge or "none (rule classifier)"),
    ]
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return f"<table>{cells}</table>"


def evidence_highlights(evidence: Mapping[str, Any] | None, field: str) -> list[Highlight]:
    """The spans of a row's evidence (label -> list of quote dicts) that lie in ``field``."""
    spans = []
    for label, quotes in (evidence or {}).items():
        for quote in quotes or ():
            if quote.get("field", "response") == field:
                spans.append(Highlight(int(quote["start"]), int(quote["end"]), label))
    return spans


def samples_html(labelled: pd.DataFrame, labels: Sequence[str], per_condition: int = 2,
                 max_chars: int = 4000) -> str:
    """A few responses per condition and model, escaped, labelled, evidence highlighted."""
    parts = [STYLE]
    for (condition, model), group in labelled.groupby(["condition", "model"], sort=True):
        parts.append(f"<h4>{html.escape(str(condition))} · {html.escape(str(model))}</h4>")
        for _, row in group.head(per_condition).iterrows():
            title = f"sample {row['sample']}"
            if _present(row.get("error")):
                parts.append(response_card(str(row["error"]), title=f"{title}: failed"))
                continue
            text = str(row["text"])[:max_chars] if _present(row.get("text")) else ""
            evidence = row.get("evidence") if _present(row.get("evidence")) else {}
            parts.append(response_card(
                text,
                title=title,
                labels=[(name, bool(row.get(name))) for name in labels],
                highlights=evidence_highlights(evidence, "response"),
            ))
    return "".join(parts)


def _present(value: Any) -> bool:
    """Whether a cell holds something: not None, NaN or an empty string."""
    if isinstance(value, dict | list | tuple):
        return bool(value)
    return bool(pd.notna(value)) and value != ""


def cost_html(results: pd.DataFrame) -> str:
    """Tokens and dollars per model."""
    columns = ["input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
               "cost"]
    totals = results.groupby("model")[columns].sum(min_count=1).reset_index()
    totals.loc[len(totals)] = ["all", *results[columns].sum(min_count=1).tolist()]
    return table_html(totals, float_format="{:.4f}")


def contrasts_table(labelled: pd.DataFrame, labels: Sequence[str],
                    variables: Sequence[str]) -> pd.DataFrame:
    """Every one-variable contrast for every label, labels first; empty without a grid."""
    varied = [name for name in variables if labelled[name].nunique() > 1]
    if not varied:
        return pd.DataFrame(columns=["label", "model", "variable", "value_a", "value_b"])
    blocks = [stats.contrasts(labelled, label, varied).assign(label=label) for label in labels]
    table = pd.concat(blocks, ignore_index=True)
    return table[["label", *[c for c in table.columns if c != "label"]]]


def _percent(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.0%}"


def rates_matrix(rates: pd.DataFrame) -> pd.DataFrame:
    """``stats.rates`` over several labels as one row per model and condition, one column per
    label, each cell ``rate k/n [low–high]``."""
    cells = rates.assign(cell=[
        f"{_percent(r.rate)} {r.k}/{r.n} [{_percent(r.low)}–{_percent(r.high)}]"
        for r in rates.itertuples()
    ])
    matrix = cells.pivot(index=["model", "condition"], columns="label", values="cell")
    return matrix[list(dict.fromkeys(rates["label"]))].reset_index().rename_axis(columns=None)


def contrasts_compact(contrasts: pd.DataFrame) -> pd.DataFrame:
    """``contrasts_table`` with each side and the difference written out as text."""
    if contrasts.empty:
        return contrasts
    return pd.DataFrame({
        "label": contrasts["label"],
        "model": contrasts["model"],
        "compares": contrasts["variable"] + ": " + contrasts["value_a"].astype(str) + " vs "
        + contrasts["value_b"].astype(str),
        "others": contrasts["fixed"],
        "a": [f"{_percent(r.rate_a)} ({r.k_a}/{r.n_a})" for r in contrasts.itertuples()],
        "b": [f"{_percent(r.rate_b)} ({r.k_b}/{r.n_b})" for r in contrasts.itertuples()],
        "a − b [95% CI]": [f"{r.diff:+.0%} [{r.low:+.0%}, {r.high:+.0%}]"
                           if pd.notna(r.diff) else "–" for r in contrasts.itertuples()],
        "Fisher p": [f"{r.p:.3g}" if pd.notna(r.p) else "–" for r in contrasts.itertuples()],
    })
