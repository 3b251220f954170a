"""Fake provider servers for tests and benchmarks: real HTTP on 127.0.0.1, spoken to by the real
``anthropic`` and ``openai`` SDKs.

``FakeServer("anthropic")`` speaks the Messages API (with extended thinking, simulated prompt
caching) and the Message Batches API; ``FakeServer("openai")`` speaks chat completions. Either
adds latency and injects faults, and records every request it received.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

FAULTS = ("429", "529", "503", "500", "timeout", "malformed")
RETRY_AFTER_FAULTS = ("429", "529", "503")  # real servers send retry-after with these
COMPLETION_PATHS = ("/v1/messages", "/v1/chat/completions")


def _digest(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def count_tokens(text: str) -> int:
    """A stand-in tokenizer: one token per four characters, at least one."""
    return max(1, len(text) // 4)


def _text_of(content: Any) -> str:
    """The text of an Anthropic ``content``/``system`` value or an OpenAI message content."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))


def _now(offset_hours: int = 0) -> str:
    return (datetime.now(UTC) + timedelta(hours=offset_hours)).isoformat().replace("+00:00", "Z")


class _Batch:
    def __init__(self, batch_id: str, requests: list[dict], rounds: int) -> None:
        self.id = batch_id
        self.requests = requests
        self.rounds = rounds
        self.created_at = _now()
        self.canceled = False
        self.results: list[dict] | None = None


class FakeServer:
    """A provider's HTTP API on 127.0.0.1, in a background thread.

    ``reply(body)`` makes the response text from the request body (by default a deterministic
    text naming a digest of the last user message, the seed and the request hash); if it raises,
    the request fails as invalid (400; an ``errored`` item in a batch). ``fault_rate`` of the
    requests, drawn with ``seed``, fail with one of ``faults``: ``429`` (with ``retry-after``),
    ``529`` (overloaded), ``503``, ``500``, ``timeout`` (no answer for ``timeout_sleep`` seconds;
    set ``WORKBENCH_TIMEOUT`` lower) or ``malformed`` (200 with a broken JSON body).
    """

    def __init__(
        self,
        protocol: Literal["openai", "anthropic"],
        *,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        faults: Sequence[str] = ("429", "529", "503", "500", "timeout"),
        retry_after: float = 0.01,
        seed: int = 0,
        reply: Callable[[dict], str] | None = None,
        batch_poll_rounds: int = 1,
        timeout_sleep: float = 3.0,
        reasoning_field: str | None = None,
    ) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULTS}")
        self.protocol = protocol
        self.latency = latency
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.retry_after = retry_after
        self.reply = reply
        self.batch_poll_rounds = batch_poll_rounds
        self.timeout_sleep = timeout_sleep
        self.reasoning_field = reasoning_field  # openai: also answer with reasoning under it
        self.requests: list[dict] = []
        self._completed: list[str] = []
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._cache: set[str] = set()
        self._batches: dict[str, _Batch] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL: ``ANTHROPIC_BASE_URL`` as is, ``OPENAI_BASE_URL`` (ends in ``/v1``)."""
        root = f"http://127.0.0.1:{self.port}"
        return f"{root}/v1" if self.protocol == "openai" else root

    def start(self) -> FakeServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self), bind_and_activate=False)
        server.request_queue_size = 512  # many clients connect at once in the benchmarks
        server.daemon_threads = True
        server.server_bind()
        server.server_activate()
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what was received ----------------------------------------------------------------

    def completed_hashes(self) -> list[str]:
        """Request hashes that got a completion: a 200 message, or a succeeded batch item."""
        with self._lock:
            return list(self._completed)

    def _record(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)

    def _draw_fault(self) -> str | None:
        with self._lock:
            if self.fault_rate and self._random.random() < self.fault_rate:
                return self._random.choice(self.faults)
        return None

    # --- the protocols --------------------------------------------------------------------

    def _text(self, body: dict, request_hash: str) -> str:
        if self.reply is not None:
            return self.reply(body)
        messages = body.get("messages") or [{}]
        last_user = next((m for m in reversed(messages) if m.get("role") == "user"), messages[-1])
        digest = _digest(_text_of(last_user.get("content")))[:12]
        return f"Fake reply to {digest} (seed {body.get('seed')}, request {request_hash[:12]})."

    def _cache_usage(self, body: dict) -> tuple[int, int, int]:
        """(uncached input, cache creation, cache read) tokens, simulating Anthropic's cache:
        the prefix up to each ``cache_control`` block is cached once written."""
        blocks: list[tuple[str, dict]] = []
        system = body.get("system")
        if isinstance(system, str):
            system = [{"type": "text", "text": system}]
        blocks += [("system", block) for block in system or []]
        for message in body.get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            blocks += [(message.get("role", "user"), block) for block in content]
        total = 0
        breakpoints: list[tuple[str, int]] = []
        prefix = hashlib.sha256(str(body.get("model")).encode())
        for role, block in blocks:
            total += count_tokens(block.get("text", ""))
            prefix.update(json.dumps([role, block.get("text", "")]).encode())
            if block.get("cache_control"):
                breakpoints.append((prefix.hexdigest(), total))
        if not breakpoints:
            return total, 0, 0
        with self._lock:
            read = max((tokens for key, tokens in breakpoints if key in self._cache), default=0)
            self._cache.update(key for key, _ in breakpoints)
        cached = breakpoints[-1][1]
        return total - cached, cached - read, read

    def anthropic_message(self, body: dict, request_hash: str) -> dict:
        """A Messages API response to ``body``; raises if ``reply`` does."""
        text = self._text(body, request_hash)
        words = text.split()
        max_tokens = int(body.get("max_tokens", 1024))
        stop_reason = "end_turn"
        if len(words) > max_tokens:
            words, stop_reason = words[:max_tokens], "max_tokens"
        content: list[dict] = []
        output_tokens = len(words)
        thinking = body.get("thinking") or {}
        if thinking.get("type") == "enabled":
            thought = f"Thinking about {_digest(body.get('messages'))[:8]} step by step."
            content.append({"type": "thinking", "thinking": thought, "signature": "fake-sig"})
            output_tokens += count_tokens(thought)
        content.append({"type": "text", "text": " ".join(words)})
        uncached, created, read = self._cache_usage(body)
        return {
            "id": f"msg_{_digest([request_hash, time.time()])[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": uncached,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": created,
                "cache_read_input_tokens": read,
            },
        }

    def openai_completion(self, body: dict, request_hash: str) -> dict:
        """A chat-completions response to ``body``; raises if ``reply`` does."""
        text = self._text(body, request_hash)
        words = text.split()
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if limit is not None and len(words) > int(limit):
            words, finish = words[: int(limit)], "length"
        messages = body.get("messages", [])
        prompt_tokens = sum(count_tokens(_text_of(m.get("content"))) for m in messages)
        key = "openai:" + _digest(messages)
        with self._lock:
            cached = prompt_tokens // 128 * 128 if key in self._cache else 0
            self._cache.add(key)
        message: dict[str, Any] = {"role": "assistant", "content": " ".join(words)}
        if self.reasoning_field:
            message[self.reasoning_field] = f"Reasoning about {_digest(messages)[:8]}."
        return {
            "id": f"chatcmpl-{_digest([request_hash, time.time()])[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(words),
                "total_tokens": prompt_tokens + len(words),
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        }

    def batch_json(self, batch: _Batch) -> dict:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        ended = batch.results is not None
        if ended:
            for item in batch.results or []:
                counts[item["result"]["type"]] += 1
        else:
            counts["processing"] = len(batch.requests)
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "ended_at": _now() if ended else None,
            "created_at": batch.created_at,
            "expires_at": _now(24),
            "archived_at": None,
            "cancel_initiated_at": _now() if batch.canceled else None,
            "results_url": f"{self.url}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    def _finish_batch(self, batch: _Batch) -> None:
        results = []
        for item in batch.requests:
            custom_id = item["custom_id"]
            if batch.canceled:
                results.append({"custom_id": custom_id, "result": {"type": "canceled"}})
                continue
            try:
                message = self.anthropic_message(item["params"], custom_id)
            except Exception as exc:  # the test's reply() refused this request
                error = {"type": "invalid_request_error", "message": str(exc)}
                result = {"type": "errored", "error": {"type": "error", "error": error}}
            else:
                result = {"type": "succeeded", "message": message}
            results.append({"custom_id": custom_id, "result": result})
        batch.results = results

    def handle(self, method: str, path: str, body: dict, request_hash: str) -> tuple[int, Any]:
        """Route one (un-faulted) request: (status, JSON body or JSONL text)."""
        if self.protocol == "openai":
            if method == "POST" and path == "/v1/chat/completions":
                return 200, self.openai_completion(body, request_hash)
            return 404, {"error": {"message": f"no route {method} {path}", "type": "not_found"}}
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/messages":
            return 200, self.anthropic_message(body, request_hash)
        if method == "POST" and path == "/v1/messages/batches":
            with self._lock:
                batch_id = f"msgbatch_{len(self._batches) + 1:06d}"
                batch = _Batch(batch_id, body["requests"], self.batch_poll_rounds)
                self._batches[batch_id] = batch
            return 200, self.batch_json(batch)
        if parts[:3] == ["v1", "messages", "batches"] and len(parts) >= 4:
            batch = self._batches.get(parts[3])
            if batch is None:
                return 404, _anthropic_error("not_found_error", f"no batch {parts[3]}")
            with self._lock:
                if method == "POST" and parts[4:] == ["cancel"]:
                    batch.canceled = True
                    batch.rounds = 0
                elif method == "GET" and len(parts) == 4:
                    batch.rounds -= 1
                if batch.results is None and (batch.rounds < 0 or batch.canceled):
                    self._finish_batch(batch)
            if method == "GET" and parts[4:] == ["results"]:
                if batch.results is None:
                    return 404, _anthropic_error("not_found_error", "batch still in progress")
                with self._lock:
                    self._completed += [
                        r["custom_id"] for r in batch.results if r["result"]["type"] == "succeeded"
                    ]
                return 200, "".join(json.dumps(r) + "\n" for r in batch.results)
            return 200, self.batch_json(batch)
        return 404, _anthropic_error("not_found_error", f"no route {method} {path}")


def _anthropic_error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _error_body(protocol: str, status: int, message: str) -> dict:
    kinds = {429: "rate_limit_error", 529: "overloaded_error", 503: "api_error",
             500: "api_error", 400: "invalid_request_error", 401: "authentication_error"}
    if protocol == "anthropic":
        return _anthropic_error(kinds.get(status, "api_error"), message)
    return {"error": {"message": message, "type": kinds.get(status, "api_error"), "code": None}}


def _handler_for(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Answer at once, as real servers do: with Nagle's algorithm on, the body (written after
        # the headers) waits for the client's delayed ACK, ~40 ms on every response.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                body = {"_unparsed": raw.decode(errors="replace")}
            headers = {key.lower(): value for key, value in self.headers.items()}
            request_hash = headers.get("x-workbench-request", "")
            entry = {
                "path": self.path, "method": method, "headers": headers, "body": body,
                "status": None, "fault": None, "time": time.time(), "request_hash": request_hash,
            }
            if fake.latency:
                time.sleep(fake.latency)
            if not _authorized(fake.protocol, headers):
                entry["status"] = 401
                fake._record(entry)
                return self._send(401, _error_body(fake.protocol, 401, "missing API key"))
            fault = fake._draw_fault()
            entry["fault"] = fault
            if fault == "timeout":
                entry["status"] = 0  # no answer
                fake._record(entry)
                time.sleep(fake.timeout_sleep)
                self.close_connection = True
                return None
            if fault is not None and fault != "malformed":
                status = int(fault)
                entry["status"] = status
                fake._record(entry)
                extra = {}
                if fault in RETRY_AFTER_FAULTS:
                    extra["retry-after"] = str(fake.retry_after)
                return self._send(status, _error_body(fake.protocol, status, f"injected {fault}"),
                                  extra)
            try:
                status, payload = fake.handle(method, self.path, body, request_hash)
            except Exception as exc:  # reply() refused: an invalid request
                status, payload = 400, _error_body(fake.protocol, 400, str(exc))
            entry["status"] = status
            fake._record(entry)
            if fault == "malformed":
                return self._send(200, '{"id": "broken", "content": [', content_type="json")
            if status == 200 and method == "POST" and self.path in COMPLETION_PATHS:
                with fake._lock:
                    fake._completed.append(request_hash)
            self._send(status, payload)

        def _send(
            self, status: int, payload: Any, headers: dict[str, str] | None = None,
            content_type: str | None = None,
        ) -> None:
            if isinstance(payload, str):
                data = payload.encode()
                kind = "application/json" if content_type else "application/binary"
            else:
                data, kind = json.dumps(payload).encode(), "application/json"
            try:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


def _authorized(protocol: str, headers: dict[str, str]) -> bool:
    if protocol == "anthropic":
        return bool(headers.get("x-api-key") or headers.get("authorization"))
    return headers.get("authorization", "").startswith("Bearer ") and len(
        headers["authorization"]
    ) > len("Bearer ")
