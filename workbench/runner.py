"""Run requests concurrently through the store, and resume: the runner.

:func:`execute` sends every request the store has not answered yet (claimed first, a chunk
at a time, so runs sharing a store pay once), at most ``concurrency`` at a time per provider,
and has each outcome written as it arrives, by a thread of its own (:class:`_Writer`);
:func:`run` expands an experiment (:mod:`workbench.experiment`), executes it and returns a
DataFrame.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from workbench.errors import ExperimentError, WorkbenchError
from workbench.experiment import (
    Experiment,
    Sample,
    as_experiment,
    check_models,
    confirm,
    expand,
    load_experiment,
    samples_of,
    thinking_problem,
)
from workbench.models import (
    check_model,
    close_backends,
    get_backend,
)
from workbench.models.base import (
    Backend,
    BatchItemLost,
    Completion,
    GenerationParams,
    Request,
    Usage,
)
from workbench.models.prices import pricer
from workbench.scenarios import load_family
from workbench.store import (
    ClaimOwner,
    ClaimStatus,
    Outcome,
    Store,
    StoredResponse,
    claim_lease_s,
    open_store,
)
from workbench.table import results_table

if TYPE_CHECKING:
    import pandas as pd
    from tqdm import tqdm

T = TypeVar("T")

# --- execution -------------------------------------------------------------------------------


PROGRESS_TO_STDERR = "WORKBENCH_PROGRESS_STDERR"


def progress_bar(**options: Any) -> tqdm:
    """A tqdm.auto bar (a widget in a notebook, text in a terminal).

    When ``WORKBENCH_PROGRESS_STDERR=1`` (set by papermill runs) it is a text bar on the
    process's own stderr, which reaches the terminal of ``workbench report`` instead of the
    notebook being executed.
    """
    if os.environ.get(PROGRESS_TO_STDERR) == "1":
        from tqdm.std import tqdm as text_tqdm

        return text_tqdm(file=sys.__stderr__, dynamic_ncols=True, mininterval=0.5, **options)
    from tqdm.auto import tqdm as auto_tqdm

    return auto_tqdm(dynamic_ncols=True, mininterval=0.2, **options)


class _Progress:
    """A tqdm.auto bar of done / total with failures and cost so far, or nothing; tells
    ``on_result`` of each outcome. The failures and cost are formatted at most as often as the
    bar is drawn, not for every sample."""

    def __init__(self, total: int, done: int, enabled: bool,
                 on_result: Callable[[StoredResponse], None] | None = None) -> None:
        self.failures = 0
        self.cost = 0.0
        self.on_result = on_result
        self.bar: tqdm | None = None
        self._next_postfix = 0.0
        if enabled:
            self.bar = progress_bar(total=total, initial=done, unit="sample")
            self._postfix()

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix(failed=self.failures, cost=f"${self.cost:.4f}", refresh=False)
            self._next_postfix = time.monotonic() + self.bar.mininterval

    def advance(self, stored: StoredResponse) -> None:
        if stored.ok:
            self.cost += stored.cost or 0.0
        else:
            self.failures += 1
        if self.bar is not None:
            if time.monotonic() >= self._next_postfix:
                self._postfix()
            self.bar.update(1)
        if self.on_result is not None:
            self.on_result(stored)

    def close(self) -> None:
        if self.bar is not None:
            self._postfix()  # the final counts, whenever the last was drawn
            self.bar.close()


class _Claims:
    """This run's claims in the store: a request is claimed before it is sent, so another run
    (another process, kernel or experiment) that wants it waits for this answer instead of
    paying again. A thread renews the claims' lease while the run works; each claim is
    released when its outcome is recorded, and all of them when the run ends.

    Claiming counts a request as sent; :attr:`unsent` holds those claimed to be sent that
    have not been handed to a backend yet, whose count is taken back when the run ends."""

    POLL_S = 0.2

    def __init__(self, store: Store, since: float) -> None:
        self.store = store
        self.since = since
        self.owner = ClaimOwner.new()
        self.unsent: set[str] = set()
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._poller: asyncio.Task[None] | None = None
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(claim_lease_s() / 4):
            self.store.renew_claims(self.owner)

    def take(self, requests: Sequence[Request], *, sending: bool = True) -> dict[str, ClaimStatus]:
        found = self.store.claim(requests, self.owner, since=self.since, sending=sending)
        if sending:
            self.unsent.update(key for key, status in found.items() if status is ClaimStatus.MINE)
        return found

    async def released(self, key: str) -> None:
        """Wait until no other run holds a live claim on ``key``."""
        future = self._waiting.get(key)
        if future is None:
            future = self._waiting[key] = asyncio.get_running_loop().create_future()
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        await asyncio.shield(future)

    async def _poll(self) -> None:
        while self._waiting:
            await asyncio.sleep(self.POLL_S)
            held = self.store.held_elsewhere(list(self._waiting), self.owner)
            for key in [k for k in self._waiting if k not in held]:
                self._waiting.pop(key).set_result(None)

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.cancel()
        self.store.release_claims(self.owner, self.unsent)


class _Writer:
    """Writes a run's outcomes to the store from a thread of its own, off the event loop: what
    arrived while the last transaction was being written goes in the next one, so a busy run
    writes many outcomes a transaction and an idle one each at once. Each outcome stored is
    then shown (``show``) on the loop's thread, in order. A write that fails is raised by the
    next :meth:`put` (so the run stops starting requests) and when the run ends."""

    def __init__(self, store: Store, owner: ClaimOwner,
                 show: Callable[[StoredResponse], None]) -> None:
        self.store = store
        self.owner = owner
        self.show = show
        self.failure: BaseException | None = None
        self._loop = asyncio.get_running_loop()
        self._queue: queue.SimpleQueue[Outcome | asyncio.Future[None] | None] = (
            queue.SimpleQueue())
        self._stored: deque[StoredResponse | asyncio.Future[None]] = deque()
        self._thread = threading.Thread(target=self._write, name="workbench-store-writer",
                                        daemon=True)
        self._thread.start()

    def put(self, outcome: Outcome) -> None:
        """Hand ``outcome`` to the writer; raises the first failed write, if any."""
        self._queue.put(outcome)
        if self.failure is not None:
            raise self.failure

    async def written(self) -> None:
        """Wait until everything put so far is in the store (and shown)."""
        done = self._loop.create_future()
        self._queue.put(done)
        await done
        if self.failure is not None:
            raise self.failure

    def close(self) -> None:
        """Write what is still queued, show it, and end the thread (it is never left behind)."""
        self._queue.put(None)
        self._thread.join()
        self._show_stored()

    def _write(self) -> None:
        ending = False
        while not ending:
            items = [self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get())
            ending = any(item is None for item in items)
            outcomes = [item for item in items if isinstance(item, Outcome)]
            try:
                if outcomes:
                    self._stored.extend(self.store.record_all(outcomes, owner=self.owner))
            except Exception as exc:  # the store failed: the run stops and says why
                self.failure = self.failure or exc
            self._stored.extend(item for item in items if isinstance(item, asyncio.Future))
            if not ending:
                self._loop.call_soon_threadsafe(self._show_stored)

    def _show_stored(self) -> None:
        while self._stored:
            item = self._stored.popleft()
            if not isinstance(item, asyncio.Future):
                try:
                    self.show(item)
                except Exception as exc:  # a caller's on_result failed: the run stops with it
                    self.failure = self.failure or exc
            elif not item.done():  # not cancelled
                item.set_result(None)


class _Recorder:
    """Hands each outcome to the run's :class:`_Writer` the moment it arrives, with its cost
    (the writer releases its claim); counts the answers another run wrote."""

    def __init__(self, claims: _Claims, progress: _Progress, prices: Mapping[str, Any] | None):
        self.store = claims.store
        self.claims = claims
        self.progress = progress
        self.prices = prices
        self._pricers: dict[str, Callable[[Usage, bool], float | None]] = {}
        self.writer = _Writer(self.store, claims.owner, progress.advance)

    def _pricer(self, model: str) -> Callable[[Usage, bool], float | None]:
        """The model's :func:`~workbench.models.prices.pricer`, found once a run."""
        if model not in self._pricers:
            self._pricers[model] = pricer(model, self.prices)
        return self._pricers[model]

    def __call__(
        self, request: Request, outcome: Completion | BaseException, latency_s: float | None
    ) -> None:
        cost = None
        if isinstance(outcome, Completion):
            try:
                cost = self._pricer(request.model)(outcome.usage, outcome.batch)
            except WorkbenchError:
                cost = None
        self.writer.put(Outcome(request, outcome, cost, latency_s))

    def answered_elsewhere(self, keys: Iterable[str]) -> None:
        for stored in self.store.responses(list(keys)).values():
            self.progress.advance(stored)


def _claimed(requests: Sequence[Request], claims: _Claims,
             chunk: int) -> Iterator[tuple[Request, ClaimStatus]]:
    """``requests`` with what claiming each found, claimed ``chunk`` at a time (one
    transaction each) as the run reaches them."""
    for start in range(0, len(requests), chunk):
        part = requests[start:start + chunk]
        found = claims.take(part)
        yield from ((request, found[request.hash]) for request in part)


async def _run_one(backend: Backend, request: Request, status: ClaimStatus,
                   limit: asyncio.Semaphore, record: _Recorder) -> None:
    """Send ``request`` if this run claimed it (``status``); while another run holds it, wait
    for that run's answer (and claim and send it after all if that run ends without one)."""
    key = request.hash
    while status is ClaimStatus.TAKEN:
        await record.claims.released(key)
        status = record.claims.take([request])[key]
    if status is ClaimStatus.DONE:
        record.answered_elsewhere([key])
        return
    async with limit:
        record.claims.unsent.discard(key)
        start = time.perf_counter()
        try:
            outcome: Completion | BaseException = await backend.complete(request)
        except Exception as exc:  # the SDK has retried already; record and go on
            outcome = exc
        record(request, outcome, time.perf_counter() - start)


TASKS_PER_SLOT = 4
"""Tasks a provider's share of a run keeps started for each request it may have in flight:
besides those sending, those waiting for a slot or for another run's answer."""


async def _in_turn(coroutines: Iterable[Coroutine[Any, Any, None]], at_once: int) -> None:
    """Await ``coroutines``, each started only while fewer than ``at_once`` started ones are
    unfinished, so a run of 100,000 samples holds a few thousand tasks, not 100,000. After a
    failure no more start; those started finish (what they paid for is recorded) and the first
    failure is raised."""
    slots = asyncio.Semaphore(at_once)
    running: set[asyncio.Task[None]] = set()
    failures: list[BaseException] = []

    def finished(task: asyncio.Task[None]) -> None:
        running.discard(task)
        slots.release()
        if not task.cancelled() and (failure := task.exception()) is not None:
            failures.append(failure)

    pending = iter(coroutines)  # each made only once it has a slot
    try:
        while True:
            await slots.acquire()
            if failures:
                break
            try:
                coroutine = next(pending, None)
            except Exception as exc:  # making it failed (claiming it): as if it had
                failures.append(exc)
                break
            if coroutine is None:
                break
            task = asyncio.create_task(coroutine)
            running.add(task)
            task.add_done_callback(finished)
        await asyncio.gather(*running, return_exceptions=True)
    except BaseException:  # cancelled (the run was interrupted): so are its tasks
        for task in running:
            task.cancel()
        raise
    if failures:
        raise failures[0]


async def _run_claimed_batches(
    backend: Backend, requests: Sequence[Request], record: _Recorder
) -> None:
    """:func:`_run_batch` on the requests this run claims; those another run holds (in its
    batch, or sending them) are waited for, then claimed again if still unanswered."""
    pending = list(requests)
    while pending:
        status = record.claims.take(pending, sending=False)
        mine = [r for r in pending if status[r.hash] is ClaimStatus.MINE]
        record.answered_elsewhere(k for k, s in status.items() if s is ClaimStatus.DONE)
        pending = [r for r in pending if status[r.hash] is ClaimStatus.TAKEN]
        if mine:
            await _run_batch(backend, mine, record)
        await asyncio.gather(*(record.claims.released(r.hash) for r in pending))


async def _run_batch(backend: Backend, requests: Sequence[Request], record: _Recorder) -> None:
    """Send ``requests`` through ``backend``'s batch API, never paying twice for one.

    First every batch the store holds as not collected yet for these requests (its process was
    killed while it ran) is followed to its end and its results stored; its lost items
    (canceled, expired) are then sent again with the requests no batch covers, in new batches,
    each recorded in the store the moment the provider accepts it and marked collected once
    its results are stored.
    """
    store = record.store
    start = time.perf_counter()
    pending = _unique(requests)
    resend_lost = True

    def on_result(request: Request, outcome: Completion | BaseException) -> None:
        if resend_lost and isinstance(outcome, BatchItemLost):
            return
        if pending.pop(request.hash, None) is not None:
            record(request, outcome, time.perf_counter() - start)

    async def collect(batches: Mapping[str, Sequence[Request]]) -> None:
        ended = await asyncio.gather(
            *(backend.collect_batch(batch_id, covered, on_result)
              for batch_id, covered in batches.items())
        )
        await record.writer.written()  # a batch is collected once its results are stored
        for batch_id, done in zip(batches, ended, strict=True):
            if done:
                store.finish_batch(backend.provider, batch_id)

    live = store.open_batches(backend.provider, pending)
    await collect({batch_id: [pending[h] for h in hashes] for batch_id, hashes in live.items()})
    resend_lost = False
    fresh = list(pending.values())
    submitted: dict[str, list[Request]] = {}

    def on_submitted(batch_id: str, covered: list[Request]) -> None:
        store.record_batch(backend.provider, batch_id, (r.hash for r in covered))
        submitted[batch_id] = covered

    store.mark_sent(fresh)
    try:
        await backend.submit_batch(fresh, on_result, on_submitted)
    except Exception as exc:  # requests of the batches already accepted wait for their results
        covered = {r.hash for batch in submitted.values() for r in batch}
        for key, request in list(pending.items()):
            if key not in covered:
                on_result(request, exc)
    await collect(submitted)
    for request in list(pending.values()):
        on_result(request, RuntimeError("the batch returned no result for this request"))


def _in_open_batches(
    store: Store, requests: Sequence[Request], backends: Mapping[str, Backend]
) -> set[str]:
    """Hashes of ``requests`` covered by a batch that a killed run left uncollected."""
    covered: set[str] = set()
    providers = {backends[r.model].provider for r in requests if backends[r.model].supports_batch}
    for provider in providers:
        hashes = [r.hash for r in requests if r.provider == provider]
        for found in store.open_batches(provider, hashes).values():
            covered.update(found)
    return covered


# Runs in progress per event loop: the last one to end closes the backends' HTTP clients.
_runs_in_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = (
    weakref.WeakKeyDictionary()
)


def _unique(requests: Sequence[Request]) -> dict[str, Request]:
    return {request.hash: request for request in requests}


async def execute(
    requests: Sequence[Request],
    *,
    store: Store | str | Path | None = None,
    concurrency: Mapping[str, int] | None = None,
    batch: bool = False,
    progress: bool = True,
    prices: Mapping[str, Any] | None = None,
    on_result: Callable[[StoredResponse], None] | None = None,
) -> list[StoredResponse]:
    """Send every request the store has not answered, and return all of them as stored.

    At most ``concurrency[provider]`` requests (else the backend's default) are in flight per
    provider. Each outcome is written as it arrives (by the run's writer thread, before
    ``on_result`` sees it); a request that still fails after
    the SDK's retries is recorded with its error (a later call retries it). With ``batch``,
    the missing requests of a batch-capable backend go through its batch API; without it,
    requests that a killed run left in a provider's batch are still collected from that batch
    rather than paid for twice. Every model is checked (key set, known prefix) before anything
    is sent. ``on_result`` is called with each outcome as it is stored (a widget filling in).
    """
    owned = not isinstance(store, Store)  # opened here, so closed here
    store = open_store(store)
    try:
        unique = await _send(requests, store, concurrency, batch, progress, prices, on_result)
        found = store.responses(list(unique))
    finally:
        if owned:
            store.close()
    return [found[h] for h in unique if h in found]


async def _send(
    requests: Sequence[Request],
    store: Store,
    concurrency: Mapping[str, int] | None,
    batch: bool,
    progress: bool,
    prices: Mapping[str, Any] | None,
    on_result: Callable[[StoredResponse], None] | None,
) -> dict[str, Request]:
    """:func:`execute` without reading the outcomes back: send every request the store has not
    answered, and return the requests by hash (a run reads its results as a table instead)."""
    started = time.time()
    unique = _unique(requests)
    answered = store.answered(unique)
    missing = [r for h, r in unique.items() if h not in answered]
    models = list(dict.fromkeys(r.model for r in missing))
    for model in models:
        check_model(model)
    if missing:
        store.check_ready()
    backends = {model: get_backend(model) for model in models}
    by_provider: dict[str, list[Request]] = {}
    by_backend: dict[int, list[Request]] = {}
    in_flight = _in_open_batches(store, missing, backends)
    for request in missing:
        backend = backends[request.model]
        if backend.supports_batch and (batch or request.hash in in_flight):
            by_backend.setdefault(id(backend), []).append(request)
        else:
            by_provider.setdefault(backend.provider, []).append(request)
    meter = _Progress(len(unique), len(answered), progress, on_result)
    claims = _Claims(store, since=started)  # its thread and the writer's end in `finally`
    record = _Recorder(claims, meter, prices)
    tasks = []
    for provider, sent in by_provider.items():
        size = (concurrency or {}).get(provider, backends[sent[0].model].default_concurrency)
        limit = asyncio.Semaphore(size)
        claimed = _claimed(sent, claims, chunk=size)
        tasks.append(_in_turn((_run_one(backends[r.model], r, status, limit, record)
                               for r, status in claimed), at_once=TASKS_PER_SLOT * size))
    for batched in by_backend.values():
        tasks.append(_run_claimed_batches(backends[batched[0].model], batched, record))
    loop = asyncio.get_running_loop()
    _runs_in_loop[loop] = _runs_in_loop.get(loop, 0) + 1
    try:
        await asyncio.gather(*tasks)
    finally:
        record.writer.close()  # what was answered is stored, whatever ended the run
        claims.close()
        meter.close()
        _runs_in_loop[loop] -= 1
        if not _runs_in_loop[loop]:
            await close_backends()
    if record.writer.failure is not None:
        raise record.writer.failure
    return unique


def execute_sync(requests: Sequence[Request], **options: Any) -> list[StoredResponse]:
    """:func:`execute` from synchronous code: a script, or a notebook whose loop is running
    (then the run gets its own loop in a worker thread)."""
    return _in_sync(execute(requests, **options))


def _in_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to its end from synchronous code: on a new loop, or, when this
    thread's loop is running (a notebook), on a new loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# --- experiments -----------------------------------------------------------------------------


def prepare(
    experiment: Experiment | str | Path, store: Store | str | Path | None = None
) -> tuple[Experiment, list[Sample], Store]:
    """Validate and expand an experiment, check the models that still have samples to run
    (known prefix, key set), and register the experiment in the store."""
    experiment = as_experiment(experiment)
    samples = expand(experiment)
    store = open_store(store)
    store.check_ready()
    answered = store.answered()
    check_models(
        experiment,
        dict.fromkeys(s.model for s in samples if s.request.hash not in answered),
    )
    store.register_experiment(
        experiment.name, experiment.definition(), [s.record() for s in samples]
    )
    return experiment, samples, store


def run_to_store(
    experiment: Experiment | str | Path,
    *,
    store: Store,
    progress: bool = True,
    yes: bool = False,
) -> tuple[Experiment, float]:
    """:func:`run` without building the table: send what ``store`` lacks of the experiment.
    Returns the experiment and the unix time its sending started (the table's ``since``)."""
    experiment = as_experiment(experiment)  # a file is read once, for confirming and running
    confirm(experiment, store, yes=yes)
    experiment, samples, store = prepare(experiment, store)
    started = time.time()
    requests = [s.request for s in samples]
    del samples  # the table is read from the store: hold neither these nor the outcomes
    _in_sync(_send(requests, store, experiment.concurrency, experiment.batch, progress,
                   experiment.prices, None))
    return experiment, started


def run(
    experiment: Experiment | str | Path,
    *,
    store: Store | str | Path | None = None,
    progress: bool = True,
    yes: bool = False,
) -> pd.DataFrame:
    """Run an experiment (resuming from the store) and return its results, one row a sample
    (see :func:`workbench.table.results_table`; ``cached`` marks the samples answered before
    this run).

    A run above the confirmation threshold (see :func:`confirm`) needs ``yes=True``."""
    owned = not isinstance(store, Store)
    store = open_store(store)
    try:
        experiment, started = run_to_store(experiment, store=store, progress=progress, yes=yes)
        return results_table(store, experiment.name, since=started)
    finally:
        if owned:  # no connection left for the garbage collector to close
            store.close()


def results(
    experiment: Experiment | str | Path, store: Store | str | Path | None = None
) -> pd.DataFrame:
    """The results of an experiment (by name, file or definition) from the store, not running."""
    if isinstance(experiment, Experiment):
        name = experiment.name
    elif Path(experiment).suffix in (".yaml", ".yml") and Path(experiment).is_file():
        name = load_experiment(experiment, check=False).name
    else:
        name = str(experiment)
    return results_table(open_store(store), name)


def sample(
    scenario: str | Path,
    model: str,
    values: Mapping[str, str] | None = None,
    *,
    n: int = 1,
    temperature: float = 1.0,
    max_tokens: int = 1024,
    thinking_budget: int | None = None,
    seed: int = 0,
    store: Store | str | Path | None = None,
    progress: bool = False,
) -> list[StoredResponse]:
    """``n`` samples of one condition from one model, through the store (never paid twice)."""
    if thinking_budget and (problem := thinking_problem(model)):
        raise ExperimentError(problem)
    prompt = load_family(scenario).render(values)
    params = GenerationParams(temperature, max_tokens, thinking_budget)
    requests = [s.request for s in samples_of(prompt, model, n, params, seed)]
    return execute_sync(requests, store=open_store(store), progress=progress)
