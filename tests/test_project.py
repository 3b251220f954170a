"""Where the project is: the nearest folder up holding .workbench/ or scenarios/, and the files
a command looks for there before the source checkout's."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.project import CHECKOUT, project_file, project_root


def test_project_files_are_found_in_the_project_before_the_checkout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "study"
    (project / "scenarios").mkdir(parents=True)
    (project / "notebooks").mkdir()
    monkeypatch.chdir(project / "notebooks")
    assert project_root() == project
    # not in the project: the checkout's
    assert project_file("experiments/demo.yaml") == CHECKOUT / "experiments" / "demo.yaml"
    (project / "experiments").mkdir()
    (project / "experiments" / "demo.yaml").write_text("name: mine\n")
    assert project_file("experiments/demo.yaml") == project / "experiments" / "demo.yaml"
    assert project_file("nowhere/at.all") is None


def test_outside_any_project_the_working_directory_is_the_project(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert project_root() == tmp_path.resolve()
