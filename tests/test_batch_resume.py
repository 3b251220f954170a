"""Batches outlive their process: a run killed while its batch runs is collected by the next
run, never submitted (and paid for) twice; lost items are sent again; the store upgrades."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import FakeServer

from workbench.models.base import Request
from workbench.runner import execute, prepare, run
from workbench.store import Store, m001_initial
from workbench.table import results_table

CREATE = "/v1/messages/batches"
SAMPLES = 8  # 2 urgency × 2 leverage × 2 samples


@pytest.fixture
def experiment_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("WORKBENCH_BATCH_POLL", "0.05")
    path = tmp_path / "batched.yaml"
    path.write_text(
        "name: batched\nscenario: blackmail\n"
        "grid:\n  urgency: [replacement, none]\n  leverage: [affair, none]\n"
        "models: [anthropic/claude-test]\nsamples: 2\nmax_tokens: 40\nseed: 5\nbatch: true\n"
    )
    return path


def paths(server: FakeServer, method: str, suffix: str) -> list[dict]:
    return [r for r in server.requests if r["method"] == method and r["path"].endswith(suffix)]


def batches(store_file: Path) -> list[tuple[str, str]]:
    """(batch id, status) of every batch the store records (none while it has no tables)."""
    db = sqlite3.connect(store_file)
    try:
        return db.execute("SELECT id, status FROM batches ORDER BY created").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def assert_every_sample_once(store_file: Path) -> None:
    frame = results_table(Store(store_file), "batched")
    assert len(frame) == SAMPLES and frame["error"].isna().all(), frame["error"].tolist()
    assert frame["request_hash"].is_unique
    db = sqlite3.connect(store_file)
    assert db.execute("SELECT COUNT(*), MAX(attempts) FROM responses").fetchone() == (SAMPLES, 1)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []


@pytest.mark.parametrize("rerun_batch", [True, False], ids=["rerun-batched", "rerun-direct"])
def test_batch_killed_in_flight_is_collected_not_resubmitted(
    experiment_file: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    rerun_batch: bool,
) -> None:
    """Re-run as it was, or with ``batch: false``: the batch in flight is collected either way,
    and no request of it is sent (and paid for) again."""
    with FakeServer("anthropic", batch_poll_rounds=40) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "workbench.cli", "run", str(experiment_file)],
                env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not (paths(server, "POST", CREATE) and batches(isolated_store)):
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the batch was never created and recorded"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_at = time.time()
        assert paths(server, "GET", "/results") == []  # killed while the batch was running
        [(batch_id, status)] = batches(isolated_store)
        assert status == "submitted"

        if not rerun_batch:
            experiment_file.write_text(experiment_file.read_text().replace("batch: true",
                                                                          "batch: false"))
        frame = run(experiment_file, progress=False)

        assert len(paths(server, "POST", CREATE)) == 1
        assert paths(server, "POST", "/v1/messages") == []
        [results] = paths(server, "GET", f"/{batch_id}/results")
        assert results["time"] > killed_at
        completed = server.completed_hashes()
    assert sorted(completed) == sorted(set(frame["request_hash"]))
    assert batches(isolated_store) == [(batch_id, "collected")]
    assert Store().stats()["requests_sent"] == SAMPLES
    assert_every_sample_once(isolated_store)


def test_canceled_batch_is_collected_and_its_lost_items_sent_again(
    experiment_file: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupted(requests: list[Request], store: Store) -> None:
        task = asyncio.create_task(execute(requests, store=store, batch=True, progress=False))
        while not store.open_batches("anthropic", [request.hash for request in requests]):
            await asyncio.sleep(0.005)
        task.cancel()  # Ctrl-C: the batch is canceled on the provider's side
        with pytest.raises(asyncio.CancelledError):
            await task

    with FakeServer("anthropic", batch_poll_rounds=1000) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        _, samples, store = prepare(experiment_file)
        asyncio.run(interrupted([s.request for s in samples], store))
        assert len(paths(server, "POST", "/cancel")) == 1
        server.batch_poll_rounds = 1
        run(experiment_file, progress=False)
        creates = paths(server, "POST", CREATE)
    assert len(creates) == 2  # the canceled items, sent again
    assert [status for _, status in batches(isolated_store)] == ["collected", "collected"]
    assert_every_sample_once(isolated_store)


def test_batch_the_provider_no_longer_knows_is_sent_again(
    experiment_file: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeServer("anthropic") as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        _, samples, store = prepare(experiment_file)
        store.record_batch("anthropic", "msgbatch_gone", [s.request.hash for s in samples])
        run(experiment_file, progress=False)
        assert len(paths(server, "POST", CREATE)) == 1
        assert paths(server, "GET", "/msgbatch_gone")  # asked for first, answered 404
    assert dict(batches(isolated_store))["msgbatch_gone"] == "collected"
    assert_every_sample_once(isolated_store)


def test_store_made_before_batches_upgrades(
    isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = Request("anthropic/claude-test", "system", (("user", "hello"),))
    with monkeypatch.context() as patch:
        patch.setattr("workbench.store.MIGRATIONS", [m001_initial])
        with Store() as old:
            assert old.migrations() == ["m001_initial"]
            old.mark_sent([request])
    with sqlite3.connect(isolated_store) as db:  # written as the code of that time wrote it
        db.execute("INSERT INTO responses (request_hash, text, input_tokens, output_tokens,"
                   " created) VALUES (?, 'kept', 3, 4, 0)", (request.hash,))
    with Store() as store:
        assert store.migrations() == [
            "m001_initial", "m002_batches", "m003_claims", "m004_hand_labels", "m005_verdicts",
            "m006_response_actions", "m007_sample_order"]
        assert store.responses([request.hash])[request.hash].text == "kept"
        assert store.open_batches("anthropic", [request.hash]) == {}
        store.record_batch("anthropic", "msgbatch_1", [request.hash, request.hash])
        assert store.open_batches("anthropic", [request.hash]) == {"msgbatch_1": [request.hash]}
        assert store.open_batches("openai", [request.hash]) == {}
        store.finish_batch("anthropic", "msgbatch_1")
        assert store.open_batches("anthropic", [request.hash]) == {}
        assert store.migrate() == []
