"""What every backend takes and returns, independent of the provider."""

from __future__ import annotations

import asyncio
import hashlib
import os
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any, Generic, Protocol, TypeVar

from workbench.hashing import canonical_json, sha256_of
from workbench.models.prices import price_table


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings. ``thinking_budget`` asks for extended thinking where supported."""

    temperature: float = 1.0
    max_tokens: int = 1024
    thinking_budget: int | None = None


_NUMBERS = '"sample_index":0,"seed":0,'
"""The two numbers of a request's canonical JSON, set to zero, as :meth:`Request.samples`
finds them."""


@dataclass(frozen=True)
class Request:
    """Everything that determines a response. Its :attr:`hash` keys the store."""

    model: str
    system: str
    messages: tuple[tuple[str, str], ...]  # (role, content) pairs
    params: GenerationParams = field(default_factory=GenerationParams)
    sample_index: int = 0
    seed: int = 0  # the sampler seed sent to the provider (the runner derives one a sample)

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0]

    @property
    def model_name(self) -> str:
        """The id without its provider prefix (``claude-opus-4`` of ``anthropic/claude-opus-4``)."""
        return self.model.split("/", 1)[1]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["messages"] = [list(m) for m in self.messages]
        return data

    @cached_property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`as_dict`, computed once: a prompt is long and
        a run asks for each request's hash several times."""
        return sha256_of(self.as_dict())

    @classmethod
    def samples(
        cls, model: str, system: str, messages: tuple[tuple[str, str], ...],
        params: GenerationParams, seeds: Sequence[tuple[int, int]],
    ) -> list[Request]:
        """One request per (sample index, seed) of ``seeds``, otherwise alike, with their
        :attr:`hash` computed together: the canonical JSON they share (everything but the two
        numbers) is encoded and fed to SHA-256 once, so each hash costs a few microseconds
        instead of about forty. The hashes are the same as one request's alone."""
        requests = [cls(model, system, messages, params, index, seed) for index, seed in seeds]
        if not requests:
            return requests
        text = canonical_json(replace(requests[0], sample_index=0, seed=0).as_dict())
        # Keys are sorted, so the two numbers sit between "params" and "system"; a key's quotes
        # are escaped inside any string, so this marker occurs once, as the keys.
        at = text.find(_NUMBERS)
        if at < 0:  # a shape this does not know: each is hashed on its own
            return requests
        shared = hashlib.sha256(text[:at].encode())
        rest = text[at + len(_NUMBERS):].encode()
        for request in requests:
            digest = shared.copy()
            digest.update(f'"sample_index":{request.sample_index},"seed":{request.seed},'.encode())
            digest.update(rest)
            request.__dict__["hash"] = digest.hexdigest()  # the cached_property's own slot
        if requests[0].hash != sha256_of(requests[0].as_dict()):
            for request in requests:  # as above
                del request.__dict__["hash"]
        return requests

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Request:
        return cls(
            model=data["model"],
            system=data["system"],
            messages=tuple((role, content) for role, content in data["messages"]),
            params=GenerationParams(**data["params"]),
            sample_index=data["sample_index"],
            seed=data["seed"],
        )


@dataclass(frozen=True)
class Usage:
    """Tokens of one response. ``input_tokens`` counts only the input that was neither written
    to nor read from the provider's prompt cache (Anthropic's convention; OpenAI's cached
    tokens are moved from ``input_tokens`` to ``cache_read_tokens``)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    """What a backend returns for one request."""

    text: str
    reasoning: str = ""
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None
    batch: bool = False


class GenerationError(RuntimeError):
    """One sample failed for a reason retrying will not fix (a malformed response, a prompt
    longer than the model's context, a batch item that errored). The runner records it."""


class BatchItemLost(GenerationError):
    """A batch item the provider will never answer (its batch was canceled, expired or is
    gone): nothing was generated, so the request may be sent again."""


OnResult = Callable[[Request, Completion | BaseException], None]
OnSubmitted = Callable[[str, list[Request]], None]


class Backend(ABC):
    """A provider. One instance serves every model id with its prefix.

    A subclass declares the provider in class attributes, which are read without making an
    instance (``workbench models list`` imports no SDK): keep the module light and import SDKs
    where they are used. It is found through the ``workbench.backends`` entry-point group, the
    entry point named for its prefix."""

    provider: str  # the prefix of its model ids, and the name of its entry point
    key_env: tuple[str, ...] = ()  # variables holding its key (any one will do); () needs none
    base_url_env: str | None = None  # the variable naming where requests go
    default_base_url: str | None = None  # where they go when that variable is not set
    settings_env: tuple[str, ...] = ()  # other variables it reads
    supports_thinking: bool = False  # it sends GenerationParams.thinking_budget
    supports_batch: bool = False  # it implements complete_batch (and may resume batches)
    default_concurrency: int = 8  # requests in flight unless an experiment says otherwise

    @classmethod
    def env_vars(cls) -> tuple[str, ...]:
        """Every environment variable it reads."""
        url = (cls.base_url_env,) if cls.base_url_env else ()
        return (*cls.key_env, *url, *cls.settings_env)

    @classmethod
    def key_set(cls) -> bool | None:
        """Whether one of its key variables is set; None if it needs no key."""
        return any(os.environ.get(name) for name in cls.key_env) if cls.key_env else None

    @classmethod
    def base_url(cls) -> str | None:
        """Where its requests go now (None: nowhere over HTTP)."""
        url = os.environ.get(cls.base_url_env) if cls.base_url_env else None
        return url or cls.default_base_url

    @classmethod
    def location(cls) -> str:
        """Where its requests go, as ``workbench models list`` shows it."""
        return cls.base_url() or "in process"

    @classmethod
    def list_models(cls) -> list[str]:
        """Model ids (or glob patterns) to show in ``workbench models list``: by default those
        the price table prices."""
        return price_table().models_of(cls.provider)

    @abstractmethod
    def check_ready(self, model: str) -> None:
        """Raise :class:`~workbench.errors.ModelError` (one line: what to set) if ``model`` (the
        id without its provider prefix) cannot be used now, before any request is sent."""

    @abstractmethod
    async def complete(self, request: Request) -> Completion:
        """Send one request, with the provider's retries, and return its completion."""

    async def complete_batch(self, requests: Sequence[Request], on_result: OnResult) -> None:
        """Send ``requests`` as one batch, calling ``on_result`` for each as it is known."""
        raise NotImplementedError(f"{self.provider} has no batch mode")

    async def submit_batch(
        self, requests: Sequence[Request], on_result: OnResult, on_submitted: OnSubmitted
    ) -> None:
        """Submit ``requests`` as batches, calling ``on_submitted(batch id, its requests)`` right
        after each is created, so it can be collected later (even by another process) with
        :meth:`collect_batch`; a request that cannot be sent gets its error via ``on_result``.

        A backend whose batches cannot be resumed runs them to the end here, with
        :meth:`complete_batch`, and reports no batch."""
        await self.complete_batch(requests, on_result)

    async def close(self) -> None:
        """Release what this backend holds for the running event loop (its HTTP connections),
        once no run on that loop needs them. By default there is nothing to release."""
        return None

    async def collect_batch(
        self, batch_id: str, requests: Sequence[Request], on_result: OnResult
    ) -> bool:
        """Wait for batch ``batch_id`` to end and give each of ``requests`` its outcome
        (:class:`BatchItemLost` for an item the provider will never answer). Returns False,
        after giving the error to every request still without one, if the batch could not be
        followed to its end (it may still be running)."""
        raise NotImplementedError(f"{self.provider} cannot resume a batch")


# --- what the HTTP backends share ----------------------------------------------------------

REQUEST_HEADER = "x-workbench-request"  # carries Request.hash on every HTTP request
DEFAULT_MAX_RETRIES = 8
DEFAULT_TIMEOUT = 600.0
CLIENT_ENV = ("WORKBENCH_MAX_RETRIES", "WORKBENCH_TIMEOUT")


class SDKClient(Protocol):
    """What :class:`ClientCache` needs of a client: closing its connections."""

    async def close(self) -> None: ...


Client = TypeVar("Client", bound=SDKClient)


def max_retries() -> int:
    """Retries the SDKs make on 429, 529, 5xx, connection errors and timeouts
    (``WORKBENCH_MAX_RETRIES``, default 8); they wait as ``retry-after`` says, else back off."""
    return int(os.environ.get("WORKBENCH_MAX_RETRIES") or DEFAULT_MAX_RETRIES)


def timeout_seconds() -> float:
    """Seconds before one HTTP attempt is abandoned and retried (``WORKBENCH_TIMEOUT``)."""
    return float(os.environ.get("WORKBENCH_TIMEOUT") or DEFAULT_TIMEOUT)


class ClientCache(Generic[Client]):
    """SDK clients, one per event loop and configuration: an async HTTP pool must not outlive
    its loop, and a changed key, base URL or retry setting takes effect at once."""

    def __init__(self, make: Callable[[], Client], env: Sequence[str]) -> None:
        self._make = make
        self._env = (*env, *CLIENT_ENV)
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str | None, ...], Client]
        ] = weakref.WeakKeyDictionary()

    def get(self) -> Client:
        per_loop = self._clients.setdefault(asyncio.get_running_loop(), {})
        key = tuple(os.environ.get(name) for name in self._env)
        if key not in per_loop:
            per_loop[key] = self._make()
        return per_loop[key]

    async def close(self) -> None:
        """Close the clients made for the running loop (a later request makes new ones)."""
        for client in self._clients.pop(asyncio.get_running_loop(), {}).values():
            await client.close()
