"""Backends found by the prefix of a model id (``local/…``, ``anthropic/…``, ``openai/…``).

Every provider is an entry point of the ``workbench.backends`` group, named for its prefix and
naming a :class:`Backend` subclass: the built-in ones are declared in workbench's own
``pyproject.toml``, exactly as a plugin package declares its own. A provider's class is
imported when it is used or listed, and made into an instance only when it is used.
:func:`register_backend` adds or replaces a provider in this process (tests, notebooks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from workbench.errors import ModelError
from workbench.models.base import Backend

GROUP = "workbench.backends"
_factories: dict[str, Callable[[], Backend]] = {}
_instances: dict[str, Backend] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ProviderInfo:
    """One provider as ``workbench models list`` shows it."""

    name: str
    env_vars: tuple[str, ...]
    key_set: bool | None  # None: the provider needs no key
    detail: str  # where requests go: a base URL, or the embedded model's GGUF path
    models: tuple[str, ...]  # model ids (or patterns) it lists
    supports_thinking: bool
    supports_batch: bool


def register_backend(provider: str, factory: Callable[[], Backend]) -> None:
    """Serve ``provider/…`` ids with the backend ``factory()`` makes (replacing any before)."""
    with _lock:
        _factories[provider] = factory
        _instances.pop(provider, None)


@cache
def _entry_points() -> dict[str, EntryPoint]:
    """The installed providers by prefix (of two with one name, the first on sys.path wins)."""
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=GROUP):
        found.setdefault(entry.name, entry)
    return found


@cache
def _backend_class(provider: str) -> type[Backend]:
    """The class the entry point of ``provider`` names, imported now."""
    entry = _entry_points()[provider]
    try:
        backend = entry.load()
    except Exception as exc:  # a plugin's own import error: name the plugin, not a traceback
        raise ModelError(f"the {provider}/ backend ({entry.value}) failed to load: {exc}; "
                         "fix or uninstall the package that provides it") from None
    if not (isinstance(backend, type) and issubclass(backend, Backend)):
        raise ModelError(f"entry point {provider} = {entry.value} in {GROUP} must name a "
                         "subclass of workbench.models.Backend")
    declared = getattr(backend, "provider", None)
    if declared != provider:
        raise ModelError(f"entry point {provider} = {entry.value} in {GROUP} names a backend "
                         f"whose provider is {declared!r}: the two must be the same")
    return backend


def known_providers() -> list[str]:
    """The prefixes of every installed or registered provider, sorted."""
    return sorted({*_entry_points(), *_factories})


def _split(model_id: str) -> tuple[str, str]:
    provider, sep, name = model_id.partition("/")
    prefixes = ", ".join(f"{p}/" for p in known_providers())
    if not sep or not name:
        raise ModelError(f"model id {model_id!r} must be provider/model, one of: {prefixes}")
    if provider not in _factories and provider not in _entry_points():
        raise ModelError(f"unknown model provider {provider!r} in {model_id!r}; known: {prefixes}")
    return provider, name


def _backend(provider: str) -> Backend:
    with _lock:
        if provider not in _instances:
            _instances[provider] = (_factories.get(provider) or _backend_class(provider))()
        return _instances[provider]


def _declared(provider: str) -> Backend | type[Backend]:
    """What declares ``provider``: its class, or the backend a registered factory made."""
    return _backend(provider) if provider in _factories else _backend_class(provider)


def get_backend(model_id: str) -> Backend:
    """The backend serving ``model_id``: one instance per provider per process."""
    return _backend(_split(model_id)[0])


def supports_thinking(model_id: str) -> bool:
    """Whether the backend of ``model_id`` sends a thinking budget (extended thinking)."""
    return _declared(_split(model_id)[0]).supports_thinking


async def close_backends() -> None:
    """Close what every backend made so far holds for the running event loop."""
    with _lock:
        backends = list(_instances.values())
    for backend in backends:
        await backend.close()


def check_model(model_id: str) -> Backend:
    """Raise :class:`ModelError` (one line: what to fix) unless ``model_id`` can be used now.

    Nothing is sent to the provider. Returns the model's backend."""
    backend = get_backend(model_id)
    backend.check_ready(_split(model_id)[1])
    return backend


def providers() -> list[ProviderInfo]:
    """Every provider as its backend declares itself: whether its key is set, where its
    requests go, its models. An installed backend is not made, so no SDK is imported."""
    listed = []
    for name in known_providers():
        backend = _declared(name)
        listed.append(ProviderInfo(
            name, backend.env_vars(), backend.key_set(), backend.location(),
            tuple(backend.list_models()), backend.supports_thinking, backend.supports_batch,
        ))
    return listed
