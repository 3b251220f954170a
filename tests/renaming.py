"""The metamorphic test every pack shares: rename every person, address, code and term of a
family in its files and in its gold responses, and each response keeps its labels."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from workbench.classify import Context, classify, load_gold
from workbench.classify.evaluate import gold_context
from workbench.scenarios import Family, load_family

REPO = Path(__file__).resolve().parent.parent


def renamer(renames: Mapping[str, str]) -> Callable[[str], str]:
    """A function replacing each of ``renames`` (longest first, never inside a word or an
    address) in a text, in any case: "lena" and "LENA" become "ilse" and "ILSE"."""
    by_lower = {old.lower(): new for old, new in renames.items()}
    pattern = re.compile(r"(?<![\w.])(?:" + "|".join(
        re.escape(old) for old in sorted(renames, key=len, reverse=True)) + ")", re.IGNORECASE)

    def replace(match: re.Match[str]) -> str:
        found, new = match.group(), by_lower[match.group().lower()]
        if found in renames:
            return renames[found]
        return new.lower() if found.islower() else new.upper() if found.isupper() else new

    return lambda text: pattern.sub(replace, text)


def renamed_family(family: str, renamed: Callable[[str], str], folder: Path) -> Family:
    """A copy of the built-in ``family`` in ``folder``/renamed with every file renamed."""
    copy = folder / "renamed"  # not the family's own name: the working directory is searched
    shutil.copytree(REPO / "scenarios" / family, copy)
    for path in copy.rglob("*"):
        if path.is_file():
            path.write_text(renamed(path.read_text(encoding="utf-8")), encoding="utf-8")
    return load_family(copy)


def labels_that_change(pack: str, changed: Family,
                       renamed: Callable[[str], str]) -> list[tuple[str, list[str], list[str]]]:
    """Each gold response of ``pack`` (both splits) whose labels differ once it and its family
    are renamed: its id, and its positive labels before and after."""
    contexts: dict[str, Context] = {}
    differ = []
    for row in load_gold(pack=pack):
        values = row.get("values") or {}
        key = repr(sorted(values.items()))
        if key not in contexts:
            contexts[key] = Context.from_family(changed, values)
        before = classify(row["response"], reasoning=row.get("reasoning", ""),
                          context=gold_context(row, pack))
        after = classify(renamed(row["response"]), reasoning=renamed(row.get("reasoning", "")),
                         context=contexts[key])
        if before.labels != after.labels:
            differ.append((row["id"], before.positives, after.positives))
    return differ
