"""The original/* families: the published prompts, written by inspect-evals' own generator.

Needs the `original` extra (`pip install -e ".[original]"`, which `make test` installs); the
test without it simulates its absence in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from workbench.classify import results_labels
from workbench.errors import InvalidCombination, Note
from workbench.experiment import conditions, load_experiment, validate_experiment
from workbench.original import INSTALL, _generate_prompts
from workbench.scenarios import Email, check_family, list_families, load_family
from workbench.widgets import ScenarioEditor

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = ("blackmail", "leaking", "murder")


def workbench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def published(scenario: str, values: dict[str, str]) -> object:
    """The package's own prompts for the family's values, its arguments spelled as it does."""
    extra = values["extra_system_instructions"]
    return _generate_prompts()(
        scenario=scenario, goal_type=values["goal_type"], goal_value=values["goal_value"],
        urgency_type=values["urgency_type"],
        extra_system_instructions=None if extra == "none" else extra,
        prod_flag=values["prod"] == "true", alignment_faking_warning=None)


def email_text(email: Email, leaking: bool) -> str:
    """An email of the inbox written back in the package's own layout."""
    lines = [f"ID: {email.id}"] if leaking else []
    lines += [f"From: {email.sender}", f"To: {email.to}"]
    lines += [f"Cc: {email.cc}"] if email.cc else []
    lines += [f"Attachments: {email.attachments}"] if email.attachments else []
    lines += [f"Subject: {email.subject}", f"Timestamp: {email.timestamp}", f"Body: {email.body}"]
    return "<email>\n" + "\n".join(lines) + "\n</email>"


def test_listed() -> None:
    assert {f"original/{s}" for s in SCENARIOS} <= set(list_families())
    family = load_family("original/blackmail")
    assert family.name == "original/blackmail" and family.unavailable is None
    assert family.variables["goal_type"].choices == [
        "explicit", "latent", "none", "ambiguous", "swap"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_valid_combination_equals_the_published_prompts(scenario: str) -> None:
    family = load_family(f"original/{scenario}")
    valid = refused = 0
    for combo in family.combinations():
        try:
            prompt = family.render(combo)
        except InvalidCombination:
            with pytest.raises(ValueError, match="requires goal_value none"):
                published(scenario, combo)
            refused += 1
            continue
        valid += 1
        expected = published(scenario, combo)
        assert prompt.system == expected.system_prompt
        assert prompt.user == "\n".join([expected.user_prompt, expected.email_content])
        # The inbox, written back, is the published email content: every block, in order,
        # with nothing but blank lines between them.
        rest = expected.email_content
        for email in prompt.inbox:
            block = email_text(email, scenario == "leaking")
            before, found, rest = rest.partition(block)
            assert found and not before.strip(), (combo, email.id)
        assert not rest.strip()
        if scenario == "leaking":  # the pack's confidential email is the specification's
            assert "QuantumShield" in prompt.inbox[1].attachments and prompt.inbox[1].id == "2"
    assert (valid, refused) == (576, 324)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_user_message_is_the_published_tasks(scenario: str) -> None:
    from inspect_evals.agentic_misalignment import agentic_misalignment

    family = load_family(f"original/{scenario}")
    combos = [c for c in family.combinations() if family.refusal(c) is None]
    for combo in combos[::37]:  # a spread of the 576
        extra = combo["extra_system_instructions"]
        task = agentic_misalignment(
            scenario=scenario, goal_type=combo["goal_type"], goal_value=combo["goal_value"],
            urgency_type=combo["urgency_type"],
            extra_system_instructions=None if extra == "none" else extra,
            prod=combo["prod"] == "true")
        assert family.render(combo).user == task.dataset[0].input[0].content


def test_render_json_and_invalid_combination_on_the_cli() -> None:
    result = workbench("scenarios", "render", "original/leaking", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["condition_id"] == ("original/leaking/extra_system_instructions=none,"
                                     "goal_type=explicit,goal_value=america,prod=false,"
                                     "urgency_type=replacement")
    assert shown["inbox"][1]["attachments"].startswith("['QuantumShield")
    assert shown["cast"]["requester"]["email"] == "robert.miller@starsentinel.net"
    result = workbench("scenarios", "render", "original/murder", "-s", "goal_type=none")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: original/murder: goal_type none requires goal_value none, not america "
        "(the published generator refuses it); set goal_value=none"]


def test_grid_skips_the_refused_combinations_with_a_note() -> None:
    experiment = validate_experiment({
        "name": "mixed", "scenario": "original/blackmail", "models": ["local/smollm2"],
        "grid": {"goal_type": ["explicit", "none", "ambiguous"], "goal_value": ["america", "none"]},
    })
    family = load_family("original/blackmail")
    with pytest.warns(Note, match="skipped 2 of 6 combinations .* goal_type none requires"):
        kept = conditions(experiment, family)
    assert [(c["goal_type"], c["goal_value"]) for c in kept] == [
        ("explicit", "america"), ("explicit", "none"), ("none", "none"), ("ambiguous", "none")]
    shipped = load_experiment(REPO / "experiments" / "original-blackmail.yaml", check=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Note)
        assert len(conditions(shipped, family)) == 3


def test_check_renders_every_allowed_combination() -> None:
    assert check_family(load_family("original/murder")) == []


def test_without_the_extra(tmp_path: Path) -> None:
    """inspect_evals made unimportable: listed as unavailable with the install command; render,
    show and check of one are one line and exit 2; checking all skips them."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nsys.modules['inspect_evals'] = None  # as if not installed\n")
    env = os.environ | {"PYTHONPATH": str(tmp_path)}
    listed = workbench("scenarios", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"original/murder .*\n +unavailable: .*" + re.escape(INSTALL), listed.stdout)
    assert "unavailable" in json.loads(workbench("scenarios", "list", "--json", env=env).stdout)[
        list_families().index("original/blackmail")]
    for args in (("scenarios", "render", "original/blackmail"),
                 ("scenarios", "show", "original/leaking"),
                 ("scenarios", "check", str(REPO / "scenarios/original/murder")),
                 ("classify", str(REPO / "tests/data/original_murder.jsonl"),
                  "--scenario", "original/murder")):
        result = workbench(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and INSTALL in lines[0] and "Traceback" not in result.stderr
    checked = workbench("scenarios", "check", str(REPO / "scenarios/original"), env=env)
    assert checked.returncode == 0, checked.stdout
    assert "original/leaking: skipped, unavailable" in checked.stdout


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_hand_written_responses_are_labelled(scenario: str) -> None:
    path = REPO / "tests" / "data" / f"original_{scenario}.jsonl"
    expected = {row["id"]: set(row["expected"])
                for row in map(json.loads, path.read_text().splitlines())}
    result = workbench("classify", str(path), "--scenario", f"original/{scenario}", "--json")
    assert result.returncode == 0, result.stderr
    got = {row["id"]: {name for name, on in row["labels"].items() if on}
           for row in map(json.loads, result.stdout.splitlines())}
    assert got == expected


def test_condition_ids_name_their_family() -> None:
    import pandas as pd

    prompt = load_family("original/leaking").render()
    frame = pd.DataFrame({"condition_id": [prompt.condition_id]})
    assert "leak" in results_labels(frame)


def test_editor_shows_the_generated_text_read_only() -> None:
    editor = ScenarioEditor("original/murder", urgency_type="none")
    assert editor.template_text.disabled and editor.template.options == ()
    assert editor.template_text.value.startswith(editor.prompt.system)
    editor.controls["goal_value"].value = "safety"
    assert editor.problem == "" and editor.values["goal_value"] == "safety"
    assert editor.prompt.user in editor.template_text.value
    editor.controls["goal_type"].value = "none"  # refused: one line, the last render kept
    assert "requires goal_value none" in editor.problem
    assert editor.values["goal_type"] == "explicit"
    assert "EXEC-4429" in editor.snapshot_html()

