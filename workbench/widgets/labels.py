"""``LabelPanel``: a person labels responses by hand, one at a time, keyboard first.

Each mark (yes, no or unsure, with an optional note) is written to the store the moment it is
made, keyed by the response and the labeller's name; ``workbench classify evaluate --human``
then scores the rules and the judge against them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd

from workbench import views
from workbench.classify import label_results, results_labels
from workbench.errors import WorkbenchError
from workbench.scenarios import Family
from workbench.store import Store, open_store
from workbench.widgets.keys import KeyCapture
from workbench.widgets.snapshot import SnapshotBox

UNMARKED = ""
_CHOICES = [("yes", "yes"), ("no", "no"), ("unsure", "unsure"), ("–", UNMARKED)]
KEYS = {"y": "yes", "n": "no", "u": "unsure", "x": UNMARKED}
"""Keys that mark the focused label."""
MOVES = {"j": (0, 1), "ArrowDown": (0, 1), "k": (0, -1), "ArrowUp": (0, -1),
         "]": (1, 0), "ArrowRight": (1, 0), "Enter": (1, 0), "[": (-1, 0), "ArrowLeft": (-1, 0)}
"""Keys that move: (responses, labels) to step."""
HINT = ("click here, then: y yes · n no · u unsure · x clear · j/k or ↓/↑ next/previous label · "
        "Enter or → next response · ← previous")


class LabelPanel(SnapshotBox):
    """Hand labels for the responses of a results table, written to the store as they are made.

    ``results`` is the table ``workbench.run`` / ``workbench.results`` return (rows with no
    response are left out); it is labelled by the rules, so their verdicts and evidence show
    beside the marks, and the responses on which the rules abstained come first. ``labeller``
    names who labels (required before marking). ``labels``
    defaults to every label. The parts are attributes: ``controls`` (``labeller``, ``previous``,
    ``next``, ``position``, ``note``, ``keys`` and one toggle per label by its name), ``index``
    (the response shown, from 0), ``focus`` (the label the keys mark) and
    :meth:`snapshot_html`.
    """

    def __init__(
        self,
        results: pd.DataFrame,
        *,
        labeller: str = "",
        labels: Sequence[str] | None = None,
        store: Store | str | Path | None = None,
        scenario: Family | str | None = None,
    ) -> None:
        super().__init__()
        answered = results[results["text"].notna()].reset_index(drop=True)
        if answered.empty:
            raise WorkbenchError("LabelPanel needs responses to label; these results have none")
        labelled = label_results(answered, scenario)
        definitions = results_labels(answered, scenario)
        present = list(definitions)
        self.labels = list(labels or present)
        self._definitions = definitions
        unknown = set(self.labels) - set(present)
        if unknown:
            raise WorkbenchError(f"unknown labels {sorted(unknown)}; these responses' packs "
                                 f"have: {', '.join(present)}")
        # The responses the rules could not tell come first: they most need a person.
        undecided = labelled[self.labels].isna().any(axis=1)
        self.frame = pd.concat([labelled[undecided], labelled[~undecided]]).reset_index(drop=True)
        self.store = open_store(store)
        self._index = 0
        self._focus = 0
        self._muted = False
        self.controls: dict[str, Any] = {
            "labeller": widgets.Text(value=labeller, description="labeller",
                                     placeholder="your name"),
            "previous": widgets.Button(description="◀ previous"),
            "position": widgets.Label(),
            "next": widgets.Button(description="next ▶"),
            "note": widgets.Textarea(placeholder="a note on the focused label (optional)",
                                     layout=widgets.Layout(width="100%")),
            "keys": KeyCapture(hint=HINT),
        }
        for name in self.labels:
            toggle = widgets.ToggleButtons(options=_CHOICES, value=UNMARKED,
                                           tooltips=[definitions[name]] * len(_CHOICES),
                                           style={"button_width": "5em"})
            toggle.observe(lambda change, name=name: self._on_toggle(name, change["new"]),
                           names="value")
            self.controls[name] = toggle
        self._names = {name: widgets.HTML() for name in self.labels}
        self._status = widgets.HTML()
        self._card = widgets.HTML()
        c = self.controls
        marks = [widgets.HBox([self._names[name], c[name]]) for name in self.labels]
        self.children = [
            widgets.HBox([c["labeller"], c["previous"], c["position"], c["next"]]),
            c["keys"],
            widgets.HBox([widgets.VBox(marks), widgets.VBox([c["note"], self._status],
                                                             layout=widgets.Layout(flex="1"))]),
            self._card,
        ]
        c["previous"].on_click(lambda _: self._step(-1, 0))
        c["next"].on_click(lambda _: self._step(1, 0))
        c["labeller"].observe(lambda _: self._show(), names="value")
        c["note"].observe(lambda change: self._on_note(change["new"]), names="value")
        c["keys"].on_key(self.press)
        self._show()

    # -- where we are -- #

    @property
    def index(self) -> int:
        """The response shown, from 0; setting it (clamped) shows that response."""
        return self._index

    @index.setter
    def index(self, value: int) -> None:
        self._index = min(max(0, value), len(self.frame) - 1)
        self._show()

    @property
    def focus(self) -> str:
        """The label the keys mark."""
        return self.labels[self._focus]

    @property
    def row(self) -> pd.Series:
        """The response shown, with the rules' labels."""
        return self.frame.iloc[self._index]

    def _step(self, responses: int, labels: int) -> None:
        if labels:
            self._focus = min(max(0, self._focus + labels), len(self.labels) - 1)
            self._show_focus()
        if responses:
            self.index = self._index + responses

    # -- marking -- #

    def press(self, key: str) -> None:
        """Act on one keyboard shortcut (see :data:`KEYS` and :data:`MOVES`)."""
        if key in KEYS:
            self.controls[self.focus].value = KEYS[key]
        elif key in MOVES:
            self._step(*MOVES[key])

    def mark(self, label: str, value: str) -> None:
        """Mark ``label`` of the response shown ``value`` (yes, no, unsure, or "" to clear)."""
        self.controls[label].value = value

    def _on_toggle(self, label: str, value: str) -> None:
        if self._muted:
            return
        labeller = self.controls["labeller"].value.strip()
        if not labeller:
            self._muted = True
            self.controls[label].value = UNMARKED
            self._muted = False
            self._say("type your name in “labeller” first: marks are kept by labeller", True)
            return
        note = self.controls["note"].value if label == self.focus else self._note(label)
        try:
            self.store.set_hand_label(self.row["request_hash"], labeller, label,
                                      value or None, note)
        except WorkbenchError as exc:
            self._say(str(exc), True)
            return
        if label != self.focus:  # marked with the mouse: the keys and the note follow
            self._focus = self.labels.index(label)
            self._show_focus()
        self._say(f"saved: {label} = {value}" if value else f"cleared {label}")

    def _on_note(self, note: str) -> None:
        if self._muted or not self.controls[self.focus].value:
            return  # a note is kept with a mark: it is saved when the label is marked
        self._on_toggle(self.focus, self.controls[self.focus].value)

    def _note(self, label: str) -> str:
        return self._marks().get(label, ("", ""))[1]

    def _marks(self) -> dict[str, tuple[str, str]]:
        """This labeller's marks of the response shown: label -> (value, note)."""
        labeller = self.controls["labeller"].value.strip()
        if not labeller:
            return {}
        found = self.store.hand_labels([self.row["request_hash"]], labeller=labeller)
        return {mark.label: (mark.value, mark.note) for mark in found}

    # -- what is shown -- #

    def _show(self) -> None:
        marks = self._marks()
        self._muted = True
        try:
            for name in self.labels:
                self.controls[name].value = marks.get(name, (UNMARKED, ""))[0]
            self.controls["note"].value = marks.get(self.focus, ("", ""))[1]
        finally:
            self._muted = False
        c = self.controls
        c["position"].value = f"response {self._index + 1} of {len(self.frame)}"
        c["previous"].disabled = self._index == 0
        c["next"].disabled = self._index >= len(self.frame) - 1
        self._card.value = views.card_columns([("", [views.sample_card(
            self.row.to_dict(), self.labels)])])
        self._show_focus()
        self._say("")

    def _show_focus(self) -> None:
        for position, name in enumerate(self.labels):
            rules = self.row.get(name)
            said = "rules: ?" if pd.isna(rules) else f"rules: {'yes' if rules else 'no'}"
            style = "font-weight:bold;color:#4a7bd0" if position == self._focus else ""
            pointer = "▶ " if position == self._focus else ""
            self._names[name].value = (
                f'<span title="{html.escape(self._definitions[name], quote=True)}" style="{style}">'
                f"{pointer}{html.escape(name)}</span> "
                f'<span style="color:#777;font-size:0.85em">{html.escape(said)}</span>')
        self._muted = True
        self.controls["note"].value = self._note(self.focus)
        self._muted = False

    def _say(self, message: str, error: bool = False) -> None:
        colour = "#b00020" if error else "#555"
        self._status.value = (f'<span style="color:{colour}">{html.escape(message)}</span>'
                              if message else "")

    def snapshot_html(self) -> str:
        """Static, escaped HTML of what is on screen: the response, the marks, the status."""
        marks = "".join(
            f"<tr><td>{html.escape(name)}</td>"
            f"<td>{html.escape(self.controls[name].value or '–')}</td></tr>"
            for name in self.labels)
        who = html.escape(self.controls["labeller"].value or "(no labeller)")
        return (f"<div><b>{html.escape(self.controls['position'].value)}</b>, labelled by "
                f"{who}<table>{marks}</table>{self._status.value}</div>{self._card.value}")
