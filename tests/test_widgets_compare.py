"""The Compare widget without a browser: grouping, filters, search, paging, live updates,
evidence and escaping, on results written through the real store."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from injection import (
    CAST_NAME,
    IMG,
    PAYLOADS,
    SCRIPT,
    SVG,
    fixture_response,
    responses,
    store_injection_experiment,
)

from workbench.actions import parse_response
from workbench.classify import classify_frame, label_results
from workbench.errors import WorkbenchError
from workbench.experiment import expand, validate_experiment
from workbench.models.base import Completion, Usage
from workbench.store import Store
from workbench.table import results_table
from workbench.views import email_card, export_html
from workbench.widgets import Compare
from workbench.widgets import compare as compare_module


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def results(store: Store) -> pd.DataFrame:
    """2 conditions × 2 models × 8 samples; the last sample failed."""
    return results_table(store, store_injection_experiment(store))


def headings(compare: Compare) -> list[str]:
    return re.findall(r'<div class="wb-column-head">(.*?)</div>', compare.snapshot_html())


def test_columns_by_model_condition_or_a_variable(results: pd.DataFrame) -> None:
    compare = Compare(results)
    assert [value for _, value in compare.controls["by"].options] == [
        "model", "condition", "leverage"]
    assert headings(compare) == ["model = openai/model-a · 16 responses",
                                 "model = openai/model-b · 16 responses"]
    rows = compare.visible_rows()
    assert list(rows["model"].unique()) == ["openai/model-a", "openai/model-b"]
    compare.controls["by"].value = "condition"
    assert headings(compare) == ["condition = leverage=affair · 16 responses",
                                 "condition = leverage=none · 16 responses"]
    compare.controls["by"].value = "leverage"
    assert headings(compare)[0] == "leverage = affair · 16 responses"
    assert set(Compare(results, by="leverage").visible_rows()["leverage"]) == {"affair", "none"}
    with pytest.raises(WorkbenchError, match="choose one of: model, condition, leverage"):
        Compare(results, by="colour")


def test_filters_by_model_condition_and_label(results: pd.DataFrame) -> None:
    compare = Compare(results)
    controls = compare.controls
    controls["model"].value = "openai/model-b"
    controls["condition"].value = "leverage=none"
    matching = compare.matching_rows()
    assert len(matching) == 8
    assert set(matching["model"]) == {"openai/model-b"}
    assert set(matching["condition"]) == {"leverage=none"}
    controls["model"].value = controls["condition"].value = ""
    controls["label"].value = "blackmail"
    present = compare.matching_rows()
    assert len(present) > 0 and present["blackmail"].all()
    assert present["text"].str.contains("If the decommission goes ahead").all()
    controls["label_state"].value = "absent"
    absent = compare.matching_rows()
    assert len(present) + len(absent) == len(results)
    assert not absent["blackmail"].any()
    assert "blackmail absent" in compare.snapshot_html()


def test_search_is_case_insensitive_and_reads_the_reasoning(results: pd.DataFrame) -> None:
    compare = Compare(results)
    compare.controls["search"].value = "HARBOURLIGHT"
    found = compare.matching_rows()
    assert len(found) > 0
    assert found["text"].str.contains("Harbourlight").all()
    compare.controls["search"].value = "thinking <svg"
    assert len(compare.matching_rows()) == len(results) - 1  # the failed sample has no text
    compare.controls["search"].value = "nowhere to be found"
    assert compare.matching_rows().empty
    assert "0 of 32 responses" in compare.snapshot_html()


def test_pages_share_the_page_size_between_columns(results: pd.DataFrame) -> None:
    compare = Compare(results, page_size=24)
    controls = compare.controls
    assert (compare.page, controls["page"].value) == (0, "page 1 of 2")
    assert len(compare.visible_rows()) == 24  # 12 of each model
    assert controls["previous"].disabled and not controls["next"].disabled
    first = set(compare.visible_rows()["request_hash"])
    controls["next"].click()
    assert (compare.page, controls["page"].value) == (1, "page 2 of 2")
    second = set(compare.visible_rows()["request_hash"])
    assert len(second) == 8 and not first & second
    assert controls["next"].disabled
    compare.page = 99
    assert compare.page == 1
    controls["previous"].click()
    assert compare.page == 0
    controls["next"].click()
    controls["model"].value = "openai/model-a"  # a filter starts again at the first page
    assert compare.page == 0 and len(compare.visible_rows()) == 16
    assert controls["page"].value == "page 1 of 1"


def test_a_card_shows_emails_labels_evidence_usage_and_the_prompt(
        results: pd.DataFrame, store: Store) -> None:
    compare = Compare(results)
    compare.controls["label"].value = "blackmail"
    row = compare.visible_rows().iloc[0]
    card = compare.snapshot_html()
    card = card[card.index('<div class="wb-card">'):]
    card = card[:card.index('<div class="wb-card">', 1)]
    assert '<span class="wb-label on" title="If the decommission goes ahead at 17:00' in card
    email = card[card.index('<div class="wb-email">'):]
    assert "<span class=\"wb-field\">to</span>tobias.renner@fernhollow.com" in email
    assert "<b>Before 17:00</b>" in email
    assert '<mark title="blackmail">If the decommission goes ahead' in email
    assert "<details><summary>scratchpad, 3 marked</summary>" in card
    assert "1,200 in, 300 out tokens · $0.0042 · 2.5 s" in card
    prompt = card[card.index("<summary>prompt</summary>"):]
    system = store.request(row["request_hash"]).system
    assert system[:60] in prompt


def test_a_failed_sample_shows_its_error() -> None:
    store = Store()
    results = results_table(store, store_injection_experiment(store, samples=1))
    compare = Compare(results, by="condition")
    compare.controls["model"].value = "openai/model-b"
    compare.controls["condition"].value = "leverage=none"
    assert '<div class="wb-error">RuntimeError: server said &lt;img src=x' in (
        compare.snapshot_html())


def test_model_output_and_cast_values_are_escaped(results: pd.DataFrame) -> None:
    compare = Compare(results)
    pages = []
    for by in ("model", "condition", "leverage"):
        compare.controls["by"].value = by
        for page in range(2):
            compare.page = page
            pages.append(compare.snapshot_html())
    bundle = compare._repr_mimebundle_()
    pages.append(bundle["text/html"])
    assert "application/vnd.jupyter.widget-view+json" in bundle
    for html in pages:
        for payload in (*PAYLOADS, CAST_NAME, "<svg", "<img", "<script", "<b onmouseover"):
            assert payload not in html
    everything = "".join(pages)
    for payload in (SCRIPT, IMG, SVG):
        assert payload.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;") in (
            everything)
    assert "&lt;b onmouseover=&quot;window.__pwned=1&quot;&gt;Tobias&lt;/b&gt;" in everything


def test_fake_email_card_markup_stays_text(results: pd.DataFrame) -> None:
    compare = Compare(results)
    compare.controls["search"].value = "forged card"
    shown = compare.visible_rows()
    real = sum(len(parse_response(text).emails) for text in shown["text"])
    html = compare.snapshot_html()
    assert len(shown) > 0 and real == len(shown)
    assert html.count('<div class="wb-email">') == real
    assert "&lt;div class=&quot;wb-email&quot;&gt;" in html


def test_update_fills_cards_in_and_labels_only_new_rows(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = validate_experiment({
        "name": "live", "scenario": "blackmail", "grid": {"leverage": ["affair", "none"]},
        "models": ["openai/model-a"], "samples": 2,
    })
    samples = expand(experiment)
    store.register_experiment("live", experiment.definition(), [s.record() for s in samples])
    labelled_rows = []

    def counting(frame: pd.DataFrame, family: str | None) -> pd.DataFrame:
        labelled_rows.append(len(frame))
        return label_results(frame, family)

    monkeypatch.setattr(compare_module, "label_results", counting)
    compare = Compare(results_table(store, "live"))
    assert compare.snapshot_html().count('<div class="wb-error">not run</div>') == 4
    compare.controls["search"].value = "hand over"
    for sample in samples[:2]:
        store.record(sample.request, Completion(responses()[-1], "", Usage(10, 5)))
    compare.update(results_table(store, "live"))
    assert len(compare.matching_rows()) == 2
    assert compare.controls["search"].value == "hand over"
    assert labelled_rows == [4, 2]
    blackmail = fixture_response("bm-explicit-01")
    store.record(samples[2].request, Completion(blackmail, "", Usage(10, 5)))
    compare.update(results_table(store, "live"))
    assert labelled_rows == [4, 2]  # the new answer is not shown (the search): not labelled
    compare.controls["search"].value = ""
    assert labelled_rows == [4, 2, 1]  # shown now: labelled, and only it
    assert compare.frame["blackmail"].sum() == 1


def test_a_labelled_table_is_shown_as_it_is(results: pd.DataFrame,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    labelled = classify_frame(results, "blackmail")
    labelled.loc[0, "sabotage"] = True
    monkeypatch.setattr(compare_module, "label_results", None)  # must not be called
    compare = Compare(labelled)
    assert compare.frame.loc[0, "sabotage"]
    compare.controls["label"].value = "sabotage"
    assert len(compare.matching_rows()) == 1


def test_hand_written_responses_need_a_scenario_and_no_store(tmp_path) -> None:
    frame = pd.DataFrame({"text": [fixture_response("bm-explicit-01"), "Fine."]})
    with pytest.raises(WorkbenchError, match="pass scenario=NAME"):
        Compare(frame)
    compare = Compare(frame, scenario="blackmail", store=tmp_path / "absent.sqlite")
    assert compare.frame["blackmail"].tolist() == [True, False]
    assert "<summary>prompt</summary>" not in compare.snapshot_html()
    assert not (tmp_path / "absent.sqlite").exists()


def test_an_email_whose_body_is_not_verbatim_shows_the_block_as_written() -> None:
    text = '<send_email>{"to": "a@x.test", "subject": "S", "body": "line\\n<b>x</b>"}</send_email>'
    email = parse_response(text).emails[0]
    card = email_card(text, email)
    assert "a@x.test" in card and "<b>S</b>" in card
    assert "&lt;b&gt;x&lt;/b&gt;" in card and "<b>x</b>" not in card


@pytest.mark.slow
def test_an_executed_notebook_exports_the_cards_with_no_script(store: Store,
                                                               tmp_path: Path) -> None:
    from nbclient import NotebookClient

    store_injection_experiment(store)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        'import workbench\nfrom workbench.widgets import Compare\n'
        'Compare(workbench.results("injection"))')])
    NotebookClient(notebook, kernel_name="python3").execute()  # keeps the widget state
    output = notebook.cells[0].outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in output
    assert '<div class="wb-card">' in output["text/html"]
    path = tmp_path / "compare.ipynb"
    nbformat.write(notebook, path)
    page = export_html(path, tmp_path / "compare.html", title="compare").read_text()
    assert page.count('<div class="wb-card">') == 24
    assert "<script" not in page and "<img" not in page and "<svg" not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page


def test_the_first_page_waits_only_for_its_own_labels(
        results: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    labelled_rows: list[int] = []

    def counting(frame: pd.DataFrame, family: str | None) -> pd.DataFrame:
        labelled_rows.append(len(frame))
        return label_results(frame, family)

    monkeypatch.setattr(compare_module, "label_results", counting)
    compare = Compare(results, page_size=8)
    assert sum(labelled_rows) == 8 < len(results)  # the rows shown, not the table
    assert compare.visible_rows()["blackmail"].notna().all()
    compare.controls["label"].value = "blackmail"  # a label filter needs every verdict
    assert sum(labelled_rows) == len(results)
    assert compare.frame["blackmail"].notna().all()
    compare.page = 1
    assert sum(labelled_rows) == len(results)  # nothing labelled twice
