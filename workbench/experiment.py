"""The experiment: its file (schema, loading, validation), its expansion into samples, and its
plan (how many samples, tokens and dollars) before anything is sent.

An experiment file (YAML) names a scenario family, a ``grid`` of variables to vary, ``fixed``
values, ``models``, ``samples`` per condition and generation parameters. :func:`expand` turns it
into one :class:`Sample` per condition × model × sample index; :func:`plan` counts them without
expanding, and :func:`confirm` stops a run above the user's threshold.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
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

from workbench.errors import (
    ConfirmationNeeded,
    ExperimentError,
    Note,
    ScenarioError,
    WorkbenchError,
)
from workbench.models import (
    check_model,
    known_providers,
    supports_thinking,
)
from workbench.models.base import (
    GenerationParams,
    Request,
    Usage,
)
from workbench.models.prices import cost_of
from workbench.scenarios import Family, Prompt, approx_tokens, load_family
from workbench.store import (
    SampleRecord,
    Store,
    open_store,
)
from workbench.yaml_files import read_yaml, schema_problem

if TYPE_CHECKING:
    pass

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
        return SampleRecord(self.request, self.condition_id, self.values, self.prompt_hash)


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
    combos = [dict(experiment.fixed) | dict(zip(names, combo, strict=True))
              for combo in itertools.product(*(experiment.grid[n] for n in names))]
    try:
        refused = {i: reason for i, combo in enumerate(combos)
                   if (reason := family.refusal(combo))}
    except ScenarioError as exc:
        raise ExperimentError(f"{where}scenario: {exc}") from None
    if len(refused) == len(combos):
        raise ExperimentError(f"{where}grid: {family.name} allows none of its combinations "
                              f"({next(iter(refused.values()))}); change the grid")
    if refused:
        warnings.warn(Note(
            f"{where}skipped {len(refused)} of {len(combos)} combinations of the grid that "
            f"{family.name} does not allow, such as {next(iter(refused.values()))}"),
            stacklevel=1)  # here, not the caller: noted once, whichever step expands the grid
    return [combo for i, combo in enumerate(combos) if i not in refused]


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
    requests = Request.samples(model, prompt.system, (("user", prompt.user),), params,
                               [(index, sample_seed(seed, index)) for index in range(n)])
    return [Sample(prompt.condition_id, prompt.values, model, request.sample_index, request,
                   prompt.hash) for request in requests]


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


def plan(
    experiment: Experiment | str | Path,
    store: Store | str | Path | None = None,
    *,
    count_stored: bool = True,
) -> Plan:
    """Count an experiment's samples and estimate its tokens and dollars (from prompt lengths
    and the price table) without expanding it, unless it is small enough to count what the
    store already holds (and ``count_stored``: without it, every sample counts as to send).
    Sends nothing."""
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
    if count_stored and total <= COUNTED_UP_TO:
        samples = expand(experiment)
        answered = open_store(store).answered(s.request.hash for s in samples)
        to_send = Counter(s.model for s in samples if s.request.hash not in answered)
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
    # Counting what the store holds means expanding the experiment, which the run does again:
    # only when the run would be too large even if nothing were stored yet.
    if plan(experiment, store, count_stored=False).needs_confirmation() is None:
        return
    found = plan(experiment, store)
    reason = found.needs_confirmation()
    if reason:
        raise ConfirmationNeeded(
            f"{as_experiment(experiment).where}: {reason}; see the plan with "
            "`workbench run --dry-run`, then run with --yes (yes=True in Python) to go ahead",
            found,
        )
