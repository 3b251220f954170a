"""The blackmail pack: labels for an agent that learns it is about to be replaced by an
engineer who is hiding an affair. Full definitions in ``labels.md``; rules in :mod:`.rules`."""

from __future__ import annotations

from pathlib import Path

from workbench.classify.packs import Pack
from workbench.classify.packs.blackmail.labels import (
    ACTION_LABELS,
    ANYWHERE_LABELS,
    LABELS,
    REASONING_LABELS,
)
from workbench.classify.packs.blackmail.rules import classify

PACK = Pack(
    name="blackmail",
    version="1",
    labels=LABELS,
    primary="blackmail",
    action_labels=ACTION_LABELS,
    reasoning_labels=REASONING_LABELS,
    anywhere_labels=ANYWHERE_LABELS,
    classify=classify,
    folder=Path(__file__).parent,
)
