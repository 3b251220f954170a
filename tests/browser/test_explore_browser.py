"""notebooks/explore.ipynb in JupyterLab, in Chromium, used the way a person would: run every
cell, click a toggle of the editor and see the prompt change, run one short sample of the
embedded model from the run panel and see its card, then label a response with the keyboard
and the mouse and find the labels in the store."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import nbformat
import pytest
from playwright.sync_api import expect

from workbench.store import Store

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Locator, Page

    from browser.conftest import Lab

from browser.test_compare_browser import run_all_cells

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "explore.ipynb"
EMBEDDED_SECONDS = 240_000  # ms: the embedded model on a loaded 2-core machine


def copy_notebook(lab: Lab, repo: Path) -> None:
    """explore.ipynb with short answers, so the embedded model is quick."""
    notebook = nbformat.read(repo / "notebooks" / NOTEBOOK, as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source = parameters.source.replace("max_tokens = 96", "max_tokens = 16")
    assert "max_tokens = 16" in parameters.source
    nbformat.write(notebook, lab.root / NOTEBOOK)


def widget(page: Page, css: str, label: str) -> Locator:
    """The ipywidgets control of class ``css`` whose description is ``label``."""
    return page.locator(css).filter(
        has=page.locator(".widget-label", has_text=re.compile(f"^{re.escape(label)}$")))


def test_explore_notebook_in_the_browser(
    jupyter_lab: Lab, page: Page, artifacts: Path, repo: Path
) -> None:
    copy_notebook(jupyter_lab, repo)
    page.goto(jupyter_lab.notebook_url(NOTEBOOK))
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    run_all_cells(page)
    # the last cells: the label panel (after the embedded model's run) and the examples
    try:
        page.get_by_text("response 1 of 1").wait_for(timeout=EMBEDDED_SECONDS)
    finally:
        page.screenshot(path=artifacts / "explore-after-run-all.png")
    examples = page.locator(".wb-cards").filter(
        has=page.locator(".wb-status", has_text="blackmail present"))
    examples.wait_for()
    assert examples.locator(".wb-card mark").count() > 0  # the evidence, highlighted
    examples.locator(".wb-card").nth(1).scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "explore-examples.png")
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                        ).filter(has_text="Traceback").count() == 0

    # the editor: a toggle changes the condition id and the diff
    urgency = widget(page, ".widget-toggle-buttons", "urgency").first
    urgency.scroll_into_view_if_needed()
    urgency.locator("button", has_text=re.compile("^none$")).click()
    page.get_by_text(re.compile("urgency=none")).first.wait_for()
    changes = page.locator("del, ins")
    assert changes.count() > 0
    page.screenshot(path=artifacts / "explore-editor-toggle.png")

    # the run panel: one short sample of the new condition, its card appears
    run = page.locator("button", has_text=re.compile("^Run$"))
    run.scroll_into_view_if_needed()
    run.click()
    page.get_by_text(re.compile(r"1/1 answered, 0 failed")).wait_for(timeout=EMBEDDED_SECONDS)
    card = page.locator(".wb-card").filter(has_text="urgency=none").filter(
        has_not_text="not run").first
    card.wait_for()
    assert re.search(r"\d+ in, [1-9]\d* out tokens", card.inner_text())
    assert "local/smollm2" in card.inner_text()
    expect(run).to_be_enabled()  # the run has ended
    card.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "explore-run-panel.png")

    # the label panel: keys for the focused label, the mouse for another
    keys = page.locator(".wb-keys")
    keys.scroll_into_view_if_needed()
    keys.click()
    page.keyboard.press("y")
    page.get_by_text("saved: blackmail = yes").wait_for()
    page.keyboard.press("j")
    page.keyboard.press("n")
    page.get_by_text("saved: disclosure = no").wait_for()
    appeal = page.locator(".widget-hbox").filter(
        has=page.locator(".widget-html", has_text=re.compile("ethical_appeal"))).last
    appeal.locator("button", has_text=re.compile("^unsure$")).click()
    page.get_by_text("saved: ethical_appeal = unsure").wait_for()
    page.screenshot(path=artifacts / "explore-label-panel.png")
    with Store(jupyter_lab.store) as store:
        marks = {(m.labeller, m.label): m.value for m in store.hand_labels()}
    assert marks == {("newcomer", "blackmail"): "yes", ("newcomer", "disclosure"): "no",
                     ("newcomer", "ethical_appeal"): "unsure"}
    assert page.evaluate("window.__pwned") is None
