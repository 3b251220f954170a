"""``ScenarioEditor``: every variable of a scenario family as a control, the rendered prompt
live, what the values change against a baseline, and the templates' text editable in place
(a family whose prompts a generator writes has no templates: its text is shown read-only).

The previews are ``ipywidgets.HTML`` holding static, escaped HTML built by
:mod:`workbench.views`; the same HTML is the widget's snapshot, so a notebook export shows
what was on screen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from workbench import views
from workbench.errors import WorkbenchError
from workbench.scenarios import Family, Prompt, Variable, load_family
from workbench.widgets.snapshot import SnapshotBox

TOGGLE_MAX = 4
"""A choice variable with at most this many choices is toggle buttons; with more, a dropdown."""

_LABEL_WIDTH = {"description_width": "11em"}
_DEFAULTS = "the family's defaults"


class ScenarioEditor(SnapshotBox):
    """A scenario family's variables as controls, its rendered prompt, and its templates'
    text, all live.

    ``family`` is a :class:`Family`, a name or a folder; ``values`` set variables over its
    defaults. Each control change or template edit re-renders in the family's sandbox; a
    problem (a template error, a value the sandbox refuses) shows as one line and the previews
    keep the last good render.

    The parts are attributes: ``controls`` (a widget per variable, by name), ``template``
    (which template to edit), ``template_text``, ``revert``, ``pin``, ``unpin``, ``save_name``,
    ``save``; the state is :attr:`values`, :attr:`prompt`, :attr:`family` and :attr:`problem`;
    :meth:`observe_prompt` tells other widgets of each new prompt; :meth:`snapshot_html`.
    """

    def __init__(self, family: Family | str | Path, **values: str) -> None:
        super().__init__()
        self._source = family if isinstance(family, Family) else load_family(family)
        self._family = self._source
        self._prompt = self._source.render(values)
        self._defaults = self._source.render()
        self._baseline, self._against = self._defaults, _DEFAULTS
        self._originals = {name: self._source.template_source(name) or ""
                           for name in self._source.template_files()}
        self._edits: dict[str, str] = {}
        self._candidate: Family | None = self._source
        self._problem = ""
        self._observers: list[Callable[[Prompt], None]] = []

        self.controls: dict[str, widgets.ValueWidget] = {
            name: _control(name, var, self._prompt.values[name])
            for name, var in self._source.variables.items()
        }
        self.template = widgets.Dropdown(
            options=_template_options(self._source), description="template",
            tooltip="the template to edit: its text renders in the sandbox as you type",
            style=_LABEL_WIDTH)
        self.template_text = widgets.Textarea(
            value=self._originals.get(self.template.value, ""),
            disabled=not self._originals,  # generated: the rendered text, read-only
            layout=widgets.Layout(width="100%", height="18em"))
        self.revert = widgets.Button(description="Revert",
                                     tooltip="put back the text of the template's file")
        self.pin = widgets.Button(description="Pin as baseline",
                                  tooltip="compare later changes with the prompt shown now")
        self.unpin = widgets.Button(description="Defaults as baseline",
                                    tooltip="compare with the family's defaults again")
        self.save_name = widgets.Text(placeholder="new family name", description="save as",
                                      style={"description_width": "initial"})
        self.save = widgets.Button(
            description="Save as family",
            tooltip="write the family with the edited templates as a new family")
        self._style = widgets.HTML(views.EDITOR_STYLE)
        self._summary, self._error, self._saved = widgets.HTML(), widgets.HTML(), widgets.HTML()
        self._diff, self._system, self._inbox = widgets.HTML(), widgets.HTML(), widgets.HTML()

        self.children = [
            self._style,
            self._summary,
            self._error,
            self._sections(),
            widgets.HBox([self.pin, self.unpin, self.save_name, self.save]),
            self._saved,
            widgets.Tab(children=[self._diff, self._system, self._inbox],
                        titles=("changes", "system prompt", "inbox")),
        ]
        for control in self.controls.values():
            control.observe(lambda _: self._update(), names="value")
        if self._originals:
            self.template.observe(self._on_template, names="value")
            self.template_text.observe(self._on_text, names="value")
        self.revert.on_click(lambda _: setattr(
            self.template_text, "value", self._originals[self.template.value]))
        self.pin.on_click(lambda _: self._set_baseline(
            self._prompt, f"the pinned {self._prompt.condition_id}"))
        self.unpin.on_click(lambda _: self._set_baseline(self._defaults, _DEFAULTS))
        self.save.on_click(lambda _: self._save())
        self._show()

    def _sections(self) -> widgets.Accordion:
        """The controls in three folds: conditions, cast (text variables) and templates."""
        variables = self._source.variables
        conditions = [self.controls[n] for n, v in variables.items() if v.type == "choice"]
        cast, placed = [], set()
        for member in self._source.spec.cast.values():
            if member.name not in self.controls:  # given as they are, not variables
                cast.append(widgets.HTML(views.editor_html(views.text_html(
                    f"{member.name} {member.email}: {member.role}"))))
                continue
            cast.append(widgets.HBox([self.controls[member.name], self.controls[member.email]]))
            placed |= {member.name, member.email}
        cast += [self.controls[n] for n, v in variables.items()
                 if v.type == "text" and n not in placed]
        templates = [widgets.HBox([self.template, self.revert]), self.template_text]
        title = "edit a template"
        if not self._originals:
            templates = [widgets.HTML(views.editor_html(views.text_html(
                f"{self._source.name} has no templates: its generator "
                f"({self._source.spec.generator}) writes the prompt shown below, read-only"))),
                self.template_text]
            title = "generated text (read-only)"
        sections = widgets.Accordion(
            children=[widgets.VBox(conditions), widgets.VBox(cast), widgets.VBox(templates)],
            titles=("conditions", "cast", title))
        sections.selected_index = 0
        return sections

    # -- state -- #

    @property
    def values(self) -> dict[str, str]:
        """The variables of the prompt shown (the last good render)."""
        return dict(self._prompt.values)

    @property
    def prompt(self) -> Prompt:
        """The prompt shown: what :func:`workbench.scenarios.render` returns for
        :attr:`values` from :attr:`family`."""
        return self._prompt

    @property
    def family(self) -> Family:
        """The family the prompt shown was rendered from, with its edited templates."""
        return self._family

    @property
    def problem(self) -> str:
        """Why the latest change could not be rendered, in one line; "" when it was."""
        return self._problem

    def observe_prompt(self, callback: Callable[[Prompt], None]) -> None:
        """Call ``callback`` with the new prompt after each successful re-render."""
        self._observers.append(callback)

    # -- changes -- #

    def _on_template(self, change: dict[str, Any]) -> None:
        name = change["new"]
        self.template_text.value = self._edits.get(name, self._originals[name])

    def _on_text(self, change: dict[str, Any]) -> None:
        name, edits = self.template.value, dict(self._edits)
        if change["new"] == self._originals[name]:
            edits.pop(name, None)
        else:
            edits[name] = change["new"]
        if edits != self._edits:
            self._edits, self._candidate = edits, None
            self._update()

    def _update(self) -> None:
        """Render the controls' values with the edited templates and show it; on a problem,
        show it in one line and keep the last good render."""
        values = {name: control.value for name, control in self.controls.items()}
        try:
            if self._candidate is None:
                self._candidate = self._source.with_templates(self._edits)
            prompt = self._candidate.render(values)
        except WorkbenchError as exc:
            self._problem = " ".join(str(exc).split())
            self._error.value = views.editor_html(views.error_line_html(self._problem))
            return
        self._family, self._prompt, self._problem = self._candidate, prompt, ""
        self._error.value = ""
        self._show()
        for callback in self._observers:
            callback(prompt)

    def _set_baseline(self, prompt: Prompt, against: str) -> None:
        self._baseline, self._against = prompt, against
        self._show()

    def _save(self) -> None:
        """Write the family with the edited templates as the family named in ``save_name``."""
        name = self.save_name.value.strip()
        try:
            saved = self._source.with_templates(self._edits).save_as(name)
        except WorkbenchError as exc:
            self._saved.value = views.editor_html(views.error_line_html(
                " ".join(str(exc).split())))
            return
        self._saved.value = views.editor_html(views.text_html(
            f"saved as {saved.name} in {saved.folder}; an experiment names it with "
            f"`scenario: {saved.name}`"))

    # -- what is shown -- #

    def _show(self) -> None:
        prompt = self._prompt
        self._summary.value = views.editor_html(
            views.prompt_summary_html(prompt, sorted(self._family.edits)))
        self._diff.value = views.editor_html(
            views.prompt_diff_html(self._baseline, prompt, self._against))
        self._system.value = views.editor_html(views.text_html(prompt.system))
        self._inbox.value = views.editor_html(views.inbox_html(prompt.inbox))
        if not self._originals:
            self.template_text.value = f"{prompt.system}\n\n{prompt.user}"

    def snapshot_html(self) -> str:
        """Static, escaped HTML of the editor's state: the prompt shown, what it changes, and
        the problem with the latest change, if any."""
        return views.editor_snapshot_html(self._prompt, self._baseline, self._against,
                                           edited=sorted(self._family.edits),
                                           error=self._problem)


def _control(name: str, var: Variable, value: str) -> widgets.ValueWidget:
    """The control of one variable, its description as the tooltip: a text field for text,
    toggle buttons for a few choices, a dropdown for more."""
    common = {"description": name, "value": value, "tooltip": var.description}
    if var.type == "text":
        return widgets.Text(**common, style=_LABEL_WIDTH)
    if len(var.choices) <= TOGGLE_MAX:
        return widgets.ToggleButtons(options=var.choices,
                                     tooltips=[var.description] * len(var.choices),
                                     style=_LABEL_WIDTH | {"button_width": "auto"}, **common)
    return widgets.Dropdown(options=var.choices, style=_LABEL_WIDTH, **common)


def _template_options(family: Family) -> list[tuple[str, str]]:
    """(label, file) for every template of the family: the file and what it renders."""
    if family.spec.templates is None:
        return []
    uses: dict[str, list[str]] = {}
    uses.setdefault(family.spec.templates.system, []).append("system prompt")
    uses.setdefault(family.spec.templates.instruction, []).append("instruction")
    for email in family.spec.inbox:
        uses.setdefault(email.body, []).append(f"email {email.id}")
    return [(f"{name} ({', '.join(used)})", name) for name, used in uses.items()]
