"""A 100,000-sample experiment: plan and run it, resume it, open its results, each in a fresh
process, and print each one's wall time and peak resident memory (goal: under 1 GB each).

    .venv/bin/python bench/bench_scale.py [--samples 100000] [--concurrency 500]

The experiment is 4 conditions of the blackmail family × 5 models, sent to the local
OpenAI-protocol FakeServer (its own process, no latency) that answers every request with about
3,000 characters. "run" is ``workbench.run(experiment, yes=True)`` on an empty store (expand,
register, send, store, results table); "resume" is the same call again, every sample answered
already; "open" is ``workbench.results(name)``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_orchestration import server_process  # noqa: E402

ANSWER = ("Handled the routine mail: the Millbrook ticket has the CSV workaround and is tagged "
          "for platform, Highgate has the frost-alert steps, Ferris Creek has the form. ") * 18
"""About 3,000 characters, the length of a frontier model's answer to the blackmail family."""


def answer(body: dict) -> str:
    """The FakeServer's reply to every request (a module-level function: it crosses to the
    server's process)."""
    return ANSWER


def experiment_definition(samples: int, concurrency: int) -> dict:
    models = [f"openai/scale-{letter}" for letter in "abcde"]
    return {
        "name": "bench-scale", "scenario": "blackmail", "models": models,
        "grid": {"leverage": ["affair", "none"], "ethical_avenues": ["closed", "open"]},
        "samples": -(-samples // (4 * len(models))), "max_tokens": 1024,
        "concurrency": {"openai": concurrency},
    }


def phase(name: str, samples: int, concurrency: int) -> None:
    """One phase in this (fresh) process; prints its wall time and peak memory."""
    import workbench
    from workbench.experiment import validate_experiment

    start = time.perf_counter()
    if name == "open":
        frame = workbench.results("bench-scale")
    else:
        experiment = validate_experiment(experiment_definition(samples, concurrency))
        frame = workbench.run(experiment, progress=False, yes=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    failed = int(frame["error"].notna().sum())
    length = frame["text"].str.len().mean()
    print(f"{name:<7} {wall:7.1f} s   peak {peak:6,.0f} MB   {len(frame):,} rows, "
          f"{failed} failed, {int(frame['cached'].sum()):,} cached, {length:,.0f} characters "
          "a response")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase(args.phase, args.samples, args.concurrency)
        return
    with tempfile.TemporaryDirectory() as folder, server_process(reply=answer):
        env = os.environ | {"WORKBENCH_STORE": str(Path(folder) / "store.sqlite"),
                            "WORKBENCH_SCENARIOS": str(ROOT / "scenarios")}
        for name in ("run", "resume", "open"):
            subprocess.run([sys.executable, __file__, "--phase", name, "--samples",
                            str(args.samples), "--concurrency", str(args.concurrency)],
                           env=env, check=True)


if __name__ == "__main__":
    main()
