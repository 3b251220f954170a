"""Reliability: SIGKILL and resume, injected faults, two writers, re-runs that send nothing.

Every test runs the real runner and the real ``openai`` SDK against a local FakeServer.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from servers import FakeServer

from workbench.runner import run
from workbench.store import Store
from workbench.table import results_table

COMPLETIONS = "/v1/chat/completions"


def write_experiment(folder: Path, name: str, urgency: list[str], samples: int,
                     concurrency: int = 8) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nscenario: blackmail\n"
        f"grid:\n  urgency: [{', '.join(urgency)}]\n  leverage: [affair, none]\n"
        f"models: [openai/fake-model]\nsamples: {samples}\nmax_tokens: 40\nseed: 11\n"
        f"concurrency: {{openai: {concurrency}}}\n"
    )
    return path


@pytest.fixture
def server_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Short SDK timeouts and a dummy key; the caller sets OPENAI_BASE_URL."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("WORKBENCH_TIMEOUT", "1.0")
    return dict(os.environ)


def start_run(path: Path, server: FakeServer, log: Path) -> subprocess.Popen[bytes]:
    """``workbench run PATH`` (the runner itself) in a new process, talking to
    ``server``."""
    env = {**os.environ, "OPENAI_BASE_URL": server.url}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "run", str(path)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )


def finished(store_file: Path) -> dict[str, float]:
    """Finished request hashes and when each was written (none while the store is new)."""
    db = sqlite3.connect(store_file)
    try:
        rows = db.execute("SELECT request_hash, created FROM responses WHERE error IS NULL")
        return dict(rows.fetchall())
    except sqlite3.OperationalError:  # the first run has not made the tables yet
        return {}
    finally:
        db.close()


def sent_hashes(server: FakeServer) -> list[tuple[str, float]]:
    return [(r["request_hash"], r["time"]) for r in server.requests if r["path"] == COMPLETIONS]


def wait_for_finished(store_file: Path, target: int, process: subprocess.Popen[bytes]) -> None:
    """Wait until the store holds ``target`` finished samples, or the process has exited."""
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if len(finished(store_file)) >= target:
            return
        time.sleep(0.005)


def test_sigkill_at_random_points_then_resume(
    tmp_path: Path, server_env: dict[str, str], isolated_store: Path
) -> None:
    rng = random.Random(20250620)
    path = write_experiment(tmp_path, "killed", ["replacement", "restriction", "none"], 20, 6)
    total = 3 * 2 * 20
    log = tmp_path / "run.log"
    partial_rounds = 0
    with FakeServer("openai", latency=0.08) as server:
        for _ in range(5):
            before = len(finished(isolated_store))
            process = start_run(path, server, log)
            # kill at a random point: after a random number of new samples, plus a few ms
            wait_for_finished(isolated_store, before + rng.randint(1, (total - before) // 2),
                              process)
            time.sleep(rng.uniform(0.0, 0.05))
            process.send_signal(signal.SIGKILL)
            process.wait()
            partial_rounds += before < len(finished(isolated_store)) < total
        process = start_run(path, server, log)
        assert process.wait(timeout=120) == 0, log.read_text()[-2000:]
        written = finished(isolated_store)
        requests = sent_hashes(server)
    assert partial_rounds >= 3, "the kills did not land in the middle of runs"
    frame = results_table(Store(isolated_store), "killed")
    assert len(frame) == total and frame["error"].isna().all()
    assert frame["request_hash"].is_unique and set(frame["request_hash"]) == set(written)
    late = [(h, t) for h, t in requests if h in written and t > written[h]]
    assert late == [], f"{len(late)} requests sent again after their response was stored"
    db = sqlite3.connect(isolated_store)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == total


def test_thirty_percent_faults_complete_every_sample(
    tmp_path: Path, server_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_experiment(tmp_path, "faulty", ["replacement", "none"], 10, 16)
    with FakeServer("openai", fault_rate=0.3, timeout_sleep=1.5, seed=5) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        frame = run(path, progress=False)
        faults = Counter(r["fault"] for r in server.requests if r["fault"])
    assert len(frame) == 40 and frame["error"].isna().all(), frame["error"].dropna().tolist()
    assert set(faults) == {"429", "529", "503", "500", "timeout"}
    stats = Store().stats()
    assert stats["responses"] == 40 and stats["failures"] == 0


def test_two_processes_write_one_store(
    tmp_path: Path, server_env: dict[str, str], isolated_store: Path
) -> None:
    first = write_experiment(tmp_path, "first", ["replacement", "none"], 30)
    second = write_experiment(tmp_path, "second", ["none", "restriction"], 30)
    with FakeServer("openai", latency=0.01) as server:
        processes = [start_run(p, server, tmp_path / f"{p.stem}.log") for p in (first, second)]
        codes = [p.wait(timeout=120) for p in processes]
    assert codes == [0, 0], (tmp_path / "first.log").read_text()[-2000:]
    db = sqlite3.connect(isolated_store)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for table, key in (("responses", "request_hash"), ("requests", "hash")):
        query = f"SELECT COUNT(*), COUNT(DISTINCT {key}) FROM {table}"
        count, distinct = db.execute(query).fetchone()
        assert count == distinct
    # 2 conditions × 2 leverage × 30 samples each, sharing urgency=none: 180 distinct samples
    assert db.execute("SELECT COUNT(*) FROM responses WHERE error IS NULL").fetchone()[0] == 180
    store = Store(isolated_store)
    for name in ("first", "second"):
        frame = results_table(store, name)
        assert len(frame) == 120 and frame["error"].isna().all()


def test_rerun_of_a_finished_experiment_sends_nothing(
    tmp_path: Path, server_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_experiment(tmp_path, "again", ["replacement", "none"], 5)
    with FakeServer("openai") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        first = run(path, progress=False)
        before = len(server.requests)
        sent = Store().stats()["requests_sent"]
        again = run(path, progress=False)
        process = start_run(path, server, tmp_path / "again.log")
        assert process.wait(timeout=60) == 0
        assert len(server.requests) == before == 20
    assert Store().stats()["requests_sent"] == sent == 20
    assert again["cached"].all() and not first["cached"].any()
    assert again.drop(columns="cached").equals(first.drop(columns="cached"))
