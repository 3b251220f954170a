"""Backends found by the prefix of a model id (``local/…``, ``anthropic/…``, ``openai/…``)."""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from workbench.errors import ModelError
from workbench.models.base import Backend

# provider -> "module:Class", imported on first use so that `anthropic/…` never loads llama.cpp
_BUILTIN = {
    "local": "workbench.models.local:LocalBackend",
    "anthropic": "workbench.models.anthropic:AnthropicBackend",
    "openai": "workbench.models.openai:OpenAIBackend",
}
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


def register_backend(provider: str, factory: Callable[[], Backend]) -> None:
    """Serve ``provider/…`` ids with the backend ``factory()`` makes (replacing any before)."""
    with _lock:
        _factories[provider] = factory
        _instances.pop(provider, None)


def known_providers() -> list[str]:
    return sorted({*_BUILTIN, *_factories})


def _split(model_id: str) -> tuple[str, str]:
    provider, sep, name = model_id.partition("/")
    prefixes = ", ".join(f"{p}/" for p in known_providers())
    if not sep or not name:
        raise ModelError(f"model id {model_id!r} must be provider/model, one of: {prefixes}")
    if provider not in _BUILTIN and provider not in _factories:
        raise ModelError(f"unknown model provider {provider!r} in {model_id!r}; known: {prefixes}")
    return provider, name


def _make(provider: str) -> Backend:
    if provider in _factories:
        return _factories[provider]()
    module_name, _, class_name = _BUILTIN[provider].partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def get_backend(model_id: str) -> Backend:
    """The backend serving ``model_id``: one instance per provider per process."""
    provider, _ = _split(model_id)
    with _lock:
        if provider not in _instances:
            _instances[provider] = _make(provider)
        return _instances[provider]


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
    """Every built-in provider, whether its key is set, and where its requests go."""
    from workbench.models.local import smollm2_path

    def key(name: str) -> bool:
        return bool(os.environ.get(name))

    return [
        ProviderInfo("local", (), None, str(smollm2_path())),
        ProviderInfo(
            "anthropic",
            ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
            key("ANTHROPIC_API_KEY") or key("ANTHROPIC_AUTH_TOKEN"),
            os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com",
        ),
        ProviderInfo(
            "openai",
            ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
            key("OPENAI_API_KEY"),
            os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1",
        ),
    ]
