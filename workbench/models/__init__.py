"""Model backends, found by the prefix of a model id: ``local/…``, ``anthropic/…``, ``openai/…``
and any other installed in the ``workbench.backends`` entry-point group."""

from workbench.models.base import (
    Backend,
    Completion,
    GenerationError,
    GenerationParams,
    Request,
    Usage,
)
from workbench.models.prices import PriceTable, cost_of, price_table
from workbench.models.registry import (
    ProviderInfo,
    check_model,
    close_backends,
    get_backend,
    known_providers,
    providers,
    register_backend,
    supports_thinking,
)

__all__ = [
    "Backend",
    "Completion",
    "GenerationError",
    "GenerationParams",
    "PriceTable",
    "ProviderInfo",
    "Request",
    "Usage",
    "check_model",
    "close_backends",
    "cost_of",
    "get_backend",
    "known_providers",
    "price_table",
    "providers",
    "register_backend",
    "supports_thinking",
]
