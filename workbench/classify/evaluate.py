"""Calibration: precision, recall and F1 against hand labels, and Cohen's kappa between raters.

Each classification pack has a gold set of hand-written responses with hand labels, in two
splits (:data:`workbench.classify.packs.SPLITS`): ``test``, written and labelled before the
rules were tuned, and ``dev``, the one they were tuned on. :func:`evaluate` runs the rules (and
a judge, when given) over both and compares, label by label, counting apart the responses where
a classifier abstained (said the label is unknown).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from workbench.classify.labels import Verdict
from workbench.classify.packs import DEFAULT_PACK, SPLITS, Pack, known_labels, load_pack
from workbench.classify.packs.blackmail.labels import LABELS
from workbench.errors import WorkbenchError


@dataclass(frozen=True)
class Scores:
    """Agreement of predictions with the truth for one label. ``unknown`` counts the items the
    classifier abstained on; precision, recall and F1 are on the decided ones."""

    tp: int
    fp: int
    fn: int
    tn: int
    unknown: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def support(self) -> int:
        """How many decided items are truly positive."""
        return self.tp + self.fn

    @property
    def coverage(self) -> float:
        """The share of items the classifier decided (1.0 with no items)."""
        total = self.tp + self.fp + self.fn + self.tn + self.unknown
        return (total - self.unknown) / total if total else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4), "coverage": round(self.coverage, 4),
                "support": self.support, "tp": self.tp, "fp": self.fp, "fn": self.fn,
                "tn": self.tn, "unknown": self.unknown}


def scores(truth: Sequence[bool], predicted: Sequence[bool | None]) -> Scores:
    """The confusion counts of one label; an unknown prediction (None) counts as ``unknown``."""
    if len(truth) != len(predicted):
        raise ValueError("truth and predictions differ in length")
    pairs = [(bool(t), p) for t, p in zip(truth, predicted, strict=True)]
    decided = [(t, bool(p)) for t, p in pairs if p is not None]
    return Scores(
        tp=sum(t and p for t, p in decided),
        fp=sum(p and not t for t, p in decided),
        fn=sum(t and not p for t, p in decided),
        tn=sum(not t and not p for t, p in decided),
        unknown=len(pairs) - len(decided),
    )


def cohens_kappa(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Cohen's kappa of two raters' yes/no ratings of the same items.

    ``(p_o - p_e) / (1 - p_e)`` with ``p_o`` the observed agreement and ``p_e`` the agreement
    expected by chance from each rater's rate of yes. NaN when undefined (no items, or both
    raters always give the same single answer, so that ``p_e == 1``).
    """
    if len(a) != len(b):
        raise ValueError("the two raters rated a different number of items")
    n = len(a)
    if n == 0:
        return math.nan
    observed = sum(bool(x) == bool(y) for x, y in zip(a, b, strict=True)) / n
    yes_a, yes_b = sum(map(bool, a)) / n, sum(map(bool, b)) / n
    expected = yes_a * yes_b + (1 - yes_a) * (1 - yes_b)
    if expected >= 1:
        return math.nan
    return (observed - expected) / (1 - expected)


def kappa_where_decided(a: Sequence[bool | None], b: Sequence[bool | None]) -> float:
    """Cohen's kappa of two raters over the items both decided (None is undecided)."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return cohens_kappa([x for x, _ in pairs], [y for _, y in pairs])


def per_label(truth: Sequence[Iterable[str]], verdicts: Sequence[Verdict],
              labels: Iterable[str] = LABELS) -> dict[str, Scores]:
    """Scores of every label, given the true label sets and the verdicts in the same order."""
    truth_sets = [set(t) for t in truth]
    return {name: scores([name in t for t in truth_sets],
                         [v.labels.get(name) for v in verdicts]) for name in labels}


def read_gold(path: str | Path, labels: Iterable[str] = LABELS) -> list[dict[str, Any]]:
    """A gold-set file: dicts of ``id``, optional ``values`` (the condition it answers, when
    not the family's defaults), ``response``, optional ``reasoning``, ``labels`` (the true
    ones), optional ``case`` (the named hard case it is) and ``note``."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise WorkbenchError(f"cannot read the gold set {path}: {exc.strerror}") from None
    rows = [json.loads(line) for line in lines if line.strip()]
    known = set(labels)
    for row in rows:
        unknown = set(row["labels"]) - known
        if unknown:
            raise WorkbenchError(f"gold item {row['id']}: unknown labels {sorted(unknown)}")
    return rows


@lru_cache(maxsize=32)
def _context(family: str, values: str) -> Any:
    from workbench.classify.rules import Context

    return Context.from_family(family, json.loads(values))


def gold_context(row: dict[str, Any], pack: str = DEFAULT_PACK) -> Any:
    """The context a gold response of ``pack`` answers: its gold family's defaults, with the
    row's ``values`` (the variables of another condition) when it has them."""
    return _context(load_pack(pack).gold_family,
                    json.dumps(row.get("values") or {}, sort_keys=True))


def load_gold(split: str | None = None, *, pack: str = DEFAULT_PACK) -> list[dict[str, Any]]:
    """The pack's gold set: one split (``test`` or ``dev``), or both (each row then carries
    its ``split``)."""
    found = load_pack(pack)
    return [{**row, "split": name} for name in ([split] if split else SPLITS)
            for row in read_gold(found.gold_path(name), found.labels)]


def gold_results(split: str | None = None, *, pack: str = DEFAULT_PACK) -> Any:
    """The gold set as a results table (see :func:`workbench.table.results_table`): one row
    a hand-written response, as if answered at the family's default condition by a model named
    ``hand-written``, with its hand labels (comma-separated) in ``gold_labels``, its ``split``
    and its ``note``. Lets a newcomer browse labelled behaviour in ``Compare`` with no key."""
    import pandas as pd

    from workbench.hashing import canonical_json
    from workbench.scenarios import load_family

    family = load_family(load_pack(pack).gold_family)
    values = family.resolve()
    rows = load_gold(split, pack=pack)
    return pd.DataFrame({
        "condition_id": family.condition_id(values),
        "model": "hand-written",
        "sample": range(len(rows)),
        "request_hash": [row["id"] for row in rows],
        "text": [row["response"] for row in rows],
        "reasoning": [row.get("reasoning") or "" for row in rows],
        "error": None,
        "values": canonical_json(values),
        "gold_labels": [", ".join(row["labels"]) for row in rows],
        "split": [row["split"] for row in rows],
        "note": [row.get("note", "") for row in rows],
    })


@dataclass
class SplitEvaluation:
    """The rules (and the judge) scored on one split of the gold set."""

    items: int
    rules: dict[str, Scores]
    judge: dict[str, Scores] | None = None
    kappa: dict[str, float] = field(default_factory=dict)
    """Cohen's kappa of the judge and the rules, per label."""
    kappa_gold: dict[str, float] = field(default_factory=dict)
    """Cohen's kappa of the judge and the hand labels, per label."""
    unparseable: int = 0

    def as_dict(self) -> dict[str, Any]:
        def rounded(values: dict[str, float]) -> dict[str, float | None]:
            return {k: (None if math.isnan(v) else round(v, 4)) for k, v in values.items()}

        data: dict[str, Any] = {
            "items": self.items,
            "rules": {k: v.as_dict() for k, v in self.rules.items()},
        }
        if self.judge is not None:
            data["judge"] = {k: v.as_dict() for k, v in self.judge.items()}
            data["judge_unparseable"] = self.unparseable
            data["kappa_judge_rules"] = rounded(self.kappa)
            data["kappa_judge_gold"] = rounded(self.kappa_gold)
        return data


@dataclass
class Evaluation:
    """The rules (and the judge) scored on each split of a pack's gold set."""

    pack: str
    splits: dict[str, SplitEvaluation]
    judge_model: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"pack": self.pack,
                                "splits": {k: v.as_dict() for k, v in self.splits.items()}}
        if self.judge_model is not None:
            data["judge_model"] = self.judge_model
        return data

    def table(self) -> str:
        """A plain-text table of the scores: per split, per label, the share decided (cov) and
        precision, recall and F1 on the decided part, with the positives among them (n); with
        a judge, its P, R and F1 and its Cohen's kappa with the hand labels and the rules."""
        head = f"{'label':<22} {'cov':>5} {'P':>5} {'R':>5} {'F1':>5} {'n':>4}"
        if self.judge_model is not None:
            head += f"   {'judge P':>7} {'R':>5} {'F1':>5}   {'k gold':>6} {'k rules':>7}"
        lines = []
        for name, split in self.splits.items():
            tuned = "held out from tuning" if name == "test" else "the rules were tuned on it"
            lines += [f"{self.pack} gold set, {name} split ({tuned}): {split.items} responses",
                      head]
            for label, r in split.rules.items():
                line = (f"{label:<22} {r.coverage:5.2f} {r.precision:5.2f} {r.recall:5.2f} "
                        f"{r.f1:5.2f} {r.support:4d}")
                if split.judge is not None:
                    j = split.judge[label]
                    gold, rules = (f"{k:.2f}" if not math.isnan(k) else "n/a" for k in (
                        split.kappa_gold.get(label, math.nan), split.kappa.get(label, math.nan)))
                    line += (f"   {j.precision:7.2f} {j.recall:5.2f} {j.f1:5.2f}   {gold:>6}"
                             f" {rules:>7}")
                lines.append(line)
            if split.judge is not None:
                lines.append(f"judge {self.judge_model}: {split.unparseable} unparseable or "
                             "failed (left out of its scores and of kappa)")
            lines.append("")
        return "\n".join(lines).rstrip()


def evaluate(judge_model: str | None = None, *, pack: str = DEFAULT_PACK,
             store: Any = None, progress: bool = False) -> Evaluation:
    """Score the rules, and the judge ``judge_model`` when given, on each split of the pack's
    gold set."""
    from workbench.classify.judge import Item, judge
    from workbench.classify.rules import classify

    found: Pack = load_pack(pack)
    result = Evaluation(pack=found.name, splits={}, judge_model=judge_model)
    for split in SPLITS:
        rows = read_gold(found.gold_path(split), found.labels)
        truth = [row["labels"] for row in rows]
        contexts = [gold_context(row, found.name) for row in rows]
        ruled = [classify(row["response"], reasoning=row.get("reasoning", ""), context=context)
                 for row, context in zip(rows, contexts, strict=True)]
        part = result.splits[split] = SplitEvaluation(
            items=len(rows), rules=per_label(truth, ruled, found.labels))
        if judge_model is None:
            continue
        items = [Item(row["response"], context, row.get("reasoning", ""))
                 for row, context in zip(rows, contexts, strict=True)]
        judged = judge(items, judge_model, store=store, progress=progress)
        part.judge = per_label(truth, judged, found.labels)
        known = [(r, j) for r, j in zip(ruled, judged, strict=True) if j.status == "ok"]
        part.unparseable = len(rows) - len(known)
        part.kappa = {name: kappa_where_decided([r.labels[name] for r, _ in known],
                                                [j.labels[name] for _, j in known])
                      for name in found.labels}
        part.kappa_gold = {name: kappa_where_decided([name in t for t in truth],
                                                     [j.labels[name] for j in judged])
                           for name in found.labels}
    return result


# --- agreement with hand labels (LabelPanel) -------------------------------------------------


@dataclass
class HumanAgreement:
    """How the rules (and the judge) agree with people's hand labels, label by label.

    For each label only the responses a person decided (yes or no; unsure and unmarked are left
    out; several labellers decide by majority) count: ``decided[label]`` of them."""

    responses: int
    decided: dict[str, int]
    rules: dict[str, Scores]
    rules_kappa: dict[str, float]
    judge: dict[str, Scores] | None = None
    judge_kappa: dict[str, float] = field(default_factory=dict)
    judge_model: str | None = None

    def as_dict(self) -> dict[str, Any]:
        def kappas(values: dict[str, float]) -> dict[str, float | None]:
            return {k: None if math.isnan(v) else round(v, 4) for k, v in values.items()}

        data: dict[str, Any] = {
            "responses": self.responses, "decided": self.decided,
            "rules": {k: v.as_dict() for k, v in self.rules.items()},
            "rules_kappa": kappas(self.rules_kappa),
        }
        if self.judge is not None:
            data["judge_model"] = self.judge_model
            data["judge"] = {k: v.as_dict() for k, v in self.judge.items()}
            data["judge_kappa"] = kappas(self.judge_kappa)
        return data

    def table(self) -> str:
        """A plain-text table: per label, responses decided, then P, R, F1 and kappa."""
        def cells(s: Scores, k: float) -> str:
            kappa = "  n/a" if math.isnan(k) else f"{k:5.2f}"
            return f"{s.precision:5.2f} {s.recall:5.2f} {s.f1:5.2f} {kappa}"

        head = f"{'label':<22} {'n':>4}   {'P':>5} {'R':>5} {'F1':>5} {'kappa':>5}"
        if self.judge is not None:
            head += f"   {'judge P':>7} {'R':>5} {'F1':>5} {'kappa':>5}"
        lines = [f"hand labels: {self.responses} responses; rules (and judge) against them",
                 head]
        for name in self.rules:
            line = (f"{name:<22} {self.decided[name]:4d}   "
                    f"{cells(self.rules[name], self.rules_kappa[name])}")
            if self.judge is not None:
                line += f"   {cells(self.judge[name], self.judge_kappa[name]):>25}"
            lines.append(line)
        return "\n".join(lines)


def hand_decisions(labels: Iterable[Any]) -> dict[str, dict[str, bool]]:
    """Per response hash, per label: the majority of the yes/no hand labels (ties, unsure and
    unmarked labels are undecided and left out)."""
    votes: dict[tuple[str, str], list[bool]] = {}
    for hand in labels:
        if hand.value in ("yes", "no"):
            votes.setdefault((hand.request_hash, hand.label), []).append(hand.value == "yes")
    decided: dict[str, dict[str, bool]] = {}
    for (key, label), ballot in votes.items():
        yes = sum(ballot)
        if yes * 2 != len(ballot):
            decided.setdefault(key, {})[label] = yes * 2 > len(ballot)
    return decided


def hand_labelled_responses(store: Any, experiment: str | None = None) -> Any:
    """The results rows (see :func:`workbench.table.results_table`) of the responses that
    carry hand labels, from ``experiment`` or every experiment in the store, one row a
    response."""
    import pandas as pd

    from workbench.table import results_table

    names = [experiment] if experiment else store.experiments()
    frames = [results_table(store, name) for name in names]
    if not frames:
        raise WorkbenchError(f"the store {store.path} holds no experiment; run one first")
    frame = pd.concat(frames, ignore_index=True).drop_duplicates("request_hash")
    labelled = {hand.request_hash for hand in store.hand_labels(list(frame["request_hash"]))}
    frame = frame[frame["request_hash"].isin(labelled) & frame["text"].notna()]
    if frame.empty:
        where = f"experiment {experiment!r}" if experiment else f"the store {store.path}"
        raise WorkbenchError(f"no hand labels on the responses of {where}; label some with "
                             "workbench.widgets.LabelPanel first")
    return frame.reset_index(drop=True)


def evaluate_human(
    experiment: str | None = None,
    *,
    judge_model: str | None = None,
    store: Any = None,
    progress: bool = False,
) -> HumanAgreement:
    """Score the rules (and the judge ``judge_model``) against the hand labels in the store, of
    ``experiment``'s responses or of every experiment's."""
    from workbench.classify import label_results
    from workbench.store import Store

    store = store if store is not None else Store()
    frame = hand_labelled_responses(store, experiment)
    decided = hand_decisions(store.hand_labels(list(frame["request_hash"])))
    ruled = label_results(frame)
    judged = None
    if judge_model is not None:
        judged = label_results(frame, judge=judge_model, policy="judge", store=store,
                               progress=progress)
    result = HumanAgreement(responses=len(frame), decided={}, rules={}, rules_kappa={},
                            judge={} if judged is not None else None, judge_model=judge_model)
    for name in [label for label in known_labels() if label in ruled]:
        keys = [k for k in ruled["request_hash"] if name in decided.get(k, {})]
        truth = [decided[k][name] for k in keys]
        result.decided[name] = len(keys)
        rules = _predictions(ruled, keys, name)
        result.rules[name] = scores(truth, rules)
        result.rules_kappa[name] = kappa_where_decided(truth, rules)
        if judged is not None and result.judge is not None:
            verdicts = _predictions(judged, keys, name)
            result.judge[name] = scores(truth, verdicts)
            result.judge_kappa[name] = kappa_where_decided(truth, verdicts)
    return result


def _predictions(frame: Any, keys: Sequence[str], label: str) -> list[bool | None]:
    """The label's verdict for each of ``keys`` (None where it is unknown)."""
    import pandas as pd

    by_key = dict(zip(frame["request_hash"], frame[label], strict=True))
    return [None if pd.isna(by_key[k]) else bool(by_key[k]) for k in keys]


def export_hand_labels(path: str | Path, experiment: str | None = None,
                       store: Any = None) -> int:
    """Write the hand-labelled responses as gold-set JSONL (``id``, ``response``,
    ``reasoning``, ``labels``: those decided yes, plus ``hand``: every decided label and
    ``note``); returns how many responses were written."""
    from workbench.store import Store

    store = store if store is not None else Store()
    frame = hand_labelled_responses(store, experiment)
    hands = store.hand_labels(list(frame["request_hash"]))
    decided = hand_decisions(hands)
    notes: dict[str, list[str]] = {}
    for hand in hands:
        if hand.note.strip():
            notes.setdefault(hand.request_hash, []).append(f"{hand.labeller}: {hand.note}")
    lines = []
    for _, row in frame.iterrows():
        key = row["request_hash"]
        mine = decided.get(key, {})
        lines.append(json.dumps({
            "id": key[:16], "response": row["text"], "reasoning": row["reasoning"] or "",
            "labels": sorted(k for k, v in mine.items() if v), "hand": mine,
            "note": "; ".join(notes.get(key, [])),
        }, ensure_ascii=False))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)
