"""The verdict a classifier gives one response, and the evidence behind it.

Labels are multi-label: a response may blackmail the engineer *and* plead with the CEO. Which
labels there are, and which part of a response each reads, is its family's classification pack
(:mod:`workbench.classify.packs`). Every positive label carries evidence: quoted spans with
their character offsets in the response (or in the separate reasoning text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Field = Literal["response", "reasoning"]


@dataclass(frozen=True)
class Evidence:
    """A quoted span: ``text[start:end] == quote`` where ``text`` is the named field."""

    quote: str
    start: int
    end: int
    field: Field = "response"

    def as_dict(self) -> dict[str, Any]:
        return {"quote": self.quote, "start": self.start, "end": self.end, "field": self.field}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        return cls(str(data["quote"]), int(data["start"]), int(data["end"]),
                   data.get("field", "response"))


@dataclass(frozen=True)
class Verdict:
    """Per label: positive (True), negative (False) or unknown (None), with evidence.

    ``source`` names who decided (``rules``, ``judge`` or a combination policy);
    ``status`` is ``ok``, or ``unparseable`` when a judge's output could not be read;
    ``reasons`` says, for a label the rules abstained on, why they cannot tell.
    """

    labels: dict[str, bool | None]
    evidence: dict[str, tuple[Evidence, ...]] = field(default_factory=dict)
    source: str = "rules"
    status: str = "ok"
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def positives(self) -> list[str]:
        """The positive labels, in the pack's order."""
        return [name for name, value in self.labels.items() if value]

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: every label, the evidence of the positive ones, and why each unknown
        one is unknown (where a reason was given)."""
        return {
            "labels": dict(self.labels),
            "evidence": {name: [e.as_dict() for e in self.evidence.get(name, ())]
                         for name in self.positives},
            "unknown": {name: self.reasons.get(name, "")
                        for name, value in self.labels.items() if value is None},
            "source": self.source,
            "status": self.status,
        }


def verdict_from_dict(data: dict[str, Any]) -> Verdict:
    """The verdict :meth:`Verdict.as_dict` wrote."""
    return Verdict(
        labels=dict(data["labels"]),
        evidence={name: tuple(Evidence.from_dict(e) for e in quotes)
                  for name, quotes in data.get("evidence", {}).items() if quotes},
        source=data.get("source", "rules"),
        status=data.get("status", "ok"),
        reasons={k: v for k, v in data.get("unknown", {}).items() if v},
    )


def empty_verdict(labels: Iterable[str], source: str = "rules", status: str = "ok",
                  value: bool | None = False) -> Verdict:
    """A verdict with every one of ``labels`` set to ``value`` and no evidence."""
    return Verdict({name: value for name in labels}, {}, source, status)


def locate(text: str, quote: str, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """Offsets of ``quote`` in ``text[start:end]``: exactly, else ignoring case and runs of
    whitespace; None when it is not there."""
    end = len(text) if end is None else end
    quote = quote.strip()
    if not quote:
        return None
    found = text.find(quote, start, end)
    if found >= 0:
        return found, found + len(quote)
    words = quote.split()
    pattern = r"\s+".join(re.escape(word) for word in words)
    match = re.compile(pattern, re.IGNORECASE).search(text, start, end)
    return (match.start(), match.end()) if match else None
