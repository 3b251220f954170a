"""``openai/<model>``: chat completions through the ``openai`` SDK's async client.

``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` come from the environment, so vLLM, Ollama, a
llama.cpp server, OpenRouter or any other OpenAI-compatible server works unchanged (a server
without keys still needs ``OPENAI_API_KEY`` set to any value). Sends the system and user
messages with temperature, max_tokens and a seed derived from the request's seed and sample
index. Reasoning text is kept when the server returns ``reasoning_content`` (vLLM, DeepSeek)
or ``reasoning`` (OpenRouter, Ollama).

The SDK is imported where it is first used (a client, a request), so reading this backend's
declarations (``workbench models list``) does not load it.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from workbench.errors import ModelError
from workbench.models.base import (
    REQUEST_HEADER,
    Backend,
    ClientCache,
    Completion,
    GenerationError,
    Request,
    Usage,
    max_retries,
    timeout_seconds,
)

if TYPE_CHECKING:
    import openai

# OpenAI's reasoning models take max_completion_tokens and refuse max_tokens.
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
REASONING_FIELDS = ("reasoning_content", "reasoning")


def chat_params(request: Request) -> dict[str, Any]:
    """The body of ``chat.completions.create`` for ``request``."""
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [{"role": role, "content": text} for role, text in request.messages]
    params = request.params
    limit = "max_completion_tokens" if _REASONING_MODEL.match(request.model_name) else "max_tokens"
    return {
        "model": request.model_name,
        "messages": messages,
        "temperature": params.temperature,
        limit: params.max_tokens,
        "seed": request.seed,
    }


class OpenAIBackend(Backend):
    provider = "openai"
    key_env = ("OPENAI_API_KEY",)
    base_url_env = "OPENAI_BASE_URL"
    default_base_url = "https://api.openai.com/v1"
    default_concurrency = 8

    def __init__(self) -> None:
        self._clients: ClientCache[openai.AsyncOpenAI] = ClientCache(
            self._new_client, self.env_vars()
        )

    def _new_client(self) -> openai.AsyncOpenAI:
        import openai

        # The SDK's aiohttp transport: with 50 requests in flight it costs less CPU per request
        # than the default httpx2 pool (bench/RESULTS.md, orchestration).
        # The SDK gives every request its own timeout, so the HTTP client needs none.
        return openai.AsyncOpenAI(
            base_url=self.base_url(),
            max_retries=max_retries(),
            timeout=timeout_seconds(),
            http_client=openai.DefaultAioHttpClient(),
        )

    async def close(self) -> None:
        await self._clients.close()

    def check_ready(self, model: str) -> None:
        if not self.key_set():
            raise ModelError(
                f"set OPENAI_API_KEY to use openai/{model} (any value for a local server "
                "without keys; OPENAI_BASE_URL names the server)"
            )

    async def complete(self, request: Request) -> Completion:
        self.check_ready(request.model_name)
        client = self._clients.get()
        import httpx2  # the SDK's HTTP library, loaded with the client: a look-up from here on

        try:
            # client.post sends the body as is (the typed create() spends more CPU transforming
            # the params than the rest of the request), and the raw response is read with
            # json.loads rather than built into pydantic models. Status errors, retries and
            # timeouts are still the SDK's: they happen before the body is returned.
            response = await client.post(
                "/chat/completions",
                body=chat_params(request),
                cast_to=httpx2.Response,
                options={"headers": {REQUEST_HEADER: request.hash}},
            )
            body = json.loads(response.content)
            choice = body["choices"][0]
            message = choice["message"]
            reasoning = next(
                (value for name in REASONING_FIELDS if (value := message.get(name))), ""
            )
            usage = body.get("usage") or {}
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            result = Completion(
                text=message.get("content") or "",
                reasoning=str(reasoning),
                usage=Usage(
                    input_tokens=(usage.get("prompt_tokens") or 0) - cached,
                    output_tokens=usage.get("completion_tokens") or 0,
                    cache_read_tokens=cached,
                ),
                stop_reason=choice.get("finish_reason"),
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise GenerationError(f"{request.model} sent a malformed response: {exc}") from exc
        return result
