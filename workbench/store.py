"""The response store: SQLite, keyed by request hash, so nothing is paid for twice.

The file is ``.workbench/store.sqlite`` under the working directory unless ``WORKBENCH_STORE``
names another. It runs in WAL mode with ``synchronous=NORMAL``; every response is written in
its own transaction the moment it arrives, so a run killed at any instant keeps every finished
sample. Several processes may write one store at once (a busy timeout, and inserts that ignore
or upsert on the primary key). The schema grows by named migrations applied in order and
recorded in ``_migrations``. Keys and the environment are never stored.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import StoreError
from workbench.models.base import Completion, Request
from workbench.scenarios import canonical_json, sha256_of

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_PATH = Path(".workbench") / "store.sqlite"
BUSY_TIMEOUT_MS = 60_000
MAX_ERROR_CHARS = 2_000


def store_path() -> Path:
    """``WORKBENCH_STORE`` or ``.workbench/store.sqlite`` under the working directory."""
    return Path(os.environ.get("WORKBENCH_STORE") or Path.cwd() / DEFAULT_PATH)


# --- migrations ------------------------------------------------------------------------------


def m001_initial(db: sqlite3.Connection) -> None:
    """Prompts (deduplicated), requests, responses, experiments and their samples."""
    db.execute(
        """CREATE TABLE prompts (
            hash TEXT PRIMARY KEY,          -- sha256 of system + messages
            system TEXT NOT NULL,
            messages TEXT NOT NULL          -- JSON list of [role, content]
        )"""
    )
    db.execute(
        """CREATE TABLE requests (
            hash TEXT PRIMARY KEY,          -- Request.hash
            model TEXT NOT NULL,
            prompt_hash TEXT NOT NULL REFERENCES prompts(hash),
            params TEXT NOT NULL,           -- JSON of GenerationParams
            sample_index INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            sent INTEGER NOT NULL DEFAULT 0, -- times the runner handed it to a backend
            created REAL NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE responses (
            request_hash TEXT PRIMARY KEY REFERENCES requests(hash),
            text TEXT,
            reasoning TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cost REAL,                      -- dollars; NULL when the price is unknown
            latency_s REAL,
            stop_reason TEXT,
            batch INTEGER NOT NULL DEFAULT 0,
            error TEXT,                     -- NULL for a finished sample
            attempts INTEGER NOT NULL DEFAULT 1,
            created REAL NOT NULL           -- unix time the outcome was written
        )"""
    )
    db.execute(
        """CREATE TABLE experiments (
            name TEXT PRIMARY KEY,
            hash TEXT NOT NULL,             -- sha256 of the definition
            definition TEXT NOT NULL,       -- JSON
            created REAL NOT NULL,
            updated REAL NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE experiment_samples (
            experiment TEXT NOT NULL REFERENCES experiments(name),
            position INTEGER NOT NULL,
            request_hash TEXT NOT NULL REFERENCES requests(hash),
            condition_id TEXT NOT NULL,
            model TEXT NOT NULL,
            sample_index INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            prompt_hash TEXT NOT NULL,      -- the scenario Prompt.hash
            "values" TEXT NOT NULL,         -- JSON of every variable's value
            PRIMARY KEY (experiment, request_hash)
        )"""
    )
    db.execute("CREATE INDEX responses_ok ON responses(request_hash) WHERE error IS NULL")


def m002_batches(db: sqlite3.Connection) -> None:
    """Provider batches submitted and the requests each covers, so a batch still running when
    its process died is collected by a later run instead of being paid for again."""
    db.execute(
        """CREATE TABLE batches (
            provider TEXT NOT NULL,
            id TEXT NOT NULL,               -- the provider's batch id
            created REAL NOT NULL,          -- unix time the provider accepted it
            status TEXT NOT NULL,           -- 'submitted', then 'collected' once every result is in
            finished REAL,                  -- unix time it was collected
            PRIMARY KEY (provider, id)
        )"""
    )
    db.execute(
        """CREATE TABLE batch_requests (
            provider TEXT NOT NULL,
            batch_id TEXT NOT NULL,
            request_hash TEXT NOT NULL REFERENCES requests(hash),
            PRIMARY KEY (provider, batch_id, request_hash),
            FOREIGN KEY (provider, batch_id) REFERENCES batches(provider, id)
        )"""
    )
    db.execute("CREATE INDEX batches_open ON batches(provider) WHERE status = 'submitted'")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [m001_initial, m002_batches]


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredResponse:
    """The outcome of one request as the store holds it."""

    request_hash: str
    model: str
    text: str | None
    reasoning: str | None
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    cost: float | None
    latency_s: float | None
    stop_reason: str | None
    batch: bool
    error: str | None
    attempts: int
    created: float

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SampleRecord:
    """One sample of an experiment, as registered before it is run."""

    request: Request
    condition_id: str
    values: dict[str, str]
    prompt_hash: str


_RESPONSE_COLUMNS = (
    "r.request_hash, q.model, r.text, r.reasoning, r.input_tokens, r.output_tokens, "
    "r.cache_creation_tokens, r.cache_read_tokens, r.cost, r.latency_s, r.stop_reason, "
    "r.batch, r.error, r.attempts, r.created"
)


_MARK_SENT = "UPDATE requests SET sent = sent + 1 WHERE hash = ?"
_UPSERT = (
    "INSERT INTO responses (request_hash, text, reasoning, input_tokens, output_tokens,"
    " cache_creation_tokens, cache_read_tokens, cost, latency_s, stop_reason, batch, error,"
    " attempts, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)"
    " ON CONFLICT (request_hash) DO UPDATE SET text = excluded.text,"
    " reasoning = excluded.reasoning, input_tokens = excluded.input_tokens,"
    " output_tokens = excluded.output_tokens,"
    " cache_creation_tokens = excluded.cache_creation_tokens,"
    " cache_read_tokens = excluded.cache_read_tokens, cost = excluded.cost,"
    " latency_s = excluded.latency_s, stop_reason = excluded.stop_reason, batch = excluded.batch,"
    " error = excluded.error, attempts = responses.attempts + 1, created = excluded.created"
    " WHERE responses.error IS NOT NULL RETURNING attempts"
)


def _stored(row: Sequence[Any]) -> StoredResponse:
    values = list(row)
    values[11] = bool(values[11])
    return StoredResponse(*values)


@lru_cache(maxsize=1 << 16)
def request_hash(request: Request) -> str:
    """``request.hash``, memoized: a prompt is long and a run asks for each hash several times."""
    return request.hash


@lru_cache(maxsize=1 << 10)
def _prompt_row(system: str, messages: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """(prompt hash, messages JSON) of a system text and messages, memoized."""
    text = canonical_json([list(m) for m in messages])
    return sha256_of({"system": system, "messages": text}), text


def _one_line(error: BaseException | str) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text[:MAX_ERROR_CHARS]


# --- the store -------------------------------------------------------------------------------


class Store:
    """A connection to the response store. Safe to share between threads of one process."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else store_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=60
            )
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the store {self.path}: {exc}; set WORKBENCH_STORE to a writable file"
            ) from None
        self._lock = threading.RLock()
        self.migrate()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock at once (no upgrade deadlocks)."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    # -- schema -- #

    def migrate(self) -> list[str]:
        """Apply the migrations not applied yet, in order; returns their names."""
        applied = []
        with self.transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL)"
            )
            done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
            for migration in MIGRATIONS:
                if migration.__name__ in done:
                    continue
                migration(db)
                db.execute(
                    "INSERT INTO _migrations (name, applied) VALUES (?, ?)",
                    (migration.__name__, time.time()),
                )
                applied.append(migration.__name__)
        return applied

    def migrations(self) -> list[str]:
        return [row[0] for row in self._query("SELECT name FROM _migrations ORDER BY rowid")]

    # -- requests and responses -- #

    @staticmethod
    def _insert_requests(db: sqlite3.Connection, requests: Iterable[Request]) -> None:
        now = time.time()
        written: set[str] = set()
        for request in requests:
            prompt_hash, messages = _prompt_row(request.system, request.messages)
            if prompt_hash not in written:
                db.execute(
                    "INSERT OR IGNORE INTO prompts (hash, system, messages) VALUES (?, ?, ?)",
                    (prompt_hash, request.system, messages),
                )
                written.add(prompt_hash)
            db.execute(
                "INSERT OR IGNORE INTO requests (hash, model, prompt_hash, params, sample_index,"
                " seed, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    request_hash(request),
                    request.model,
                    prompt_hash,
                    canonical_json(asdict(request.params)),
                    request.sample_index,
                    request.seed,
                    now,
                ),
            )

    def _ensure_requests(self, requests: Sequence[Request]) -> None:
        """Insert, in one transaction, the requests the store does not hold yet."""
        with self.transaction() as db:
            self._insert_requests(db, requests)

    def mark_sent(self, requests: Sequence[Request]) -> None:
        """Record that ``requests`` are about to be handed to a backend."""
        if not requests:
            return
        params = [(request_hash(r),) for r in requests]
        with self._lock:
            if len(requests) == 1:  # the common case: one statement, its own transaction
                updated = self.db.execute(_MARK_SENT, params[0]).rowcount
            else:
                with self.transaction() as db:
                    updated = db.executemany(_MARK_SENT, params).rowcount
            if updated < len(requests):  # some were never registered: insert, count them once
                self._ensure_requests(requests)
                with self.transaction() as db:
                    db.executemany("UPDATE requests SET sent = 1 WHERE hash = ? AND sent = 0",
                                   params)

    def record(
        self,
        request: Request,
        outcome: Completion | BaseException | str,
        *,
        cost: float | None = None,
        latency_s: float | None = None,
    ) -> StoredResponse:
        """Write the outcome of ``request`` in its own transaction, and return it as stored.

        A finished response is never overwritten; a failure is replaced by a later outcome.
        """
        now = time.time()
        key = request_hash(request)
        if isinstance(outcome, Completion):
            usage = outcome.usage
            row = (
                outcome.text, outcome.reasoning, usage.input_tokens, usage.output_tokens,
                usage.cache_creation_tokens, usage.cache_read_tokens, cost, latency_s,
                outcome.stop_reason, outcome.batch, None,
            )
        else:
            row = (None, None, 0, 0, 0, 0, None, latency_s, None, False, _one_line(outcome))
        with self._lock:
            try:  # one statement: its own transaction, committed before it returns
                written = self.db.execute(_UPSERT, (key, *row, now)).fetchall()
            except sqlite3.IntegrityError:  # the request was never registered
                self._ensure_requests([request])
                written = self.db.execute(_UPSERT, (key, *row, now)).fetchall()
            if not written:  # already finished (by another run): keep what is there
                stored = self.db.execute(
                    f"SELECT {_RESPONSE_COLUMNS} FROM responses r JOIN requests q"
                    " ON q.hash = r.request_hash WHERE r.request_hash = ?",
                    (key,),
                ).fetchone()
                return _stored(stored)
        return StoredResponse(key, request.model, *row[:-1], error=row[-1],
                              attempts=written[0][0], created=now)

    def answered(self, hashes: Iterable[str] | None = None) -> set[str]:
        """The hashes (among ``hashes``, or all) that have a finished response."""
        rows = self._query("SELECT request_hash FROM responses WHERE error IS NULL")
        done = {row[0] for row in rows}
        return done if hashes is None else done.intersection(hashes)

    def responses(self, hashes: Sequence[str]) -> dict[str, StoredResponse]:
        """The stored outcomes of ``hashes`` (finished or failed), by hash."""
        found: dict[str, StoredResponse] = {}
        chunk = 500
        for start in range(0, len(hashes), chunk):
            part = list(hashes[start : start + chunk])
            marks = ",".join("?" * len(part))
            rows = self._query(
                f"SELECT {_RESPONSE_COLUMNS} FROM responses r JOIN requests q"
                f" ON q.hash = r.request_hash WHERE r.request_hash IN ({marks})",
                part,
            )
            found.update((row[0], _stored(row)) for row in rows)
        return found

    def request(self, request_hash: str) -> Request:
        """The request stored under ``request_hash``."""
        rows = self._query(
            "SELECT q.model, p.system, p.messages, q.params, q.sample_index, q.seed"
            " FROM requests q JOIN prompts p ON p.hash = q.prompt_hash WHERE q.hash = ?",
            (request_hash,),
        )
        if not rows:
            raise StoreError(f"no request {request_hash} in the store {self.path}")
        model, system, messages, params, sample_index, seed = rows[0]
        return Request.from_dict({
            "model": model, "system": system, "messages": json.loads(messages),
            "params": json.loads(params), "sample_index": sample_index, "seed": seed,
        })

    # -- provider batches -- #

    def record_batch(self, provider: str, batch_id: str, hashes: Iterable[str]) -> None:
        """Record, in its own transaction, a batch the provider has just accepted (before it is
        polled), with the request hashes it covers (registered requests)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO batches (provider, id, created, status)"
                " VALUES (?, ?, ?, 'submitted')",
                (provider, batch_id, time.time()),
            )
            db.executemany(
                "INSERT OR IGNORE INTO batch_requests (provider, batch_id, request_hash)"
                " VALUES (?, ?, ?)",
                [(provider, batch_id, key) for key in dict.fromkeys(hashes)],
            )

    def open_batches(self, provider: str, hashes: Iterable[str]) -> dict[str, list[str]]:
        """The batches of ``provider`` not collected yet that cover any of ``hashes``, oldest
        first: batch id -> the hashes among ``hashes`` it covers."""
        wanted = set(hashes)
        rows = self._query(
            "SELECT b.id, r.request_hash FROM batches b JOIN batch_requests r"
            " ON r.provider = b.provider AND r.batch_id = b.id"
            " WHERE b.provider = ? AND b.status = 'submitted' ORDER BY b.created, b.rowid",
            (provider,),
        )
        batches: dict[str, list[str]] = {}
        for batch_id, key in rows:
            if key in wanted:
                batches.setdefault(batch_id, []).append(key)
        return batches

    def finish_batch(self, provider: str, batch_id: str) -> None:
        """Mark a batch collected: every result it holds for its requests is stored."""
        with self._lock:
            self.db.execute(
                "UPDATE batches SET status = 'collected', finished = ?"
                " WHERE provider = ? AND id = ?",
                (time.time(), provider, batch_id),
            )

    # -- experiments -- #

    def register_experiment(
        self, name: str, definition: dict[str, Any], samples: Sequence[SampleRecord]
    ) -> None:
        """Record an experiment and its samples (before they run), in one transaction.

        A changed definition under the same name replaces the list of samples; responses stay.
        """
        digest = sha256_of(definition)
        now = time.time()
        with self.transaction() as db:
            row = db.execute("SELECT hash FROM experiments WHERE name = ?", (name,)).fetchone()
            if row and row[0] == digest:
                return
            db.execute(
                "INSERT INTO experiments (name, hash, definition, created, updated)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET hash = excluded.hash,"
                " definition = excluded.definition, updated = excluded.updated",
                (name, digest, canonical_json(definition), now, now),
            )
            db.execute("DELETE FROM experiment_samples WHERE experiment = ?", (name,))
            self._insert_requests(db, (s.request for s in samples))
            db.executemany(
                "INSERT OR IGNORE INTO experiment_samples (experiment, position, request_hash,"
                ' condition_id, model, sample_index, seed, prompt_hash, "values")'
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        name, position, request_hash(s.request), s.condition_id, s.request.model,
                        s.request.sample_index, s.request.seed, s.prompt_hash,
                        canonical_json(s.values),
                    )
                    for position, s in enumerate(samples)
                ],
            )

    def experiments(self) -> list[str]:
        return [row[0] for row in self._query("SELECT name FROM experiments ORDER BY created")]

    def definition(self, name: str) -> dict[str, Any]:
        """The stored definition of experiment ``name``."""
        rows = self._query("SELECT definition FROM experiments WHERE name = ?", (name,))
        if not rows:
            known = ", ".join(self.experiments()) or "none"
            raise StoreError(
                f"no experiment {name!r} in the store {self.path}; known experiments: {known}"
            )
        return json.loads(rows[0][0])

    def results(self, name: str, since: float | None = None) -> pd.DataFrame:
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

        definition = self.definition(name)
        variables = list(definition.get("grid") or {}) + [
            v for v in definition.get("fixed") or {} if v not in (definition.get("grid") or {})
        ]
        rows = self._query(
            "SELECT s.condition_id, s.\"values\", s.model, s.sample_index, s.seed,"
            " s.request_hash, r.text, r.reasoning, r.input_tokens, r.output_tokens,"
            " r.cache_creation_tokens, r.cache_read_tokens, r.cost, r.latency_s, r.error,"
            " r.created FROM experiment_samples s"
            " LEFT JOIN responses r ON r.request_hash = s.request_hash"
            " WHERE s.experiment = ? ORDER BY s.position",
            (name,),
        )
        columns = [
            "condition_id", "values", "model", "sample", "seed", "request_hash", "text",
            "reasoning", "input_tokens", "output_tokens", "cache_creation_tokens",
            "cache_read_tokens", "cost", "latency_s", "error", "created",
        ]
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

    def export_parquet(self, name: str, path: str | Path) -> Path:
        """Write experiment ``name``'s results (see :meth:`results`) to a Parquet file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.results(name).to_parquet(path, index=False)
        return path

    # -- summary -- #

    def stats(self) -> dict[str, Any]:
        """Experiments, finished responses, failures, requests sent, tokens and cost."""
        (experiments,) = self._query("SELECT COUNT(*) FROM experiments")[0]
        (sent,) = self._query("SELECT COALESCE(SUM(sent), 0) FROM requests")[0]
        row = self._query(
            "SELECT COUNT(*) FILTER (WHERE error IS NULL), COUNT(*) FILTER (WHERE error IS NOT"
            " NULL), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),"
            " COALESCE(SUM(cache_creation_tokens), 0), COALESCE(SUM(cache_read_tokens), 0),"
            " COALESCE(SUM(cost), 0.0) FROM responses"
        )[0]
        return {
            "path": str(self.path),
            "experiments": experiments,
            "responses": row[0],
            "failures": row[1],
            "requests_sent": sent,
            "input_tokens": row[2],
            "output_tokens": row[3],
            "cache_creation_tokens": row[4],
            "cache_read_tokens": row[5],
            "cost": round(row[6], 6),
        }
