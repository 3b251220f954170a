"""The results table: one row a sample of an experiment, the table every analysis starts from.

Built from the store's rows (:meth:`workbench.store.Store.sample_rows`) and the experiment's
stored definition; :func:`workbench.runner.results` and ``workbench.results(name)`` return it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.hashing import canonical_json

if TYPE_CHECKING:
    import pandas as pd

    from workbench.store import Store


def results_table(store: Store, name: str, since: float | None = None) -> pd.DataFrame:
    """One row a sample of experiment ``name``, finished, failed or not yet run.

    Columns: condition_id, condition (a short label: the grid's variables, or the
    condition id when there is no grid), each variable the grid varies or fixes, model,
    sample, seed, request_hash, text, reasoning, actions (JSON of the parsed emails),
    input/output/cache tokens, cost, latency_s, error ("not run" if never tried), cached
    (finished before unix time ``since``, i.e. reused, not sent; with no ``since``: finished)
    and ``values`` (JSON of all variables).
    """
    import pandas as pd

    from workbench.actions import parse_response

    definition = store.definition(name)
    variables = list(definition.get("grid") or {}) + [
        v for v in definition.get("fixed") or {} if v not in (definition.get("grid") or {})
    ]
    rows = store.sample_rows(name)
    columns = list(store.SAMPLE_COLUMNS)
    frame = pd.DataFrame.from_records(rows, columns=columns)
    decoded = {text: json.loads(text) for text in {row[1] for row in rows}}  # one a condition
    parsed = [decoded[row[1]] for row in rows]
    grid = list(definition.get("grid") or {})
    frame.insert(1, "condition", [
        ", ".join(f"{v}={p.get(v)}" for v in grid) if grid else row[0]
        for p, row in zip(parsed, rows, strict=True)
    ])
    for position, variable in enumerate(variables):
        frame.insert(2 + position, variable, [p.get(variable) for p in parsed])
    text_at, error_at = columns.index("text"), columns.index("error")
    frame["error"] = [
        "not run" if row[text_at] is None and row[error_at] is None else row[error_at]
        for row in rows
    ]
    frame["actions"] = [
        None if row[text_at] is None else canonical_json(parse_response(row[text_at]).as_dict())
        for row in rows
    ]
    created_at = columns.index("created")
    frame["cached"] = [
        row[text_at] is not None and (since is None or row[created_at] < since)
        for row in rows
    ]
    for column in columns[8:12]:
        frame[column] = frame[column].fillna(0).astype("int64")
    order = [c for c in frame.columns if c not in ("actions", "values", "created")]
    order.insert(order.index("reasoning") + 1, "actions")
    return frame[[*order, "values"]]


def export_parquet(store: Store, name: str, path: str | Path) -> Path:
    """Write experiment ``name``'s results (see :func:`results_table`) to a Parquet file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    results_table(store, name).to_parquet(path, index=False)
    return path
