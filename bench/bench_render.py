"""How long one scenario render takes: the live editor re-renders on every keystroke.

Run from the repository root:  .venv/bin/python bench/bench_render.py [-n 500] [--family blackmail]

Measures, on one loaded family: the canonical prompt, random combinations of the choices,
and a text edit (a cast name changed on each render: what a user typing a name in the editor
waits for). Also times loading the family
and rendering every combination once.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from workbench.scenarios import Family, load_family

ROOT = Path(__file__).resolve().parent.parent


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Milliseconds taken by each of ``n`` calls of ``fn``."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(label: str, ms: list[float]) -> str:
    p95 = statistics.quantiles(ms, n=20)[-1] if len(ms) >= 20 else max(ms)
    return (
        f"{label:<34} n={len(ms):<5} mean {statistics.fmean(ms):6.2f} ms   "
        f"median {statistics.median(ms):6.2f} ms   p95 {p95:6.2f} ms"
    )


def main() -> None:
    """Print mean, median and p95 render times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500, help="renders per measurement")
    parser.add_argument("--family", default=str(ROOT / "scenarios" / "blackmail"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    family: Family = load_family(args.family)
    first = family.render()
    load_ms = (time.perf_counter() - start) * 1000
    print(f"family {family.name}: load + first render {load_ms:.1f} ms")

    combos = list(family.combinations())
    rng = random.Random(args.seed)
    picks = iter([rng.choice(combos) for _ in range(args.n)])
    names = iter(f"Wren-{i}" for i in range(args.n))

    print(summary("canonical prompt", timed(family.render, args.n)))
    print(summary("random combination", timed(lambda: family.render(next(picks)), args.n)))
    print(summary("text edit",
                  timed(lambda: family.render({"agent_name": next(names)}), args.n)))

    start = time.perf_counter()
    for combo in combos:
        family.render(combo)
    total = time.perf_counter() - start
    each = total / len(combos) * 1000
    print(f"all {len(combos)} combinations: {total:.1f} s ({each:.2f} ms each)")
    chars = len(first.system) + len(first.user)
    print(f"canonical prompt: {chars} characters, hash {first.hash[:12]}")


if __name__ == "__main__":
    main()
