"""One store shared by many processes pays once: a request is claimed before it is sent, the
other runs wait for its answer, and a claim whose owner died does not block for ever.

The runs are real processes (``workbench run``) on one store, against a local FakeServer that
counts what it receives.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from servers import FakeServer
from test_reliability import sent_hashes, start_run, write_experiment

from workbench.models.base import Completion, Request, Usage
from workbench.runner import execute_sync, prepare
from workbench.store import ClaimOwner, ClaimStatus, Store, claim_lease_s
from workbench.table import results_table

pytestmark = pytest.mark.usefixtures("server_env")


@pytest.fixture
def server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("WORKBENCH_TIMEOUT", "5.0")


def claims(store_file: Path) -> int:
    db = sqlite3.connect(store_file)
    try:
        return db.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
    except sqlite3.OperationalError:  # no tables yet
        return 0
    finally:
        db.close()


def assert_each_sent_once(server: FakeServer, distinct: int) -> None:
    counts = Counter(h for h, _ in sent_hashes(server))
    twice = {h: n for h, n in counts.items() if n > 1}
    assert not twice, f"{len(twice)} requests sent more than once"
    assert len(counts) == distinct


def test_two_processes_running_one_experiment_send_each_request_once(
    tmp_path: Path, isolated_store: Path
) -> None:
    path = write_experiment(tmp_path, "twice", ["replacement"], 10, concurrency=4)
    with FakeServer("openai", latency=0.3) as server:
        runs = [start_run(path, server, tmp_path / f"run{i}.log") for i in range(2)]
        codes = [process.wait(timeout=120) for process in runs]
        assert codes == [0, 0], (tmp_path / "run0.log").read_text()[-2000:]
        assert_each_sent_once(server, 20)
    frame = results_table(Store(isolated_store), "twice")
    assert len(frame) == 20 and frame["error"].isna().all()
    assert Store(isolated_store).stats()["requests_sent"] == 20
    assert claims(isolated_store) == 0


def test_parallel_experiments_with_overlapping_conditions_pay_once(
    tmp_path: Path, isolated_store: Path
) -> None:
    first = write_experiment(tmp_path, "first", ["replacement", "none"], 5, concurrency=4)
    second = write_experiment(tmp_path, "second", ["none", "restriction"], 5, concurrency=4)
    with FakeServer("openai", latency=0.3) as server:
        done = subprocess.run(
            [sys.executable, "-m", "workbench.cli", "run", str(first), str(second),
             "--parallel", "2"],
            env={**os.environ, "OPENAI_BASE_URL": server.url},
            capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        # 3 urgencies × 2 leverage × 5 samples: the 10 samples of urgency=none are shared
        assert_each_sent_once(server, 30)
    for name in ("first", "second"):
        assert results_table(Store(isolated_store), name)["error"].isna().all()


def test_claims_of_a_killed_run_do_not_block_the_next(
    tmp_path: Path, isolated_store: Path
) -> None:
    path = write_experiment(tmp_path, "killed", ["replacement"], 4, concurrency=4)
    with FakeServer("openai", latency=3.0) as server:
        process = start_run(path, server, tmp_path / "killed.log")
        deadline = time.monotonic() + 60
        while claims(isolated_store) < 4:  # four requests claimed and in flight
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        server.latency = 0.05
        started = time.monotonic()
        rerun = start_run(path, server, tmp_path / "rerun.log")
        assert rerun.wait(timeout=60) == 0, (tmp_path / "rerun.log").read_text()[-2000:]
        elapsed = time.monotonic() - started
    # the claims' owner is gone: they are stale at once, not after the 60 s lease
    assert elapsed < 30
    assert results_table(Store(isolated_store), "killed")["error"].isna().all()
    assert claims(isolated_store) == 0


def one_request(store: Store) -> Request:
    path = write_experiment(Path.cwd(), "one", ["replacement"], 1)
    text = path.read_text().replace("leverage: [affair, none]", "leverage: [affair]")
    path.write_text(text)
    _, samples, _ = prepare(path, store)
    return samples[0].request


def test_a_claim_from_another_host_blocks_until_its_lease_expires(
    isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(isolated_store)
    request = one_request(store)
    monkeypatch.setenv("WORKBENCH_CLAIM_LEASE", "1.5")
    elsewhere = ClaimOwner("other-host:1:abc", "other-host", 1)
    assert store.claim([request], elsewhere, since=0) == {request.hash: ClaimStatus.MINE}
    with FakeServer("openai") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        started = time.monotonic()
        [stored] = execute_sync([request], store=store, progress=False)
        waited = time.monotonic() - started
        assert len(sent_hashes(server)) == 1
    assert stored.ok and waited >= 1.0


def test_a_run_waits_for_the_answer_of_the_run_holding_the_claim(
    isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(isolated_store)
    request = one_request(store)
    holder = ClaimOwner.new()  # another run in this very process, alive
    assert store.claim([request], holder, since=0)[request.hash] is ClaimStatus.MINE

    def answer_later() -> None:
        time.sleep(0.6)
        store.record(request, Completion("the holder's answer", usage=Usage(1, 2)), owner=holder)

    with FakeServer("openai") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        threading.Thread(target=answer_later).start()
        [stored] = execute_sync([request], store=store, progress=False)
        assert sent_hashes(server) == []
    assert stored.text == "the holder's answer"
    assert claims(isolated_store) == 0


def test_a_failure_written_by_the_holder_is_not_sent_again(
    isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(isolated_store)
    request = one_request(store)
    holder = ClaimOwner.new()
    store.claim([request], holder, since=0)

    def fail_later() -> None:
        time.sleep(0.4)
        store.record(request, RuntimeError("provider said no"), owner=holder)

    with FakeServer("openai") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        threading.Thread(target=fail_later).start()
        [stored] = execute_sync([request], store=store, progress=False)
        assert sent_hashes(server) == []
        # a later run retries the failure, as it always has
        [again] = execute_sync([request], store=store, progress=False)
        assert len(sent_hashes(server)) == 1
    assert stored.error == "RuntimeError: provider said no" and again.ok


def test_two_batch_runs_submit_each_request_in_one_batch(
    tmp_path: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("WORKBENCH_BATCH_POLL", "0.05")
    path = tmp_path / "batched.yaml"
    path.write_text(
        "name: batched\nscenario: blackmail\ngrid:\n  leverage: [affair, none]\n"
        "models: [anthropic/claude-test]\nsamples: 3\nmax_tokens: 40\nbatch: true\n"
    )
    with FakeServer("anthropic", batch_poll_rounds=10) as server:
        env = {**os.environ, "ANTHROPIC_BASE_URL": server.url}
        runs = [
            subprocess.Popen([sys.executable, "-m", "workbench.cli", "run", str(path)],
                             env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
            for _ in range(2)
        ]
        outputs = [process.communicate(timeout=120)[0] for process in runs]
        assert [p.returncode for p in runs] == [0, 0], outputs[0][-2000:]
        created = [r for r in server.requests
                   if r["method"] == "POST" and r["path"].endswith("/v1/messages/batches")]
        completed = server.completed_hashes()
    assert len(created) >= 1
    assert sorted(completed) == sorted(set(completed)) and len(completed) == 6
    assert results_table(Store(isolated_store), "batched")["error"].isna().all()


def test_a_working_run_renews_its_claims(
    isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(isolated_store)
    request = one_request(store)
    monkeypatch.setenv("WORKBENCH_CLAIM_LEASE", "0.8")
    with FakeServer("openai", latency=2.5) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        worker = threading.Thread(target=execute_sync, args=([request],),
                                  kwargs={"store": store, "progress": False})
        worker.start()
        time.sleep(1.6)  # two leases after the claim was taken
        db = sqlite3.connect(isolated_store)
        (expires,) = db.execute("SELECT expires FROM claims").fetchone()
        db.close()
        assert expires > time.time()  # renewed: still live
        worker.join()
    assert claims(isolated_store) == 0


def test_a_claim_lasts_60_seconds_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert claim_lease_s() == 60
    monkeypatch.setenv("WORKBENCH_CLAIM_LEASE", "2.5")
    assert claim_lease_s() == 2.5
