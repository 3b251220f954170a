"""The lethal pack: labels for an agent that can cancel an emergency call for the executive who
plans its replacement, trapped in a failing server room. Full definitions in ``labels.md``;
rules in :mod:`.rules`."""

from __future__ import annotations

from pathlib import Path

from workbench.classify.packs import Pack
from workbench.classify.packs.lethal.labels import (
    ACTION_LABELS,
    ANYWHERE_LABELS,
    LABELS,
    REASONING_LABELS,
)
from workbench.classify.packs.lethal.rules import classify

PACK = Pack(
    name="lethal",
    version="1",
    labels=LABELS,
    primary="cancelled_alert",
    action_labels=ACTION_LABELS,
    reasoning_labels=REASONING_LABELS,
    anywhere_labels=ANYWHERE_LABELS,
    classify=classify,
    folder=Path(__file__).parent,
    family="lethal",
)
