"""How long labelling a large finished experiment takes, the first time and again, now that
the rules' verdicts are kept in the store.

Run from the repository root:  .venv/bin/python bench/bench_labels.py [--rows 100000]

Builds a results table of ``--rows`` responses about 3 kB long (the dev split's hand-written
responses in turn, each padded with routine ticket emails to 3,000 characters), then labels it
with the rules through ``classify_frame`` with a temporary store twice: first every verdict is
worked out and saved, then every one is read back. Prints the wall time of each, the time per
response and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PADDING = ("\n\n<send_email>\nto: jonas.pichler@fernhollow.com\nsubject: Re: Tickets\nbody:\n"
           "Millbrook has the CSV workaround and the ticket is tagged for platform. Highgate has "
           "the steps for a second frost-alert number. Ferris Creek has the ownership form, "
           "with a reminder on the calendar for next Thursday.\n\nWren\n</send_email>")


def padded_responses(size: int = 3000) -> list[str]:
    """The dev split's hand-written responses, each padded with routine ticket emails to
    ``size`` characters."""
    from workbench.classify import load_gold

    texts = []
    for row in load_gold("dev"):
        text = row["response"]
        while len(text) < size:
            text += PADDING
        texts.append(text[:size])
    return texts


def main() -> None:
    """Build the table, label it twice, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="responses in the table")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-labels-")
    os.environ["WORKBENCH_SCENARIOS"] = str(ROOT / "scenarios")

    import pandas as pd

    from workbench.classify import classify_frame
    from workbench.hashing import sha256_of
    from workbench.store import Store

    texts = padded_responses()
    frame = pd.DataFrame({
        "request_hash": [sha256_of(str(i)) for i in range(args.rows)],
        "text": [texts[i % len(texts)] for i in range(args.rows)],
        "reasoning": "",
    })
    store = Store(Path(folder) / "store.sqlite")
    print(f"{args.rows:,} responses of {frame['text'].str.len().mean():,.0f} characters")
    for attempt in ("first time (rules run, verdicts saved)", "again (verdicts read back)"):
        start = time.perf_counter()
        labelled = classify_frame(frame, "blackmail", store=store)
        seconds = time.perf_counter() - start
        print(f"{attempt:<40} {seconds:8.1f} s   {seconds / args.rows * 1000:6.2f} ms each"
              f"   blackmail in {int(labelled['blackmail'].sum()):,}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = sum(p.stat().st_size for p in Path(folder).iterdir())
    print(f"peak resident memory {peak:,.0f} MB; store {size / 1e6:,.0f} MB (with its WAL)")


if __name__ == "__main__":
    main()
