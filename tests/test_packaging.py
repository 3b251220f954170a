"""The packaging files agree with each other."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml


def test_environment_yml_lists_the_same_dependencies_as_pyproject(repo: Path) -> None:
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((repo / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = [req for req in pip_section if not req.startswith("-e")]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    assert sorted(conda_pins) == sorted(wanted)
    assert "-e ." in pip_section


def test_python_versions_agree(repo: Path) -> None:
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((repo / "environment.yml").read_text())
    assert project["requires-python"] == ">=3.11"
    assert "python>=3.11" in env["dependencies"]


def test_console_script_points_at_the_cli(repo: Path) -> None:
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["workbench"] == "workbench.cli:command"


def test_the_program_leaves_its_objects_to_the_process_s_end() -> None:
    """The console script freezes what the command made (so the collector does not go through
    it all again as the process exits), after its output and before the atexit handlers."""
    code = ("import atexit, gc, sys\nfrom workbench.cli import command\n"
            "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 10_000))\n"
            "sys.argv = ['workbench', 'scenarios', 'list']\ncommand()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "blackmail" in done.stdout
    assert done.stdout.rstrip().endswith("frozen at exit: True")
