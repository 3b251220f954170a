"""``Compare``: response cards side by side, in columns by model, condition or any variable.

The cards are one ``ipywidgets.HTML`` whose value is static, escaped HTML built by
:mod:`workbench.views`, so what is on screen is also what a notebook export shows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import ipywidgets as widgets
import pandas as pd

from workbench import views
from workbench.classify import known_labels, label_results, results_labels
from workbench.errors import StoreError, WorkbenchError
from workbench.models.base import Request
from workbench.scenarios import Family
from workbench.store import Store, open_store
from workbench.widgets.snapshot import SnapshotBox

ALL = ""
"""The value of a filter dropdown that lets every row through."""

_DEFAULTS: dict[str, Any] = {
    "condition_id": "", "model": "", "text": None, "reasoning": None, "error": None,
    "request_hash": None, "input_tokens": 0, "output_tokens": 0, "cost": None,
    "latency_s": None, "values": None,
}
"""Columns of a results table that Compare can do without, and what it assumes instead."""


class _Layout(NamedTuple):
    """The rows the filters let through, in columns and pages."""

    rows: pd.DataFrame
    columns: dict[str, pd.DataFrame]
    per_column: int
    """How many rows of a column one page shows: the page size shared between the columns."""
    pages: int

    def on_page(self, page: int) -> dict[str, pd.DataFrame]:
        """The rows of each column on ``page`` (from 0)."""
        start = page * self.per_column
        return {key: rows.iloc[start:start + self.per_column]
                for key, rows in self.columns.items()}


class Compare(SnapshotBox):
    """Response cards of a results table side by side, with filters and paging.

    ``results`` is the table ``workbench.run`` and ``workbench.results`` return, labelled by
    ``workbench.classify_frame`` or not (then it is labelled here by the rules, with
    ``scenario``, else the family named by the condition ids). Columns group the cards by
    ``by``: ``"model"``, ``"condition"`` or a variable, switched in the widget. Opening a card
    shows the prompt it answered, read from ``store`` (the default store when not given).
    :meth:`update` shows a newer table, so a running experiment can fill the cards in.

    The parts are attributes: ``controls`` (the widgets by name: ``by``, ``model``,
    ``condition``, ``label``, ``label_state``, ``search``, ``previous``, ``next``, ``page``),
    ``page`` (0-based), :meth:`visible_rows` and :meth:`snapshot_html`.
    """

    def __init__(
        self,
        results: pd.DataFrame,
        by: str = "model",
        *,
        scenario: Family | str | None = None,
        store: Store | str | Path | None = None,
        page_size: int = 24,
    ) -> None:
        super().__init__()
        self.page_size = page_size
        self._scenario = scenario
        self._store_source = store
        self._store: Store | None = None
        self._prompts: dict[str, Request | None] = {}
        self._verdicts: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._page = 0
        self._muted = False
        wide = {"style": {"description_width": "initial"}}
        self.controls: dict[str, widgets.Widget] = {
            "by": widgets.Dropdown(description="columns by", **wide),
            "model": widgets.Dropdown(description="model", **wide),
            "condition": widgets.Dropdown(description="condition", **wide),
            "label": widgets.Dropdown(description="label", **wide),
            "label_state": widgets.ToggleButtons(
                options=["present", "absent"],
                tooltips=["the label is positive", "the label is negative"],
                style={"button_width": "6em"}),
            "search": widgets.Text(description="search", placeholder="text in the response",
                                   **wide),
            "previous": widgets.Button(description="◀ previous", tooltip="previous page"),
            "page": widgets.Label(),
            "next": widgets.Button(description="next ▶", tooltip="next page"),
        }
        self._cards = widgets.HTML()
        c = self.controls
        self.children = [
            widgets.HBox([c["by"], c["model"], c["condition"]]),
            widgets.HBox([c["label"], c["label_state"], c["search"]]),
            widgets.HBox([c["previous"], c["page"], c["next"]]),
            self._cards,
        ]
        self._load(results, by)
        for name in ("by", "model", "condition", "label", "label_state", "search"):
            c[name].observe(self._on_filter, names="value")
        c["previous"].on_click(lambda _: setattr(self, "page", self.page - 1))
        c["next"].on_click(lambda _: setattr(self, "page", self.page + 1))
        self._render()

    # -- data -- #

    def update(self, results: pd.DataFrame) -> None:
        """Show ``results`` instead (a run's table as it fills in), keeping the controls' state;
        only rows not labelled before are labelled."""
        self._load(results, self.controls["by"].value)
        self._page = min(self._page, self._layout().pages - 1)
        self._render()

    def _load(self, results: pd.DataFrame, by: str) -> None:
        """Take ``results`` as the table shown: labelled, with every column Compare reads and
        a column per variable; then fill the dropdowns from it."""
        frame = results.reset_index(drop=True)
        for column, default in _DEFAULTS.items():
            if column not in frame:
                frame[column] = default
        if "condition" not in frame:
            frame["condition"] = frame["condition_id"]
        if "sample" not in frame:
            frame["sample"] = range(len(frame))
        self._unlabelled = pd.Series(False, index=frame.index)
        if "evidence" in frame:  # labelled already
            self.labels = [name for name in known_labels() if name in frame]
        else:
            self.labels = list(results_labels(frame, self._scenario))
            frame = self._with_label_columns(frame)
        values = pd.DataFrame([_values(raw) for raw in frame["values"]], index=frame.index)
        for variable in values.columns.difference(frame.columns):
            frame[variable] = values[variable]
        self.frame = frame
        self._variables = [v for v in values.columns if frame[v].nunique() > 1]
        self._haystack = (frame["text"].fillna("") + "\n" + frame["reasoning"].fillna("")
                          ).str.lower()
        self._set_options(by)

    def _with_label_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with a column per label, filled from the verdicts of earlier calls; the
        other rows are labelled by the rules when they are shown or filtered on
        (:meth:`_label`), so a first page never waits for the whole table."""
        known = [self._verdicts.get(key) for key in _keys(frame)]
        columns = pd.DataFrame([verdict or {} for verdict in known], index=frame.index,
                               columns=self._verdict_columns())
        for name in self._verdict_columns():
            columns[name] = columns[name].astype(
                "boolean" if name in self.labels else object)
        self._unlabelled = pd.Series([verdict is None for verdict in known], index=frame.index)
        return frame.join(columns)

    def _verdict_columns(self) -> list[str]:
        """The columns the rules add to a row: the labels, then the rest of the verdict."""
        return [*self.labels, "evidence", "unknown_because", "classified_by",
                "classifier_status"]

    def _label(self, index: pd.Index) -> None:
        """Label by the rules the rows of ``index`` not labelled yet."""
        todo = index[self._unlabelled.loc[index].to_numpy()]
        if todo.empty:
            return
        verdict = self._verdict_columns()
        rows = self.frame.loc[todo, [c for c in self.frame.columns if c not in verdict]]
        labelled = label_results(rows, self._scenario).reindex(columns=verdict)
        for key, row in zip(_keys(rows), labelled.to_dict("records"), strict=True):
            self._verdicts[key] = row
        for column in verdict:
            self.frame.loc[todo, column] = labelled[column]
        self._unlabelled.loc[todo] = False

    # -- controls -- #

    def _set_options(self, by: str) -> None:
        """Fill the dropdowns from the data, keeping each choice that is still there."""
        groupings = ["model", "condition", *self._variables]
        if by not in self.frame:
            raise WorkbenchError(
                f"Compare cannot put columns by {by!r}; choose one of: {', '.join(groupings)}"
            )
        options = {
            "by": [(name, name) for name in dict.fromkeys([*groupings, by])],
            "model": [("all", ALL), *[(m, m) for m in _unique(self.frame["model"])]],
            "condition": [("all", ALL), *[(c, c) for c in _unique(self.frame["condition"])]],
            "label": [("any", ALL), *[(name, name) for name in self.labels]],
        }
        self._muted = True
        try:
            for name, choices in options.items():
                control = self.controls[name]
                keep = by if name == "by" else control.value
                control.options = choices
                control.value = keep if keep in [value for _, value in choices] else ALL
        finally:
            self._muted = False

    def _on_filter(self, change: dict[str, Any]) -> None:
        if not self._muted:
            self._page = 0
            self._render()

    # -- what is shown -- #

    def matching_rows(self) -> pd.DataFrame:
        """Every row the filters let through, in the table's order."""
        c = self.controls
        keep = pd.Series(True, index=self.frame.index)
        if c["model"].value != ALL:
            keep &= self.frame["model"] == c["model"].value
        if c["condition"].value != ALL:
            keep &= self.frame["condition"] == c["condition"].value
        if c["label"].value != ALL:
            self._label(self.frame.index)  # a label filter needs every row's verdict
            wanted = c["label_state"].value == "present"
            keep &= (self.frame[c["label"].value] == wanted).fillna(False)
        query = c["search"].value.strip().lower()
        if query:
            keep &= self._haystack.str.contains(query, regex=False)
        return self.frame[keep]

    def _layout(self) -> _Layout:
        rows = self.matching_rows()
        by = self.controls["by"].value
        columns = {str(key): group for key, group in rows.groupby(by, sort=False, dropna=False)}
        per_column = max(1, self.page_size // max(1, len(columns)))
        longest = max((len(group) for group in columns.values()), default=0)
        return _Layout(rows, columns, per_column, max(1, math.ceil(longest / per_column)))

    @property
    def page(self) -> int:
        """The page shown, from 0; setting it (clamped to the pages there are) shows it."""
        return self._page

    @page.setter
    def page(self, value: int) -> None:
        self._page = min(max(0, value), self._layout().pages - 1)
        self._render()

    def visible_rows(self) -> pd.DataFrame:
        """The rows on the current page, column after column, labelled."""
        shown = list(self._layout().on_page(self._page).values())
        index = pd.concat(shown).index if shown else self.frame.index[:0]
        self._label(index)
        return self.frame.loc[index]

    def snapshot_html(self) -> str:
        """Static, escaped HTML of what is on screen: the status line and the cards."""
        return self._cards.value

    def _render(self) -> None:
        layout = self._layout()
        by = self.controls["by"].value
        page = layout.on_page(self._page)
        self._label(self.frame.index[:0].append([shown.index for shown in page.values()]))
        columns = [
            (f"{by} = {key} · {len(layout.columns[key])} responses",
             [self._card(row) for row in self.frame.loc[shown.index].to_dict("records")])
            for key, shown in page.items()
        ]
        where = f"page {self._page + 1} of {layout.pages}"
        self.controls["label_state"].disabled = self.controls["label"].value == ALL
        self.controls["page"].value = where
        self.controls["previous"].disabled = self._page == 0
        self.controls["next"].disabled = self._page >= layout.pages - 1
        status = " · ".join([f"{len(layout.rows)} of {len(self.frame)} responses",
                             f"columns by {by}", where, *self._filters()])
        self._cards.value = views.card_columns(columns, status)

    def _filters(self) -> list[str]:
        """The filters in force, as text."""
        c = self.controls
        shown = [f"{name} {c[name].value}" for name in ("model", "condition")
                 if c[name].value != ALL]
        if c["label"].value != ALL:
            shown.append(f"{c['label'].value} {c['label_state'].value}")
        if c["search"].value.strip():
            shown.append(f"search {c['search'].value.strip()!r}")
        return shown

    def _card(self, row: dict[str, Any]) -> str:
        return views.sample_card(row, self.labels, self._prompt(row.get("request_hash")))

    def _prompt(self, key: Any) -> Request | None:
        """The request stored under ``key``, or None when there is none to show."""
        if not isinstance(key, str):
            return None
        if key not in self._prompts:
            if self._store is None:
                self._store = open_store(self._store_source)
            try:
                self._prompts[key] = self._store.request(key)
            except StoreError:
                self._prompts[key] = None
        return self._prompts[key]


def _keys(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """What each row's verdict depends on: its variables, its response and its reasoning."""
    return [(str(v), _text(t), _text(r))
            for v, t, r in zip(frame["values"], frame["text"], frame["reasoning"], strict=True)]


def _values(raw: Any) -> dict[str, Any]:
    """A row's variables: its ``values`` cell, JSON text or a mapping."""
    if isinstance(raw, str) and raw:
        return json.loads(raw)
    return dict(raw) if isinstance(raw, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _unique(column: pd.Series) -> Sequence[str]:
    """The distinct values of a column as text, in order of appearance."""
    return [str(value) for value in column.dropna().unique()]
