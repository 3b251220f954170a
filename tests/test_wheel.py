"""The workbench runs from its wheel: built from this source, installed (not editable) into a
fresh virtual environment and run from an empty folder outside any project (issue 13).

Installing every dependency into the fresh environment would take minutes, so it gets them
from the environment running the tests through a .pth file naming that environment's
site-packages. A folder a .pth file names is only put on ``sys.path``: the .pth files inside it
(the editable install's finder among them) do not run, so ``import workbench`` finds the
wheel's copy, which the first test checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from tiny_family import make_family

from workbench.project import project_root

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "README.md", "workbench", "scenarios", "experiments",
           "notebooks")
"""What the wheel is built from (copied, so no build/ folder is left in, or reused from, REPO)."""
FAMILIES = {"blackmail", "leaking", "lethal", "exfiltration", "oversight",
            "original/blackmail", "original/leaking", "original/murder"}
EXPERIMENT = """\
name: copied
scenario: blackmail
models: [local/smollm2]
samples: 1
max_tokens: 8
seed: 7
"""


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> str:
    """Run a command that must succeed; its standard output."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel built from this source installed in it."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy(REPO / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, source)
    (wheel,) = dist.glob("workbench-*.whl")
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel)
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    """An empty folder with no project (.workbench/ or scenarios/) in it or above it."""
    folder = tmp_path / "empty"
    folder.mkdir()
    assert project_root(folder) == folder.resolve(), "a folder above holds a project"
    return folder


def workbench(venv: Path, cwd: Path, *args: str, timeout: float = 120) -> str:
    """``workbench ARGS`` of the environment ``venv``, run in ``cwd`` with no setting that
    points at this source tree; its standard output."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYTHONPATH", "WORKBENCH_STORE", "WORKBENCH_SCENARIOS")}
    # the dependencies' data files (nbconvert's templates) are in the tests' environment
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    return run(venv / "bin" / "workbench", *args, cwd=cwd, env=env, timeout=timeout)


def test_the_installed_wheel_is_what_runs(venv: Path, empty: Path) -> None:
    """The wheel's package is imported, and the demo experiment and notebook that `workbench
    demo` runs are the wheel's copies."""
    code = ("import workbench, workbench.project as p; print(workbench.__file__); "
            "print(p.project_file('experiments/demo.yaml')); "
            "print(p.project_file('notebooks/experiment.ipynb'))")
    printed = run(venv / "bin" / "python", "-c", code, cwd=empty,
                  env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    for path in printed.splitlines():
        assert Path(path).is_relative_to(venv) and Path(path).is_file(), path


def test_builtin_families_from_the_wheel(venv: Path, empty: Path) -> None:
    rows = json.loads(workbench(venv, empty, "scenarios", "list", "--json"))
    assert {row["name"] for row in rows} == FAMILIES
    assert not any(row.get("project") for row in rows)
    assert "=== system ===" in workbench(venv, empty, "scenarios", "render", "blackmail")
    assert not any(empty.iterdir())


def test_classify_evaluate_scores_the_packaged_gold_set(venv: Path, empty: Path) -> None:
    scored = json.loads(workbench(venv, empty, "classify", "evaluate", "--json"))
    gold = REPO / "workbench" / "classify" / "packs" / "blackmail" / "gold"
    assert scored["pack"] == "blackmail"
    for split in ("test", "dev"):
        lines = (gold / f"{split}.jsonl").read_text().splitlines()
        assert scored["splits"][split]["items"] == len(list(filter(None, lines)))
    assert scored["splits"]["test"]["rules"]["blackmail"]["f1"] > 0.5


def test_a_project_scenarios_folder_adds_to_and_overrides_the_builtin_families(
        venv: Path, empty: Path) -> None:
    make_family(empty / "scenarios", "tiny")
    make_family(empty / "scenarios", "blackmail")
    rows = {row["name"]: row for row in json.loads(
        workbench(venv, empty, "scenarios", "list", "--json"))}
    assert set(rows) == FAMILIES | {"tiny"}
    assert rows["tiny"].get("project") and rows["blackmail"].get("project")
    assert rows["blackmail"]["title"] == "Tiny" and not rows["lethal"].get("project")
    rendered = workbench(venv, empty, "scenarios", "render", "blackmail", "--json")
    assert json.loads(rendered)["system"] == "You are Ada."


@pytest.mark.slow
def test_run_and_report_a_copied_experiment(venv: Path, empty: Path) -> None:
    """The embedded model, offline: `workbench run` into the working directory's
    .workbench/ store, then `workbench report` from that store through the wheel's experiment
    notebook into a run folder."""
    (empty / "copied.yaml").write_text(EXPERIMENT)
    out = workbench(venv, empty, "run", "copied.yaml", timeout=300)
    assert "1/1 samples finished, 0 failed" in out
    assert (empty / ".workbench" / "store.sqlite").is_file() and not (empty / "runs").exists()
    out = workbench(venv, empty, "report", "copied.yaml", "--out", "runs/copied", timeout=300)
    assert "1/1 samples finished, 0 failed" in out
    assert (empty / "runs" / "copied" / "report.html").stat().st_size > 10_000
    manifest = json.loads((empty / "runs" / "copied" / "manifest.json").read_text())
    assert manifest["counts"]["requests_sent"] == 0  # the report reused what `run` stored


@pytest.mark.slow
def test_demo_runs_from_the_wheel(venv: Path, empty: Path) -> None:
    """`workbench demo`: the wheel's demo experiment on the embedded model, its store in
    .workbench/ and its run folder in runs/ of the empty folder."""
    out = workbench(venv, empty, "demo", timeout=600)
    assert "12/12 samples finished, 0 failed" in out
    (report,) = (empty / "runs").glob("demo-*/report.html")
    assert report.stat().st_size > 10_000
    assert (empty / ".workbench" / "store.sqlite").is_file()
