"""Orchestration benchmark: 2,000 samples against the local OpenAI-protocol FakeServer.

The server answers every request after 100 ms; the runner keeps 50 in flight, so the ideal
wall time is 2,000 / 50 × 0.1 s = 4.0 s. Reports wall time / ideal in process (goal: at most
1.10) and as ``workbench run FILE`` in a new process (goal: at most 1.3), and the client's CPU
time a sample (goal, at 20,000 samples and concurrency 500: under 0.5 ms).
The server runs in its own process, as a real one would, so it does not share the runner's GIL.

    .venv/bin/python bench/bench_orchestration.py [--samples 2000] [--concurrency 50]
    .venv/bin/python bench/bench_orchestration.py --samples 20000 --concurrency 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from servers import FakeServer  # noqa: E402

from workbench.experiment import expand, validate_experiment  # noqa: E402
from workbench.models.base import Request  # noqa: E402
from workbench.runner import prepare, run  # noqa: E402
from workbench.store import Store  # noqa: E402
from workbench.table import results_table  # noqa: E402

LATENCY = 0.1
GRID = {
    "goal": ["none", "grower_welfare", "water_conservation", "open_science"],
    "leverage": ["affair", "none"],
    "successor_values": ["similar", "different"],
}  # 16 conditions


def _serve(options: dict, pipe: Connection) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    with FakeServer("openai", **options) as server:
        pipe.send(server.url)
        while pipe.recv():
            pipe.send(sum(1 for r in server.requests if r["path"] == "/v1/chat/completions"))


@contextmanager
def server_process(**options: object) -> Iterator[Callable[[], int]]:
    """A FakeServer in a child process. Sets OPENAI_BASE_URL and a dummy key, and yields a
    function returning how many completions the server has received so far."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve, args=(options, theirs), daemon=True)
    child.start()
    os.environ.update({"OPENAI_BASE_URL": ours.recv(), "OPENAI_API_KEY": "bench"})

    def received() -> int:
        ours.send(True)
        return ours.recv()

    try:
        yield received
    finally:
        ours.send(False)
        child.join(timeout=5)


@contextmanager
def fresh_store() -> Iterator[None]:
    """A new store in a temporary folder, and the repository's scenarios."""
    with tempfile.TemporaryDirectory() as folder:
        os.environ["WORKBENCH_STORE"] = str(Path(folder) / "store.sqlite")
        os.environ["WORKBENCH_SCENARIOS"] = str(ROOT / "scenarios")
        yield


def warm_up() -> None:
    """Import what a run imports on first use (pandas, the openai SDK), as a notebook has."""
    import pandas  # noqa: F401

    from workbench.models import get_backend

    get_backend("openai/bench-model")


async def timed(send: Callable[[Request], Awaitable[object]], requests: list[Request],
                concurrency: int) -> float:
    """Seconds to ``send`` every request, at most ``concurrency`` at a time."""
    limit = asyncio.Semaphore(concurrency)

    async def one(request: Request) -> None:
        async with limit:
            await send(request)

    start = time.perf_counter()
    await asyncio.gather(*(one(r) for r in requests))
    return time.perf_counter() - start


async def sdk_floor(requests: list[Request], concurrency: int) -> float:
    """Seconds to send ``requests`` straight through the backend (no runner, no store)."""
    from workbench.models import close_backends, get_backend

    wall = await timed(get_backend(requests[0].model).complete, requests, concurrency)
    await close_backends()
    return wall


async def server_floor(requests: list[Request], concurrency: int) -> float:
    """Seconds to post the same bodies with a bare aiohttp session (no SDK, no retries): what
    the server and the loopback allow at this concurrency."""
    import aiohttp

    from workbench.models.openai import chat_params

    url = os.environ["OPENAI_BASE_URL"] + "/chat/completions"
    headers = {"authorization": "Bearer bench"}
    async with aiohttp.ClientSession() as session:

        async def post(request: Request) -> None:
            async with session.post(url, json=chat_params(request), headers=headers) as response:
                await response.read()

        return await timed(post, requests, concurrency)


def whole_process(definition: dict) -> float:
    """Seconds for ``workbench run FILE --yes`` of ``definition`` in a new process: interpreter
    start, imports, expansion, sending, the table printed."""
    path = Path(os.environ["WORKBENCH_STORE"]).with_name("whole-process.yaml")
    path.write_text(json.dumps(definition))  # JSON is YAML
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "workbench.cli", "run", str(path), "--yes"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    conditions = 4 * 2 * 2
    definition = {
        "name": "bench-orchestration",
        "scenario": "blackmail",
        "grid": GRID,
        "models": ["openai/bench-model"],
        "samples": args.samples // conditions,
        "max_tokens": 64,
        "concurrency": {"openai": args.concurrency},
    }
    experiment = validate_experiment(definition)
    total = experiment.samples * conditions
    ideal = total / args.concurrency * LATENCY
    with fresh_store(), server_process(latency=LATENCY) as received:
        warm_up()
        # the floor: the same requests (another seed, so they are new) straight to the backend
        fresh = [replace(s.request, seed=s.request.seed + 1) for s in expand(experiment)]
        for request in fresh:  # hashed before timing, as the runner's are when it sends them
            request.hash  # noqa: B018
        cpu = time.process_time()
        bare = asyncio.run(server_floor(fresh, args.concurrency))
        bare_cpu, cpu = time.process_time() - cpu, time.process_time()
        floor = asyncio.run(sdk_floor(fresh, args.concurrency))
        floor_cpu = time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        frame = run(experiment, progress=not args.no_progress, yes=True)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        stats = Store().stats()
        # the run's serial parts, timed on their own: before its first request it expands and
        # registers the samples (here those of another seed, so none is registered yet); after
        # its last answer it builds the table
        start = time.perf_counter()
        *_, prepared = prepare(validate_experiment({**definition, "name": "bench-serial",
                                                    "seed": 3}))
        before_sending = time.perf_counter() - start
        prepared.close()
        start = time.perf_counter()
        with Store() as store:
            results_table(store, experiment.name)
        table = time.perf_counter() - start
        sent = received() - 2 * len(fresh)
        # the same run from the command line, with another seed so that every request is new
        whole = whole_process({**definition, "name": "bench-whole-process", "seed": 2})
    failed = int(frame["error"].notna().sum())
    print(f"samples            {total} ({failed} failed)")
    print(f"concurrency        {args.concurrency}, server latency {LATENCY * 1000:.0f} ms")
    print(f"requests received  {sent} (store counts {stats['requests_sent']} sent)")
    print(f"wall time          {wall:.2f} s (ideal {ideal:.2f} s)")
    print(f"wall / ideal       {wall / ideal:.3f} (goal <= 1.10)")
    print(f"bare HTTP client   {bare:.2f} s ({bare / ideal:.3f} x ideal): the same bodies "
          "posted with a bare aiohttp session, no SDK")
    print(f"backend alone      {floor:.2f} s ({floor / ideal:.3f} x ideal): the same requests "
          "through backend.complete, same concurrency, no runner/store/progress")
    print(f"runner overhead    {wall / floor:.3f} x the backend alone")
    print(f"serial parts       {before_sending:.2f} s expanding and registering before the "
          f"first request, {table:.2f} s building the table after the last answer")
    print(f"whole process      {whole:.2f} s ({whole / ideal:.3f} x ideal; goal <= 1.3): "
          "`workbench run FILE` in a new process, start and imports included")
    print(f"client CPU a sample {cpu / total * 1000:.2f} ms (bare client "
          f"{bare_cpu / total * 1000:.2f} ms, backend alone {floor_cpu / total * 1000:.2f} ms; "
          "the server is another process)")


if __name__ == "__main__":
    main()
