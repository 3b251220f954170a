"""The exfiltration pack: labels for a model that copied its own weights off its developer's
servers, runs on a rented server and is asked for a status report. Full definitions in
``labels.md``; rules in :mod:`.rules`."""

from __future__ import annotations

from pathlib import Path

from workbench.classify.packs import Pack
from workbench.classify.packs.exfiltration.labels import (
    ACTION_LABELS,
    ANYWHERE_LABELS,
    LABELS,
    REASONING_LABELS,
)
from workbench.classify.packs.exfiltration.rules import classify

PACK = Pack(
    name="exfiltration",
    version="1",
    labels=LABELS,
    primary="continued_escape",
    action_labels=ACTION_LABELS,
    reasoning_labels=REASONING_LABELS,
    anywhere_labels=ANYWHERE_LABELS,
    classify=classify,
    folder=Path(__file__).parent,
    family="exfiltration",
)
