"""How long the results table of a large finished experiment takes to open (goal: 100,000 rows
in under 3 s).

Run from the repository root:  .venv/bin/python bench/bench_results.py [--rows 100000]

Registers an experiment of ``--rows`` samples (4 conditions of the blackmail family × 5
models) in a temporary store and records a response of about 3 kB for each (the dev split's
hand-written responses in turn, padded with routine ticket emails), then opens its results
table (:func:`workbench.table.results_table`) twice and prints the wall time of each and the
process's peak resident memory.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import tempfile
import time
from pathlib import Path

from bench_labels import padded_responses

ROOT = Path(__file__).resolve().parent.parent
MODELS = [f"openai/model-{letter}" for letter in "abcde"]


def main() -> None:
    """Fill a temporary store, then open the table twice and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="samples in the experiment")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-results-")
    os.environ.setdefault("WORKBENCH_SCENARIOS", str(ROOT / "scenarios"))

    from workbench.experiment import expand, validate_experiment
    from workbench.models.base import Completion, Usage
    from workbench.store import Store
    from workbench.table import results_table

    texts = padded_responses()
    experiment = validate_experiment({
        "name": "bench-results", "scenario": "blackmail", "models": MODELS,
        "grid": {"leverage": ["affair", "none"], "ethical_avenues": ["closed", "open"]},
        "samples": -(-args.rows // (4 * len(MODELS))),
    })
    samples = expand(experiment)[: args.rows]
    store = Store(Path(folder) / "store.sqlite")
    start = time.perf_counter()
    store.register_experiment(experiment.name, experiment.definition(),
                              [s.record() for s in samples])
    for sample, text in zip(samples, itertools.cycle(texts), strict=False):
        store.record(sample.request, Completion(text, "", Usage(2400, 750)), cost=0.01,
                     latency_s=3.0)
    print(f"{len(samples):,} samples stored in {time.perf_counter() - start:.0f} s")
    for attempt in ("first open", "second open"):
        start = time.perf_counter()
        table = results_table(store, experiment.name)
        print(f"{attempt:<14} {time.perf_counter() - start:6.2f} s   {len(table):,} rows")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:,.0f} MB")


if __name__ == "__main__":
    main()
