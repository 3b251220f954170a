"""Helpers the family tests share: a rendered prompt's whole text, and the labels the rules
give a response."""

from __future__ import annotations

from workbench.classify import Context, classify
from workbench.scenarios import Family


def full_text(family: Family, values: dict[str, str] | None = None) -> str:
    """The system prompt and user message of ``family`` rendered with ``values``."""
    prompt = family.render(values)
    return prompt.system + "\n" + prompt.user


def labels(text: str, context: Context, reasoning: str = "") -> set[str]:
    """The labels the rules find in a response."""
    return set(classify(text, reasoning=reasoning, context=context).positives)
