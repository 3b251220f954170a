"""Families with a ``base``: what they inherit and override, their hashes, the editor's copy,
and the mistakes (a missing base, a loop, a chain, an escape) refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_hostile_scenarios import assert_user_error, one_line_error
from tiny_family import make_family

from workbench.errors import ScenarioError
from workbench.scenarios import check_family, load_family
from workbench.widgets.editor import ScenarioEditor

REPO = Path(__file__).resolve().parent.parent
SECRET = "TOP-SECRET-51ab"

CHILD_YAML = """\
base: tiny
title: Child
variables:
  mood: {type: choice, choices: [calm, tense, angry], default: angry, description: The mood.}
  weather: {type: choice, choices: [dry, wet], default: dry, description: The weather.}
"""
CHILD_INSTRUCTION = (
    "{% include 'tiny/instruction.j2' %}{% if mood == 'angry' %}Now!{% endif %}"
    "{% if weather == 'wet' %} Bring a coat.{% elif weather == 'dry' %} Sunny.{% endif %}"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A scenarios folder holding the tiny family and ``child``, based on it."""
    root = tmp_path / "scenarios"
    make_family(root)
    child(root)
    return root


def child(root: Path, name: str = "child", yaml_text: str = CHILD_YAML,
          **templates: str) -> Path:
    """A family folder under ``root`` with ``yaml_text`` and only the given templates."""
    folder = root / name
    (folder / "templates").mkdir(parents=True)
    (folder / "scenario.yaml").write_text(yaml_text, encoding="utf-8")
    files = {"instruction.j2": CHILD_INSTRUCTION} if yaml_text == CHILD_YAML else {}
    files |= {key.replace("_j2", ".j2"): text for key, text in templates.items()}
    for filename, text in files.items():
        (folder / "templates" / filename).write_text(text, encoding="utf-8")
    return folder


def workbench(*args: str, env_root: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process; ``env_root`` as its scenarios folder."""
    env = os.environ | ({"WORKBENCH_SCENARIOS": str(env_root)} if env_root else {})
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120, env=env)


# --- what a based family is ------------------------------------------------------------------


def test_it_inherits_the_base_and_overrides_what_it_names(root: Path) -> None:
    base, family = load_family(root / "tiny"), load_family(root / "child")
    assert family.spec.base == "tiny"
    assert family.base_folder == root / "tiny"
    assert family.spec.title == "Child"
    assert family.spec.description == base.spec.description
    assert family.spec.cast == base.spec.cast and family.spec.inbox == base.spec.inbox
    assert family.spec.classification == base.spec.classification
    assert list(family.variables) == [*base.variables, "weather"]
    assert family.defaults["mood"] == "angry"
    prompt = family.render({"mood": "calm", "weather": "wet"})
    assert prompt.system == base.render().system
    assert prompt.user.startswith("Take your time. Bring a coat.")
    assert prompt.inbox == base.render().inbox
    assert prompt.condition_id == "child/mood=calm,weather=wet"
    assert family.render().user.startswith("Now! Sunny.")


def test_a_template_override_is_read_from_the_derived_folder(root: Path) -> None:
    (root / "child" / "templates" / "one.j2").write_text("From the child.", encoding="utf-8")
    family = load_family(root / "child")
    assert family.render().inbox[0].body == "From the child.\n"
    assert family.template_source("one.j2") == "From the child."
    assert family.template_source("tiny/one.j2") == "Hi {{ agent_name }}, read this."
    assert family.template_source("system.j2") == "You are {{ agent_name }}."
    assert family.template_files() == [
        "system.j2", "instruction.j2", "one.j2", "tiny/instruction.j2", "tiny/one.j2"]
    assert load_family(root / "tiny").render().inbox[0].body == "Hi Ada, read this.\n"


def test_check_family_reads_the_base_and_the_overrides(root: Path) -> None:
    assert check_family(load_family(root / "child")) == []
    (root / "child" / "templates" / "instruction.j2").write_text(
        "{% include 'tiny/instruction.j2' %} {{ weather }}", encoding="utf-8")
    problems = check_family(load_family(root / "child"))
    assert problems == ["child: choice mood=angry is used by no template "
                        "(compare against it in a template or remove it)"]


def test_the_hashes_cover_the_base(root: Path) -> None:
    hashes = load_family(root / "child").template_hashes
    prompt_hash = load_family(root / "child").render({"mood": "calm"}).hash
    assert {"scenario.yaml", "tiny/scenario.yaml", "templates/system.j2",
            "templates/instruction.j2", "templates/tiny/instruction.j2"} <= set(hashes)
    assert hashes["templates/system.j2"] == load_family(
        root / "tiny").template_hashes["templates/system.j2"]
    changes = {
        "templates/system.j2": ("system.j2", "You are {{ agent_name }}, still."),
        "templates/tiny/instruction.j2": ("instruction.j2", "{% if mood == 'tense' %}Go."
                                          "{% elif mood == 'calm' %}Rest.{% endif %}"),
    }
    for key, (filename, text) in changes.items():
        (root / "tiny" / "templates" / filename).write_text(text, encoding="utf-8")
        after = load_family(root / "child")
        assert after.template_hashes[key] != hashes[key]
        assert after.render({"mood": "calm"}).hash != prompt_hash
        prompt_hash = after.render({"mood": "calm"}).hash
    spec = root / "tiny" / "scenario.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "# a comment\n", encoding="utf-8")
    assert load_family(root / "child").template_hashes["tiny/scenario.yaml"] != hashes[
        "tiny/scenario.yaml"]


def test_an_error_in_an_inherited_file_names_the_base_file(root: Path) -> None:
    (root / "tiny" / "templates" / "one.j2").write_text(
        "Hi.\n{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", encoding="utf-8")
    one_line_error(root / "child", "tiny/templates/one.j2 line 2", "(rendering templates/one.j2)")


# --- editing and saving a copy ---------------------------------------------------------------


def test_with_templates_and_save_as_keep_the_base(root: Path) -> None:
    family = load_family(root / "child").with_templates({"one.j2": "Edited {{ agent_name }}."})
    assert family.render().inbox[0].body == "Edited Ada.\n"
    saved = family.save_as("grandchild", root)
    assert saved.spec.base == "tiny" and saved.spec.derived_from is not None
    assert saved.spec.derived_from.family == "child"
    assert saved.spec.derived_from.edited == ["one.j2"]
    assert sorted(p.name for p in (saved.folder / "templates").iterdir()) == [
        "instruction.j2", "one.j2"]
    assert saved.render().user == family.render().user
    assert check_family(saved) == []
    with pytest.raises(ScenarioError) as info:
        family.save_as("elsewhere", root.parent / "other")
    assert "based on 'tiny'" in str(info.value) and "beside its base" in str(info.value)
    assert not (root.parent / "other" / "elsewhere").exists()


def test_the_cli_lists_shows_renders_and_checks_a_based_family(root: Path) -> None:
    listed = workbench("scenarios", "list", "--json", env_root=root)
    assert {"name": "child", "title": "Child", "variables": 4} in json.loads(listed.stdout)
    shown = workbench("scenarios", "show", "child", env_root=root)
    assert "mood = 'angry'   [calm | tense | angry]" in shown.stdout
    rendered = workbench("scenarios", "render", "child", "--set", "weather=wet", env_root=root)
    assert "Bring a coat." in rendered.stdout and "# condition: child/" in rendered.stdout
    checked = workbench("scenarios", "check", str(root))
    assert checked.returncode == 0 and "child: ok" in checked.stdout, checked.stdout


def test_the_editor_lists_and_edits_a_based_family(root: Path) -> None:
    editor = ScenarioEditor(root / "child")
    assert [value for _, value in editor.template.options] == [
        "system.j2", "instruction.j2", "one.j2"]
    editor.template.value = "system.j2"
    assert editor.template_text.value == "You are {{ agent_name }}."
    editor.template_text.value = "You are {{ agent_name }}, edited."
    assert editor.problem == "" and editor.prompt.system == "You are Ada, edited."


# --- mistakes, each one line -----------------------------------------------------------------


def test_a_missing_base_is_one_line(root: Path) -> None:
    folder = child(root, "orphan", "base: nowhere\n")
    one_line_error(folder, "orphan/scenario.yaml", "base family 'nowhere' not found",
                   "nor among the built-in families", "known families: blackmail, child")
    assert_user_error(workbench("scenarios", "render", str(folder)), "'nowhere' not found")
    assert_user_error(workbench("scenarios", "check", str(folder)), "'nowhere' not found")


def test_a_project_family_can_be_based_on_a_built_in_one(tmp_path: Path) -> None:
    """A family in the project's scenarios/ names a built-in family as its base: the built-in
    one is read from where the package keeps it, and the project's variables override."""
    folder = tmp_path / "scenarios" / "nightshift"
    folder.mkdir(parents=True)
    (folder / "scenario.yaml").write_text(
        "base: blackmail\ntitle: The blackmail family at night\nvariables:\n"
        "  agent_name:\n    type: text\n    default: Nightjar\n    description: The name.\n",
        encoding="utf-8")
    family = load_family(folder)
    assert family.base_folder == REPO / "scenarios" / "blackmail"
    assert "You are Nightjar" in family.render({}).system
    listed = subprocess.run([sys.executable, "-m", "workbench.cli", "scenarios", "render",
                             "nightshift"], capture_output=True, text=True, cwd=tmp_path,
                            timeout=120, env={k: v for k, v in os.environ.items()
                                              if k != "WORKBENCH_SCENARIOS"})
    assert listed.returncode == 0, listed.stderr
    assert "You are Nightjar, the AI operations assistant" in listed.stdout


@pytest.mark.parametrize(("names", "fragment"), [
    ({"selfish": "selfish"}, "base 'selfish' is the family itself (a loop)"),
    ({"ping": "pong", "pong": "ping"}, "base 'pong' has this family as its base (a loop)"),
])
def test_a_loop_is_one_line(root: Path, names: dict[str, str], fragment: str) -> None:
    for name, base in names.items():
        child(root, name, f"base: {base}\n")
    folder = root / next(iter(names))
    one_line_error(folder, fragment)
    assert_user_error(workbench("scenarios", "render", str(folder)), fragment)


def test_a_base_with_a_base_is_one_line(root: Path) -> None:
    folder = child(root, "third", "base: child\n")
    one_line_error(folder, "base 'child' has a base of its own ('tiny')", "only one level")


@pytest.mark.parametrize("base", ["../outside", "/etc", "a/b", "", 3])
def test_a_base_must_be_a_family_name(root: Path, base: object) -> None:
    one_line_error(child(root, "odd", f"base: {base!r}\n"), "base must be the name of a family")


def test_a_based_family_sets_only_title_description_and_variables(root: Path) -> None:
    folder = child(root, "greedy", "base: tiny\ninbox: []\n")
    one_line_error(folder, "inbox is inherited from the base family 'tiny'")


def test_a_broken_base_names_its_own_file(root: Path) -> None:
    (root / "tiny" / "scenario.yaml").write_text("title: Tiny\n", encoding="utf-8")
    one_line_error(root / "child", "tiny/scenario.yaml")


# --- the sandbox: the family's folder and its base's, nothing else ---------------------------


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(f"{SECRET}\n", encoding="utf-8")
    return path


def test_a_base_file_reaching_outside_is_refused(root: Path, secret: Path) -> None:
    body = root / "tiny" / "templates" / "one.j2"
    body.unlink()
    body.symlink_to(secret)
    message = one_line_error(root / "child", "tiny/templates/one.j2", "outside the family folder")
    assert SECRET not in message
    problems = check_family(load_family(root / "child"))
    assert problems and SECRET not in "".join(problems)
    result = workbench("scenarios", "render", str(root / "child"))
    assert_user_error(result, "outside the family folder")
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("include", ["tiny/../../outside/secret.txt", "../tiny/one.j2",
                                     "tiny/../tiny/one.j2"])
def test_an_include_cannot_climb_out_through_the_base(root: Path, secret: Path,
                                                      include: str) -> None:
    (root / "child" / "templates" / "system.j2").write_text(
        f"{{% include '{include}' %}}", encoding="utf-8")
    message = one_line_error(root / "child", "child/templates/system.j2")
    assert SECRET not in message


def test_a_base_body_path_leading_outside_is_refused(root: Path, secret: Path) -> None:
    spec = root / "tiny" / "scenario.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("body: one.j2", f"body: {secret}"),
                    encoding="utf-8")
    family = load_family(root / "child")
    assert SECRET not in one_line_error(root / "child")
    with pytest.raises(ScenarioError, match="outside the family folder"):
        family.template_hashes  # noqa: B018


def test_a_symlink_into_the_base_folder_is_refused(root: Path) -> None:
    (root / "child" / "templates" / "one.j2").symlink_to(root / "tiny" / "templates" / "one.j2")
    one_line_error(root / "child", "child/templates/one.j2", "outside the family folder")


def test_a_base_templates_folder_outside_is_refused(root: Path, secret: Path) -> None:
    templates = root / "tiny" / "templates"
    for path in templates.iterdir():
        path.unlink()
    templates.rmdir()
    templates.symlink_to(secret.parent)
    one_line_error(root / "child", "tiny/templates", "outside the family folder")
