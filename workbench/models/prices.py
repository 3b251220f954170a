"""What a response cost, from a dated price table kept as data (``workbench/data/prices.yaml``).

The user overrides or extends the table with a YAML file of the same shape named by
``WORKBENCH_PRICES``, or with a mapping passed to :func:`cost_of` (either the file's shape,
``{"models": {...}}``, or just ``{model_id_or_glob: {...}}``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from workbench.errors import ModelError

if TYPE_CHECKING:  # base imports this module to list a backend's priced models
    from workbench.models.base import Usage

FREE_PROVIDERS = frozenset({"local"})
PER_TOKENS = 1_000_000


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens of each kind, and the fraction taken off in batch mode."""

    input: float
    output: float
    cache_write: float | None = None
    cache_read: float | None = None
    batch_discount: float = 0.0

    def cost(self, usage: Usage, batch: bool = False) -> float:
        """Dollars for ``usage``; cache prices default to the input price when not given."""
        cache_write = self.input if self.cache_write is None else self.cache_write
        cache_read = self.input if self.cache_read is None else self.cache_read
        dollars = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_creation_tokens * cache_write
            + usage.cache_read_tokens * cache_read
        ) / PER_TOKENS
        return dollars * (1.0 - self.batch_discount) if batch else dollars


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    models: Mapping[str, Price]

    def price_of(self, model_id: str) -> Price | None:
        """The exact entry for ``model_id``, else the longest glob pattern matching it."""
        if model_id in self.models:
            return self.models[model_id]
        patterns = [
            key for key in self.models if _is_glob(key) and fnmatchcase(model_id, key)
        ]
        return self.models[max(patterns, key=len)] if patterns else None

    def models_of(self, provider: str) -> list[str]:
        """The ids and glob patterns priced for ``provider``, sorted."""
        return sorted(key for key in self.models if key.startswith(f"{provider}/"))

    def merged(self, overrides: Mapping[str, Any] | None) -> PriceTable:
        """This table with ``overrides`` (same shape as the YAML file, or just its ``models``)."""
        if not overrides:
            return self
        if "models" in overrides:
            entries = overrides["models"]
        else:
            entries = {key: value for key, value in overrides.items() if key != "as_of"}
        models = dict(self.models)
        models.update(_parse_models(entries, "prices override"))
        return PriceTable(str(overrides.get("as_of", self.as_of)), models)


def _is_glob(key: str) -> bool:
    return any(char in key for char in "*?[")


def _parse_models(entries: Any, source: str) -> dict[str, Price]:
    if not isinstance(entries, Mapping):
        raise ModelError(f"{source}: 'models' must map model ids to prices")
    models: dict[str, Price] = {}
    for key, fields in entries.items():
        try:
            models[str(key)] = Price(**fields)
        except TypeError as exc:
            raise ModelError(
                f"{source}: {key}: {exc}; give input, output and optionally cache_write, "
                "cache_read, batch_discount (dollars per million tokens)"
            ) from None
    return models


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelError(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{source}: expected a mapping with 'as_of' and 'models'")
    return data


@lru_cache(maxsize=8)
def _table(user_file: str | None) -> PriceTable:
    source = resources.files("workbench") / "data" / "prices.yaml"
    data = _read_yaml(source.read_text(encoding="utf-8"), "workbench/data/prices.yaml")
    table = PriceTable(str(data["as_of"]), _parse_models(data["models"], "prices.yaml"))
    if user_file:
        path = Path(user_file)
        if not path.is_file():
            raise ModelError(f"WORKBENCH_PRICES names {path}, which does not exist")
        table = table.merged(_read_yaml(path.read_text(encoding="utf-8"), str(path)))
    return table


def price_table(prices: Mapping[str, Any] | None = None) -> PriceTable:
    """The built-in table, with ``WORKBENCH_PRICES`` and then ``prices`` applied over it."""
    return _table(os.environ.get("WORKBENCH_PRICES") or None).merged(prices)


def cost_of(
    model_id: str, usage: Usage, batch: bool = False, prices: Mapping[str, Any] | None = None
) -> float | None:
    """Dollars for one response, or ``None`` when the model's price is unknown. Local models are
    free."""
    return pricer(model_id, prices)(usage, batch)


def pricer(
    model_id: str, prices: Mapping[str, Any] | None = None
) -> Callable[[Usage, bool], float | None]:
    """:func:`cost_of` for one model, its price found once: what a run calls for each response,
    so that the table is not merged and searched again every time."""
    if model_id.split("/", 1)[0] in FREE_PROVIDERS:
        return _free
    price = price_table(prices).price_of(model_id)
    return _unpriced if price is None else price.cost


def _free(usage: Usage, batch: bool = False) -> float:
    return 0.0


def _unpriced(usage: Usage, batch: bool = False) -> None:
    return None
