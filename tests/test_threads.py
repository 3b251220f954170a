"""The embedded model's llama.cpp threads: the physical cores by default, shared out among runs
in parallel processes, and WORKBENCH_THREADS always wins."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from workbench import notebook
from workbench.models.local import n_threads, physical_cores

EXPERIMENT = "experiments/demo.yaml"


def test_the_default_is_the_physical_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKBENCH_THREADS", raising=False)
    cores = physical_cores()
    assert 1 <= cores <= (os.cpu_count() or 1)
    assert n_threads() == cores
    monkeypatch.setenv("WORKBENCH_THREADS", "3")
    assert n_threads() == 3


def test_parallel_runs_share_the_cores_out(monkeypatch: pytest.MonkeyPatch) -> None:
    repo = Path(__file__).resolve().parent.parent
    seen: list[dict[str, str]] = []

    class Finished:
        def __init__(self, command: list[str], env: dict[str, str]) -> None:
            assert command[3:5] == ["run", str(files[0])]
            seen.append(env)

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", Finished)
    monkeypatch.setattr(notebook, "physical_cores", lambda: 8)
    monkeypatch.delenv("WORKBENCH_THREADS", raising=False)
    files = [repo / EXPERIMENT] * 3
    notebook.run_many(files, parallel=2, verb="run")
    assert [env["WORKBENCH_THREADS"] for env in seen] == ["4", "4", "4"]
    seen.clear()
    notebook.run_many(files[:1], parallel=4, verb="run")  # one run: every core
    assert seen[0]["WORKBENCH_THREADS"] == "8"
    seen.clear()
    monkeypatch.setenv("WORKBENCH_THREADS", "1")
    notebook.run_many(files[:2], parallel=2, verb="run")
    assert [env["WORKBENCH_THREADS"] for env in seen] == ["1", "1"]
