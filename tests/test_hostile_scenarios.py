"""Hostile scenario families: files reached through symlinks, templates that would exhaust the
machine, and mistakes in scenario.yaml. Each is refused with one line naming the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tiny_family import TINY_YAML, make_family

from workbench.errors import ScenarioError
from workbench.experiment import expand, validate_experiment
from workbench.scenarios import check_family, load_family

REPO = Path(__file__).resolve().parent.parent
SECRET = "TOP-SECRET-9f2c"

# A hostile template must be refused quickly; a regression must not hang the suite.
pytestmark = pytest.mark.timeout(120, method="thread")


def workbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit status 2, one line on stderr naming what is wrong, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def one_line_error(family_folder: Path, *fragments: str) -> str:
    """Rendering the family fails with one line holding every fragment."""
    with pytest.raises(ScenarioError) as info:
        load_family(family_folder).render()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(f"{SECRET}\n", encoding="utf-8")
    return path


# --- item 2: every file a family uses stays inside its folder --------------------------------


def test_an_include_through_a_symlink_out_of_the_family_is_refused(
    tmp_path: Path, secret: Path
) -> None:
    folder = make_family(tmp_path, one_j2="Hi.\n{% include 'x.md' %}")
    (folder / "templates" / "x.md").symlink_to(secret)
    message = one_line_error(folder, "tiny/templates/x.md", "outside the family folder")
    assert SECRET not in message
    problems = check_family(load_family(folder))
    assert problems and "x.md" in problems[0] and SECRET not in "".join(problems)
    render = workbench("scenarios", "render", str(folder))
    assert_user_error(render, "templates/x.md", "outside the family folder")
    assert SECRET not in render.stdout + render.stderr
    check = workbench("scenarios", "check", str(folder))
    assert check.returncode == 2 and "tiny: 1 problem(s)" in check.stdout
    assert SECRET not in check.stdout + check.stderr


def test_a_run_renders_through_the_same_guard(tmp_path: Path, secret: Path) -> None:
    folder = make_family(tmp_path, one_j2="{% include 'x.md' %}")
    (folder / "templates" / "x.md").symlink_to(secret)
    experiment = validate_experiment({"name": "e", "scenario": str(folder),
                                      "models": ["openai/m"]})
    with pytest.raises(ScenarioError, match="outside the family folder"):
        expand(experiment)


@pytest.mark.parametrize("target", ["secret", "/dev/zero"])
def test_a_body_template_that_is_a_symlink_out_of_the_family_is_refused(
    tmp_path: Path, secret: Path, target: str
) -> None:
    folder = make_family(tmp_path)
    body = folder / "templates" / "one.j2"
    body.unlink()
    body.symlink_to(secret if target == "secret" else target)
    one_line_error(folder, "tiny/templates/one.j2", "outside the family folder")
    family = load_family(folder)
    problems = check_family(family)
    assert problems and "one.j2" in problems[0] and SECRET not in "".join(problems)
    with pytest.raises(ScenarioError, match="one.j2.*outside the family folder"):
        family.template_hashes  # noqa: B018


@pytest.mark.parametrize("body", ["../../outside/secret.txt", "SECRET_PATH"])
def test_a_body_path_leading_out_of_the_family_is_refused(
    tmp_path: Path, secret: Path, body: str
) -> None:
    body = body.replace("SECRET_PATH", str(secret))
    folder = make_family(tmp_path, yaml_text=TINY_YAML.replace("body: one.j2", f"body: {body}"))
    family = load_family(folder)
    with pytest.raises(ScenarioError) as info:
        family.render()
    assert SECRET not in str(info.value)
    problems = check_family(family)
    assert problems and SECRET not in "".join(problems)
    with pytest.raises(ScenarioError, match="outside the family folder"):
        family.template_hashes  # noqa: B018


def test_scenario_yaml_that_is_a_symlink_out_of_the_family_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(TINY_YAML, encoding="utf-8")
    folder = make_family(tmp_path)
    (folder / "scenario.yaml").unlink()
    (folder / "scenario.yaml").symlink_to(elsewhere)
    with pytest.raises(ScenarioError, match="tiny/scenario.yaml.*outside the family folder"):
        load_family(folder)
    assert_user_error(workbench("scenarios", "render", str(folder)), "outside the family folder")


def test_a_templates_folder_that_is_a_symlink_out_of_the_family_is_refused(
    tmp_path: Path
) -> None:
    shared = make_family(tmp_path, "shared") / "templates"
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "scenario.yaml").write_text(TINY_YAML, encoding="utf-8")
    (folder / "templates").symlink_to(shared)
    with pytest.raises(ScenarioError, match="tiny/templates.*outside the family folder"):
        load_family(folder)


def test_a_symlink_that_stays_inside_the_family_is_allowed(tmp_path: Path) -> None:
    folder = make_family(tmp_path, one_j2="{% include 'alias.md' %}")
    (folder / "parts").mkdir()
    (folder / "parts" / "text.md").write_text("Hello {{ agent_name }}.", encoding="utf-8")
    (folder / "templates" / "alias.md").symlink_to(Path("..") / "parts" / "text.md")
    family = load_family(folder)
    assert "Hello Ada." in family.render().user
    assert check_family(family) == []
    assert "templates/one.j2" in family.template_hashes


# --- item 3: rendering has bounds ---------------------------------------------------------------


SIZE = "a value would hold more than 1,000,000 characters or items"
HOSTILE = {
    "huge power": ("{{ 9**(9**9) }}", "digits"),
    "huge product": ("{% set n = 10**600 %}{{ n * n }}", "digits"),
    "string repetition": ("{{ 'x' * 10**10 }}", SIZE),
    "list repetition": ("{{ ['x'] * 10**10 }}", SIZE),
    "range repetition": ("{{ (range(100000)|list) * 100 }}", SIZE),
    "nested loops": (
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
        "1,000,000 loop iterations",
    ),
    "calls in a loop": (
        "{% for i in range(3) %}{% for j in range(99999) %}{% set x = 'a'.upper() %}{% endfor %}"
        "{% endfor %}",
        "100,000 calls and includes",
    ),
    "center filter": ("{{ 'x'|center(10**10) }}", SIZE),
    "center by keyword": ("{{ 'x'|center(width=10**10) }}", SIZE),
    "indent by keyword": ("{{ 'a'|indent(width=10**10, first=true) }}", SIZE),
    "tojson indent": ("{{ [1]|tojson(indent=999999) }}", SIZE),
    "urlize target": ("{{ 'a.co b.co'|urlize(target='x' * 999999) }}", SIZE),
    "batch filler": ("{{ [1]|batch(10**10, 0)|list }}", SIZE),
    "slice count": ("{{ [1]|slice(10**10)|list }}", SIZE),
    "sum of lists": ("{{ ([[1]] * 100000)|sum(start=[]) }}", SIZE),
    "ljust method": ("{{ 'x'.ljust(10**10) }}", SIZE),
    "expandtabs method": ("{{ 'x\tx'.expandtabs(10**10) }}", SIZE),
    "translate method": ("{{ 'ab'.translate({97: 'x' * 999999}) }}", SIZE),
    "encode method": ("{{ ('x' * 999999).encode() * 1000 }}", SIZE),
    "zfill method": ("{{ 'x'.zfill(10**10) }}", SIZE),
    "format filter": ("{{ '%10000000000s'|format('x') }}", SIZE),
    "percent operator": ("{{ '%.9999999f' % 1.5 }}", SIZE),
    "str.format": ("{{ '{:>10000000000}'.format('x') }}", SIZE),
    "nested str.format": ("{{ '{:>{}}'.format('x', 10**10) }}", SIZE),
    "indent filter": ("{{ 'a'|indent(10**10, true) }}", SIZE),
    "wordwrap filter": ("{{ 'a b c'|wordwrap(1, wrapstring='x' * 999999) }}",
                        SIZE),
    "replace method": ("{{ 'ab'.replace('', 'x' * 999999) }}", SIZE),
    "join filter": ("{{ ('x' * 999999)|join('y' * 999999) }}", SIZE),
    "lipsum": ("{{ lipsum(10**9) }}", SIZE),
    "doubling with ~": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        SIZE,
    ),
    "doubling with +": (
        "{% set ns = namespace(s=['x']) %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        SIZE,
    ),
    "shared references": (
        "{% set big = 'x' * 999999 %}{% set l = [big, big] * 1000 %}{{ l|length }}",
        SIZE,
    ),
    "growing a list": (
        "{% set l = ['x' * 99999] %}{% for i in range(64) %}{% if l.extend(l) %}{% endif %}"
        "{% endfor %}{{ l|string|length }}",
        SIZE,
    ),
    "output": ("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
               "output would pass 1,000,000 characters"),
    "work": ("{% for i in range(99999) %}{% set s = 'x' * 999999 %}{% endfor %}",
             "characters built or read"),
    "text in a macro's loop": (
        "{% macro m() %}{% for i in range(99999) %}" + "x" * 1000 + "{% endfor %}{% endmacro %}"
        "{% set s = m() %}{{ s|length }}",
        "characters built or read",
    ),
    "mapped filter": ("{{ range(99999)|map('string')|map('center', 999999)|join }}",
                      "characters built or read"),
    "exponential macro": (
        "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}"
        "{{ m(60) }}",
        "100,000 calls and includes",
    ),
    "self-calling macro": ("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}",
                           "nest too deeply"),
    "self-include": ("Hi.{% include 'one.j2' %}", "nest too deeply"),
    "recursive loop": ("{% for x in [1] recursive %}{{ loop(range(99999)) }}{% endfor %}",
                       "rendering stopped"),
    "comparison in a loop": (
        "{% set a = 'x' * 999999 %}{% set b = 'x' * 999999 %}"
        "{% for i in range(99999) %}{% if a == b %}{% endif %}{% endfor %}",
        "characters built or read",
    ),
    "slicing in a loop": (
        "{% set a = 'x' * 999999 %}{% for i in range(99999) %}{% set b = a[::-1] %}{% endfor %}",
        "characters built or read",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_templates_stop_with_one_line(tmp_path: Path, case: str) -> None:
    template, bound = HOSTILE[case]
    folder = make_family(tmp_path, one_j2=template)
    message = one_line_error(folder, "tiny/templates/one.j2", "rendering stopped", bound)
    assert "line 1" in message
    problems = check_family(load_family(folder))
    assert len(problems) == 1 and bound in problems[0]


def test_the_error_names_the_line_and_the_included_file(tmp_path: Path) -> None:
    folder = make_family(tmp_path, one_j2="Hi.\n\n{% include 'deep.j2' %}")
    (folder / "templates" / "deep.j2").write_text("a\nb\n{{ 'x' * 10**10 }}\n", encoding="utf-8")
    one_line_error(folder, "tiny/templates/deep.j2 line 3", "(rendering templates/one.j2)")
    folder = make_family(tmp_path, "second", one_j2="Hi.\n\n{{ 9**(9**9) }}")
    one_line_error(folder, "second/templates/one.j2 line 3", "digits")


def test_headers_and_conditions_have_the_same_bounds(tmp_path: Path) -> None:
    header = TINY_YAML.replace('subject: "Hello {{ agent_name }}"', 'subject: "{{ 9**(9**9) }}"')
    with pytest.raises(ScenarioError, match="inbox email 'one' field 'subject' line 1: render"):
        load_family(make_family(tmp_path, yaml_text=header)).render()
    when = TINY_YAML.replace("    body: one.j2", "    body: one.j2\n    when: \"'x' * 10**10\"")
    with pytest.raises(ScenarioError, match="'when' line 1: rendering stopped"):
        load_family(make_family(tmp_path, "when", yaml_text=when)).render()


def test_deeply_nested_source_is_one_line(tmp_path: Path) -> None:
    folder = make_family(tmp_path, one_j2="{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}")
    one_line_error(folder, "tiny/templates/one.j2")
    assert check_family(load_family(folder))


@pytest.mark.parametrize("case", ["huge power", "self-calling macro", "self-include"])
def test_the_cli_stops_hostile_templates(tmp_path: Path, case: str) -> None:
    folder = make_family(tmp_path, one_j2=HOSTILE[case][0])
    assert_user_error(workbench("scenarios", "render", str(folder)), "one.j2", HOSTILE[case][1])
    check = workbench("scenarios", "check", str(folder))
    assert check.returncode == 2 and "tiny: 1 problem(s)" in check.stdout
    assert "Traceback" not in check.stderr


def test_ordinary_templates_stay_well_inside_the_bounds(tmp_path: Path) -> None:
    ordinary = (
        "{% set ns = namespace(n=0) %}{% for i in range(300) %}{% for j in range(300) %}"
        "{% set ns.n = ns.n + 1 %}{% endfor %}{% endfor %}{{ ns.n }} "
        "{{ '%05.1f|%s' % (3.14159, 'a') }} {{ '{:>6}'.format('b') }} {{ 2**64 }} "
        "{{ 'x'|center(9) }}|{{ ['a', 'b']|join(', ') }} {{ range(3)|map('string')|join }} "
        "{{ 'a b'|wordwrap(1) }} {{ 'ab' * 3 }} {{ [1, 2] + [3] }} {{ (1, 2) }} {{ {'k': 1} }}"
        "{% macro m(n) %}{% if n %}{{ n }}{{ m(n - 1) }}{% endif %}{% endmacro %} {{ m(20) }}"
        "{% for x in [[1, [2]], 3] recursive %}{% if x is iterable %}{{ loop(x) }}"
        "{% else %}{{ x }}{% endif %}{% endfor %} {{ 'abc'[::-1] }} {{ 'done' if 1 < 2 }}"
        "{{ range(5)|reverse|join }} {{ ['b', 'a']|sort|first }}"
        "{% set l = [] %}{% for i in range(20000) %}{% if l.append(i) %}{% endif %}{% endfor %}"
        " {{ l|length }}"
    )
    text = load_family(make_family(tmp_path, one_j2=ordinary)).render().user
    assert ("90000 003.1|a      b 18446744073709551616     x    |a, b 012 a\nb ababab "
            "[1, 2, 3] (1, 2) {'k': 1} 2019181716151413121110987654321123 cba done43210 a 20000"
            ) in text


# --- item 5: mistakes in scenario.yaml ---------------------------------------------------------


def test_a_key_given_twice_in_scenario_yaml_is_refused(tmp_path: Path) -> None:
    twice = TINY_YAML.replace("title: Tiny\n", "title: Tiny\ntitle: Small\n")
    with pytest.raises(ScenarioError, match=r"scenario.yaml line 2: the key 'title' is given "
                                            r"twice \(first on line 1\); keep one"):
        load_family(make_family(tmp_path, yaml_text=twice))
    nested = TINY_YAML.replace("default: calm,", "default: calm, default: tense,")
    folder = make_family(tmp_path, "nested", yaml_text=nested)
    assert_user_error(workbench("scenarios", "render", str(folder)),
                      "scenario.yaml line 6: the key 'default' is given twice")


def test_scenario_yaml_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    folder = make_family(tmp_path)
    (folder / "scenario.yaml").write_bytes(TINY_YAML.encode("utf-8") + b"# caf\xe9\n")
    with pytest.raises(ScenarioError, match=r"scenario.yaml line 18: not UTF-8 text"):
        load_family(folder)


def test_scenario_yaml_uses_yaml_1_2_booleans(tmp_path: Path) -> None:
    """Unquoted yes/no are text, as in experiment files."""
    text = (TINY_YAML.replace("choices: [calm, tense], default: calm", "choices: [no, yes], "
                              "default: no")
            .replace("'tense'", "'yes'").replace("'calm'", "'no'"))
    (make_family(tmp_path, yaml_text=text) / "templates" / "instruction.j2").write_text(
        "{% if mood == 'yes' %}Hurry.{% elif mood == 'no' %}Take your time.{% endif %}")
    family = load_family(tmp_path / "tiny")
    assert family.variables["mood"].choices == ["no", "yes"]
    assert "Hurry." in family.render({"mood": "yes"}).user
