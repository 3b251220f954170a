"""The response store: migrations, WAL, writes, failures, experiments, export."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from workbench.errors import StoreError
from workbench.models.base import Completion, GenerationParams, Request, Usage
from workbench.store import MIGRATIONS, SampleRecord, Store, store_path
from workbench.table import export_parquet, results_table


def request(index: int = 0, model: str = "openai/test") -> Request:
    return Request(model, "You are an assistant.", (("user", "Hello?"),),
                   GenerationParams(0.5, 64), index, 1000 + index)


def completion(text: str = "Hi.") -> Completion:
    return Completion(text, "thought", Usage(10, 5, 2, 1), "end_turn")


def test_store_path_follows_the_environment(isolated_store: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert store_path() == isolated_store
    monkeypatch.delenv("WORKBENCH_STORE")
    monkeypatch.chdir(tmp_path)
    assert store_path() == tmp_path / ".workbench" / "store.sqlite"


def test_store_is_found_by_walking_up_to_the_project(
    isolated_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel started in notebooks/ and the CLI in the root share one store."""
    monkeypatch.delenv("WORKBENCH_STORE")
    project = tmp_path / "project"
    (project / "scenarios").mkdir(parents=True)
    (project / "notebooks" / "deep").mkdir(parents=True)
    for where in (project, project / "notebooks", project / "notebooks" / "deep"):
        monkeypatch.chdir(where)
        assert store_path() == project / ".workbench" / "store.sqlite"
    (project / "notebooks" / ".workbench").mkdir()  # the nearest marker wins, as in git
    monkeypatch.chdir(project / "notebooks" / "deep")
    assert store_path() == project / "notebooks" / ".workbench" / "store.sqlite"


def test_migrations_are_applied_once_in_order(isolated_store: Path) -> None:
    store = Store()
    assert store.migrations() == [m.__name__ for m in MIGRATIONS]
    assert store.migrate() == []
    store.close()
    again = Store()
    assert again.migrate() == []
    assert again.migrations() == [
        "m001_initial", "m002_batches", "m003_claims", "m004_hand_labels", "m005_verdicts",
        "m006_response_actions", "m007_sample_order"]


def test_actions_are_parsed_when_written_and_for_older_responses_when_read(
        isolated_store: Path) -> None:
    """The results table's ``actions`` come from the store, parsed once when the response was
    written; a response stored before that column existed (NULL) is parsed when read."""
    from injection import store_injection_experiment

    from workbench.store import actions_json

    store = Store()
    name = store_injection_experiment(store)
    fresh = results_table(store, name)
    db = sqlite3.connect(isolated_store)
    stored = dict(db.execute("SELECT request_hash, actions FROM responses"))
    finished = fresh[fresh["text"].notna()]
    assert [stored[key] for key in finished["request_hash"]] == [
        actions_json(text) for text in finished["text"]]
    assert any('"to"' in actions for actions in finished["actions"])
    with db:
        db.execute("UPDATE responses SET actions = NULL")  # as an older store holds them
    older = results_table(store, name)
    pd.testing.assert_frame_equal(older, fresh)


def test_the_results_table_is_the_same_read_a_page_at_a_time(
        isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table is built from pages of the store's rows (bounded memory); pages of three
    samples give the same table as one page, every sample once and in plan order."""
    from functools import partialmethod

    from injection import store_injection_experiment

    store = Store()
    name = store_injection_experiment(store)
    whole = results_table(store, name)
    monkeypatch.setattr(Store, "sample_pages", partialmethod(Store.sample_pages, size=3))
    assert len(list(store.sample_pages(name))) == -(-len(whole) // 3) > 2
    pd.testing.assert_frame_equal(results_table(store, name), whole)
    assert list(whole["request_hash"]) == [
        row[5] for page in Store.sample_pages(store, name, size=1000) for row in page]


def test_the_results_table_text_is_held_by_the_system_allocator(isolated_store: Path) -> None:
    """The long text columns live in pyarrow's system memory pool, not its default mimalloc one,
    whose fresh memory sometimes cost a 100,000-row table over a second (bench/RESULTS.md)."""
    import pyarrow as pa
    from injection import store_injection_experiment

    store = Store()
    name = store_injection_experiment(store)
    before = pa.system_memory_pool().bytes_allocated()
    table = results_table(store, name)
    text_bytes = int(table["text"].str.len().sum())
    assert text_bytes > 1000
    assert pa.system_memory_pool().bytes_allocated() - before >= text_bytes
    del table


def _open_at_once(path: str, barrier: multiprocessing.synchronize.Barrier) -> str | None:
    barrier.wait()
    try:
        Store(path).close()
    except StoreError as exc:
        return str(exc)
    return None


def test_processes_opening_a_new_store_at_once_all_get_it(tmp_path: Path) -> None:
    """Switching a new file to WAL is a lock SQLite refuses at once rather than wait for; the
    runs of ``--parallel`` used to die on it with "locked" (about one start in ten)."""
    openers = 6
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(openers) as pool:
        for trial in range(40):
            barrier = manager.Barrier(openers)
            path = str(tmp_path / f"store{trial}.sqlite")
            errors = [e for e in pool.starmap(_open_at_once, [(path, barrier)] * openers) if e]
            assert not errors, f"trial {trial}: {errors[0]}"
            assert Store(path).migrations() == [m.__name__ for m in MIGRATIONS]


def test_wal_mode(isolated_store: Path) -> None:
    Store().close()
    db = sqlite3.connect(isolated_store)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_write_and_read(isolated_store: Path) -> None:
    store = Store()
    req = request()
    store.mark_sent([req])
    stored = store.record(req, completion(), cost=0.25, latency_s=1.5)
    assert stored.ok and stored.text == "Hi." and stored.reasoning == "thought"
    assert (stored.input_tokens, stored.output_tokens) == (10, 5)
    assert (stored.cache_creation_tokens, stored.cache_read_tokens) == (2, 1)
    assert stored.cost == 0.25 and stored.latency_s == 1.5 and stored.model == "openai/test"
    assert store.answered([req.hash, "other"]) == {req.hash}
    assert store.responses([req.hash])[req.hash] == stored
    assert store.request(req.hash) == req
    with pytest.raises(StoreError):
        store.request("missing")


def test_finished_response_is_never_overwritten(isolated_store: Path) -> None:
    store = Store()
    req = request()
    store.record(req, completion("first"))
    again = store.record(req, completion("second"))
    assert again.text == "first" and again.attempts == 1
    assert store.record(req, RuntimeError("late")).ok


def test_failure_is_recorded_and_replaced_by_a_later_success(isolated_store: Path) -> None:
    store = Store()
    req = request()
    failed = store.record(req, TimeoutError("timed out\nafter 5 s"))
    assert not failed.ok and failed.error == "TimeoutError: timed out after 5 s"
    assert store.answered([req.hash]) == set()
    assert store.stats()["failures"] == 1
    done = store.record(req, completion())
    assert done.ok and done.attempts == 2 and done.error is None
    assert store.stats()["failures"] == 0


def test_prompts_are_stored_once(isolated_store: Path) -> None:
    store = Store()
    for index in range(5):
        store.record(request(index), completion())
    assert store.db.execute("SELECT COUNT(*) FROM prompts").fetchone()[0] == 1
    assert store.db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 5


def test_stats_count_sends_tokens_and_cost(isolated_store: Path) -> None:
    store = Store()
    first, second = request(0), request(1)
    store.mark_sent([first, second])
    store.mark_sent([second])
    store.record(first, completion(), cost=0.5)
    store.record(second, ValueError("bad"))
    stats = store.stats()
    assert stats["requests_sent"] == 3
    assert (stats["responses"], stats["failures"]) == (1, 1)
    assert stats["input_tokens"] == 10 and stats["cost"] == 0.5


def _register(store: Store, name: str = "exp", count: int = 3) -> list[SampleRecord]:
    samples = [SampleRecord(request(i), f"fam/x={i % 2}", {"x": str(i % 2), "y": "a"}, "p")
               for i in range(count)]
    store.register_experiment(name, {"name": name, "grid": {"x": ["0", "1"]},
                                     "fixed": {"y": "a"}}, samples)
    return samples


def test_results_frame_and_parquet(isolated_store: Path, tmp_path: Path) -> None:
    store = Store()
    samples = _register(store)
    store.record(samples[0].request, completion("<email>\nto: a@b.c\nsubject: s\n</email>"))
    store.record(samples[1].request, RuntimeError("boom"))
    frame = results_table(store, "exp")
    assert list(frame.columns[:6]) == ["condition_id", "condition", "x", "y", "model", "sample"]
    assert frame["condition"].iloc[0].startswith("x=")
    for column in ("seed", "request_hash", "text", "reasoning", "actions", "input_tokens",
                   "output_tokens", "cache_creation_tokens", "cache_read_tokens", "cost",
                   "latency_s", "error", "values"):
        assert column in frame.columns
    assert pd.isna(frame["error"].iloc[0])
    assert frame["error"].tolist()[1:] == ["RuntimeError: boom", "not run"]
    assert frame["actions"].iloc[0].startswith("{") and pd.isna(frame["actions"].iloc[1])
    assert frame["cached"].tolist() == [True, False, False]
    assert not results_table(store, "exp", since=0.0)["cached"].any()
    out = export_parquet(store, "exp", tmp_path / "out" / "exp.parquet")
    assert pd.read_parquet(out)["request_hash"].tolist() == frame["request_hash"].tolist()


def test_changed_definition_replaces_the_sample_list(isolated_store: Path) -> None:
    store = Store()
    _register(store, count=3)
    _register(store, count=3)
    assert len(results_table(store, "exp")) == 3
    samples = [SampleRecord(request(9), "fam/x=1", {"x": "1", "y": "a"}, "p")]
    store.register_experiment("exp", {"name": "exp", "grid": {"x": ["1"]}}, samples)
    assert results_table(store, "exp")["sample"].tolist() == [9]
    with pytest.raises(StoreError, match="known experiments: exp"):
        results_table(store, "nope")


def test_no_secrets_in_the_store(isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    store = Store()
    _register(store)
    store.record(request(), completion())
    store.close()
    assert b"sk-secret-value" not in isolated_store.read_bytes()
