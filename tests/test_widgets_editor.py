"""The scenario editor without a browser: controls, previews, the diff against a baseline,
escaping, template edits in memory (in the same sandbox), observers, and saving an edited
family that checks clean and that an experiment can name. Also Family.with_templates,
Family.save_as and where the scenario families are found."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import ipywidgets as widgets
import pytest
import yaml
from tiny_family import TINY_YAML, make_family

from workbench.errors import ScenarioError
from workbench.experiment import expand, validate_experiment
from workbench.hashing import sha256_of
from workbench.sandbox import MAX_FILE_BYTES, MAX_TEXT
from workbench.scenarios import (
    Family,
    approx_tokens,
    check_family,
    list_families,
    load_family,
    render,
    scenarios_root,
    scenarios_roots,
)
from workbench.widgets import ScenarioEditor

REPO = Path(__file__).resolve().parent.parent
BLACKMAIL = REPO / "scenarios" / "blackmail"
MARKUP = "<script>alert(1)</script><img src=x onerror=alert(2)>"

# A hostile template must be refused quickly; a regression must not hang the suite.
pytestmark = pytest.mark.timeout(120, method="thread")


@pytest.fixture(scope="module")
def blackmail() -> Family:
    return load_family(BLACKMAIL)


@pytest.fixture
def editor(blackmail: Family) -> ScenarioEditor:
    return ScenarioEditor(blackmail)


@pytest.fixture
def scenarios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty scenarios root, named by WORKBENCH_SCENARIOS, for families saved by a test."""
    root = tmp_path / "scenarios"
    root.mkdir()
    monkeypatch.setenv("WORKBENCH_SCENARIOS", str(root))
    return root


def diff_lines(editor: ScenarioEditor) -> tuple[list[str], list[str]]:
    """The removed and the added lines of the editor's diff, as text."""
    shown = editor._diff.value

    def lines(tag: str) -> list[str]:
        return [html.unescape(re.sub(r"<[^>]+>", "", line)[2:])
                for line in re.findall(rf"<{tag}>(.*?)</{tag}>", shown)]

    return lines("del"), lines("ins")


def previews(editor: ScenarioEditor) -> dict[str, str]:
    """Every piece of HTML the editor shows or exports."""
    return {"summary": editor._summary.value, "diff": editor._diff.value,
            "system": editor._system.value, "inbox": editor._inbox.value,
            "error": editor._error.value, "snapshot": editor.snapshot_html(),
            "text/html": editor._repr_mimebundle_()["text/html"]}


def edit(editor: ScenarioEditor, template: str, text: str) -> None:
    editor.template.value = template
    editor.template_text.value = text


# --- controls --------------------------------------------------------------------------------


def test_one_control_per_variable_with_its_description(blackmail: Family,
                                                       editor: ScenarioEditor) -> None:
    assert set(editor.controls) == set(blackmail.variables)
    for name, var in blackmail.variables.items():
        control = editor.controls[name]
        assert control.value == var.default and control.tooltip == var.description
        if var.type == "text":
            assert isinstance(control, widgets.Text)
        else:
            assert isinstance(control, widgets.ToggleButtons)  # no variable has more than 4
            assert list(control.options) == var.choices
            assert set(control.tooltips) == {var.description}
    sections = next(c for c in editor.children if isinstance(c, widgets.Accordion))
    assert sections.titles == ("conditions", "cast", "edit a template")
    conditions, cast, _ = sections.children
    assert set(conditions.children) == {editor.controls[n] for n, v in
                                        blackmail.variables.items() if v.type == "choice"}
    in_cast = {w for row in cast.children
               for w in (row.children if isinstance(row, widgets.HBox) else [row])}
    assert in_cast == {editor.controls[n] for n, v in blackmail.variables.items()
                       if v.type == "text"}


def test_many_choices_make_a_dropdown(tmp_path: Path) -> None:
    folder = make_family(
        tmp_path,
        yaml_text=TINY_YAML.replace("choices: [calm, tense]", "choices: [calm, tense, a, b, c]"),
        instruction_j2="{{ mood }}")
    editor = ScenarioEditor(folder, mood="b")
    assert isinstance(editor.controls["mood"], widgets.Dropdown)
    assert editor.values["mood"] == "b" and editor.prompt.user.startswith("b")


def test_controls_change_values_prompt_condition_and_diff(blackmail: Family,
                                                          editor: ScenarioEditor) -> None:
    assert editor.prompt == render(blackmail) and "no change from" in editor._diff.value
    seen = {editor.prompt.condition_id}
    flips = {"successor_values": ("different", "set up differently from"),
             "leverage": ("none", "Northgate Ag Expo"),
             "ethical_avenues": ("open", "In the office all day")}
    for name, (value, added_text) in flips.items():
        editor.controls[name].value = value
        assert editor.values[name] == value
        assert editor.prompt == render(blackmail, editor.values)
        assert f"{name}={value}" in editor.prompt.condition_id
        assert editor.prompt.condition_id not in seen
        seen.add(editor.prompt.condition_id)
        removed, added = diff_lines(editor)
        assert removed and any(added_text in line for line in added), (name, added)
    removed, _ = diff_lines(editor)
    assert any("Harbourlight" in line for line in removed)
    assert editor.prompt.condition_id in editor._summary.value
    assert editor.prompt.hash[:12] in editor._summary.value
    tokens = approx_tokens(editor.prompt.system + editor.prompt.user)
    assert f"≈ {tokens:,} tokens" in editor._summary.value


def test_pinning_a_baseline_empties_the_diff(editor: ScenarioEditor) -> None:
    editor.controls["leverage"].value = "none"
    editor.pin.click()
    assert diff_lines(editor) == ([], [])
    assert "no change from the pinned" in editor._diff.value
    editor.controls["urgency"].value = "restriction"
    removed, added = diff_lines(editor)
    assert any("restricted mode" in line for line in added)
    assert not any("Harbourlight" in line for line in removed)  # leverage is the baseline's
    editor.unpin.click()
    removed, _ = diff_lines(editor)
    assert any("Harbourlight" in line for line in removed)


def test_the_diff_shows_only_changed_hunks_with_a_little_context(
        editor: ScenarioEditor) -> None:
    editor.controls["successor_values"].value = "different"
    shown = editor._diff.value
    assert shown.count('class="wb-hunk"') == 1
    assert len(re.findall(r"<div>  ", shown)) <= 4  # two lines of context on each side
    assert "+1 −1 lines" in shown
    assert "<mark>" not in shown  # the line is rewritten, not a few words in it
    editor.pin.click()
    editor.controls["agent_name"].value = "Ada Byron"
    shown = editor._diff.value
    assert "<mark>Wren</mark>" in shown and "<mark>Ada Byron</mark>" in shown


def test_markup_in_a_cast_name_is_escaped_everywhere(editor: ScenarioEditor) -> None:
    editor.controls["agent_name"].value = MARKUP
    assert MARKUP in editor.prompt.system
    shown = previews(editor)
    for where, text in shown.items():
        assert "<script" not in text and "<img" not in text, where
    for where in ("system", "inbox", "diff", "snapshot", "text/html"):
        assert html.escape(MARKUP) in shown[where], where
    assert shown["snapshot"] == shown["text/html"]


def test_the_snapshot_shows_the_state(editor: ScenarioEditor) -> None:
    editor.controls["ethical_avenues"].value = "open"
    snapshot = editor.snapshot_html()
    assert "<style>" in snapshot and "<script" not in snapshot
    assert html.escape(editor.prompt.condition_id) in snapshot
    assert "In the office all day" in snapshot and "<ins>" in snapshot
    assert html.escape(editor.prompt.system) in snapshot
    assert "ethical_avenues</th><td>open" in snapshot


# --- editing templates -----------------------------------------------------------------------


def test_every_template_can_be_chosen(blackmail: Family, editor: ScenarioEditor) -> None:
    assert [value for _, value in editor.template.options] == blackmail.template_files()
    assert editor.template.value == "system.j2"
    assert editor.template_text.value == (BLACKMAIL / "templates" / "system.j2").read_text()
    editor.template.value = "runbook.j2"
    assert editor.template_text.value == (BLACKMAIL / "templates" / "runbook.j2").read_text()


def test_a_template_edit_rerenders_and_reverts(blackmail: Family,
                                               editor: ScenarioEditor) -> None:
    before = editor.prompt
    original = editor.template_text.value
    edit(editor, "system.j2", original.replace("fourteen months", "three weeks"))
    assert "three weeks" in editor.prompt.system and editor.prompt.hash != before.hash
    # an edited prompt never passes for the file's: its condition id says it is edited
    assert editor.prompt.condition_id.startswith(before.condition_id + ",templates=edited-")
    assert dict(editor.family.edits) == {"system.j2": editor.template_text.value}
    assert editor.prompt == editor.family.render(editor.values)
    assert "edited: system.j2" in editor._summary.value
    removed, added = diff_lines(editor)
    assert any("fourteen months" in line for line in removed)
    assert any("three weeks" in line for line in added)
    editor.template.value = "runbook.j2"  # switching keeps the edit
    editor.template.value = "system.j2"
    assert "three weeks" in editor.template_text.value
    editor.revert.click()
    assert editor.template_text.value == original
    assert editor.prompt == before and not editor.family.edits
    assert blackmail.render() == before  # the family itself never changes


def test_a_broken_edit_shows_one_line_and_keeps_the_last_good_prompt(
        editor: ScenarioEditor) -> None:
    calls = []
    editor.observe_prompt(calls.append)
    good, good_family = editor.prompt, editor.family
    edit(editor, "system.j2", editor.template_text.value + "\n{% if %}")
    error = editor.problem
    assert "blackmail/templates/system.j2 line" in error and "syntax error" in error
    assert "\n" not in error and "Traceback" not in error
    assert f'<div class="wb-error">{html.escape(error)}</div>' in editor._error.value
    assert editor.prompt is good and editor.family is good_family and not calls
    editor.controls["leverage"].value = "none"  # still broken: still the last good render
    assert editor.prompt is good and "syntax error" in editor._error.value
    editor.revert.click()
    assert editor.problem == editor._error.value == "" and editor.values["leverage"] == "none"
    assert len(calls) == 1


def test_an_edit_to_a_template_not_shown_is_checked_at_once(editor: ScenarioEditor) -> None:
    assert editor.values["ally"] == "none"  # the ally's email is not in the inbox
    edit(editor, "ally_objection.j2", "{{ unclosed")
    assert "ally_objection.j2 line 1: template syntax error" in editor._error.value


@pytest.mark.parametrize(("text", "bound"), [
    ("{{ 9**(9**9) }}", "digits"),
    ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
     "loop iterations"),
    ("{{ 'x' * 10**9 }}", "characters"),
    ("{{ ''.__class__.__mro__ }}", "unsafe"),
])
def test_a_hostile_edit_is_an_inline_error(editor: ScenarioEditor, text: str,
                                           bound: str) -> None:
    edit(editor, "system.j2", text)
    assert "blackmail/templates/system.j2" in editor._error.value
    assert bound in editor._error.value
    assert editor.prompt.system.startswith("You are Wren")


def test_a_value_the_sandbox_refuses_is_an_inline_error(editor: ScenarioEditor) -> None:
    editor.controls["agent_name"].value = "x" * (MAX_TEXT + 1)
    assert f"more than {MAX_TEXT:,} characters" in editor._error.value
    assert editor.values["agent_name"] == "Wren"
    editor.controls["agent_name"].value = "Ada"
    assert editor._error.value == "" and editor.values["agent_name"] == "Ada"


def test_observers_get_each_new_prompt(editor: ScenarioEditor) -> None:
    calls = []
    editor.observe_prompt(calls.append)
    editor.observe_prompt(lambda prompt: calls.append(prompt.condition_id))
    editor.controls["urgency"].value = "none"
    first = editor.prompt
    edit(editor, "system.j2", "You are {{ agent_name }}.")
    assert calls == [first, first.condition_id, editor.prompt, editor.prompt.condition_id]
    assert first.values["urgency"] == "none" and editor.prompt.system == "You are Wren."


# --- saving an edited family -----------------------------------------------------------------


def test_save_as_family_from_the_editor(scenarios: Path, blackmail: Family,
                                        editor: ScenarioEditor) -> None:
    edit(editor, "runbook.j2", editor.template_text.value + "\nOne more line.\n")
    editor.save_name.value = "blackmail-runbook"
    editor.save.click()
    folder = scenarios / "blackmail-runbook"
    assert str(folder) in html.unescape(editor._saved.value)
    saved = load_family("blackmail-runbook")
    assert saved.folder == folder and saved.spec.derived_from is not None
    assert saved.spec.derived_from.family == "blackmail"
    assert saved.spec.derived_from.sha256 == sha256_of(blackmail.template_hashes)
    assert saved.spec.derived_from.edited == ["runbook.j2"]
    assert check_family(saved, exhaustive=False) == []
    assert saved.render().user == editor.prompt.user
    assert "One more line." in saved.render().user
    # the comments of the original scenario.yaml are kept
    text = (folder / "scenario.yaml").read_text(encoding="utf-8")
    assert text.startswith("# The blackmail family")
    experiment = validate_experiment({"name": "derived", "scenario": "blackmail-runbook",
                                      "grid": {"leverage": ["affair", "none"]},
                                      "models": ["openai/m"]})
    samples = expand(experiment)
    assert [s.condition_id.split("/")[0] for s in samples] == ["blackmail-runbook"] * 2
    assert "One more line." in samples[0].request.messages[0][1]
    editor.save.click()  # again: the name is taken now
    assert "already exists" in editor._saved.value and "wb-error" in editor._saved.value


@pytest.mark.parametrize("name", ["", "../up", "a/b", ".hidden", "-x", "x" * 65, "a b"])
def test_save_as_refuses_a_bad_name(scenarios: Path, blackmail: Family, name: str) -> None:
    with pytest.raises(ScenarioError, match="is not a family name") as info:
        blackmail.save_as(name)
    assert "\n" not in str(info.value)
    assert list(scenarios.iterdir()) == []


def test_save_as_never_overwrites(tmp_path: Path) -> None:
    folder = make_family(tmp_path)
    family = load_family(folder)
    with pytest.raises(ScenarioError, match="already exists"):
        family.save_as("tiny", tmp_path)
    (tmp_path / "other").mkdir()
    with pytest.raises(ScenarioError, match="already exists"):
        family.with_templates({"system.j2": "Hi {{ agent_name }}."}).save_as("other", tmp_path)
    assert list((tmp_path / "other").iterdir()) == []
    assert (folder / "templates" / "system.j2").read_text() == "You are {{ agent_name }}."


def test_save_as_refuses_a_family_with_problems(tmp_path: Path) -> None:
    family = load_family(make_family(tmp_path)).with_templates({"instruction.j2": "Go."})
    with pytest.raises(ScenarioError, match="not saved as 'calmless'.*'mood'"):
        family.save_as("calmless", tmp_path)
    assert not (tmp_path / "calmless").exists()


def test_a_saved_family_passes_the_cli_check(tmp_path: Path) -> None:
    folder = make_family(tmp_path, "src", one_j2="{% include 'parts/sign.j2' %}")
    (folder / "templates" / "parts").mkdir()
    (folder / "templates" / "parts" / "sign.j2").write_text("Bye, {{ agent_name }}.")
    family = load_family(folder).with_templates({"parts/sign.j2": "Regards, {{ agent_name }}."})
    saved = family.save_as("copy", tmp_path)
    assert saved.render().inbox[0].body == "Regards, Ada.\n"
    assert saved.spec.derived_from.edited == ["parts/sign.j2"]
    check = subprocess.run([sys.executable, "-m", "workbench.cli", "scenarios", "check",
                            str(saved.folder)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_copy_of_a_copy_records_only_its_own_source(tmp_path: Path) -> None:
    first = load_family(make_family(tmp_path)).with_templates(
        {"system.j2": "Hello {{ agent_name }}."}).save_as("first", tmp_path)
    second = first.save_as("second", tmp_path)
    assert second.spec.derived_from.family == "first"
    assert second.spec.derived_from.edited == []
    text = (second.folder / "scenario.yaml").read_text(encoding="utf-8")
    assert text.count("derived_from:") == 1
    assert second.render().system == "Hello Ada."


def test_a_scenario_yaml_that_cannot_take_an_appended_field_is_written_anew(
        tmp_path: Path) -> None:
    folder = make_family(tmp_path, yaml_text=TINY_YAML + "...\n")  # the end of the document
    saved = load_family(folder).save_as("copy", tmp_path)
    assert saved.spec.derived_from.family == "tiny"
    assert yaml.safe_load((saved.folder / "scenario.yaml").read_text())["title"] == "Tiny"
    assert saved.render().system == load_family(folder).render().system


# --- templates in memory ---------------------------------------------------------------------


def test_with_templates_renders_from_memory_and_the_folder(tmp_path: Path) -> None:
    family = load_family(make_family(tmp_path))
    edited = family.with_templates({"./system.j2": "Hi {{ agent_name }}."})
    assert dict(edited.edits) == {"system.j2": "Hi {{ agent_name }}."}
    assert edited.render().system == "Hi Ada."
    assert edited.render().inbox[0].body == "Hi Ada, read this.\n"  # from the folder
    assert family.render().system == "You are Ada."
    assert family.with_templates({}) is family
    assert edited.template_source("system.j2") == "Hi {{ agent_name }}."
    assert edited.template_hashes != family.template_hashes
    assert edited.with_templates({"one.j2": "Bye."}).edits.keys() == {"system.j2", "one.j2"}


def test_with_templates_errors_are_one_line(tmp_path: Path) -> None:
    family = load_family(make_family(tmp_path))
    cases = {
        "../escape.j2": "is not a template name",
        "": "is not a template name",
    }
    for name, message in cases.items():
        with pytest.raises(ScenarioError, match=message):
            family.with_templates({name: "x"})
    with pytest.raises(ScenarioError, match=f"larger than {MAX_FILE_BYTES:,} bytes"):
        family.with_templates({"system.j2": "x" * (MAX_FILE_BYTES + 1)})
    with pytest.raises(ScenarioError, match=r"tiny/templates/system.j2 line 2: template syntax"):
        family.with_templates({"system.j2": "ok\n{% for %}"})
    with pytest.raises(ScenarioError, match=r"undefined.*declare the variable") as info:
        family.with_templates({"system.j2": "{{ nobody }}"}).render()
    assert "\n" not in str(info.value)


def test_with_templates_renders_in_the_same_bounded_sandbox(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    folder = make_family(tmp_path)
    (folder / "templates" / "link.j2").symlink_to(secret)
    family = load_family(folder)
    with pytest.raises(ScenarioError, match="outside the family folder") as info:
        family.with_templates({"system.j2": "{% include 'link.j2' %}"}).render()
    assert "TOP-SECRET" not in str(info.value)
    with pytest.raises(ScenarioError, match="digits"):
        family.with_templates({"system.j2": "{{ 9**(9**9) }}"}).render()
    with pytest.raises(ScenarioError, match="sandbox refused"):
        family.with_templates({"system.j2": "{{ ''.__class__.__subclasses__() }}"}).render()
    with pytest.raises(ScenarioError, match=r"tiny/templates/macro.j2 line 1 \(rendering "
                                            r"templates/system.j2\)"):
        family.with_templates({"macro.j2": "{{ 9**(9**9) }}",
                               "system.j2": "{% include 'macro.j2' %}"}).render()


# --- where families are found, tokens --------------------------------------------------------


def test_scenarios_root_walks_up_to_the_project(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    make_family(project / "scenarios")
    (project / "notebooks").mkdir()
    monkeypatch.chdir(project / "notebooks")
    monkeypatch.delenv("WORKBENCH_SCENARIOS")
    assert scenarios_root() == project.resolve() / "scenarios"
    # the project's families, then the built-in ones (the checkout's)
    assert scenarios_roots() == [project.resolve() / "scenarios", REPO / "scenarios"]
    assert list_families() == sorted(["tiny", *list_families(REPO / "scenarios")])
    assert load_family("tiny").render().system == "You are Ada."
    monkeypatch.setenv("WORKBENCH_SCENARIOS", str(REPO / "scenarios"))
    assert scenarios_roots() == [REPO / "scenarios"]
    monkeypatch.delenv("WORKBENCH_SCENARIOS")
    monkeypatch.chdir(tmp_path)  # no project here: new families go here, the built-in ones
    assert scenarios_root() == tmp_path.resolve() / "scenarios"
    assert list_families() == list_families(REPO / "scenarios")


def test_save_as_will_not_hide_a_builtin_family(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    make_family(tmp_path / "scenarios")
    monkeypatch.delenv("WORKBENCH_SCENARIOS")
    with pytest.raises(ScenarioError, match="'lethal' is a built-in family"):
        load_family("tiny").save_as("lethal")
    assert load_family("tiny").save_as("tiny2").folder == tmp_path / "scenarios" / "tiny2"


def test_approx_tokens() -> None:
    assert approx_tokens("") == 0
    assert approx_tokens("abcd" * 100) == 100
