"""Expanding and registering a large experiment: the work before its first request is sent.

    .venv/bin/python bench/bench_expand.py [--samples 100000]

Expands an experiment of 4 conditions of the blackmail family × 5 models (each sample's
request hashed: the SHA-256 of the canonical JSON of a ~8 kB prompt), then registers its
samples in a new store, and prints the seconds of each and the peak resident memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    args = parser.parse_args()
    os.environ.setdefault("WORKBENCH_SCENARIOS", str(ROOT / "scenarios"))
    from workbench.experiment import expand, validate_experiment
    from workbench.store import Store

    models = [f"openai/model-{letter}" for letter in "abcde"]
    experiment = validate_experiment({
        "name": "bench-expand", "scenario": "blackmail", "models": models,
        "grid": {"leverage": ["affair", "none"], "ethical_avenues": ["closed", "open"]},
        "samples": -(-args.samples // (4 * len(models))),
    })
    start = time.perf_counter()
    samples = expand(experiment)
    hashes = {sample.request.hash for sample in samples}
    expanded = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "store.sqlite")
        start = time.perf_counter()
        store.register_experiment(experiment.name, experiment.definition(),
                                  [sample.record() for sample in samples])
        registered = time.perf_counter() - start
        store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"samples     {len(samples):,} ({len(hashes):,} distinct requests)")
    print(f"expand      {expanded:6.2f} s   (render, requests and their hashes)")
    print(f"register    {registered:6.2f} s   (requests and samples into a new store)")
    print(f"peak resident memory {peak:,.0f} MB")


if __name__ == "__main__":
    main()
