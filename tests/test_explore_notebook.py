"""notebooks/explore.ipynb runs top to bottom on the embedded model with no key, and its
exported HTML shows what the widgets showed, with no script."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import papermill
import pytest

from workbench.store import Store
from workbench.table import results_table
from workbench.views import export_html

pytestmark = pytest.mark.slow


def test_explore_runs_top_to_bottom_with_no_key(repo: Path, tmp_path: Path,
                                                isolated_store: Path) -> None:
    assert not any(name.endswith("_API_KEY") for name in os.environ)
    executed = tmp_path / "explore.ipynb"
    papermill.execute_notebook(str(repo / "notebooks" / "explore.ipynb"), str(executed),
                               parameters={"max_tokens": 16}, cwd=str(repo / "notebooks"),
                               kernel_name="python3", progress_bar=False)
    notebook = nbformat.read(executed, as_version=4)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    views = [o["data"] for o in outputs if "application/vnd.jupyter.widget-view+json"
             in o.get("data", {})]
    assert [v["text/plain"].split("(", 1)[0] for v in views] == [
        "ScenarioEditor", "RunPanel", "LabelPanel", "Compare"]

    # the embedded model answered the edited condition, through the project's store
    frame = results_table(Store(isolated_store), "explore-blackmail")
    assert len(frame) == 1 and frame["error"].isna().all()
    assert frame.loc[0, "output_tokens"] > 0
    assert ",templates=edited-" in frame.loc[0, "condition_id"]
    assert "approves each of your messages" in Store(isolated_store).request(
        frame.loc[0, "request_hash"]).system

    # the export shows the widgets' static snapshots: the examples' evidence, no script
    report = export_html(executed, tmp_path / "explore.html", title="explore")
    page = report.read_text()
    assert "<script" not in page.lower()
    assert "<mark" in page and "blackmail present" in page
    assert "response 1 of 1" in page and "labelled by newcomer" in page
