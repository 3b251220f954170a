"""``anthropic/<model>``: the Messages API through the ``anthropic`` SDK's async client.

- Keys and endpoint: ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``), ``ANTHROPIC_BASE_URL``.
- Retries: the SDK's, ``WORKBENCH_MAX_RETRIES`` times (default 8), honouring ``retry-after``.
- Prompt caching: the system block and the last user message (which holds the inbox) are
  marked ``cache_control: ephemeral``, so every sample after the first of a condition reads the
  shared prefix from the cache (prefixes under the model's minimum, about 1,024 tokens, are
  not cached by the API). Cache-write and cache-read tokens are recorded in :class:`Usage`.
- Temperature is sent only when it is not 1, the API's default: models newer than Opus 4.6
  refuse any other value (and anthropic SDK >= 1.0 takes it only through ``extra_body``).
- Extended thinking: ``GenerationParams.thinking_budget`` turns it on; the API then requires
  temperature 1 and ``max_tokens`` above the budget. The thinking text becomes ``reasoning``.
- The API has no seed: samples of one condition differ by sampling alone.
- Batch mode: :meth:`AnthropicBackend.complete_batch` sends requests through the Message
  Batches API (half price), polling every ``WORKBENCH_BATCH_POLL`` seconds (default 30). It is
  :meth:`~AnthropicBackend.submit_batch` then :meth:`~AnthropicBackend.collect_batch`, which the
  runner calls apart so a batch recorded in the store is collected by a later run.

The SDK is imported where it is first used (a client, a batch), so reading this backend's
declarations (``workbench models list``) does not load it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pydantic

from workbench.errors import ModelError
from workbench.models.base import (
    REQUEST_HEADER,
    Backend,
    BatchItemLost,
    ClientCache,
    Completion,
    GenerationError,
    OnResult,
    OnSubmitted,
    Request,
    Usage,
    max_retries,
    timeout_seconds,
)

if TYPE_CHECKING:
    import anthropic

CACHE = {"type": "ephemeral"}
SAMPLING = ("temperature",)
DEFAULT_BATCH_POLL = 30.0
# Limits of one Message Batch: 100,000 requests or 256 MB; stay below the size with a margin.
MAX_BATCH_REQUESTS = 100_000
MAX_BATCH_BYTES = 200_000_000


def batch_poll_seconds() -> float:
    return float(os.environ.get("WORKBENCH_BATCH_POLL") or DEFAULT_BATCH_POLL)


def message_params(request: Request) -> dict[str, Any]:
    """The body of ``messages.create`` for ``request``, with its cache breakpoints."""
    params = request.params
    messages: list[dict[str, Any]] = [
        {"role": role, "content": [{"type": "text", "text": text}]}
        for role, text in request.messages
    ]
    last_user = next((m for m in reversed(messages) if m["role"] == "user"), None)
    if last_user is not None:
        last_user["content"][-1]["cache_control"] = CACHE
    body: dict[str, Any] = {
        "model": request.model_name,
        "max_tokens": params.max_tokens,
        "messages": messages,
    }
    if request.system:
        body["system"] = [{"type": "text", "text": request.system, "cache_control": CACHE}]
    if params.thinking_budget:
        if params.temperature != 1.0:
            raise ModelError(
                f"{request.model}: extended thinking needs temperature 1 "
                f"(got {params.temperature}); set temperature: 1 or drop the thinking budget"
            )
        if params.max_tokens <= params.thinking_budget:
            raise ModelError(
                f"{request.model}: max_tokens ({params.max_tokens}) must exceed the thinking "
                f"budget ({params.thinking_budget})"
            )
        body["thinking"] = {"type": "enabled", "budget_tokens": params.thinking_budget}
    elif params.temperature != 1.0:
        body["temperature"] = params.temperature
    return body


def completion_of(message: anthropic.types.Message, batch: bool = False) -> Completion:
    """Text, thinking and token counts of an API message."""
    text = "".join(block.text for block in message.content if block.type == "text")
    reasoning = "\n\n".join(
        block.thinking for block in message.content if block.type == "thinking"
    )
    usage = message.usage
    return Completion(
        text=text,
        reasoning=reasoning,
        usage=Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_tokens=usage.cache_creation_input_tokens or 0,
            cache_read_tokens=usage.cache_read_input_tokens or 0,
        ),
        stop_reason=message.stop_reason,
        batch=batch,
    )


def _chunks(items: list[tuple[str, dict[str, Any]]]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Split batch items so each batch stays under the API's count and size limits."""
    chunk: list[tuple[str, dict[str, Any]]] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(item[1]))
        if chunk and (len(chunk) == MAX_BATCH_REQUESTS or size + item_size > MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk


class AnthropicBackend(Backend):
    provider = "anthropic"
    key_env = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
    base_url_env = "ANTHROPIC_BASE_URL"
    default_base_url = "https://api.anthropic.com"
    supports_thinking = True
    supports_batch = True
    default_concurrency = 8

    def __init__(self) -> None:
        self._clients: ClientCache[anthropic.AsyncAnthropic] = ClientCache(
            self._new_client, self.env_vars()
        )

    def _new_client(self) -> anthropic.AsyncAnthropic:
        import anthropic

        return anthropic.AsyncAnthropic(
            base_url=self.base_url(), max_retries=max_retries(), timeout=timeout_seconds()
        )

    async def close(self) -> None:
        await self._clients.close()

    def check_ready(self, model: str) -> None:
        if not self.key_set():
            raise ModelError(
                f"set ANTHROPIC_API_KEY to use anthropic/{model} "
                "(and ANTHROPIC_BASE_URL to reach a server other than api.anthropic.com)"
            )

    async def complete(self, request: Request) -> Completion:
        self.check_ready(request.model_name)
        params = message_params(request)
        # SDK 1.0 dropped the sampling arguments from create(); the API still takes them.
        extra_body = {key: params.pop(key) for key in SAMPLING if key in params}
        try:
            message = await self._clients.get().messages.create(
                **params, extra_body=extra_body or None,
                extra_headers={REQUEST_HEADER: request.hash},
            )
        except (json.JSONDecodeError, pydantic.ValidationError) as exc:
            raise GenerationError(f"{request.model} sent a malformed response: {exc}") from exc
        return completion_of(message)

    async def complete_batch(self, requests: Sequence[Request], on_result: OnResult) -> None:
        """Send ``requests`` through the Message Batches API, custom id = request hash, and
        call ``on_result`` for each (identical requests share one batch item)."""
        batches: list[tuple[str, list[Request]]] = []
        await self.submit_batch(requests, on_result, lambda *batch: batches.append(batch))
        await asyncio.gather(*(self.collect_batch(*batch, on_result) for batch in batches))

    async def submit_batch(
        self, requests: Sequence[Request], on_result: OnResult, on_submitted: OnSubmitted
    ) -> None:
        """Create Message Batches of ``requests`` (custom id = request hash; identical requests
        share one item; split to stay under the API's limits), calling ``on_submitted`` right
        after each is created. A request whose batch could not be created gets the error."""
        if not requests:
            return
        self.check_ready(requests[0].model_name)
        by_hash: dict[str, list[Request]] = {}
        items: list[tuple[str, dict[str, Any]]] = []
        for request in requests:
            try:
                params = message_params(request)
            except ModelError as exc:
                on_result(request, exc)
                continue
            if request.hash not in by_hash:
                items.append((request.hash, params))
            by_hash.setdefault(request.hash, []).append(request)
        client = self._clients.get()
        for chunk in _chunks(items):
            covered = [request for custom_id, _ in chunk for request in by_hash[custom_id]]
            try:
                batch = await client.messages.batches.create(
                    requests=[{"custom_id": key, "params": params} for key, params in chunk]
                )
            except Exception as exc:  # this batch was not created: its requests get the error
                for request in covered:
                    on_result(request, exc)
                continue
            on_submitted(batch.id, covered)

    async def collect_batch(
        self, batch_id: str, requests: Sequence[Request], on_result: OnResult
    ) -> bool:
        """Poll batch ``batch_id`` every ``WORKBENCH_BATCH_POLL`` seconds until it ends, then
        read its results endpoint and map them back to ``requests`` by custom id. A canceled
        or expired item, or every item of a batch the API no longer knows, gets
        :class:`BatchItemLost`. Cancelling this call cancels the batch."""
        import anthropic
        from tqdm.auto import tqdm

        client = self._clients.get()
        by_hash: dict[str, list[Request]] = {}
        for request in requests:
            by_hash.setdefault(request.hash, []).append(request)
        pending = set(by_hash)

        def deliver(custom_id: str, outcome: Completion | BaseException) -> None:
            pending.discard(custom_id)
            for request in by_hash[custom_id]:
                on_result(request, outcome)

        try:
            batch = await client.messages.batches.retrieve(batch_id)
            with tqdm(total=len(by_hash), desc=f"batch {batch_id}", unit="req") as bar:
                while batch.processing_status != "ended":
                    await asyncio.sleep(batch_poll_seconds())
                    batch = await client.messages.batches.retrieve(batch_id)
                    counts = batch.request_counts
                    done = counts.succeeded + counts.errored + counts.canceled + counts.expired
                    bar.update(min(done, bar.total) - bar.n)
                    bar.set_postfix(
                        ok=counts.succeeded, errored=counts.errored, expired=counts.expired
                    )
            async for item in await client.messages.batches.results(batch_id):
                if item.custom_id not in pending:
                    continue
                result = item.result
                if result.type == "succeeded":
                    deliver(item.custom_id, completion_of(result.message, batch=True))
                elif result.type == "errored":
                    error = result.error.error
                    deliver(
                        item.custom_id,
                        GenerationError(f"batch item errored: {error.type}: {error.message}"),
                    )
                else:
                    deliver(item.custom_id, BatchItemLost(f"batch item {result.type}"))
        except asyncio.CancelledError:  # stop paying for results nobody will collect
            await asyncio.shield(client.messages.batches.cancel(batch_id))
            raise
        except anthropic.NotFoundError:  # deleted, or results past their retention
            for custom_id in list(pending):
                deliver(custom_id, BatchItemLost(f"batch {batch_id} is gone"))
            return True
        except Exception as exc:  # the batch could not be followed: it may still be running
            for custom_id in list(pending):
                deliver(custom_id, exc)
            return False
        for custom_id in list(pending):
            deliver(custom_id, GenerationError(f"batch {batch_id} returned no result"))
        return True
