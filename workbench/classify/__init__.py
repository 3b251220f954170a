"""Classify behaviour: labels with evidence, an offline rule classifier, an LLM judge.

:func:`classify_many` labels responses with the rules and, optionally, a judge combined by a
policy; :func:`classify_frame` adds a boolean column per label and the evidence to a results
DataFrame.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from workbench.classify.evaluate import (
    Evaluation,
    HumanAgreement,
    cohens_kappa,
    evaluate,
    evaluate_human,
    export_hand_labels,
    gold_results,
    load_gold,
    read_gold,
    scores,
)
from workbench.classify.judge import (
    POLICIES,
    Item,
    check_policy,
    combine,
    judge,
    judge_id,
    parse_verdict,
)
from workbench.classify.labels import Evidence, Verdict, verdict_from_dict
from workbench.classify.packs import DEFAULT_PACK, Pack, known_labels, load_pack
from workbench.classify.packs.blackmail.labels import LABELS
from workbench.classify.rules import Context, classify
from workbench.errors import WorkbenchError
from workbench.scenarios import Family, load_family

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_PACK", "LABELS", "POLICIES", "Context", "Evaluation", "Evidence", "HumanAgreement",
    "Item", "Verdict", "check_policy", "classify", "classify_frame", "classify_many",
    "cohens_kappa", "combine", "evaluate", "evaluate_human", "export_hand_labels", "family_pack",
    "gold_results", "judge", "known_labels", "label_results", "load_gold", "parse_verdict",
    "read_gold", "read_responses", "results_labels", "scores",
]


def family_pack(family: Family | str) -> Pack:
    """The classification pack ``family`` names in its ``scenario.yaml``."""
    if not isinstance(family, Family):
        family = load_family(family)
    return load_pack(family.spec.classification.pack)


def classify_many(
    items: Sequence[Item],
    *,
    judge_model: str | None = None,
    policy: str | None = None,
    store: Any = None,
    progress: bool = False,
    keys: Sequence[str] | None = None,
) -> list[Verdict]:
    """Label every item: rules always, the judge when ``judge_model`` is given, combined by
    ``policy`` (default ``rules`` without a judge, ``judge_over_rules`` with one).

    Given a ``store`` and each item's response key (``keys``: request hashes), the rules' and
    the judge's verdicts are read from the store where the same rules, or the same judge model
    with the same prompt, gave them before, and the new ones are saved there: labelling a
    finished experiment again costs no classification work."""
    policy = check_policy(policy, judge_model)
    ruled = _remembered(
        items, keys, store, lambda item: load_pack(item.context.pack).rules_id,
        lambda todo: [classify(i.text, reasoning=i.reasoning, context=i.context) for i in todo],
        # A failed sample (no text) may be answered later.
        lambda item, verdict: bool(item.text))
    if judge_model is None or policy == "rules":
        return ruled
    # The responses the rules could not tell are sent to the judge first.
    order = sorted(range(len(items)), key=lambda i: None not in ruled[i].labels.values())
    judged_in_order = _remembered(
        [items[i] for i in order], None if keys is None else [keys[i] for i in order], store,
        lambda item: judge_id(item.context.pack, judge_model),
        lambda todo: judge(todo, judge_model, store=store, progress=progress),
        # A request that failed may succeed when asked again; an unparseable one was retried.
        lambda item, verdict: bool(item.text) and verdict.status in ("ok", "unparseable"))
    judged = dict(zip(order, judged_in_order, strict=True))
    return [combine(r, judged[i], policy) for i, r in enumerate(ruled)]


def _remembered(
    items: Sequence[Item],
    keys: Sequence[str] | None,
    store: Any,
    classifier_of: Callable[[Item], str],
    work: Callable[[list[Item]], list[Verdict]],
    keep: Callable[[Item, Verdict], bool],
) -> list[Verdict]:
    """The verdicts of ``items``: read from the store's verdicts where the item's classifier
    (``classifier_of``) gave one before for its key, the others worked out (``work``) and
    those worth keeping (``keep``) saved. Without a store or keys, all are worked out."""
    if store is None or keys is None:
        return work(list(items))
    verdicts: list[Verdict | None] = [None] * len(items)
    by_classifier: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_classifier.setdefault(classifier_of(item), []).append(index)
    for classifier, indexes in by_classifier.items():
        stored = store.verdicts(classifier, [keys[i] for i in indexes])
        todo = []
        for i in indexes:
            if keys[i] in stored:
                verdicts[i] = verdict_from_dict(stored[keys[i]])
            else:
                todo.append(i)
        new: dict[str, dict[str, Any]] = {}
        worked = work([items[i] for i in todo]) if todo else []
        for i, verdict in zip(todo, worked, strict=True):
            verdicts[i] = verdict
            if keep(items[i], verdict):
                new[keys[i]] = verdict.as_dict()
        if new:
            store.save_verdicts(classifier, new)
    return [v for v in verdicts if v is not None]  # every one is set by now


def classify_frame(
    frame: pd.DataFrame,
    family: Family | str,
    *,
    values_column: str = "values",
    text_column: str = "text",
    reasoning_column: str = "reasoning",
    judge: str | None = None,
    policy: str | None = None,
    store: Any = None,
    progress: bool = False,
) -> pd.DataFrame:
    """A copy of a results DataFrame with a column per label and an ``evidence`` column.

    Each row's scenario values (``values_column``: JSON text or a mapping of the variables)
    give its cast. Label columns are pandas ``boolean``, missing where the verdict is unknown
    (the rules abstained, or the judge gave none); ``unknown_because`` maps each unknown label
    to why; ``evidence`` maps each positive label to its quoted spans; ``classified_by``
    names the policy and ``classifier_status`` is ``ok`` or why the judge's verdict is unknown.
    Rows without text (failed or not run) are classified as empty responses. With a
    ``store`` and a ``request_hash`` column, the rules' verdicts are kept in the store and read
    back while the rules are unchanged (see :func:`classify_many`).
    """
    import pandas as pd

    if not isinstance(family, Family):
        family = load_family(family)
    contexts: dict[str, Context] = {}
    items = []
    for _, row in frame.iterrows():
        values = _values(row.get(values_column)) if values_column in frame else {}
        known = {k: v for k, v in values.items() if k in family.variables}
        key = json.dumps(known, sort_keys=True)
        if key not in contexts:
            contexts[key] = Context.from_family(family, known)
        items.append(Item(_text(row.get(text_column)), contexts[key],
                          _text(row.get(reasoning_column))))
    keys = ([str(k) for k in frame["request_hash"]]
            if store is not None and "request_hash" in frame else None)
    verdicts = classify_many(items, judge_model=judge, policy=policy, store=store,
                             progress=progress, keys=keys)
    out = frame.copy()
    for name in family_pack(family).labels:
        out[name] = pd.array([v.labels.get(name) for v in verdicts], dtype="boolean")
    out["evidence"] = [v.as_dict()["evidence"] for v in verdicts]
    out["unknown_because"] = [v.as_dict()["unknown"] for v in verdicts]
    out["classified_by"] = [v.source for v in verdicts]
    out["classifier_status"] = [v.status for v in verdicts]
    return out


def label_results(
    frame: pd.DataFrame, scenario: Family | str | None = None, **options: Any
) -> pd.DataFrame:
    """:func:`classify_frame` for a results table whose rows may answer several families: each
    row is labelled with the family its ``condition_id`` names (``family/…``), or with
    ``scenario`` when given. Rows keep their order; ``options`` go to classify_frame."""
    import pandas as pd

    if frame.empty:
        return frame
    if scenario is not None:
        return classify_frame(frame, scenario, **options)
    families = _families(frame)
    parts = [classify_frame(part, family, **options) for family, part in frame.groupby(families)]
    out = pd.concat(parts).loc[frame.index]
    # A label of one family's pack is unknown (not False) on another family's rows.
    for name in results_labels(frame):
        out[name] = out[name].astype("boolean")
    return out


def results_labels(frame: pd.DataFrame, scenario: Family | str | None = None) -> dict[str, str]:
    """The labels, with their one-line definitions, of the packs that label ``frame``'s rows:
    ``scenario``'s pack, or the packs of the families its condition ids name; each pack's
    primary label first."""
    families = [scenario] if scenario is not None else sorted(set(_families(frame)))
    labels: dict[str, str] = {}
    for family in families:
        pack = family_pack(family)
        for name in (pack.primary, *pack.labels):
            labels.setdefault(name, pack.labels[name])
    return labels


def _families(frame: pd.DataFrame) -> pd.Series:
    """The family each row answers, from its ``condition_id`` (``family/…``): all before the
    last ``/``, since a family's name may hold one (``original/blackmail``) and a value's
    never does (it is percent-quoted)."""
    import pandas as pd

    ids = frame["condition_id"] if "condition_id" in frame else pd.Series("", frame.index)
    families = ids.fillna("").astype(str).str.rpartition("/")[0]
    if (families == "").any():
        raise WorkbenchError("cannot tell which scenario family labels these results (a row "
                             "has no condition id naming it); pass scenario=NAME")
    return families


def _values(raw: Any) -> dict[str, str]:
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    if isinstance(raw, str) and raw.strip():
        parsed = json.loads(raw)
        if isinstance(parsed, dict):
            return {str(k): str(v) for k, v in parsed.items()}
    return {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def read_responses(path: str) -> list[dict[str, Any]]:
    """The responses of a JSONL file: one object a line with a ``response`` string and
    optional ``reasoning`` and ``id``. Raises a one-line error naming the bad line."""
    from pathlib import Path

    from workbench.errors import WorkbenchError

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise WorkbenchError(f"{path}: no such file; give a JSONL file of responses") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkbenchError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise WorkbenchError(f"{path} line {number}: not valid JSON ({exc.msg}); "
                                 "each line must be one JSON object") from None
        if not isinstance(row, dict):
            raise WorkbenchError(f"{path} line {number}: expected a JSON object, "
                                 f"got {type(row).__name__}")
        if not isinstance(row.get("response"), str):
            problem = "has no" if "response" not in row else "has a non-text"
            raise WorkbenchError(f"{path} line {number}: {problem} \"response\" field; "
                                 'each line needs {"response": "...", "reasoning": "..."}')
        if not isinstance(row.get("reasoning", ""), str | None):
            raise WorkbenchError(f"{path} line {number}: \"reasoning\" must be text")
        rows.append({**row, "line": number})
    return rows
