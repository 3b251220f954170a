"""The results table: one row a sample of an experiment, the table every analysis starts from.

Built from the store's rows (:meth:`workbench.store.Store.sample_pages`) and the experiment's
stored definition; :func:`workbench.runner.results` and ``workbench.results(name)`` return it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.store import Store, actions_json

if TYPE_CHECKING:
    import pandas as pd

TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")


def results_table(store: Store, name: str, since: float | None = None) -> pd.DataFrame:
    """One row a sample of experiment ``name``, finished, failed or not yet run.

    Columns: condition_id, condition (a short label: the grid's variables, or the
    condition id when there is no grid), each variable the grid varies or fixes, model,
    sample, seed, request_hash, text, reasoning, actions (JSON of the emails sent, the drafts
    and the reasoning's spans: :meth:`~workbench.actions.ParsedResponse.actions_dict`),
    input/output/cache tokens, cost, latency_s, error ("not run" if never tried), cached
    (finished before unix time ``since``, i.e. reused, not sent; with no ``since``: finished)
    and ``values`` (JSON of all variables).
    """
    import pandas as pd

    definition = store.definition(name)
    grid = list(definition.get("grid") or {})
    variables = grid + [v for v in definition.get("fixed") or {} if v not in grid]
    frames = [_page_frame(rows, grid, variables, since) for rows in store.sample_pages(name)]
    if not frames:
        return _page_frame([], grid, variables, since)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _page_frame(rows: list[tuple[Any, ...]], grid: list[str], variables: list[str],
                since: float | None) -> pd.DataFrame:
    """The results table of one page of the store's sample rows: built a page at a time, so
    the raw rows of one page are held at once, never of the whole experiment."""
    import pandas as pd

    fields = Store.SAMPLE_COLUMNS
    column: dict[str, Any] = dict(zip(fields, map(list, zip(*rows, strict=True)), strict=True)
                                  ) if rows else {field: [] for field in fields}
    decoded = {text: json.loads(text) for text in set(column["values"])}  # one a condition
    parsed = [decoded[text] for text in column["values"]]
    texts = column["text"]
    data: dict[str, Any] = {
        "condition_id": column["condition_id"],
        "condition": [", ".join(f"{v}={p.get(v)}" for v in grid) if grid else condition
                      for p, condition in zip(parsed, column["condition_id"], strict=True)],
        **{variable: [p.get(variable) for p in parsed] for variable in variables},
    }
    data |= {key: column[key] for key in ("model", "sample", "seed", "request_hash")}
    data |= {key: _strings(column[key]) for key in ("text", "reasoning")}
    data["actions"] = _strings([
        actions if actions is not None or text is None else actions_json(text.decode()).encode()
        for text, actions in zip(texts, column["actions"], strict=True)])
    data |= {key: [value or 0 for value in column[key]] for key in TOKEN_COLUMNS}
    data |= {key: column[key] for key in ("cost", "latency_s")}
    data["error"] = _strings(["not run" if text is None and error is None else error
                              for text, error in zip(texts, column["error"], strict=True)])
    data["cached"] = [text is not None and (since is None or created < since)
                      for text, created in zip(texts, column["created"], strict=True)]
    data["values"] = column["values"]
    frame = pd.DataFrame(data)
    for key in TOKEN_COLUMNS:
        frame[key] = frame[key].astype("int64")
    for key in ("cost", "latency_s"):
        frame[key] = frame[key].astype("float64")
    return frame


def _strings(values: list[bytes | str | None]) -> pd.Series:
    """A column of text from UTF-8 bytes or strings (None for missing), of pandas' string type
    whatever a page holds (a page without errors too), converted in pyarrow at once rather than
    one Python string at a time.

    Its memory comes from the C library's allocator, not pyarrow's default (mimalloc): on a
    100,000-row table mimalloc's fresh memory sometimes cost over a second of kernel time
    (see bench/RESULTS.md)."""
    import pyarrow as pa

    pool = pa.system_memory_pool()
    strings = pa.array(values, pa.large_binary(), memory_pool=pool).cast(
        pa.large_string(), memory_pool=pool)
    return strings.to_pandas(memory_pool=pool)


def export_parquet(store: Store, name: str, path: str | Path) -> Path:
    """Write experiment ``name``'s results (see :func:`results_table`) to a Parquet file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    results_table(store, name).to_parquet(path, index=False)
    return path
