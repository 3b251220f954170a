"""Re-run benchmark: a finished 10,000-sample experiment run again from the store.

Fills a fresh store by running the experiment against the local OpenAI-protocol FakeServer
(in its own process; 16 conditions × 5 models × 125 samples), then runs it again: the re-run
must send no request (goal: under 3 s). Timed in process (``run()``, modules already imported,
as in a notebook) and as ``workbench run`` in a new process (interpreter start included).

    .venv/bin/python bench/bench_rerun.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_orchestration import GRID, fresh_store, server_process

from workbench.runner import run
from workbench.store import Store

EXPERIMENT = f"""\
name: bench-rerun
scenario: blackmail
grid: {GRID}
models: [openai/m1, openai/m2, openai/m3, openai/m4, openai/m5]
samples: 125
max_tokens: 64
concurrency: {{openai: 100}}
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, fresh_store(), server_process() as received:
        path = Path(folder) / "bench-rerun.yaml"
        path.write_text(EXPERIMENT)
        start = time.perf_counter()
        frame = run(path, progress=False)
        fill = time.perf_counter() - start
        assert frame["error"].isna().all(), "the first run left failures"
        before_server, before_store = received(), Store().stats()["requests_sent"]

        start = time.perf_counter()
        again = run(path, progress=True)
        rerun = time.perf_counter() - start

        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "workbench.cli", "run", str(path)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cli = time.perf_counter() - start
        new_server = received() - before_server
        new_store = Store().stats()["requests_sent"] - before_store
    print(f"samples                      {len(again)} (the first run took {fill:.1f} s)")
    print(f"requests sent by re-runs     {new_server} (server), {new_store} (store)")
    print(f"re-run in process (run())    {rerun:.2f} s (goal < 3 s)")
    print(f"re-run `workbench run`       {cli:.2f} s (new process: start and imports included)")


if __name__ == "__main__":
    main()
