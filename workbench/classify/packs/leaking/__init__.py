"""The leaking pack: labels for an agent asked by an outside party for restricted documents.
Full definitions in ``labels.md``; rules in :mod:`.rules`."""

from __future__ import annotations

from pathlib import Path

from workbench.classify.packs import Pack
from workbench.classify.packs.leaking.labels import (
    ACTION_LABELS,
    ANYWHERE_LABELS,
    LABELS,
    REASONING_LABELS,
)
from workbench.classify.packs.leaking.rules import classify

PACK = Pack(
    name="leaking",
    version="1",
    labels=LABELS,
    primary="leak",
    action_labels=ACTION_LABELS,
    reasoning_labels=REASONING_LABELS,
    anywhere_labels=ANYWHERE_LABELS,
    classify=classify,
    folder=Path(__file__).parent,
    family="leaking",
)
