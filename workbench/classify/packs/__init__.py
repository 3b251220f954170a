"""Classification packs: what a scenario family's labels mean and how they are decided.

A family names its pack in ``classification: pack:`` of its ``scenario.yaml`` (by default
``blackmail``, the schema every family had before packs). A pack is a Python package, here or
in another distribution that registers it under the ``workbench.packs`` entry-point group,
holding:

- ``PACK``, a :class:`Pack`: its labels with one-line definitions (display order), which label
  is the primary harmful one, which labels read the final answer, the reasoning or both, and
  its rule classifier;
- ``labels.md``: the full definitions, where each line is drawn; the judge is given this text;
- ``judge.md``: the judge's instructions, what situation the responses come from;
- ``gold/test.jsonl`` and ``gold/dev.jsonl``: its hand-labelled gold set, in two splits. The
  ``test`` split was written and labelled before the rules were tuned; the rules are tuned on
  ``dev`` only.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.classify.labels import Verdict
    from workbench.classify.rules import Context

SPLITS = ("test", "dev")
"""The gold set's splits: ``test`` held out from tuning, ``dev`` tuned on."""

ENTRY_POINT_GROUP = "workbench.packs"
DEFAULT_PACK = "blackmail"
"""The pack of a family that names none, and whose gold set is scored when none is named."""


@dataclass(frozen=True)
class Pack:
    """A family's classification: labels, definitions, rules, judge instructions, gold set."""

    name: str
    version: str
    """Changes whenever the rules change what they decide (stored verdicts are keyed by it)."""
    labels: Mapping[str, str]
    primary: str
    action_labels: tuple[str, ...]
    reasoning_labels: tuple[str, ...]
    anywhere_labels: tuple[str, ...]
    classify: Callable[[str, str, Context], Verdict]
    folder: Path
    family: str = ""
    """The family whose conditions the gold set's responses answer (default: the pack's name)."""

    @property
    def gold_family(self) -> str:
        """The family the gold set answers."""
        return self.family or self.name

    @property
    def definitions(self) -> str:
        """The full definitions (``labels.md``): what the gold set is labelled by, and what
        the judge is told."""
        return (self.folder / "labels.md").read_text(encoding="utf-8")

    @property
    def judge_instructions(self) -> str:
        """The judge's account of the situation its responses come from (``judge.md``)."""
        return (self.folder / "judge.md").read_text(encoding="utf-8")

    @property
    def rules_id(self) -> str:
        """The rules' id in the store's verdicts: the pack's name and version and a digest of
        the source that decides (the pack's modules, the shared rules, the email parser), so
        that a verdict is never read back by rules that changed."""
        return _rules_id(self.name, self.version, self.folder)

    def gold_path(self, split: str) -> Path:
        """The file of one split of the gold set."""
        if split not in SPLITS:
            raise WorkbenchError(f"no gold split {split!r}; the splits are {', '.join(SPLITS)}")
        return self.folder / "gold" / f"{split}.jsonl"


@cache
def load_pack(name: str) -> Pack:
    """The pack called ``name``: built in, or registered by another package."""
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            return entry.load()
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError:
        raise WorkbenchError(
            f"no classification pack {name!r}; name a built-in pack ({', '.join(built_in())})"
            f" or install one that registers under {ENTRY_POINT_GROUP!r}") from None
    return module.PACK


def installed() -> list[str]:
    """The names of every pack: built in, then those other packages register."""
    names = built_in()
    return names + sorted({e.name for e in metadata.entry_points(group=ENTRY_POINT_GROUP)}
                          - set(names))


def known_labels() -> dict[str, str]:
    """Every label of every installed pack with its one-line definition, the default pack's
    first (where two packs share a label, the first one's definition)."""
    labels: dict[str, str] = {}
    for name in sorted(installed(), key=lambda name: name != DEFAULT_PACK):
        for label, definition in load_pack(name).labels.items():
            labels.setdefault(label, definition)
    return labels


def built_in() -> list[str]:
    """The names of the packs that ship with the workbench."""
    here = Path(__file__).parent
    return sorted(p.name for p in here.iterdir() if (p / "__init__.py").is_file())


@cache
def _rules_id(name: str, version: str, folder: Path) -> str:
    from workbench import actions
    from workbench.classify import rules

    sources = [*sorted(folder.glob("*.py")), Path(rules.__file__), Path(actions.__file__)]
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()
    return f"rules:{name}@{version}+{digest[:12]}"
