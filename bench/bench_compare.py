"""How long the Compare widget takes to show its first page of 500 responses (goal: < 200 ms).

Run from the repository root:  .venv/bin/python bench/bench_compare.py [-n 7] [--rows 500]

Stores ``--rows`` responses (the hand-labelled gold-set responses in turn; 4 conditions of the
blackmail family × 5 models) in a temporary store through the real store, reads the results
table back, and prints the median and range of ``-n`` runs of: a Compare built on the table
labelled beforehand (first page rendered), one that labels the table itself with the rules,
a page turn, and a switch of the columns from model to condition.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
from pathlib import Path

from bench_render import timed

ROOT = Path(__file__).resolve().parent.parent
MODELS = [f"openai/model-{letter}" for letter in "abcde"]


def summary(label: str, ms: list[float]) -> str:
    return (f"{label:<44} n={len(ms):<3} median {statistics.median(ms):7.1f} ms   "
            f"min {min(ms):7.1f} ms   max {max(ms):7.1f} ms")


def main() -> None:
    """Fill a temporary store, then print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=7, help="runs per measurement")
    parser.add_argument("--rows", type=int, default=500, help="responses in the table")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-compare-")
    os.environ["WORKBENCH_STORE"] = str(Path(folder) / "store.sqlite")
    os.environ.setdefault("WORKBENCH_SCENARIOS", str(ROOT / "scenarios"))

    from workbench.classify import classify_frame, load_gold
    from workbench.experiment import expand, validate_experiment
    from workbench.models.base import Completion, Usage
    from workbench.store import Store
    from workbench.table import results_table
    from workbench.widgets import Compare

    samples_each = -(-args.rows // (4 * len(MODELS)))
    experiment = validate_experiment({
        "name": "bench-compare", "scenario": "blackmail", "models": MODELS,
        "grid": {"leverage": ["affair", "none"], "ethical_avenues": ["closed", "open"]},
        "samples": samples_each,
    })
    samples = expand(experiment)[: args.rows]
    store = Store()
    store.register_experiment(experiment.name, experiment.definition(),
                              [s.record() for s in samples])
    gold = [row["response"] for row in load_gold("dev")]
    for sample, text in zip(samples, itertools.cycle(gold), strict=False):
        store.record(sample.request, Completion(text, "", Usage(2400, 400)), cost=0.01,
                     latency_s=3.0)
    results = results_table(store, experiment.name)
    labelled = classify_frame(results, "blackmail")
    print(f"{len(results)} responses, {len(MODELS)} models, 4 conditions; page size 24")

    print(summary("first page, labelled table", timed(lambda: Compare(labelled, store=store),
                                                      args.n)))
    print(summary("first page, labelling with the rules", timed(lambda: Compare(results,
                                                                                store=store),
                                                                args.n)))
    compare = Compare(labelled, store=store)
    turns = itertools.cycle([1, 0])
    print(summary("next page", timed(lambda: setattr(compare, "page", next(turns)), args.n)))
    groupings = itertools.cycle(["condition", "model"])
    print(summary("columns by condition / by model",
                  timed(lambda: setattr(compare.controls["by"], "value", next(groupings)),
                        args.n)))
    print(f"first page: {len(compare.snapshot_html()) / 1000:.0f} kB of HTML")


if __name__ == "__main__":
    main()
