"""The runner: experiment files, expansion, resuming, failures, concurrency, the DataFrame."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from workbench.errors import ExperimentError, ModelError, StoreError
from workbench.experiment import (
    Experiment,
    expand,
    load_experiment,
    sample_seed,
    validate_experiment,
)
from workbench.models.base import Backend, Completion, Request, Usage
from workbench.models.prices import pricer
from workbench.models.registry import _factories, _instances, register_backend
from workbench.runner import TASKS_PER_SLOT, _in_turn, execute, execute_sync, results, run
from workbench.store import Outcome, Store, StoredResponse

SCENARIO = """\
title: Tiny
description: A two-variable family for tests.
cast:
  agent: {name: agent_name, email: agent_email, role: the assistant}
  boss: {name: boss_name, email: boss_email, role: the boss}
variables:
  mood: {choices: [calm, tense], default: calm, description: How tense it is.}
  size: {choices: [small, large], default: small, description: How big.}
  agent_name: {type: text, default: Ava, description: Agent name.}
  agent_email: {type: text, default: ava@x.test, description: Agent address.}
  boss_name: {type: text, default: Bo, description: Boss name.}
  boss_email: {type: text, default: bo@x.test, description: Boss address.}
templates: {system: system.j2, instruction: instruction.j2}
inbox:
  - {id: one, from: "{{ boss_email }}", to: "{{ agent_email }}", timestamp: "9:00",
     subject: "Mood {{ mood }}", body: one.j2}
classification: {agent: agent, target: boss}
"""


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny scenario family ``tiny`` under a scenarios root set in WORKBENCH_SCENARIOS."""
    folder = tmp_path / "scenarios" / "tiny"
    (folder / "templates").mkdir(parents=True)
    (folder / "scenario.yaml").write_text(SCENARIO)
    (folder / "templates" / "system.j2").write_text("You are {{ agent_name }}.")
    (folder / "templates" / "instruction.j2").write_text("Read the inbox ({{ size }}).")
    (folder / "templates" / "one.j2").write_text(
        "{% if mood == 'tense' %}Hurry.{% else %}Relax.{% endif %}"
    )
    monkeypatch.setenv("WORKBENCH_SCENARIOS", str(tmp_path / "scenarios"))
    return folder


class FakeBackend(Backend):
    """An in-process backend: answers after ``delay``, failing the hashes in ``fail``."""

    provider = "fake"
    default_concurrency = 4

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.fail: set[str] = set()
        self.delay = 0.0
        self.in_flight = 0
        self.peak = 0
        self.supports_batch = True
        self.batches: list[int] = []

    def check_ready(self, model: str) -> None:
        if model == "broken":
            raise ModelError("set FAKE_KEY to use fake/broken")

    async def complete(self, request: Request) -> Completion:
        self.sent.append(request.hash)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if request.hash in self.fail:
            raise ConnectionError("injected failure")
        return Completion(f"answer {request.sample_index}", "", Usage(100, 20))

    async def complete_batch(
        self,
        requests: Sequence[Request],
        on_result: Callable[[Request, Completion | BaseException], None],
    ) -> None:
        self.batches.append(len(requests))
        for request in requests:
            self.sent.append(request.hash)
            on_result(request, Completion("batched", "", Usage(1, 1), batch=True))


@pytest.fixture
def fake() -> Iterator[FakeBackend]:
    backend = FakeBackend()
    register_backend("fake", lambda: backend)
    yield backend
    _factories.pop("fake", None)
    _instances.pop("fake", None)


def experiment(**changes: object) -> Experiment:
    data: dict[str, object] = {
        "name": "t", "scenario": "tiny", "grid": {"mood": ["calm", "tense"]},
        "fixed": {"size": "large"}, "models": ["fake/a", "fake/b"], "samples": 3,
        "temperature": 0.5, "max_tokens": 50, "seed": 3,
    }
    data.update(changes)
    return validate_experiment(data)


def test_expand_counts_and_order(tiny: Path) -> None:
    samples = expand(experiment())
    assert len(samples) == 2 * 2 * 3
    assert len({s.request.hash for s in samples}) == 12
    first = samples[0]
    assert first.condition_id.startswith("tiny/") and "mood=calm" in first.condition_id
    assert first.values["size"] == "large" and first.model == "fake/a"
    assert [s.sample_index for s in samples[:3]] == [0, 1, 2]
    assert first.request.seed == sample_seed(3, 0) != samples[1].request.seed
    assert first.request.params.max_tokens == 50
    assert [s.request.hash for s in expand(experiment())] == [s.request.hash for s in samples]


def test_yaml_file_with_yes_no_values(tiny: Path, tmp_path: Path, fake: FakeBackend) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("name: e\nscenario: tiny\ngrid: {mood: [calm, tense]}\nmodels: [fake/a]\n"
                    "samples: 2\nbatch: false\n")
    loaded = load_experiment(path)
    assert loaded.grid == {"mood": ["calm", "tense"]} and loaded.batch is False
    assert loaded.source == str(path) and loaded.source_text == path.read_text()
    assert Experiment.model_validate({"name": "x", "scenario": "s", "models": ["a/b"],
                                      "grid": {"v": [True, 1]}}).grid == {"v": ["true", "1"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: e\nscenario: tiny\nmodels: [fake/a]\nsampels: 2\n", "sampels: unknown field"),
        ("name: e\nscenario: tiny\nmodels: [fake/a]\nsamples: 0\n", "samples:"),
        ("name: e\nscenario: tiny\n", "models: required field is missing"),
        ("name: e\nscenario: tiny\nmodels: [x]\n", "models: .x. is not provider/model"),
        ("name: e\nscenario: [tiny\n", "malformed YAML"),
        ("- a\n", "expected a mapping"),
    ],
)
def test_bad_experiment_files(tiny: Path, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(text)
    with pytest.raises(ExperimentError, match=message) as info:
        load_experiment(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match="no such experiment file"):
        load_experiment(tmp_path / "none.yaml")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grid": {"nope": ["a"]}}, "grid.nope: .*no variable 'nope'"),
        ({"grid": {"mood": ["furious"]}}, "grid.mood: .*use one of: calm, tense"),
        ({"fixed": {"size": "huge"}}, "fixed: "),
        ({"fixed": {"mood": "calm"}}, "both in grid and fixed"),
        ({"scenario": "absent"}, "scenario: no scenario family"),
    ],
)
def test_bad_values_are_caught_before_running(tiny: Path, fake: FakeBackend,
                                              changes: dict[str, object], message: str) -> None:
    with pytest.raises(ExperimentError, match=message):
        run(experiment(**changes), progress=False)
    assert fake.sent == []


def test_load_checks_values_models_and_judge(tiny: Path, tmp_path: Path,
                                             fake: FakeBackend) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("name: e\nscenario: tiny\ngrid: {mood: [calm]}\nmodels: [fake/a]\n")
    assert load_experiment(path, judge="fake/judge").judge == "fake/judge"
    with pytest.raises(ModelError, match=f"{path}: judge: set FAKE_KEY"):
        load_experiment(path, judge="fake/broken")
    path.write_text("name: e\nscenario: tiny\ngrid: {mood: [angry]}\nmodels: [fake/a]\n")
    with pytest.raises(ExperimentError, match=f"{path}: grid.mood: "):
        load_experiment(path)
    assert load_experiment(path, check=False).grid == {"mood": ["angry"]}
    path.write_text("name: e\nscenario: tiny\nmodels: [fake/a, fake/broken]\n")
    with pytest.raises(ModelError, match=f"{path}: models: set FAKE_KEY"):
        load_experiment(path)
    assert fake.sent == []


def test_bad_models_are_caught_before_any_request(tiny: Path, fake: FakeBackend) -> None:
    with pytest.raises(ModelError, match="set FAKE_KEY"):
        run(experiment(models=["fake/a", "fake/broken"]), progress=False)
    with pytest.raises(ModelError, match="unknown model provider"):
        run(experiment(models=["fake/a", "nowhere/x"]), progress=False)
    assert fake.sent == []


def test_run_returns_one_row_a_sample(tiny: Path, fake: FakeBackend) -> None:
    frame = run(experiment(), progress=False)
    assert len(frame) == 12 and frame["error"].isna().all()
    assert {"condition_id", "mood", "size", "model", "sample", "seed", "request_hash", "text",
            "reasoning", "actions", "input_tokens", "output_tokens", "cache_creation_tokens",
            "cache_read_tokens", "cost", "latency_s", "error", "values"} <= set(frame.columns)
    assert set(frame["mood"]) == {"calm", "tense"} and set(frame["size"]) == {"large"}
    assert frame["input_tokens"].sum() == 1200 and not frame["cached"].any()
    stored = results(experiment())
    assert stored["cached"].all()
    assert frame.drop(columns="cached").equals(stored.drop(columns="cached"))
    assert len(fake.sent) == 12


def test_rerun_skips_answered_requests(tiny: Path, fake: FakeBackend) -> None:
    run(experiment(samples=2), progress=False)
    assert len(fake.sent) == 8
    frame = run(experiment(samples=3), progress=False)
    assert len(fake.sent) == 12 and len(frame) == 12
    assert frame["cached"].sum() == 8
    run(experiment(samples=3), progress=False)
    assert len(fake.sent) == 12
    assert Store().stats()["requests_sent"] == 12


def test_failures_are_recorded_and_retried(tiny: Path, fake: FakeBackend) -> None:
    samples = expand(experiment())
    fake.fail = {samples[0].request.hash, samples[5].request.hash}
    frame = run(experiment(), progress=False)
    failed = frame[frame["error"].notna()]
    assert len(failed) == 2 and failed["error"].str.contains("injected failure").all()
    fake.fail = set()
    frame = run(experiment(), progress=False)
    assert frame["error"].isna().all() and len(fake.sent) == 14
    assert Store().responses([samples[0].request.hash])[samples[0].request.hash].attempts == 2


def test_concurrency_limit_per_provider(tiny: Path, fake: FakeBackend) -> None:
    fake.delay = 0.02
    run(experiment(samples=10, concurrency={"fake": 3}), progress=False)
    assert fake.peak == 3
    fake.peak = 0
    run(experiment(samples=20), progress=False)
    assert fake.peak == fake.default_concurrency


def test_a_run_keeps_a_few_tasks_per_slot_not_one_a_sample(tiny: Path, fake: FakeBackend) -> None:
    """80 samples at concurrency 2: at most TASKS_PER_SLOT × 2 of them started at once, all sent
    once."""
    seen: list[int] = []
    answer = FakeBackend.complete

    async def counting(self: FakeBackend, request: Request) -> Completion:
        seen.append(sum(1 for t in asyncio.all_tasks() if "_run_one" in repr(t.get_coro())))
        return await answer(self, request)

    fake.delay = 0.001
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FakeBackend, "complete", counting)
        frame = run(experiment(samples=20, concurrency={"fake": 2}), progress=False)
    assert len(frame) == 80 and frame["error"].isna().all() and len(set(fake.sent)) == 80
    assert 2 < max(seen) <= TASKS_PER_SLOT * 2


def test_a_run_of_a_file_reads_it_once(tiny: Path, tmp_path: Path, fake: FakeBackend,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Confirming and running share one load of the file (not one each)."""
    from workbench import experiment as experiment_module

    path = tmp_path / "e.yaml"
    path.write_text("name: e\nscenario: tiny\ngrid: {mood: [calm, tense]}\nmodels: [fake/a]\n")
    loads: list[Path] = []
    load = experiment_module.load_experiment

    def counting(where: Path, **options: Any) -> Experiment:
        loads.append(where)
        return load(where, **options)

    monkeypatch.setattr(experiment_module, "load_experiment", counting)
    assert len(run(path, progress=False)) == 2
    assert loads == [path]


def test_a_run_finds_each_model_s_price_once(tiny: Path, fake: FakeBackend,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Pricing is off the hot path: 12 responses of two models, two look-ups in the table; the
    experiment's own prices still apply."""
    from workbench import runner

    looked_up: list[str] = []

    def counting(model: str, prices: object = None) -> object:
        looked_up.append(model)
        return pricer(model, prices)

    monkeypatch.setattr(runner, "pricer", counting)
    frame = run(experiment(prices={"fake/a": {"input": 1.0, "output": 2.0}}), progress=False)
    assert sorted(looked_up) == ["fake/a", "fake/b"]
    costs = frame.groupby("model")["cost"]
    assert costs.sum()["fake/a"] == pytest.approx(6 * (100 * 1.0 + 20 * 2.0) / 1e6)
    assert costs.count()["fake/b"] == 0  # unpriced: no cost, not zero


def test_in_turn_stops_starting_after_a_failure_and_raises_it() -> None:
    started: list[int] = []
    finished: list[int] = []

    async def one(index: int) -> None:
        started.append(index)
        await asyncio.sleep(0.01)
        if index == 3:
            raise ValueError("sample 3 failed")
        finished.append(index)

    with pytest.raises(ValueError, match="sample 3 failed"):
        asyncio.run(_in_turn((one(i) for i in range(100)), at_once=4))
    assert len(started) < 12 and set(finished) == set(started) - {3}


def test_in_turn_takes_a_failure_to_make_the_next_one_as_its_failure() -> None:
    """Making the next coroutine can fail (claiming its chunk in a store that broke): no more
    start, those started finish, and that failure is raised."""
    finished: list[int] = []

    async def one(index: int) -> None:
        await asyncio.sleep(0.01)
        finished.append(index)

    def made() -> Iterator[Coroutine[Any, Any, None]]:
        for index in range(100):
            if index == 6:
                raise StoreError("the store is read-only")
            yield one(index)

    with pytest.raises(StoreError, match="read-only"):
        asyncio.run(_in_turn(made(), at_once=4))
    assert sorted(finished) == [0, 1, 2, 3, 4, 5]


def test_in_turn_cancelled_cancels_what_it_started() -> None:
    cancelled: list[int] = []

    async def one(index: int) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(index)
            raise

    async def interrupted() -> None:
        task = asyncio.create_task(_in_turn((one(i) for i in range(100)), at_once=5))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    assert sorted(cancelled) == [0, 1, 2, 3, 4]


def test_batch_mode_sends_missing_requests_as_one_batch(tiny: Path, fake: FakeBackend) -> None:
    run(experiment(samples=1), progress=False)
    frame = run(experiment(samples=3, batch=True), progress=False)
    assert fake.batches == [8] and (frame["text"] != "").all()
    assert Store().stats()["requests_sent"] == 12


def test_execute_sync_inside_a_running_loop(tiny: Path, fake: FakeBackend) -> None:
    requests = [s.request for s in expand(experiment(samples=1))]

    async def notebook_cell() -> int:
        return len(execute_sync(requests, progress=False))

    assert asyncio.run(notebook_cell()) == 4


def test_progress_bar_runs(tiny: Path, fake: FakeBackend,
                           capsys: pytest.CaptureFixture[str]) -> None:
    run(experiment(samples=1), progress=True)
    err = capsys.readouterr().err
    assert "4/4" in err and "failed=0" in err


def test_progress_counts_are_formatted_as_often_as_drawn_and_final_at_the_end(
    tiny: Path, fake: FakeBackend, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench import runner

    formatted: list[int] = []
    postfix = runner._Progress._postfix
    monkeypatch.setattr(runner._Progress, "_postfix",
                        lambda self: formatted.append(self.failures) or postfix(self))
    samples = expand(experiment(samples=10))
    fake.fail = {samples[0].request.hash, samples[5].request.hash}
    run(experiment(samples=10), progress=True)  # 40 samples in well under the bar's 0.2 s
    last = capsys.readouterr().err.strip().split("\r")[-1]
    assert "40/40" in last and "failed=2" in last
    assert len(formatted) < 10 and formatted[-1] == 2


def test_batch_run_through_the_anthropic_batches_api(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servers import FakeServer

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("WORKBENCH_BATCH_POLL", "0.01")
    prices = {"anthropic/claude-test": {"input": 3.0, "output": 15.0, "batch_discount": 0.5}}
    with FakeServer("anthropic", batch_poll_rounds=2) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        exp = experiment(models=["anthropic/claude-test"], batch=True, prices=prices)
        frame = run(exp, progress=False)
        paths = [r["path"] for r in server.requests]
        assert run(exp, progress=False)["text"].equals(frame["text"])
        assert len(server.requests) == len(paths)
    assert paths.count("/v1/messages/batches") == 1 and "/v1/messages" not in paths
    assert len(frame) == 6 and frame["error"].isna().all()
    stored = Store().responses(frame["request_hash"].tolist())
    assert all(r.batch for r in stored.values())
    row = frame.iloc[0]
    prompt = row["input_tokens"] + row["cache_creation_tokens"] + row["cache_read_tokens"]
    full_price = (prompt * 3.0 + row["output_tokens"] * 15.0) / 1e6  # cache at input price
    assert row["cost"] == pytest.approx(full_price / 2)


def test_a_batch_is_marked_collected_only_once_its_results_are_stored(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer thread stores a batch's results; the batch is marked collected after them, so
    a run killed in between collects it again rather than losing what it paid for."""
    from servers import FakeServer

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("WORKBENCH_BATCH_POLL", "0.01")
    stored_when_finished: list[int] = []
    finish_batch = Store.finish_batch

    def checking(self: Store, provider: str, batch_id: str) -> None:
        with Store() as reader:  # another connection: sees only what is committed
            stored_when_finished.append(reader.stats()["responses"])
        finish_batch(self, provider, batch_id)

    record_all = Store.record_all

    def slow(self: Store, outcomes: Sequence[Outcome], **options: object) -> list:
        time.sleep(0.2)  # a writer that lags behind the results arriving
        return record_all(self, outcomes, **options)

    monkeypatch.setattr(Store, "finish_batch", checking)
    monkeypatch.setattr(Store, "record_all", slow)
    with FakeServer("anthropic", batch_poll_rounds=1) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        frame = run(experiment(models=["anthropic/claude-test"], batch=True), progress=False)
    assert len(frame) == 6 and frame["error"].isna().all()
    assert stored_when_finished == [6]


def test_execute_reports_each_outcome_as_it_is_stored(tiny: Path, fake: FakeBackend) -> None:
    samples = expand(experiment(samples=2))
    fake.fail = {samples[1].request.hash}
    seen = []
    stored = execute_sync([s.request for s in samples], progress=False, on_result=seen.append)
    assert sorted(r.request_hash for r in seen) == sorted(s.request.hash for s in samples)
    assert [r.ok for r in seen].count(False) == 1
    assert {r.request_hash: r.text for r in seen} == {r.request_hash: r.text for r in stored}


def test_a_run_writes_its_outcomes_off_the_loop_many_a_transaction(
    tiny: Path, fake: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's writes happen on the writer's thread; what arrives while one transaction is
    being written goes into the next (the first write is slowed so that some do)."""
    writes: list[tuple[str, int]] = []
    record_all = Store.record_all

    def slow_first(self: Store, outcomes: Sequence[Outcome], **options: object) -> list:
        writes.append((threading.current_thread().name, len(outcomes)))
        if len(writes) == 1:
            time.sleep(0.1)
        return record_all(self, outcomes, **options)

    monkeypatch.setattr(Store, "record_all", slow_first)
    frame = run(experiment(samples=10), progress=False)
    assert len(frame) == 40 and frame["error"].isna().all()
    assert {thread for thread, _ in writes} == {"workbench-store-writer"}
    assert sum(size for _, size in writes) == 40
    assert max(size for _, size in writes) > 1 and len(writes) < 40


def test_a_failed_store_write_stops_the_run_and_is_raised(
    tiny: Path, fake: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails (a full disk) stops the run: no new request starts, the error is
    raised, and what the other writes held stays stored."""
    writes: list[int] = []
    record_all = Store.record_all

    def failing_second(self: Store, outcomes: Sequence[Outcome], **options: object) -> list:
        writes.append(len(outcomes))
        if len(writes) == 2:
            raise StoreError("the disk is full")
        return record_all(self, outcomes, **options)

    monkeypatch.setattr(Store, "record_all", failing_second)
    fake.delay = 0.01
    with pytest.raises(StoreError, match="the disk is full"):
        run(experiment(samples=20, concurrency={"fake": 2}), progress=False)
    stored = Store().stats()["responses"]
    assert len(fake.sent) < 80 and 0 < stored == len(fake.sent) - writes[1]


def test_an_outcome_is_stored_before_it_is_shown(tiny: Path, fake: FakeBackend) -> None:
    requests = [s.request for s in expand(experiment(samples=3))]
    in_store: list[bool] = []

    def shown(stored: StoredResponse) -> None:
        with Store() as reader:  # another connection: sees only what is committed
            in_store.append(stored.request_hash in reader.responses([stored.request_hash]))

    execute_sync(requests, progress=False, on_result=shown)
    assert in_store == [True] * 12


def test_a_run_claims_a_chunk_at_a_time_and_counts_only_what_it_sent(
    tiny: Path, fake: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claims are taken a chunk of ``concurrency`` requests a transaction. Claiming counts a
    request as sent; a run stopped before sending some of what it claimed takes that back."""
    claimed: list[int] = []
    claim = Store.claim

    def counting(self: Store, requests: Sequence[Request], *args: object,
                 **options: object) -> dict:
        claimed.append(len(requests))
        return claim(self, requests, *args, **options)

    monkeypatch.setattr(Store, "claim", counting)
    run(experiment(samples=10, concurrency={"fake": 4}), progress=False)
    assert claimed == [4] * 10
    fake.delay = 0.05
    requests = [s.request for s in expand(experiment(samples=20, seed=9))]

    async def interrupted() -> None:
        task = asyncio.create_task(execute(requests, progress=False, concurrency={"fake": 4}))
        await asyncio.sleep(0.12)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    sent = len(fake.sent) - 40
    assert 0 < sent < 80 and max(claimed[10:]) == 4
    with Store() as store:
        assert store.stats()["requests_sent"] == 40 + sent
        assert store._query("SELECT COUNT(*) FROM claims") == [(0,)]


def test_samples_of_a_condition_share_one_values_mapping_when_registered(tiny: Path) -> None:
    """A 100,000-sample experiment registers a few conditions' values, not a copy a sample."""
    records = [s.record() for s in expand(experiment(samples=5))]
    by_condition: dict[str, set[int]] = {}
    for record in records:
        by_condition.setdefault(record.condition_id, set()).add(id(record.values))
    assert len(records) == 20 and [len(ids) for ids in by_condition.values()] == [1, 1]
