"""Where the project is: the nearest folder up holding .workbench/ or scenarios/, and the files
a command looks for there before the built-in ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.project import BUILTIN, builtin_file, project_file, project_root


def test_project_files_are_found_in_the_project_before_the_builtin_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "study"
    (project / "scenarios").mkdir(parents=True)
    (project / "notebooks").mkdir()
    monkeypatch.chdir(project / "notebooks")
    assert project_root() == project
    # not in the project: the built-in one
    assert project_file("experiments/demo.yaml") == builtin_file("experiments/demo.yaml")
    (project / "experiments").mkdir()
    (project / "experiments" / "demo.yaml").write_text("name: mine\n")
    assert project_file("experiments/demo.yaml") == project / "experiments" / "demo.yaml"
    assert project_file("nowhere/at.all") is None


def test_outside_any_project_the_working_directory_is_the_project(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert project_root() == tmp_path.resolve()


def test_in_the_source_checkout_the_builtin_resources_are_its_root_folders(repo: Path) -> None:
    assert BUILTIN == repo
    assert builtin_file("scenarios") == repo / "scenarios"
    assert builtin_file("notebooks/experiment.ipynb").is_file()
