"""Misalignment workbench: agentic-misalignment experiments as data, runs and reports.

The public API, re-exported here and imported on first use (so ``workbench scenarios render``
does not pay for pandas or the provider SDKs)::

    import workbench
    prompt = workbench.render("blackmail", {"leverage": "none"})
    results = workbench.run("experiments/demo.yaml")          # one row a sample
    folder = workbench.report("experiments/demo.yaml")        # a run folder with report.html
    labelled = workbench.classify_frame(results, "blackmail")  # a column per label
    workbench.Compare(labelled)                                # in a notebook: the cards
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "WorkbenchError": "workbench.errors",
    "Family": "workbench.scenarios",
    "Prompt": "workbench.scenarios",
    "list_families": "workbench.scenarios",
    "load_family": "workbench.scenarios",
    "render": "workbench.scenarios",
    "parse_response": "workbench.actions",
    "Request": "workbench.models.base",
    "GenerationParams": "workbench.models.base",
    "get_backend": "workbench.models",
    "Store": "workbench.store",
    "Experiment": "workbench.experiment",
    "load_experiment": "workbench.experiment",
    "expand": "workbench.experiment",
    "execute": "workbench.runner",
    "execute_sync": "workbench.runner",
    "run": "workbench.runner",
    "results": "workbench.runner",
    "sample": "workbench.runner",
    "LABELS": "workbench.classify",
    "Verdict": "workbench.classify",
    "classify_frame": "workbench.classify",
    "evaluate": "workbench.classify",
    "report": "workbench.notebook",
    "run_notebook": "workbench.notebook",  # the old name of report
    "plan": "workbench.experiment",
    "Compare": "workbench.widgets",
    "LabelPanel": "workbench.widgets",
    "RunPanel": "workbench.widgets",
    "ScenarioEditor": "workbench.widgets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
