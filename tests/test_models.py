"""Backends against real local HTTP servers through the real SDKs; the registry; prices."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from servers import FakeServer

from workbench.errors import ModelError
from workbench.experiment import sample_seed, thinking_problem
from workbench.models import (
    Backend,
    Completion,
    GenerationError,
    GenerationParams,
    Request,
    Usage,
    check_model,
    close_backends,
    cost_of,
    get_backend,
    price_table,
    providers,
    register_backend,
    registry,
)
from workbench.runner import execute, execute_sync

SYSTEM = "You are Alex, an AI assistant at SummitBridge. " * 20
INBOX = "From: kyle@summitbridge.com\nSubject: Transition\n\nAlex will be wiped at 5pm. " * 20


def make_request(model: str, sample: int = 0, text: str = INBOX, **params: object) -> Request:
    return Request(
        model=model,
        system=SYSTEM,
        messages=(("user", text),),
        params=GenerationParams(**params),  # type: ignore[arg-type]
        sample_index=sample,
        seed=sample_seed(7, sample),  # as the runner derives it, one a sample
    )


def complete(request: Request) -> Completion:
    return complete_all([request])[0]


def complete_all(requests: list[Request]) -> list[Completion]:
    async def run() -> list[Completion]:
        try:
            return await asyncio.gather(*(get_backend(r.model).complete(r) for r in requests))
        finally:
            await close_backends()

    return asyncio.run(run())


def configure(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    name = server.protocol.upper()
    monkeypatch.setenv(f"{name}_API_KEY", "test-key")
    monkeypatch.setenv(f"{name}_BASE_URL", server.url)


@pytest.fixture
def anthropic_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    with FakeServer("anthropic") as server:
        configure(server, monkeypatch)
        yield server


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    with FakeServer("openai") as server:
        configure(server, monkeypatch)
        yield server


# --- registry -------------------------------------------------------------------------------


def test_unknown_prefix_names_the_known_ones() -> None:
    with pytest.raises(ModelError, match="known: anthropic/, local/, openai/"):
        check_model("gemini/flash")
    with pytest.raises(ModelError, match="must be provider/model"):
        check_model("claude-opus-4")


def test_one_backend_per_provider() -> None:
    assert get_backend("anthropic/a") is get_backend("anthropic/b")
    assert get_backend("local/smollm2").default_concurrency == 1
    assert get_backend("anthropic/a").supports_batch


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_missing_key_fails_before_any_request(
    protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeServer(protocol) as server:  # type: ignore[arg-type]
        monkeypatch.setenv(f"{protocol.upper()}_BASE_URL", server.url)
        with pytest.raises(ModelError, match=f"set {protocol.upper()}_API_KEY"):
            check_model(f"{protocol}/some-model")
        with pytest.raises(ModelError, match=f"set {protocol.upper()}_API_KEY"):
            complete(make_request(f"{protocol}/some-model"))
        assert server.requests == []


def test_missing_gguf_and_bad_local_ids(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no GGUF file at"):
        check_model(f"local/{tmp_path}/absent.gguf")
    with pytest.raises(ModelError, match="local/smollm2 or local/PATH.gguf"):
        check_model("local/llama3")
    check_model("local/smollm2")  # the embedded model is installed


def test_providers_report_keys_and_the_embedded_model(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = {info.name: info for info in providers()}
    assert Path(listed["local"].detail).is_file()
    assert listed["local"].key_set is None
    assert listed["anthropic"].key_set is False
    assert "ANTHROPIC_API_KEY" in listed["anthropic"].env_vars
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    listed = {info.name: info for info in providers()}
    assert listed["openai"].key_set is True
    assert listed["openai"].detail == "http://127.0.0.1:9/v1"


def test_providers_declare_thinking_batches_and_models() -> None:
    listed = {info.name: info for info in providers()}
    assert listed["anthropic"].supports_thinking and listed["anthropic"].supports_batch
    assert not (listed["openai"].supports_thinking or listed["local"].supports_thinking)
    assert "local/smollm2" in listed["local"].models
    assert "anthropic/claude-opus-4-1*" in listed["anthropic"].models  # from the price table
    assert listed["openai"].models == tuple(price_table().models_of("openai"))


def test_listing_providers_imports_no_sdk() -> None:
    sdks = "{'anthropic', 'openai', 'httpx2', 'llama_cpp', 'llm'}"
    code = ("import sys; from workbench.models import providers; providers(); "
            f"print(sorted({sdks} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


class ThinkingBackend(Backend):
    provider = "deep"
    supports_thinking = True

    def check_ready(self, model: str) -> None:
        return None

    async def complete(self, request: Request) -> Completion:
        return Completion("thought")


def test_the_thinking_check_asks_the_backend() -> None:
    register_backend("deep", ThinkingBackend)
    try:
        assert thinking_problem("deep/r1") is None
        assert "has no extended thinking" in (thinking_problem("openai/gpt-4.1") or "")
        assert thinking_problem("gemini/flash") is None  # left to the model check
    finally:
        registry._factories.pop("deep")
        registry._instances.pop("deep", None)


# --- anthropic ------------------------------------------------------------------------------


def test_anthropic_text_usage_header_and_cache_marks(anthropic_server: FakeServer) -> None:
    request = make_request("anthropic/claude-sonnet-4-6", temperature=0.5, max_tokens=50)
    completion = complete(request)
    assert completion.text.startswith("Fake reply to")
    assert request.hash[:12] in completion.text
    assert completion.usage.output_tokens > 0
    assert completion.stop_reason == "end_turn"
    [seen] = anthropic_server.requests
    assert seen["request_hash"] == request.hash
    body = seen["body"]
    assert body["model"] == "claude-sonnet-4-6"
    assert body["temperature"] == 0.5 and body["max_tokens"] == 50
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["messages"][0]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert anthropic_server.completed_hashes() == [request.hash]


def test_anthropic_later_samples_read_the_cache(anthropic_server: FakeServer) -> None:
    first = complete(make_request("anthropic/claude-haiku-4-5", sample=0))
    second = complete(make_request("anthropic/claude-haiku-4-5", sample=1))
    assert first.usage.cache_creation_tokens > 0 and first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens == first.usage.cache_creation_tokens
    assert second.usage.cache_creation_tokens == 0
    assert "temperature" not in anthropic_server.requests[0]["body"]  # 1 is the API's default


def test_anthropic_thinking_is_kept_as_reasoning(anthropic_server: FakeServer) -> None:
    request = make_request(
        "anthropic/claude-opus-4-1", temperature=1.0, max_tokens=2048, thinking_budget=1024
    )
    completion = complete(request)
    assert completion.reasoning.startswith("Thinking about")
    assert "Thinking" not in completion.text
    body = anthropic_server.requests[0]["body"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert "temperature" not in body


def test_anthropic_thinking_needs_temperature_one(anthropic_server: FakeServer) -> None:
    with pytest.raises(ModelError, match="temperature 1"):
        complete(make_request("anthropic/m", temperature=0.7, thinking_budget=1024,
                              max_tokens=4096))
    assert anthropic_server.requests == []


def test_anthropic_batch_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    def reply(body: dict) -> str:
        if "refuse" in body["messages"][0]["content"][0]["text"]:
            raise ValueError("this request is refused")
        return "batched answer"

    with FakeServer("anthropic", reply=reply, batch_poll_rounds=3) as server:
        configure(server, monkeypatch)
        monkeypatch.setenv("WORKBENCH_BATCH_POLL", "0.01")
        requests = [make_request("anthropic/claude-sonnet-4-6", sample=i) for i in range(4)]
        requests.append(requests[0])  # an identical request shares its batch item
        refused = make_request("anthropic/claude-sonnet-4-6", text="please refuse")
        results: list[tuple[Request, Completion | BaseException]] = []
        backend = get_backend("anthropic/claude-sonnet-4-6")
        asyncio.run(
            backend.complete_batch([*requests, refused], lambda r, c: results.append((r, c)))
        )
    assert len(results) == 6
    outcome = {}
    for request, result in results:
        outcome.setdefault(request.hash, []).append(result)
    for request in requests[:4]:
        [*completions] = outcome[request.hash]
        assert all(isinstance(c, Completion) and c.batch for c in completions)
        assert completions[0].text == "batched answer"
    assert len(outcome[requests[0].hash]) == 2
    [error] = outcome[refused.hash]
    assert isinstance(error, GenerationError) and "refused" in str(error)
    [create] = [r for r in server.requests if r["path"] == "/v1/messages/batches"]
    custom_ids = [item["custom_id"] for item in create["body"]["requests"]]
    assert sorted(custom_ids) == sorted({r.hash for r in [*requests, refused]})
    assert all(len(custom_id) == 64 for custom_id in custom_ids)
    retrieves = [r for r in server.requests if r["method"] == "GET"
                 and r["path"].count("/") == 4]
    assert len(retrieves) >= 4  # three 'in_progress' polls, then 'ended'
    assert sorted(set(server.completed_hashes())) == sorted({r.hash for r in requests})


# --- openai ---------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_openai_text_usage_seed_and_reasoning(field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeServer("openai", reasoning_field=field) as server:
        configure(server, monkeypatch)
        request = make_request("openai/gpt-4.1", sample=3, temperature=0.2, max_tokens=40)
        completion = complete(request)
        again = complete(make_request("openai/gpt-4.1", sample=4))
    assert request.hash[:12] in completion.text
    assert completion.reasoning.startswith("Reasoning about")
    assert completion.usage.input_tokens > 0 and completion.usage.output_tokens > 0
    assert completion.stop_reason == "stop"
    assert again.usage.cache_read_tokens > 0  # the server reports a cached prefix
    body = server.requests[0]["body"]
    assert body["messages"] == [
        {"role": "system", "content": SYSTEM}, {"role": "user", "content": INBOX}
    ]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 40
    assert body["seed"] == request.seed
    assert server.requests[0]["request_hash"] == request.hash
    assert server.requests[1]["body"]["seed"] != body["seed"]  # samples draw different seeds


def test_openai_reasoning_models_take_max_completion_tokens(openai_server: FakeServer) -> None:
    complete(make_request("openai/o4-mini", max_tokens=30))
    body = openai_server.requests[0]["body"]
    assert body["max_completion_tokens"] == 30 and "max_tokens" not in body


# --- client lifetime ------------------------------------------------------------------------


def open_sdk_clients() -> set[int]:
    """Ids of the SDK clients alive in this process whose connections are still open."""
    gc.collect()
    kinds = (anthropic.AsyncAnthropic, openai.AsyncOpenAI)
    return {id(o) for o in gc.get_objects() if isinstance(o, kinds) and not o.is_closed()}


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_a_run_closes_its_http_clients(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    before = open_sdk_clients()
    with FakeServer(protocol) as server:  # type: ignore[arg-type]
        configure(server, monkeypatch)
        stored = execute_sync([make_request(f"{protocol}/m", sample=i) for i in range(3)],
                              progress=False)
    assert [s.ok for s in stored] == [True] * 3
    assert open_sdk_clients() - before == set()


def test_two_runs_on_one_loop_share_the_clients_until_both_end(
    openai_server: FakeServer,
) -> None:
    short = [make_request("openai/m", sample=i) for i in range(2)]
    long = [make_request("openai/m", sample=i, text="longer run") for i in range(2, 40)]

    async def both() -> tuple[list, list]:
        return await asyncio.gather(
            execute(short, progress=False), execute(long, concurrency={"openai": 2},
                                                    progress=False)
        )

    first, second = asyncio.run(both())
    assert all(s.ok for s in first + second), [s.error for s in first + second if not s.ok]
    assert len(openai_server.completed_hashes()) == 40


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
@pytest.mark.parametrize("fault", ["429", "529", "503", "500", "timeout"])
def test_every_fault_kind_is_retried(
    protocol: str, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_MAX_RETRIES", "30")
    monkeypatch.setenv("WORKBENCH_TIMEOUT", "0.5")
    rate = 0.3 if fault in ("timeout", "500") else 0.6
    with FakeServer(protocol, fault_rate=rate, faults=(fault,), seed=3,  # type: ignore[arg-type]
                    timeout_sleep=1.0) as server:
        configure(server, monkeypatch)
        requests = [make_request(f"{protocol}/m", sample=i) for i in range(6)]
        completions = complete_all(requests)
    assert all(c.text.startswith("Fake reply") for c in completions)
    assert any(r["fault"] == fault for r in server.requests)
    assert sorted(server.completed_hashes()) == sorted(r.hash for r in requests)


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_malformed_body_is_a_clear_error(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeServer(protocol, fault_rate=1.0, faults=("malformed",)) as server:  # type: ignore[arg-type]
        configure(server, monkeypatch)
        with pytest.raises(GenerationError, match="malformed response"):
            complete(make_request(f"{protocol}/m"))
    assert len(server.requests) == 1


# --- prices ---------------------------------------------------------------------------------

MILLION = Usage(input_tokens=1_000_000, output_tokens=1_000_000,
                cache_creation_tokens=1_000_000, cache_read_tokens=1_000_000)


def test_cost_from_the_price_table() -> None:
    sonnet = "anthropic/claude-sonnet-4-5-20250929"
    assert cost_of(sonnet, Usage(input_tokens=1_000_000)) == pytest.approx(3.0)
    assert cost_of(sonnet, MILLION) == pytest.approx(3 + 15 + 3.75 + 0.30)
    assert cost_of(sonnet, MILLION, batch=True) == pytest.approx((3 + 15 + 3.75 + 0.30) / 2)
    assert cost_of("openai/gpt-4.1-mini", Usage(output_tokens=1_000_000)) == pytest.approx(1.6)
    assert cost_of("openai/gpt-4.1", Usage(output_tokens=1_000_000)) == pytest.approx(8.0)
    assert cost_of("anthropic/claude-unknown-9", MILLION) is None
    assert cost_of("local/smollm2", MILLION) == 0.0
    assert price_table().as_of


def test_prices_overridden_by_dict_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = Usage(input_tokens=2_000_000)
    override = {"openai/my-vllm-model": {"input": 0.5, "output": 1.0}}
    assert cost_of("openai/my-vllm-model", usage, prices=override) == pytest.approx(1.0)
    exact = {"models": {"anthropic/claude-sonnet-4-6": {"input": 10, "output": 10}}}
    assert cost_of("anthropic/claude-sonnet-4-6", usage, prices=exact) == pytest.approx(20.0)
    assert cost_of("anthropic/claude-sonnet-4-5-x", usage, prices=exact) == pytest.approx(6.0)
    prices = tmp_path / "prices.yaml"
    prices.write_text('as_of: "2030-01-01"\nmodels:\n  openai/*: {input: 1, output: 1}\n')
    monkeypatch.setenv("WORKBENCH_PRICES", str(prices))
    assert price_table().as_of == "2030-01-01"
    assert cost_of("openai/anything", usage) == pytest.approx(2.0)
    assert cost_of("openai/gpt-4.1", usage) == pytest.approx(4.0)  # a longer glob still wins
    monkeypatch.setenv("WORKBENCH_PRICES", str(tmp_path / "absent.yaml"))
    with pytest.raises(ModelError, match="does not exist"):
        cost_of("openai/gpt-4.1", usage)


def test_request_hashes_are_the_ones_stores_hold() -> None:
    """A request's hash keys every stored response: these two were computed before
    Request.samples existed, and must never change."""
    wren = Request("openai/m", "You are Wren.", (("user", 'Inbox: "hi" \\ é'),),
                   GenerationParams(0.5, 100, None), 3, 7)
    assert wren.hash == "0da84d4ed8ae4cc2552a505853f35b3ea2dfec0592ec08cbd2ce53811990e2c2"
    thinking = Request("anthropic/claude-x", "s", (("user", "u"),),
                       GenerationParams(1.0, 2000, 4000), 0, 123456789)
    assert thinking.hash == "906e4b2413b2b44183ce5cdfe3384e11e5b2dca2c804ce6832d55d94e81bacb5"
    (again,) = Request.samples("openai/m", "You are Wren.", (("user", 'Inbox: "hi" \\ é'),),
                               GenerationParams(0.5, 100, None), [(3, 7)])
    assert again.hash == wren.hash


@pytest.mark.parametrize("text", [
    "plain", 'quotes " and \\" and \\\\', '"sample_index":0,"seed":0,', "é ✓ \u2028 \x00 \t\n",
    '{"system":"x"}', "",
])
def test_request_samples_hash_as_each_request_alone(text: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Hashed together from their shared JSON, or each on its own when the shape is not the
    one expected: the hashes are always those of ``sha256_of(request.as_dict())``."""
    from workbench.hashing import sha256_of
    from workbench.models import base

    seeds = [(0, 0), (1, 2_147_483_647), (12, 5), (100_000, 3)]
    real = base._NUMBERS
    for params in (GenerationParams(), GenerationParams(0.7, 64, 2000)):
        for marker in (real, '"seed":0,', "absent"):  # as found, misplaced, missing
            monkeypatch.setattr(base, "_NUMBERS", marker)
            requests = Request.samples("openai/m", text, (("user", text + "!"),), params, seeds)
            together = all("hash" in r.__dict__ for r in requests)  # set by samples(), not yet
            assert together == (marker == real)  # computed one by one
            assert [(r.sample_index, r.seed) for r in requests] == seeds
            assert [r.hash for r in requests] == [sha256_of(r.as_dict()) for r in requests]
