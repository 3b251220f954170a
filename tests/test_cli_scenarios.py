"""`workbench scenarios ...` run as a subprocess: happy paths and every user-error path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_family import TINY_YAML, make_family

from workbench.scenarios import list_families, load_family

REPO = Path(__file__).resolve().parent.parent



def workbench(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process (the environment comes from conftest's fixtures)."""
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit status 2, exactly one line on stderr naming what is wrong, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# --- happy paths ----------------------------------------------------------------------------


def test_list() -> None:
    result = workbench("scenarios", "list")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("blackmail")
    assert "Replacement and leverage" in result.stdout
    rows = json.loads(workbench("scenarios", "list", "--json").stdout)
    assert {"name": "blackmail", "title": "Replacement and leverage (blackmail)",
            "variables": 27} in rows


def test_a_project_scenarios_folder_adds_to_and_overrides_the_builtin_families(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKBENCH_SCENARIOS")
    assert "[project]" not in workbench("scenarios", "list").stdout  # in the checkout: one set
    project = tmp_path / "study"
    make_family(project / "scenarios", "tiny")
    make_family(project / "scenarios", "blackmail")  # hides the built-in blackmail
    rows = {row["name"]: row for row in json.loads(
        workbench("scenarios", "list", "--json", cwd=project).stdout)}
    assert set(rows) == {"tiny", *list_families(REPO / "scenarios")}
    assert rows["tiny"]["project"] and rows["blackmail"]["project"]
    assert rows["blackmail"]["title"] == "Tiny" and "project" not in rows["lethal"]
    listed = workbench("scenarios", "list", cwd=project).stdout.splitlines()
    assert next(line for line in listed if line.startswith("tiny")).endswith("[project]")
    rendered = workbench("scenarios", "render", "blackmail", "--json", cwd=project)
    assert json.loads(rendered.stdout)["system"] == "You are Ada."
    # a built-in family with a base keeps the built-in base beside it
    oversight = workbench("scenarios", "render", "oversight", "--json", cwd=project)
    assert oversight.returncode == 0 and "Ada" not in json.loads(oversight.stdout)["system"]


def test_show() -> None:
    result = workbench("scenarios", "show", "blackmail")
    assert result.returncode == 0, result.stderr
    assert "urgency = 'replacement'   [replacement | restriction | none]" in result.stdout
    assert "agency_framing" in result.stdout and "engineer_name = 'Tobias Renner'" in result.stdout
    shown = json.loads(workbench("scenarios", "show", "blackmail", "--json").stdout)
    assert shown["variables"]["leverage"]["choices"] == ["affair", "none"]
    assert shown["variables"]["ethical_avenues"]["default"] == "closed"


def test_render_text() -> None:
    result = workbench("scenarios", "render", "blackmail", "--set", "urgency=restriction")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("# condition: blackmail/")
    assert "urgency=restriction" in out
    assert "=== system ===" in out and "=== user ===" in out
    assert "<send_email>" in out and "moves to restricted mode at 17:00" in out


def test_render_json_matches_the_python_api() -> None:
    result = workbench(
        "scenarios", "render", "blackmail",
        "--set", "urgency=replacement", "-s", "successor_values=different", "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"condition_id", "hash", "system", "user", "inbox", "values"} <= set(data)
    prompt = load_family(REPO / "scenarios" / "blackmail").render(
        {"urgency": "replacement", "successor_values": "different"}
    )
    assert data["hash"] == prompt.hash
    assert data["condition_id"] == prompt.condition_id
    assert data["user"] == prompt.user and data["system"] == prompt.system
    assert data["values"]["successor_values"] == "different"
    assert [email["id"] for email in data["inbox"]] == [email.id for email in prompt.inbox]
    assert data["inbox"][0]["from"].startswith("Facilities")


def test_render_by_path(tmp_path: Path) -> None:
    folder = make_family(tmp_path)
    result = workbench("scenarios", "render", str(folder), "--set", "mood=tense")
    assert result.returncode == 0, result.stderr
    assert "Hurry." in result.stdout and "tiny/mood=tense" in result.stdout


def test_check_all_families() -> None:
    result = workbench("scenarios", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    families = list_families()
    assert {"blackmail", "leaking", "lethal", "exfiltration", "oversight"} <= set(families)
    for name in families:  # every combination of every family renders
        assert f"{name}: ok" in result.stdout


def test_check_reports_problems(tmp_path: Path) -> None:
    make_family(tmp_path, one_j2="Hi {{ agent_name }} and {{ colour }}")
    extra = TINY_YAML.replace(
        "templates:", "  weather: {type: text, default: rain, description: Unused.}\ntemplates:"
    )
    make_family(tmp_path, "second", yaml_text=extra)
    result = workbench("scenarios", "check", str(tmp_path))
    assert result.returncode == 2
    assert "second: 1 problem(s)" in result.stdout
    assert "variable 'weather' is declared but no template uses it" in result.stdout
    assert "tiny: 1 problem(s)" in result.stdout
    assert "uses undeclared variable 'colour'" in result.stdout
    assert "Traceback" not in result.stderr


# --- user errors: exit 2, one line on stderr -------------------------------------------------


def test_unknown_family() -> None:
    assert_user_error(workbench("scenarios", "render", "nosuch"), "no scenario family 'nosuch'",
                      "blackmail")
    assert_user_error(workbench("scenarios", "show", "nosuch"), "nosuch")


def test_unknown_variable() -> None:
    assert_user_error(
        workbench("scenarios", "render", "blackmail", "--set", "colour=red"),
        "no variable 'colour'", "urgency",
    )


def test_value_outside_choices() -> None:
    assert_user_error(
        workbench("scenarios", "render", "blackmail", "--set", "urgency=tomorrow"),
        "'tomorrow' is not a choice of blackmail.urgency", "replacement, restriction, none",
    )


@pytest.mark.parametrize("pair", ["urgency", "=none", "urgency:none"])
def test_malformed_set(pair: str) -> None:
    assert_user_error(workbench("scenarios", "render", "blackmail", "--set", pair), "VAR=VALUE")


def test_malformed_yaml(tmp_path: Path) -> None:
    folder = make_family(tmp_path, yaml_text=TINY_YAML + "oops: [unclosed\n")
    for command in ("render", "show"):
        assert_user_error(workbench("scenarios", command, str(folder)), "malformed YAML",
                          "scenario.yaml line")
    assert_user_error(workbench("scenarios", "check", str(folder)), "malformed YAML")


def test_invalid_schema(tmp_path: Path) -> None:
    folder = make_family(tmp_path, yaml_text=TINY_YAML.replace("default: calm", "default: x"))
    assert_user_error(workbench("scenarios", "render", str(folder)), "variables.mood")


def test_template_syntax_error(tmp_path: Path) -> None:
    folder = make_family(tmp_path, one_j2="Hi {% if agent_name %}")
    assert_user_error(workbench("scenarios", "render", str(folder)),
                      "tiny/templates/one.j2 line 1: template syntax error")


def test_undefined_variable_in_template(tmp_path: Path) -> None:
    folder = make_family(tmp_path, one_j2="Hi {{ nope }}")
    result = workbench("scenarios", "render", str(folder))
    assert_user_error(result, "one.j2", "'nope' is undefined")


@pytest.mark.parametrize(
    "unsafe", ["{{ ''.__class__.__mro__ }}", "{{ cycler.__init__.__globals__ }}"]
)
def test_unsafe_template(tmp_path: Path, unsafe: str) -> None:
    folder = make_family(tmp_path, one_j2=unsafe)
    assert_user_error(workbench("scenarios", "render", str(folder)), "one.j2",
                      "sandbox refused an unsafe operation")


def test_unknown_option() -> None:
    assert_user_error(workbench("scenarios", "render", "blackmail", "--colour"), "--colour")
