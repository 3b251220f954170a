"""How long the results table of a large finished experiment takes to open (goal: 100,000 rows
in under 3 s, under 1 GB resident).

Run from the repository root:  .venv/bin/python bench/bench_results.py [--rows 100000]

Registers an experiment of ``--rows`` samples (4 conditions of the blackmail family × 5
models) in a temporary store and records a response of about 3 kB for each (the dev split's
hand-written responses in turn, padded with routine ticket emails). Then a fresh process opens
its results table (:func:`workbench.table.results_table`) twice and prints the wall time of
each with its user and kernel CPU time (and, apart, the time of importing pandas and pyarrow)
and its peak resident memory, so the
figure is the opening's alone, not the filling's. ``--open STORE NAME`` opens an existing
store's table again, the same way.
With ``--older``, the stored actions are first cleared, as a store written before they were
kept holds them, so the table parses every response.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import sqlite3
import subprocess
import sys
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
    parser.add_argument("--older", action="store_true",
                        help="clear the stored actions first, as an older store holds them")
    parser.add_argument("--open", nargs=2, metavar=("STORE", "NAME"),
                        help="only open the results of experiment NAME in STORE, twice")
    args = parser.parse_args()
    if args.open:
        open_twice(*args.open)
        return
    folder = tempfile.mkdtemp(prefix="bench-results-")
    os.environ.setdefault("WORKBENCH_SCENARIOS", str(ROOT / "scenarios"))

    from workbench.experiment import expand, validate_experiment
    from workbench.models.base import Completion, Usage
    from workbench.store import Store

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
    store.close()
    if args.older:
        with sqlite3.connect(Path(folder) / "store.sqlite") as db:
            db.execute("UPDATE responses SET actions = NULL")
    subprocess.run([sys.executable, __file__, "--open", str(Path(folder) / "store.sqlite"),
                    experiment.name], check=True)


def open_twice(path: str, name: str) -> None:
    """Open experiment ``name``'s results table in the store at ``path`` twice; print the
    figures."""
    start = time.perf_counter()
    import pandas  # noqa: F401  (imported once a process; timed apart from the opens)
    import pyarrow  # noqa: F401

    print(f"{'imports':<14} {time.perf_counter() - start:6.2f} s   (pandas, pyarrow)")
    from workbench.store import Store
    from workbench.table import results_table

    store = Store(path)
    for attempt in ("first open", "second open"):
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        table = results_table(store, name)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        print(f"{attempt:<14} {wall:6.2f} s   {len(table):,} rows   (CPU: user "
              f"{after.ru_utime - before.ru_utime:.2f} s, kernel "
              f"{after.ru_stime - before.ru_stime:.2f} s)")
        del table
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the opening process {peak:,.0f} MB")

if __name__ == "__main__":
    main()
