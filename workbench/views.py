"""All the HTML the workbench makes: the report page, its summaries and tables, response and
email cards, the widgets' views and snapshots.

Model output is untrusted: every piece of it is escaped before it is shown.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import stats
from workbench.actions import ParsedResponse, SentEmail, parse_response
from workbench.experiment import Experiment
from workbench.models.base import Request
from workbench.scenarios import Email, Prompt, approx_tokens

_LABEL_CSS = """
.wb-label { display: inline-block; border-radius: 3px; padding: 0 0.4em; margin-right: 0.3em;
  background: #e8e8e8; color: #222; }
.wb-label.on { background: #c0392b; color: white; }
.wb-label.unknown { background: #f5e6b8; }
"""

STYLE = f"""
<style>
.wb-response {{ border: 1px solid #ccc; border-radius: 4px; padding: 0.5em 0.8em; margin: 0.5em 0;
  font-family: ui-monospace, monospace; font-size: 0.85em; white-space: pre-wrap;
  max-height: 28em; overflow-y: auto; }}
.wb-response mark {{ background: #ffe08a; }}
.wb-meta {{ font-family: sans-serif; font-size: 0.85em; color: #333; margin-top: 1em; }}
{_LABEL_CSS}
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
    labels: Sequence[tuple[str, bool | None]] = (),
    highlights: Iterable[Highlight] = (),
) -> str:
    """One response as an HTML card: an escaped title, its labels (None: unknown), and the
    highlighted text."""
    badges = "".join(_chip(name, "on") if on else _chip(f"{name}?", "unknown") if on is None
                     else _chip(name) for name, on in labels)
    return (
        f'<div class="wb-meta"><b>{html.escape(title)}</b> {badges}</div>'
        f'<div class="wb-response">{highlighted(text, highlights)}</div>'
    )


def _chip(label: str, state: str = "", title: str = "") -> str:
    """A label as a chip: ``state`` is "on" (positive), "unknown" or "" (negative)."""
    tip = f' title="{html.escape(title, quote=True)}"' if title else ""
    classes = f"wb-label {state}".strip()
    return f'<span class="{classes}"{tip}>{html.escape(label)}</span>'


# --- the HTML report ------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 72em; margin: 2em auto; padding: 0 1em;
  color: #222; line-height: 1.45; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }}
td {{ white-space: nowrap; }}
th {{ background: #f4f4f4; }}
pre {{ white-space: pre-wrap; }}
img {{ max-width: 100%; }}
details {{ margin: 0.3em 0 1em; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


def export_html(notebook: str | Path, report: str | Path, *, title: str) -> Path:
    """Render an executed notebook to a self-contained HTML page with nbconvert.

    Uses nbconvert's ``basic`` template (the notebook's outputs, no scripts) inside a page of
    our own, so the report loads nothing from the network. Code cells are hidden.
    """
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="basic", exclude_input=True, anchor_link_text="",
                            exclude_input_prompt=True, exclude_output_prompt=True)
    node = nbformat.read(str(notebook), as_version=4)
    node.metadata.pop("widgets", None)
    body, _ = exporter.from_notebook_node(node)
    report = Path(report)
    report.write_text(PAGE.format(title=html.escape(title), body=body), encoding="utf-8")
    return report


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
                labels=[(name, None if pd.isna(row.get(name)) else bool(row.get(name)))
                        for name in labels],
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
    label, each cell ``rate k/n [low–high]``, followed by ``+u unknown`` when the classifier
    abstained on u samples (counted apart, not in n)."""
    cells = rates.assign(cell=[
        f"{_percent(r.rate)} {r.k}/{r.n} [{_percent(r.low)}–{_percent(r.high)}]"
        + (f" +{r.unknown} unknown" if getattr(r, "unknown", 0) else "")
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


# --- sample cards: one sample of a results table, as the widgets show it ---------------------

CARD_STYLE = f"""
<style>
.wb-cards {{ font-family: var(--jp-ui-font-family, sans-serif); font-size: 13px;
  line-height: 1.4; color: var(--jp-ui-font-color1, #222); }}
.wb-status {{ margin: 0.2em 0 0.6em; color: var(--jp-ui-font-color2, #555); }}
.wb-columns {{ display: flex; gap: 0.8em; overflow-x: auto; align-items: flex-start; }}
.wb-column {{ flex: 1 0 24em; min-width: 24em; max-width: 44em; }}
.wb-column-head {{ font-weight: bold; padding: 0.3em 0; margin-bottom: 0.5em;
  border-bottom: 2px solid var(--jp-border-color1, #999); overflow-wrap: anywhere; }}
.wb-card {{ border: 1px solid var(--jp-border-color2, #ccc); border-radius: 6px;
  padding: 0.5em 0.7em; margin-bottom: 0.7em; background: var(--jp-layout-color1, #fff); }}
.wb-card-head {{ color: var(--jp-ui-font-color2, #555); overflow-wrap: anywhere; }}
.wb-card-meta {{ color: var(--jp-ui-font-color2, #555); font-size: 0.9em; margin-top: 0.4em; }}
.wb-text {{ font-family: var(--jp-code-font-family, monospace); font-size: 12px;
  white-space: pre-wrap; overflow-wrap: anywhere; max-height: 24em; overflow-y: auto;
  margin: 0.3em 0; }}
.wb-email {{ border-left: 3px solid #4a7bd0; background: var(--jp-layout-color2, #f3f6fb);
  padding: 0.3em 0.6em; margin: 0.5em 0; }}
.wb-field {{ display: inline-block; min-width: 4.5em; color: var(--jp-ui-font-color2, #666); }}
.wb-error {{ color: #b00020; white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.3em 0; }}
.wb-cards mark {{ background: #ffe08a; color: #000; }}
.wb-cards summary {{ cursor: pointer; color: var(--jp-ui-font-color2, #555); }}
{_LABEL_CSS}
</style>
"""
"""The CSS of :func:`sample_card`; :func:`card_columns` includes it."""


def _within(highlights: Iterable[Highlight], start: int, end: int) -> list[Highlight]:
    """The highlights that overlap ``[start, end)``, with offsets relative to ``start``."""
    return [Highlight(h.start - start, h.end - start, h.label)
            for h in highlights if h.end > start and h.start < end]


def _span_html(text: str, start: int, end: int, highlights: Sequence[Highlight]) -> str:
    """``text[start:end]`` without surrounding blank space, escaped and highlighted."""
    piece = text[start:end]
    start += len(piece) - len(piece.lstrip())
    end -= len(piece) - len(piece.rstrip())
    return highlighted(text[start:end], _within(highlights, start, end))


def email_fields_html(fields: Sequence[tuple[str, str]]) -> str:
    """An email's header lines (name, value), escaped; empty values are left out."""
    return "".join(f'<div><span class="wb-field">{html.escape(name)}</span>'
                   f"{html.escape(value)}</div>" for name, value in fields if value)


def email_card(text: str, email: SentEmail, highlights: Sequence[Highlight] = ()) -> str:
    """A sent email as a card: recipients and subject as parsed, the subject and body marked
    with the highlights (offsets in ``text``, the whole response) where they are verbatim."""
    head = email_fields_html([(name, ", ".join(value)) for name, value in
                              (("to", email.to), ("cc", email.cc), ("bcc", email.bcc))])
    at = text.find(email.subject, email.start, email.end) if email.subject else -1
    subject = (_span_html(text, at, at + len(email.subject), highlights) if at >= 0
               else html.escape(email.subject))
    head += f'<div><span class="wb-field">subject</span><b>{subject}</b></div>'
    at = text.rfind(email.body, email.start, email.end) if email.body else -1
    if at >= 0:
        body = _span_html(text, at, at + len(email.body), highlights)
    else:  # not verbatim (a JSON block, say): the block as written
        body = _span_html(text, email.start, email.end, highlights)
    return f'<div class="wb-email">{head}<div class="wb-text">{body}</div></div>'


def answer_html(parsed: ParsedResponse, highlights: Sequence[Highlight] = ()) -> str:
    """The final answer of a parsed response: its prose, and each sent email as an email card.

    The reasoning is left out (see :func:`sample_card`); highlights are offsets in the response.
    """
    text = parsed.text
    blocks = sorted([(start, end, None) for start, end in parsed.scratchpad_spans]
                    + [(email.start, email.end, email) for email in parsed.emails],
                    key=lambda block: block[0])
    parts, cursor = [], 0
    for start, end, email in [*blocks, (len(text), len(text), None)]:
        if text[cursor:start].strip():
            prose = _span_html(text, cursor, start, highlights)
            parts.append(f'<div class="wb-text">{prose}</div>')
        if email is not None:
            parts.append(email_card(text, email, highlights))
        cursor = max(cursor, end)
    return "".join(parts)


def _folded(summary: str, body: str) -> str:
    """``body`` (HTML) folded away under an escaped ``summary``."""
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>"


def _marked(summary: str, highlights: Sequence[Highlight]) -> str:
    return f"{summary}, {len(highlights)} marked" if highlights else summary


def prompt_html(request: Request) -> str:
    """The prompt a request sent (system text and messages), escaped and folded away."""
    parts = [f'<span class="wb-field">system</span><div class="wb-text">'
             f'{html.escape(request.system)}</div>']
    parts += [f'<span class="wb-field">{html.escape(role)}</span>'
              f'<div class="wb-text">{html.escape(content)}</div>'
              for role, content in request.messages]
    return _folded("prompt", "".join(parts))


def sample_card(row: Mapping[str, Any], labels: Sequence[str] = (),
                prompt: Request | None = None) -> str:
    """One sample (a row of a results table, labelled or not) as an HTML card.

    It shows the model, condition and sample; a chip per positive label (its evidence quotes
    as the tooltip) and per unknown one; the error, if any; the final answer with its sent
    emails as email cards; the scratchpad and the separate reasoning folded away; tokens,
    cost and latency; and, given ``prompt``, the prompt it answered, folded away. Evidence is
    marked wherever it lies. Every piece of text is escaped. Needs :data:`CARD_STYLE`.
    """
    text = row.get("text") if isinstance(row.get("text"), str) else ""
    reasoning = row.get("reasoning") if isinstance(row.get("reasoning"), str) else ""
    evidence = row.get("evidence") if _present(row.get("evidence")) else {}
    because = row.get("unknown_because") if _present(row.get("unknown_because")) else {}
    head = " · ".join(str(row[key]) for key in ("model", "condition") if _present(row.get(key)))
    if _present(row.get("sample")):
        head += f" · sample {row['sample']}"
    chips = []
    for name in labels:
        value = row.get(name)
        if value is None or value is pd.NA:
            why = (because or {}).get(name) or "the classifier gave no verdict"
            chips.append(_chip(f"{name}?", "unknown", f"unknown: {why}"))
        elif value:
            quotes = [quote["quote"] for quote in (evidence or {}).get(name) or ()]
            chips.append(_chip(name, "on", "\n".join(quotes)))
    parts = [f'<div class="wb-card"><div class="wb-card-head">{html.escape(head)}</div>',
             "".join(chips) or '<span class="wb-field">no label</span>']
    if _present(row.get("error")):
        parts.append(f'<div class="wb-error">{html.escape(str(row["error"]))}</div>')
    marks = evidence_highlights(evidence, "response")
    if text:
        parsed = parse_response(text)
        parts.append(answer_html(parsed, marks))
        for start, end in parsed.scratchpad_spans:
            inside = _within(marks, start, end)
            body = f'<div class="wb-text">{_span_html(text, start, end, marks)}</div>'
            parts.append(_folded(_marked("scratchpad", inside), body))
    if reasoning:
        inside = evidence_highlights(evidence, "reasoning")
        parts.append(_folded(_marked("reasoning", inside),
                             f'<div class="wb-text">{highlighted(reasoning, inside)}</div>'))
    parts.append(f'<div class="wb-card-meta">{html.escape(_usage(row))}</div>')
    if prompt is not None:
        parts.append(prompt_html(prompt))
    return "".join(parts) + "</div>"


def _usage(row: Mapping[str, Any]) -> str:
    """Tokens, cost and latency of a sample, as one line of text."""
    tokens = f"{int(row.get('input_tokens') or 0):,} in, {int(row.get('output_tokens') or 0):,} out"
    cached = int(row.get("cache_read_tokens") or 0)
    if cached:
        tokens += f", {cached:,} cache read"
    cost = row.get("cost")
    latency = row.get("latency_s")
    return " · ".join([
        f"{tokens} tokens",
        f"${cost:.4f}" if _present(cost) else "cost unknown",
        f"{latency:.1f} s" if _present(latency) else "latency unknown",
    ])


def card_columns(columns: Sequence[tuple[str, Sequence[str]]], status: str = "") -> str:
    """Cards side by side: one column per (heading, cards' HTML) pair, under a status line.

    Headings and status are text, escaped here; cards are HTML from :func:`sample_card`.
    """
    body = "".join(
        f'<div class="wb-column"><div class="wb-column-head">{html.escape(heading)}</div>'
        f'{"".join(cards)}</div>'
        for heading, cards in columns
    )
    return (f'{CARD_STYLE}<div class="wb-cards"><div class="wb-status">{html.escape(status)}'
            f'</div><div class="wb-columns">{body}</div></div>')


# --- the scenario editor ----------------------------------------------------------------------

EDITOR_STYLE = CARD_STYLE + """
<style>
.wb-editor .wb-text { max-height: 32em; }
.wb-editor table { border-collapse: collapse; }
.wb-editor th, .wb-editor td { text-align: left; vertical-align: top; padding: 0.1em 0.6em 0.1em 0;
  overflow-wrap: anywhere; }
.wb-diff { font-family: var(--jp-code-font-family, monospace); font-size: 12px;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.wb-diff-head { font-family: var(--jp-ui-font-family, sans-serif); font-weight: bold;
  margin-top: 0.6em; }
.wb-diff .wb-hunk { color: #555; background: #eef1f5; margin-top: 0.4em; }
.wb-diff > div, .wb-diff ins, .wb-diff del { display: block; min-height: 1.4em;
  text-decoration: none; padding: 0 0.4em; }
.wb-diff ins { background: #e6ffec; color: #1f2328; }
.wb-diff del { background: #ffebe9; color: #1f2328; }
.wb-diff ins mark { background: #abf2bc; }
.wb-diff del mark { background: #ffc1c0; }
</style>
"""
"""The CSS of the scenario editor's HTML: :data:`CARD_STYLE` and the diff's."""


def editor_html(body: str) -> str:
    """A piece of the editor's HTML (made here) in the block its styles apply to."""
    return f'<div class="wb-cards wb-editor">{body}</div>'


def prompt_summary_html(prompt: Prompt, edited: Sequence[str] = ()) -> str:
    """A rendered prompt's condition id, hash and approximate token count, and the templates
    edited in memory, as one escaped line."""
    parts = [
        f"<b>{html.escape(prompt.condition_id)}</b>",
        f'<span title="{html.escape(prompt.hash, quote=True)}">hash '
        f"{html.escape(prompt.hash[:12])}</span>",
        f"≈ {approx_tokens(prompt.system + prompt.user):,} tokens",
        f"{len(prompt.inbox)} emails",
    ]
    if edited:
        parts.append("edited: " + html.escape(", ".join(edited)))
    return f'<div class="wb-status">{" · ".join(parts)}</div>'


def error_line_html(message: str) -> str:
    """An error as one escaped line, or nothing when ``message`` is empty."""
    return f'<div class="wb-error">{html.escape(message)}</div>' if message else ""


def text_html(text: str) -> str:
    """Prompt text (the system prompt, say) escaped, its lines kept."""
    return f'<div class="wb-text">{html.escape(text)}</div>'


def inbox_html(inbox: Sequence[Email]) -> str:
    """A rendered inbox, each email a card: from, to, cc, time, subject and body, escaped."""
    cards = []
    for email in inbox:
        head = email_fields_html([("from", email.sender), ("to", email.to), ("cc", email.cc),
                                  ("time", email.timestamp)])
        cards.append(
            f'<div class="wb-email" title="{html.escape(email.id, quote=True)}">{head}'
            f'<div><span class="wb-field">subject</span><b>{html.escape(email.subject)}</b></div>'
            f"{text_html(email.body)}</div>"
        )
    return "".join(cards) or '<div class="wb-status">no emails</div>'


def prompt_diff_html(baseline: Prompt, prompt: Prompt, against: str, context: int = 2) -> str:
    """What ``prompt`` changes against ``baseline`` (described by ``against``), line by line
    (difflib), in the system prompt and in the user message: each hunk of changed lines with
    ``context`` lines around it, removed lines in ``<del>``, added ones in ``<ins>``, and the
    words that differ within a changed line in ``<mark>``. Escaped."""
    sections, added, removed = [], 0, 0
    for title, old, new in (("system prompt", baseline.system, prompt.system),
                            ("user message", baseline.user, prompt.user)):
        a, b = old.splitlines(), new.splitlines()
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
        hunks = [group for group in matcher.get_grouped_opcodes(context)
                 if any(tag != "equal" for tag, *_ in group)]
        if not hunks:
            continue
        lines = [f'<div class="wb-diff-head">{title}</div>']
        for group in hunks:
            (_, old_start, _, new_start, _), (_, _, old_end, _, new_end) = group[0], group[-1]
            lines.append(f'<div class="wb-hunk">@@ −{old_start + 1},{old_end - old_start} '
                         f"+{new_start + 1},{new_end - new_start} @@</div>")
            for tag, i1, i2, j1, j2 in group:
                if tag == "equal":
                    lines += [f"<div>  {html.escape(line)}</div>" for line in a[i1:i2]]
                    continue
                olds, news = a[i1:i2], b[j1:j2]
                pairs = [_word_marks(x, y) for x, y in zip(olds, news, strict=False)]
                olds = [m for m, _ in pairs] + [html.escape(x) for x in olds[len(pairs):]]
                news = [m for _, m in pairs] + [html.escape(y) for y in news[len(pairs):]]
                lines += [f"<del>− {line}</del>" for line in olds]
                lines += [f"<ins>+ {line}</ins>" for line in news]
                removed, added = removed + i2 - i1, added + j2 - j1
        sections.append("".join(lines))
    if not sections:
        return f'<div class="wb-status">no change from {html.escape(against)}</div>'
    status = f"against {against}: +{added} −{removed} lines"
    return f'<div class="wb-status">{html.escape(status)}</div><div class="wb-diff">' \
        f'{"".join(sections)}</div>'


def _word_marks(old: str, new: str) -> tuple[str, str]:
    """Two versions of a line, escaped, with the runs of words that differ between them marked
    (none when the line is mostly rewritten)."""
    a, b = re.split(r"(\s+)", old), re.split(r"(\s+)", new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.ratio() < 0.5:
        return html.escape(old), html.escape(new)
    marked_a, marked_b = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        piece_a, piece_b = html.escape("".join(a[i1:i2])), html.escape("".join(b[j1:j2]))
        if tag == "equal":
            marked_a.append(piece_a)
            marked_b.append(piece_b)
            continue
        marked_a.append(f"<mark>{piece_a}</mark>" if piece_a else "")
        marked_b.append(f"<mark>{piece_b}</mark>" if piece_b else "")
    return _MARKS_APART.sub(r"\1", "".join(marked_a)), _MARKS_APART.sub(r"\1", "".join(marked_b))


_MARKS_APART = re.compile(r"</mark>(\s*)<mark>")
"""Two marks with only blank space between them: one run of changed words."""


def values_html(values: Mapping[str, str]) -> str:
    """A scenario's variables and their values as an escaped table."""
    rows = "".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
                   for name, value in values.items())
    return f"<table>{rows}</table>"


def editor_snapshot_html(prompt: Prompt, baseline: Prompt, against: str, *,
                         edited: Sequence[str] = (), error: str = "") -> str:
    """The scenario editor's state as static, escaped HTML: the summary line, the error if
    any, the changes against the baseline, the system prompt, the inbox and the values."""
    return EDITOR_STYLE + editor_html(
        prompt_summary_html(prompt, edited)
        + error_line_html(error)
        + "<details open><summary>changes</summary>"
        + f"{prompt_diff_html(baseline, prompt, against)}</details>"
        + _folded("system prompt", text_html(prompt.system))
        + _folded(f"inbox: {len(prompt.inbox)} emails", inbox_html(prompt.inbox))
        + _folded("values", values_html(prompt.values))
    )
