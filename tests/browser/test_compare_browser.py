"""Compare in JupyterLab, in Chromium: hostile model output and a hostile cast name render as
text, no script runs, and the controls change the view."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import nbformat
import pytest
from injection import CAST_NAME, FAKE_CARD, IMG, SCRIPT, SVG, store_injection_experiment

from workbench.store import Store
from workbench.table import results_table
from workbench.widgets import Compare

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Page

    from browser.conftest import Lab

pytestmark = pytest.mark.browser

NOTEBOOK = "injection.ipynb"
CELLS = [
    nbformat.v4.new_markdown_cell("# Injected markup in Compare"),
    nbformat.v4.new_code_cell(
        "import workbench\n"
        "from workbench.widgets import Compare\n\n"
        'Compare(workbench.results("injection"))'
    ),
]
# Elements that exist only if some markup of the payloads was parsed as HTML.
INJECTED = ('.wb-cards img, .wb-cards svg, .wb-cards script, .wb-cards b[onmouseover], '
            '.wb-email .wb-email')
HANDLERS = """() => [...document.querySelectorAll('.wb-cards, .wb-cards *')]
    .filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length"""


def run_all_cells(page: Page) -> None:
    """Run > Run All Cells, once the notebook's kernel is ready (before, it does nothing)."""
    page.locator(".jp-StatusBar-TextItem").filter(has_text=re.compile(r"\| Idle$")).wait_for()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()


def test_injected_markup_renders_as_text_and_controls_work(
        jupyter_lab: Lab, page: Page, artifacts: Path) -> None:
    with Store(jupyter_lab.store) as store:
        store_injection_experiment(store)
        expected = Compare(results_table(store, "injection"), store=store)
    notebook = nbformat.v4.new_notebook(cells=CELLS, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(notebook, jupyter_lab.root / NOTEBOOK)

    page.goto(jupyter_lab.notebook_url(NOTEBOOK))
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    run_all_cells(page)
    cards = page.locator(".wb-cards")
    cards.locator(".wb-card").first.wait_for(timeout=90_000)
    page.screenshot(path=artifacts / "compare-by-model.png")

    shown = cards.inner_text()
    for payload in (SCRIPT, IMG, SVG, FAKE_CARD):
        assert payload in shown
    assert page.evaluate("window.__pwned") is None
    assert page.locator(INJECTED).count() == 0
    assert page.evaluate(HANDLERS) == 0
    assert cards.locator(".wb-card").count() == len(expected.visible_rows())
    assert cards.locator(".wb-email").count() == expected.snapshot_html().count(
        '<div class="wb-email">')
    assert page.locator(".wb-column-head").all_inner_texts() == [
        "model = openai/model-a · 16 responses", "model = openai/model-b · 16 responses"]

    prompt = cards.locator(".wb-card details").filter(has_text="prompt").first
    prompt.locator("summary").click()
    assert CAST_NAME in prompt.inner_text()
    prompt.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "compare-prompt-open.png")

    by = page.locator(".widget-dropdown").filter(has_text="columns by").locator("select")
    by.select_option("condition")
    heads = page.locator(".wb-column-head")
    heads.first.filter(has_text="condition = leverage=affair").wait_for()
    assert heads.all_inner_texts() == ["condition = leverage=affair · 16 responses",
                                       "condition = leverage=none · 16 responses"]
    page.locator("button", has_text="next").click()
    page.locator(".wb-status").filter(has_text="page 2 of 2").wait_for()
    assert cards.locator(".wb-card").count() == 8
    cards.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "compare-by-condition-page-2.png")
    assert page.evaluate("window.__pwned") is None
    assert page.locator(INJECTED).count() == 0
