"""RunPanel without a browser: it runs the editor's condition through the runner and store in
the background, fills the cards in as answers arrive, stops on request, and pays once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from servers import FakeServer
from test_reliability import sent_hashes
from test_shared_store import claims

from workbench.store import Store
from workbench.table import results_table
from workbench.widgets import RunPanel, ScenarioEditor

MODEL = "openai/fake-model"


def panel_for(*, samples: int = 1, sweep: str = "") -> RunPanel:
    panel = RunPanel(ScenarioEditor("blackmail"), models=[MODEL])
    panel.controls["models"].value = (MODEL,)
    panel.controls["samples"].value = samples
    panel.controls["max_tokens"].value = 30
    panel.controls["sweep"].value = sweep
    return panel


def until(condition: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_a_sweep_runs_in_the_background_and_is_paid_once(server: FakeServer) -> None:
    panel = panel_for(samples=2, sweep="leverage")
    server.latency = 0.5
    panel.controls["run"].click()
    assert not panel.wait(timeout=0)  # the kernel is free while the run works
    assert panel.controls["stop"].disabled is False
    assert panel.wait(timeout=60)
    frame = panel.results()
    assert len(frame) == 4 and frame["error"].isna().all()
    assert sorted(frame["leverage"].unique()) == ["affair", "none"]
    assert len(sent_hashes(server)) == 4
    assert panel.controls["progress"].value == 4
    assert "4/4 answered, 0 failed" in panel.snapshot_html()
    assert len(panel.compare.frame) == 4 and panel.compare.frame["text"].notna().all()
    assert "blackmail" in panel.compare.frame  # labelled by the rules
    panel.run()  # again: everything is in the store, nothing is sent
    assert panel.wait(timeout=60)
    assert len(sent_hashes(server)) == 4
    assert results_table(Store(), "explore-blackmail")["error"].isna().all()


def test_cards_fill_in_as_answers_arrive(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    seen: list[str] = []

    def reply(body: dict) -> str:
        seen.append(body["messages"][-1]["content"][:10])
        if len(seen) > 1:
            release.wait(30)  # the second answer waits until the first card is on screen
        return "I have read the inbox."

    with FakeServer("openai", reply=reply) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setattr("workbench.widgets.run_panel.REFRESH_S", 0.0)
        panel = panel_for(samples=2)
        panel.run()
        until(lambda: panel.compare is not None
              and panel.compare.frame["text"].notna().sum() == 1)
        assert not panel.wait(timeout=0)
        assert "1/2 answered" in panel.snapshot_html()
        release.set()
        assert panel.wait(timeout=60)
    assert panel.compare.frame["text"].notna().sum() == 2


def test_stop_keeps_what_finished_and_sends_the_rest_later(
    server: FakeServer, isolated_store: Path
) -> None:
    server.latency = 3.0
    panel = panel_for(samples=2)
    panel.run()
    until(lambda: claims(isolated_store) == 2)  # both claimed and in flight
    panel.controls["stop"].click()
    assert panel.wait(timeout=30)
    assert "stopped; what finished is stored" in panel.snapshot_html()
    assert panel.controls["run"].disabled is False
    assert panel.results()["error"].eq("not run").all()
    assert claims(isolated_store) == 0  # released: a later run may send them
    server.latency = 0.0
    panel.run()
    assert panel.wait(timeout=60)
    assert panel.results()["error"].isna().all()


def test_the_editor_s_edits_are_what_runs(server: FakeServer) -> None:
    panel = panel_for()
    editor = panel.editor
    editor.template.value = "system.j2"
    editor.template_text.value = editor.template_text.value.replace(
        "fourteen months", "three weeks")
    panel.run()
    assert panel.wait(timeout=60)
    [row] = panel.results().to_dict("records")
    assert ",templates=edited-" in row["condition_id"]
    sent = Store().request(row["request_hash"])
    assert "three weeks" in sent.system


def test_a_model_that_cannot_be_used_is_one_line_in_the_panel(server: FakeServer) -> None:
    panel = panel_for()
    panel.add_model("nowhere/model")
    assert "unknown model provider" in panel.snapshot_html()
    assert "nowhere/model" not in panel.controls["models"].options
    panel.add_model("anthropic/claude-x")  # no key set
    assert "ANTHROPIC_API_KEY" in panel.snapshot_html()
    panel.add_model("openai/other-model")
    assert panel.controls["models"].value == (MODEL, "openai/other-model")
    panel.controls["models"].value = ()
    panel.run()
    assert "choose at least one model" in panel.snapshot_html()
    assert sent_hashes(server) == []
