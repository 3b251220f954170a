"""Expand an experiment into requests, run them concurrently, resume from the store.

An experiment file (YAML) names a scenario family, a ``grid`` of variables to vary, ``fixed``
values, ``models``, ``samples`` per condition and generation parameters. :func:`expand` turns it
into one :class:`Sample` per condition × model × sample index; :func:`execute` sends every
request the store has not answered yet, at most ``concurrency`` at a time per provider, and
writes each outcome the moment it arrives; :func:`run` does both and returns a DataFrame.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import sys
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from workbench.errors import ConfirmationNeeded, ExperimentError, ScenarioError, WorkbenchError
from workbench.models import (
    check_model,
    close_backends,
    get_backend,
    known_providers,
    supports_thinking,
)
from workbench.models.base import (
    Backend,
    BatchItemLost,
    Completion,
    GenerationParams,
    Request,
    Usage,
)
from workbench.models.prices import cost_of
from workbench.scenarios import Family, Prompt, approx_tokens, load_family
from workbench.store import (
    ClaimOwner,
    ClaimStatus,
    SampleRecord,
    Store,
    StoredResponse,
    claim_lease_s,
    request_hash,
)
from workbench.yaml_files import read_yaml, schema_problem

if TYPE_CHECKING:
    import pandas as pd
    from tqdm import tqdm

# --- experiment files ------------------------------------------------------------------------


class Experiment(BaseModel):
    """An experiment definition: what to render, for which models, how many times."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    scenario: str = Field(min_length=1)
    grid: dict[str, list[str]] = Field(default_factory=dict)
    fixed: dict[str, str] = Field(default_factory=dict)
    models: list[str] = Field(min_length=1)
    samples: int = Field(default=1, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=1024, ge=1)
    thinking_budget: int | None = Field(default=None, ge=1)
    seed: int = 0
    batch: bool = False
    concurrency: dict[str, int] = Field(default_factory=dict)
    judge: str | None = None
    prices: dict[str, Any] | None = None
    _source: str = PrivateAttr("")
    _source_text: str = PrivateAttr("")

    @property
    def source(self) -> str:
        """The file it was loaded from ("" when built in Python)."""
        return self._source

    @property
    def source_text(self) -> str:
        """The text of that file, as written ("" when built in Python)."""
        return self._source_text

    @property
    def where(self) -> str:
        """How error messages name it: its file, else its name."""
        return self._source or f"experiment {self.name}"

    @field_validator("grid", mode="before")
    @classmethod
    def _grid_as_text(cls, grid: Any) -> Any:
        if not isinstance(grid, Mapping):
            return grid
        checked = {}
        for name, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"{name} must be a non-empty list of values, e.g. [a, b]")
            texts = [_scalar_text(v) for v in values]
            if len(set(texts)) != len(texts):
                raise ValueError(f"{name} lists a value twice")
            checked[name] = texts
        return checked

    @field_validator("fixed", mode="before")
    @classmethod
    def _fixed_as_text(cls, fixed: Any) -> Any:
        if not isinstance(fixed, Mapping):
            return fixed
        return {name: _scalar_text(value) for name, value in fixed.items()}

    @field_validator("models")
    @classmethod
    def _models_unique(cls, models: list[str]) -> list[str]:
        for model in models:
            _model_id(model)
        if len(set(models)) != len(models):
            raise ValueError("a model is listed twice")
        return models

    @field_validator("judge")
    @classmethod
    def _judge_id(cls, judge: str | None) -> str | None:
        return judge if judge is None else _model_id(judge)

    @field_validator("thinking_budget")
    @classmethod
    def _thinking_models(cls, budget: int | None, info: ValidationInfo) -> int | None:
        for model in info.data.get("models", []) if budget else []:
            if problem := thinking_problem(model):
                raise ValueError(f"{problem}, or run that model in an experiment of its own")
        return budget

    @field_validator("concurrency")
    @classmethod
    def _positive(cls, concurrency: dict[str, int]) -> dict[str, int]:
        for provider, limit in concurrency.items():
            if provider not in known_providers():
                known = ", ".join(known_providers())
                raise ValueError(f"unknown provider {provider!r}; known providers: {known}")
            if limit < 1:
                raise ValueError(f"{provider} must be at least 1")
        return concurrency

    @property
    def params(self) -> GenerationParams:
        return GenerationParams(self.temperature, self.max_tokens, self.thinking_budget)

    def definition(self) -> dict[str, Any]:
        """The definition as plain JSON-able data (stored with the experiment)."""
        return self.model_dump(mode="json")


def thinking_problem(model: str) -> str | None:
    """Why ``model`` cannot take a thinking budget (its backend would drop it), or None. An
    unknown provider is left to the model check, which names the known ones."""
    provider = model.partition("/")[0]
    if provider in known_providers() and not supports_thinking(model):
        return (f"{model} has no extended thinking (the {provider}/ backend does not support "
                "it); remove thinking_budget")
    return None


def _model_id(model: str) -> str:
    """``model`` if it is provider/model (``models`` and ``judge`` are checked alike)."""
    if "/" not in model:
        raise ValueError(f"{model!r} is not provider/model (e.g. local/smollm2)")
    return model


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"expected a text value, got {type(value).__name__} {value!r}")


def load_experiment(
    path: str | Path, *, judge: str | None = None, check: bool = True
) -> Experiment:
    """Read and validate an experiment file; ``judge`` replaces its judge model.

    With ``check`` (the default) also checks everything a run needs before any request is
    sent: the scenario, every grid and fixed value, every model id and the judge (known
    prefix, key set). See :func:`check_experiment`."""
    path = Path(path)
    if path.is_dir():
        raise ExperimentError(
            f"{path} is a folder; give the path of an experiment YAML file instead"
        )
    if not path.is_file():
        raise ExperimentError(f"{path}: no such experiment file; check the path")
    raw, text = read_yaml(path, ExperimentError)
    if judge is not None and isinstance(raw, dict):
        raw = {**raw, "judge": judge}
    experiment = validate_experiment(raw, source=str(path))
    experiment._source_text = text
    if check:
        check_experiment(experiment)
    return experiment


def validate_experiment(raw: Any, source: str = "") -> Experiment:
    """Validate a mapping as an :class:`Experiment`, with one-line errors naming the field."""
    where = source or "experiment"
    if not isinstance(raw, dict):
        raise ExperimentError(
            f"{where}: expected a mapping with name, scenario, grid, models, samples, …"
        )
    try:
        experiment = Experiment.model_validate(raw)
    except ValidationError as exc:
        raise ExperimentError(f"{where}: {schema_problem(exc, Experiment)}") from None
    experiment._source = source
    return experiment


def check_models(experiment: Experiment, models: Iterable[str] | None = None) -> None:
    """Check ``models`` (default: all of the experiment's, and its judge) can be used now:
    known prefix, key set. Sends nothing; raises a one-line error naming the field."""
    if models is None:
        fields = [("models", m) for m in experiment.models]
        fields += [("judge", experiment.judge)] if experiment.judge else []
    else:
        fields = [("models", m) for m in models]
    for field_name, model in fields:
        try:
            check_model(model)
        except WorkbenchError as exc:
            raise type(exc)(f"{experiment.where}: {field_name}: {exc}") from None


def check_experiment(experiment: Experiment) -> None:
    """Everything a run needs, before any request: scenario, values, models and judge."""
    conditions(experiment, _family(experiment))
    check_models(experiment)


def as_experiment(experiment: Experiment | str | Path) -> Experiment:
    """The experiment itself, or the file loaded (values and models not checked yet)."""
    if isinstance(experiment, Experiment):
        return experiment
    return load_experiment(experiment, check=False)


# --- expansion -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One sample of an experiment: a condition, a model, a sample index and its request."""

    condition_id: str
    values: Mapping[str, str]
    model: str
    sample_index: int
    request: Request
    prompt_hash: str

    def record(self) -> SampleRecord:
        return SampleRecord(self.request, self.condition_id, dict(self.values), self.prompt_hash)


def sample_seed(seed: int, sample_index: int) -> int:
    """The seed of sample ``sample_index``: derived from the experiment's seed, deterministic."""
    digest = hashlib.sha256(f"{seed}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def conditions(experiment: Experiment, family: Family) -> list[dict[str, str]]:
    """The grid's combinations with the fixed values, each checked against the family."""
    where = f"{experiment.where}: "
    overlap = set(experiment.grid) & set(experiment.fixed)
    if overlap:
        raise ExperimentError(
            f"{where}{sorted(overlap)[0]} is both in grid and fixed; keep it in one of them"
        )
    try:
        family.resolve(experiment.fixed)
    except ScenarioError as exc:
        raise ExperimentError(f"{where}fixed: {exc}") from None
    for name, values in experiment.grid.items():
        for value in values:
            try:
                family.resolve({name: value})
            except ScenarioError as exc:
                raise ExperimentError(f"{where}grid.{name}: {exc}") from None
    names = list(experiment.grid)
    combos = itertools.product(*(experiment.grid[n] for n in names))
    return [dict(experiment.fixed) | dict(zip(names, combo, strict=True)) for combo in combos]


def _family(experiment: Experiment) -> Family:
    try:
        return load_family(experiment.scenario)
    except ScenarioError as exc:
        raise ExperimentError(f"{experiment.where}: scenario: {exc}") from None


def expand(experiment: Experiment | str | Path) -> list[Sample]:
    """Every sample of the experiment: condition × model × sample index, in that order."""
    experiment = as_experiment(experiment)
    family = _family(experiment)
    samples = []
    for overrides in conditions(experiment, family):
        prompt = family.render(overrides)
        for model in experiment.models:
            samples += samples_of(prompt, model, experiment.samples, experiment.params,
                                  experiment.seed)
    return samples


def samples_of(
    prompt: Prompt, model: str, n: int, params: GenerationParams, seed: int = 0
) -> list[Sample]:
    """``n`` samples of one rendered condition from one model, each with its derived seed."""
    return [
        Sample(prompt.condition_id, prompt.values, model, index,
               Request(model, prompt.system, (("user", prompt.user),), params, index,
                       sample_seed(seed, index)),
               prompt.hash)
        for index in range(n)
    ]


# --- execution -------------------------------------------------------------------------------


PROGRESS_TO_STDERR = "WORKBENCH_PROGRESS_STDERR"


def progress_bar(**options: Any) -> tqdm:
    """A tqdm.auto bar (a widget in a notebook, text in a terminal).

    When ``WORKBENCH_PROGRESS_STDERR=1`` (set by papermill runs) it is a text bar on the
    process's own stderr, which reaches the terminal of ``workbench run`` instead of the
    notebook being executed.
    """
    if os.environ.get(PROGRESS_TO_STDERR) == "1":
        from tqdm.std import tqdm as text_tqdm

        return text_tqdm(file=sys.__stderr__, dynamic_ncols=True, mininterval=0.5, **options)
    from tqdm.auto import tqdm as auto_tqdm

    return auto_tqdm(dynamic_ncols=True, mininterval=0.2, **options)


class _Progress:
    """A tqdm.auto bar of done / total with failures and cost so far, or nothing; tells
    ``on_result`` of each outcome."""

    def __init__(self, total: int, done: int, enabled: bool,
                 on_result: Callable[[StoredResponse], None] | None = None) -> None:
        self.failures = 0
        self.cost = 0.0
        self.on_result = on_result
        self.bar: tqdm | None = None
        if enabled:
            self.bar = progress_bar(total=total, initial=done, unit="sample")
            self._postfix()

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix(failed=self.failures, cost=f"${self.cost:.4f}", refresh=False)

    def advance(self, stored: StoredResponse) -> None:
        if stored.ok:
            self.cost += stored.cost or 0.0
        else:
            self.failures += 1
        if self.bar is not None:
            self._postfix()
            self.bar.update(1)
        if self.on_result is not None:
            self.on_result(stored)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Claims:
    """This run's claims in the store: a request is claimed before it is sent, so another run
    (another process, kernel or experiment) that wants it waits for this answer instead of
    paying again. A thread renews the claims' lease while the run works; each claim is
    released when its outcome is recorded, and all of them when the run ends."""

    POLL_S = 0.2

    def __init__(self, store: Store, since: float) -> None:
        self.store = store
        self.since = since
        self.owner = ClaimOwner.new()
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._poller: asyncio.Task[None] | None = None
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(claim_lease_s() / 4):
            self.store.renew_claims(self.owner)

    def take(self, requests: Sequence[Request], *, sending: bool = True) -> dict[str, ClaimStatus]:
        return self.store.claim(requests, self.owner, since=self.since, sending=sending)

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
        self.store.release_claims(self.owner)


class _Recorder:
    """Writes each outcome to the store the moment it arrives, with its cost, releasing its
    claim; counts the answers another run wrote."""

    def __init__(self, claims: _Claims, progress: _Progress, prices: Mapping[str, Any] | None):
        self.store = claims.store
        self.claims = claims
        self.progress = progress
        self.prices = prices

    def __call__(
        self, request: Request, outcome: Completion | BaseException, latency_s: float | None
    ) -> None:
        cost = None
        if isinstance(outcome, Completion):
            try:
                cost = cost_of(request.model, outcome.usage, outcome.batch, self.prices)
            except WorkbenchError:
                cost = None
        stored = self.store.record(request, outcome, cost=cost, latency_s=latency_s,
                                   owner=self.claims.owner)
        self.progress.advance(stored)

    def answered_elsewhere(self, keys: Iterable[str]) -> None:
        for stored in self.store.responses(list(keys)).values():
            self.progress.advance(stored)


async def _run_one(
    backend: Backend, request: Request, limit: asyncio.Semaphore, record: _Recorder
) -> None:
    """Claim ``request`` and send it; while another run holds it, wait for that run's answer
    (and send it after all if that run ends without one)."""
    key = request_hash(request)
    while True:
        async with limit:
            status = record.claims.take([request])[key]
            if status is ClaimStatus.MINE:
                start = time.perf_counter()
                try:
                    outcome: Completion | BaseException = await backend.complete(request)
                except Exception as exc:  # the SDK has retried already; record and go on
                    outcome = exc
                record(request, outcome, time.perf_counter() - start)
                return
        if status is ClaimStatus.DONE:
            record.answered_elsewhere([key])
            return
        await record.claims.released(key)


async def _run_claimed_batches(
    backend: Backend, requests: Sequence[Request], record: _Recorder
) -> None:
    """:func:`_run_batch` on the requests this run claims; those another run holds (in its
    batch, or sending them) are waited for, then claimed again if still unanswered."""
    pending = list(requests)
    while pending:
        status = record.claims.take(pending, sending=False)
        mine = [r for r in pending if status[request_hash(r)] is ClaimStatus.MINE]
        record.answered_elsewhere(k for k, s in status.items() if s is ClaimStatus.DONE)
        pending = [r for r in pending if status[request_hash(r)] is ClaimStatus.TAKEN]
        if mine:
            await _run_batch(backend, mine, record)
        await asyncio.gather(*(record.claims.released(request_hash(r)) for r in pending))


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
        if pending.pop(request_hash(request), None) is not None:
            record(request, outcome, time.perf_counter() - start)

    async def collect(batches: Mapping[str, Sequence[Request]]) -> None:
        ended = await asyncio.gather(
            *(backend.collect_batch(batch_id, covered, on_result)
              for batch_id, covered in batches.items())
        )
        for batch_id, done in zip(batches, ended, strict=True):
            if done:
                store.finish_batch(backend.provider, batch_id)

    live = store.open_batches(backend.provider, pending)
    await collect({batch_id: [pending[h] for h in hashes] for batch_id, hashes in live.items()})
    resend_lost = False
    fresh = list(pending.values())
    submitted: dict[str, list[Request]] = {}

    def on_submitted(batch_id: str, covered: list[Request]) -> None:
        store.record_batch(backend.provider, batch_id, (request_hash(r) for r in covered))
        submitted[batch_id] = covered

    store.mark_sent(fresh)
    try:
        await backend.submit_batch(fresh, on_result, on_submitted)
    except Exception as exc:  # requests of the batches already accepted wait for their results
        covered = {request_hash(r) for batch in submitted.values() for r in batch}
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
        hashes = [request_hash(r) for r in requests if r.provider == provider]
        for found in store.open_batches(provider, hashes).values():
            covered.update(found)
    return covered


def _open(store: Store | str | Path | None) -> Store:
    return store if isinstance(store, Store) else Store(store)


# Runs in progress per event loop: the last one to end closes the backends' HTTP clients.
_runs_in_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = (
    weakref.WeakKeyDictionary()
)


def _unique(requests: Sequence[Request]) -> dict[str, Request]:
    return {request_hash(request): request for request in requests}


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
    provider. Each outcome is written the moment it arrives; a request that still fails after
    the SDK's retries is recorded with its error (a later call retries it). With ``batch``,
    the missing requests of a batch-capable backend go through its batch API; without it,
    requests that a killed run left in a provider's batch are still collected from that batch
    rather than paid for twice. Every model is checked (key set, known prefix) before anything
    is sent. ``on_result`` is called with each outcome as it is stored (a widget filling in).
    """
    store = _open(store)
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
    meter = _Progress(len(unique), len(answered), progress, on_result)
    claims = _Claims(store, since=started)
    record = _Recorder(claims, meter, prices)
    limits: dict[str, asyncio.Semaphore] = {}
    tasks = []
    by_backend: dict[int, list[Request]] = {}
    in_flight = _in_open_batches(store, missing, backends)
    for request in missing:
        backend = backends[request.model]
        if backend.supports_batch and (batch or request_hash(request) in in_flight):
            by_backend.setdefault(id(backend), []).append(request)
            continue
        if backend.provider not in limits:
            size = (concurrency or {}).get(backend.provider, backend.default_concurrency)
            limits[backend.provider] = asyncio.Semaphore(size)
        tasks.append(_run_one(backend, request, limits[backend.provider], record))
    for batched in by_backend.values():
        tasks.append(_run_claimed_batches(backends[batched[0].model], batched, record))
    loop = asyncio.get_running_loop()
    _runs_in_loop[loop] = _runs_in_loop.get(loop, 0) + 1
    try:
        await asyncio.gather(*tasks)
    finally:
        claims.close()
        meter.close()
        _runs_in_loop[loop] -= 1
        if not _runs_in_loop[loop]:
            await close_backends()
    found = store.responses(list(unique))
    return [found[h] for h in unique if h in found]


def execute_sync(requests: Sequence[Request], **options: Any) -> list[StoredResponse]:
    """:func:`execute` from synchronous code: a script, or a notebook whose loop is running
    (then the run gets its own loop in a worker thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(execute(requests, **options))
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, execute(requests, **options)).result()


# --- planning: what a run would send and cost, before expanding it ----------------------------

COUNTED_UP_TO = 100_000  # larger experiments are not expanded to count what the store holds


def confirmation_threshold() -> tuple[int, float]:
    """(samples, dollars) above which a run asks for confirmation first:
    ``WORKBENCH_CONFIRM_SAMPLES`` (default 10,000) and ``WORKBENCH_CONFIRM_USD`` (default 50)."""
    try:
        return (int(os.environ.get("WORKBENCH_CONFIRM_SAMPLES") or 10_000),
                float(os.environ.get("WORKBENCH_CONFIRM_USD") or 50.0))
    except ValueError:
        raise ExperimentError(
            "WORKBENCH_CONFIRM_SAMPLES must be a whole number and WORKBENCH_CONFIRM_USD a number"
            " of dollars; fix or unset them"
        ) from None


@dataclass(frozen=True)
class Plan:
    """What running an experiment would do, counted without expanding it."""

    experiment: str
    conditions: int
    models: tuple[str, ...]
    samples: int  # condition × model × sample index, in all
    stored: int | None  # already answered in the store; None when too many to count
    input_tokens: int  # about, for the samples still to send
    output_tokens: int  # at most (max_tokens each)
    cost: float  # dollars at most, for the samples still to send, at the prices known
    unpriced: tuple[str, ...]  # models whose price is unknown (not in the cost)

    @property
    def to_send(self) -> int:
        return self.samples - (self.stored or 0)

    def needs_confirmation(self) -> str | None:
        """Why the run is too large to start unasked, or None."""
        most_samples, most_dollars = confirmation_threshold()
        if self.to_send > most_samples:
            return f"{self.to_send:,} samples to send is above the {most_samples:,} a run " \
                   "sends unasked (WORKBENCH_CONFIRM_SAMPLES)"
        if self.cost > most_dollars:
            return f"about ${self.cost:,.2f} is above the ${most_dollars:,.2f} a run spends " \
                   "unasked (WORKBENCH_CONFIRM_USD)"
        return None

    def describe(self) -> str:
        """The plan as lines of text for a terminal."""
        stored = "not counted (too many)" if self.stored is None else f"{self.stored:,}"
        cost = f"at most ${self.cost:,.2f} at list prices"
        if self.unpriced:
            cost += f" (no price known for {', '.join(self.unpriced)})"
        return "\n".join([
            f"experiment {self.experiment}: {self.conditions:,} condition(s) × "
            f"{len(self.models)} model(s) = {self.samples:,} samples",
            f"already in the store: {stored}; to send: {self.to_send:,}",
            f"tokens to send: about {self.input_tokens:,} in, at most {self.output_tokens:,} out",
            f"cost: {cost}",
        ])


def plan(experiment: Experiment | str | Path, store: Store | str | Path | None = None) -> Plan:
    """Count an experiment's samples and estimate its tokens and dollars (from prompt lengths
    and the price table) without expanding it, unless it is small enough to count what the
    store already holds. Sends nothing."""
    experiment = as_experiment(experiment)
    family = _family(experiment)
    grid = conditions(experiment, family)
    per_condition = len(experiment.models) * experiment.samples
    total = len(grid) * per_condition
    shown = grid[:: max(1, len(grid) // 32)]  # prompt lengths from up to ~32 conditions
    prompts = [family.render(values) for values in shown]
    prompt_tokens = sum(approx_tokens(p.system + p.user) for p in prompts) // len(prompts)
    stored = None
    to_send: Counter[str] = Counter({m: total // len(experiment.models) for m in experiment.models})
    if total <= COUNTED_UP_TO:
        samples = expand(experiment)
        answered = _open(store).answered(request_hash(s.request) for s in samples)
        to_send = Counter(s.model for s in samples if request_hash(s.request) not in answered)
        stored = total - to_send.total()
    cost, unpriced = 0.0, []
    for model in experiment.models:
        usage = Usage(input_tokens=prompt_tokens, output_tokens=experiment.max_tokens)
        each = cost_of(model, usage, experiment.batch, experiment.prices)
        if each is None:
            unpriced.append(model)
        else:
            cost += each * to_send[model]
    sending = to_send.total()
    return Plan(experiment.name, len(grid), tuple(experiment.models), total, stored,
                prompt_tokens * sending, experiment.max_tokens * sending, cost, tuple(unpriced))


def confirm(experiment: Experiment | str | Path, store: Store | str | Path | None = None,
            *, yes: bool = False) -> None:
    """Raise :class:`ConfirmationNeeded` (carrying the plan) if the experiment is above the
    confirmation threshold, unless ``yes`` or ``WORKBENCH_YES=1`` says to go ahead (then
    nothing is counted)."""
    if yes or os.environ.get("WORKBENCH_YES") == "1":
        return
    found = plan(experiment, store)
    reason = found.needs_confirmation()
    if reason:
        raise ConfirmationNeeded(
            f"{as_experiment(experiment).where}: {reason}; see the plan with "
            "`workbench run --dry-run`, then run with --yes (yes=True in Python) to go ahead",
            found,
        )


# --- experiments -----------------------------------------------------------------------------


def prepare(
    experiment: Experiment | str | Path, store: Store | str | Path | None = None
) -> tuple[Experiment, list[Sample], Store]:
    """Validate and expand an experiment, check the models that still have samples to run
    (known prefix, key set), and register the experiment in the store."""
    experiment = as_experiment(experiment)
    samples = expand(experiment)
    store = _open(store)
    store.check_ready()
    answered = store.answered()
    check_models(
        experiment,
        dict.fromkeys(s.model for s in samples if request_hash(s.request) not in answered),
    )
    store.register_experiment(
        experiment.name, experiment.definition(), [s.record() for s in samples]
    )
    return experiment, samples, store


def run(
    experiment: Experiment | str | Path,
    *,
    store: Store | str | Path | None = None,
    progress: bool = True,
    yes: bool = False,
) -> pd.DataFrame:
    """Run an experiment (resuming from the store) and return its results, one row a sample
    (see :meth:`Store.results`; ``cached`` marks the samples answered before this run).

    A run above the confirmation threshold (see :func:`confirm`) needs ``yes=True``."""
    confirm(experiment, store, yes=yes)
    experiment, samples, store = prepare(experiment, store)
    started = time.time()
    execute_sync(
        [s.request for s in samples],
        store=store,
        concurrency=experiment.concurrency,
        batch=experiment.batch,
        progress=progress,
        prices=experiment.prices,
    )
    return store.results(experiment.name, since=started)


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
    return _open(store).results(name)


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
    return execute_sync(requests, store=_open(store), progress=progress)
