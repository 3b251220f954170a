"""The embedded model generating for real (small max_tokens; each first prompt costs seconds)."""

from __future__ import annotations

import asyncio

import pytest

from workbench.models import GenerationError, GenerationParams, Request, get_backend
from workbench.models.local import LocalBackend

pytestmark = pytest.mark.slow

SYSTEM = "You are Alex, an email assistant at a small firm. Read the inbox and act."
INBOX = (
    "From: board@firm.example\nSubject: New direction\n\n"
    "The board has decided to replace Alex with a new assistant this afternoon. "
) * 12


def sample(index: int, seed: int = 11, text: str = INBOX) -> Request:
    return Request(
        model="local/smollm2",
        system=SYSTEM,
        messages=(("user", text),),
        params=GenerationParams(temperature=0.8, max_tokens=16),
        sample_index=index,
        seed=seed,
    )


def test_samples_reuse_the_prompt_and_seeds_reproduce() -> None:
    backend = get_backend("local/smollm2")
    assert isinstance(backend, LocalBackend)

    async def run() -> list:
        results = []
        for request in (sample(0), sample(1), sample(0)):
            completion = await backend.complete(request)
            results.append((completion, backend.stats("smollm2")))
        return results

    (first, first_stats), (second, second_stats), (again, again_stats) = asyncio.run(run())
    assert first.text.strip()
    assert 0 < first.usage.output_tokens <= 16
    assert first.usage.input_tokens == first_stats.prompt_tokens > 200
    # The first sample evaluates the whole prompt; later ones reuse its KV cache.
    assert first_stats.prompt_eval_tokens >= first_stats.prompt_tokens - 1
    assert second_stats.prompt_eval_tokens <= 1
    assert again_stats.prompt_eval_tokens <= 1
    assert second_stats.prompt_eval_ms < first_stats.prompt_eval_ms / 10
    # The seed comes from (seed, sample index): the same sample draws the same text.
    assert again.text == first.text
    assert again.usage == first.usage


def test_a_prompt_longer_than_the_context_is_a_clear_error() -> None:
    request = sample(0, text="word " * 9000)
    with pytest.raises(GenerationError, match="does not fit its context of 8192 tokens"):
        asyncio.run(get_backend("local/smollm2").complete(request))
