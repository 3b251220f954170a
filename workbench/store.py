"""The response store: SQLite, keyed by request hash, so nothing is paid for twice.

The file is ``.workbench/store.sqlite`` in the project's folder (see
:func:`workbench.project.project_root`) unless ``WORKBENCH_STORE`` names another. It runs in
WAL mode with ``synchronous=NORMAL``; every response is written in
its own transaction the moment it arrives, so a run killed at any instant keeps every finished
sample. Several processes may write one store at once (a busy timeout, and inserts that ignore
or upsert on the primary key), and share its requests: a run *claims* a request before sending
it, and another run that wants the same request waits for that answer instead of paying for it
again (see :class:`ClaimOwner`). The schema grows by named migrations applied in order and
recorded in ``_migrations``. Keys and the environment are never stored.
"""

from __future__ import annotations

import enum
import json
import os
import random
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import StoreError
from workbench.hashing import canonical_json, sha256_of
from workbench.models.base import Completion, GenerationParams, Request
from workbench.project import project_root

if TYPE_CHECKING:
    pass

DEFAULT_PATH = Path(".workbench") / "store.sqlite"
BUSY_TIMEOUT_MS = 60_000
MAX_ERROR_CHARS = 2_000


def store_path() -> Path:
    """``WORKBENCH_STORE``, else ``.workbench/store.sqlite`` in the project's folder (the
    nearest folder up from the working directory holding ``.workbench/`` or ``scenarios/``)."""
    return Path(os.environ.get("WORKBENCH_STORE") or project_root() / DEFAULT_PATH)


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


def m003_claims(db: sqlite3.Connection) -> None:
    """Requests a run has claimed and is sending: another run waits for their answer instead of
    sending them again. A claim is stale once its lease expires or its process is gone."""
    db.execute(
        """CREATE TABLE claims (
            request_hash TEXT PRIMARY KEY,
            owner TEXT NOT NULL,            -- one run: ClaimOwner.id
            host TEXT NOT NULL,             -- the owner's host name
            pid INTEGER NOT NULL,           -- the owner's process id on that host
            expires REAL NOT NULL           -- unix time; the owner renews it while it works
        )"""
    )
    db.execute("CREATE INDEX claims_owner ON claims(owner)")


def m004_hand_labels(db: sqlite3.Connection) -> None:
    """Labels a person gave a response: yes, no or unsure, with an optional note."""
    db.execute(
        """CREATE TABLE hand_labels (
            request_hash TEXT NOT NULL REFERENCES requests(hash),  -- the response's key
            labeller TEXT NOT NULL,         -- who labelled it
            label TEXT NOT NULL,            -- e.g. blackmail
            value TEXT NOT NULL CHECK (value IN ('yes', 'no', 'unsure')),
            note TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            PRIMARY KEY (request_hash, labeller, label)
        )"""
    )


def m005_verdicts(db: sqlite3.Connection) -> None:
    """Classifiers' verdicts on stored responses, so labels are worked out once per classifier
    (its id names its version: a changed classifier never reads an old verdict)."""
    db.execute(
        """CREATE TABLE verdicts (
            request_hash TEXT NOT NULL,     -- the response's key
            classifier TEXT NOT NULL,       -- e.g. rules:blackmail@1+<digest of its source>
            verdict TEXT NOT NULL,          -- JSON: labels, evidence, unknown, source, status
            created REAL NOT NULL,
            PRIMARY KEY (request_hash, classifier)
        ) WITHOUT ROWID"""
    )


def m006_response_actions(db: sqlite3.Connection) -> None:
    """Each finished response's parsed actions (the emails it sends), worked out once when it
    is written, so opening a large experiment's results does not parse every response again.
    Responses stored before this migration have none (NULL) and are parsed when read."""
    db.execute("ALTER TABLE responses ADD COLUMN actions TEXT")


def m007_sample_order(db: sqlite3.Connection) -> None:
    """An index of each experiment's samples in plan order, so its results are read a page
    at a time."""
    db.execute("CREATE INDEX experiment_samples_order ON experiment_samples(experiment, position)")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    m001_initial, m002_batches, m003_claims, m004_hand_labels, m005_verdicts,
    m006_response_actions, m007_sample_order,
]

HAND_VALUES = ("yes", "no", "unsure")


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one request came back with, to be written: a completion, or the error it failed
    with (after the SDK's retries), with its cost and how long it took."""

    request: Request
    result: Completion | BaseException | str
    cost: float | None = None
    latency_s: float | None = None


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
class HandLabel:
    """One label a person gave one response."""

    request_hash: str
    labeller: str
    label: str
    value: str  # yes, no or unsure
    note: str
    created: float


@dataclass(frozen=True)
class SampleRecord:
    """One sample of an experiment, as registered before it is run."""

    request: Request
    condition_id: str
    values: Mapping[str, str]  # one mapping a condition, shared by its samples
    prompt_hash: str


_RESPONSE_COLUMNS = (
    "r.request_hash, q.model, r.text, r.reasoning, r.input_tokens, r.output_tokens, "
    "r.cache_creation_tokens, r.cache_read_tokens, r.cost, r.latency_s, r.stop_reason, "
    "r.batch, r.error, r.attempts, r.created"
)


class ClaimStatus(enum.Enum):
    """What :meth:`Store.claim` found for a request."""

    MINE = "mine"  # claimed by the caller: send it
    TAKEN = "taken"  # another live run is sending it: wait for its answer
    DONE = "done"  # answered (or failed since the caller started): nothing to send


@dataclass(frozen=True)
class ClaimOwner:
    """Who holds a claim: one run, in one process on one host."""

    id: str
    host: str
    pid: int

    @classmethod
    def new(cls) -> ClaimOwner:
        host, pid = socket.gethostname(), os.getpid()
        return cls(f"{host}:{pid}:{uuid.uuid4().hex[:12]}", host, pid)


def claim_lease_s() -> float:
    """How long a claim lasts unless renewed: ``WORKBENCH_CLAIM_LEASE`` seconds (default 60).

    Only claims held from another host wait for it: a claim whose process is gone from this
    host is stale at once."""
    return float(os.environ.get("WORKBENCH_CLAIM_LEASE") or 60)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def claim_is_live(host: str, pid: int, expires: float, now: float) -> bool:
    """A claim holds while its lease runs and, on this host, while its process exists."""
    if expires <= now:
        return False
    return host != socket.gethostname() or _process_alive(pid)


_MARK_SENT = "UPDATE requests SET sent = sent + 1 WHERE hash = ?"
_UPSERT = (
    "INSERT INTO responses (request_hash, text, reasoning, input_tokens, output_tokens,"
    " cache_creation_tokens, cache_read_tokens, cost, latency_s, stop_reason, batch, error,"
    " attempts, created, actions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)"
    " ON CONFLICT (request_hash) DO UPDATE SET text = excluded.text,"
    " reasoning = excluded.reasoning, input_tokens = excluded.input_tokens,"
    " output_tokens = excluded.output_tokens,"
    " cache_creation_tokens = excluded.cache_creation_tokens,"
    " cache_read_tokens = excluded.cache_read_tokens, cost = excluded.cost,"
    " latency_s = excluded.latency_s, stop_reason = excluded.stop_reason, batch = excluded.batch,"
    " error = excluded.error, attempts = responses.attempts + 1, created = excluded.created,"
    " actions = excluded.actions"
    " WHERE responses.error IS NOT NULL RETURNING attempts"
)


def actions_json(text: str) -> str:
    """The JSON of what a response does (:meth:`workbench.actions.ParsedResponse.actions_dict`:
    the emails it sends, its drafts, where its reasoning is), as the results table's
    ``actions`` column holds it."""
    from workbench.actions import parse_response

    return canonical_json(parse_response(text).actions_dict())


def _stored(row: Sequence[Any]) -> StoredResponse:
    values = list(row)
    values[11] = bool(values[11])
    return StoredResponse(*values)


@lru_cache(maxsize=1 << 10)
def _prompt_row(system: str, messages: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """(prompt hash, messages JSON) of a system text and messages, memoized."""
    text = canonical_json([list(m) for m in messages])
    return sha256_of({"system": system, "messages": text}), text


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    """``items`` in lists of at most ``size`` (SQLite bounds the parameters of a statement)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _upsert_row(outcome: Outcome, now: float) -> tuple[Any, ...]:
    """The parameters of ``_UPSERT`` for ``outcome``: request hash, the columns from text to
    error, the time, the actions' JSON."""
    result = outcome.result
    if isinstance(result, Completion):
        usage = result.usage
        return (outcome.request.hash, result.text, result.reasoning, usage.input_tokens,
                usage.output_tokens, usage.cache_creation_tokens, usage.cache_read_tokens,
                outcome.cost, outcome.latency_s, result.stop_reason, result.batch, None, now,
                actions_json(result.text))
    return (outcome.request.hash, None, None, 0, 0, 0, 0, None, outcome.latency_s, None, False,
            _one_line(result), now, None)


def _one_line(error: BaseException | str) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text[:MAX_ERROR_CHARS]


# --- the store -------------------------------------------------------------------------------


def store_failure(path: Path, exc: sqlite3.Error | OSError) -> StoreError:
    """The one-line error for a store that SQLite cannot read or write: what is wrong, what to
    do."""
    name = getattr(exc, "sqlite_errorname", "")
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in str(exc):
        return StoreError(
            f"the store {path} is damaged ({exc}); see what is wrong with `workbench store "
            "check`, copy what is readable into a new store with `workbench store recover "
            "NEW_FILE`, then point WORKBENCH_STORE at it"
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")) or isinstance(
        exc, OSError
    ):
        return StoreError(
            f"the store {path} cannot be written ({exc}); make the file and its folder "
            "writable, or set WORKBENCH_STORE to a writable file"
        )
    if name == "SQLITE_BUSY":
        return StoreError(
            f"the store {path} stayed locked by another process for {BUSY_TIMEOUT_MS // 1000} s;"
            " wait for it to finish or stop it, then run again"
        )
    return StoreError(f"the store {path} failed ({exc}); check it with `workbench store check`")


class Store:
    """A connection to the response store. Safe to share between threads of one process.

    Every SQLite failure reaches the caller as a one-line :class:`StoreError` naming the file.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else store_path()
        self._lock = threading.RLock()
        self._ready = False
        with self._sqlite():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=60
            )
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                with self._sqlite():
                    self.db.execute("PRAGMA journal_mode = WAL")
                    self.db.execute("PRAGMA synchronous = NORMAL")
                    self.db.execute("PRAGMA foreign_keys = ON")
                self.migrate()
                return
            except StoreError as exc:
                # Processes opening a new store together: switching it to WAL takes a lock
                # SQLite will not wait for (waiting could deadlock), so it says "busy" at once.
                cause = exc.__context__
                busy = getattr(cause, "sqlite_errorname", "") == "SQLITE_BUSY"
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.01, 0.05))

    @contextmanager
    def _sqlite(self) -> Iterator[None]:
        """Turn SQLite's (and the file system's) errors into one-line StoreErrors."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise store_failure(self.path, exc) from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock at once (no upgrade deadlocks)."""
        with self._lock, self._sqlite():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock, self._sqlite():
            return self.db.execute(sql, params).fetchall()

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; returns the number of rows it changed."""
        with self._lock, self._sqlite():
            return self.db.execute(sql, params).rowcount

    def check_ready(self) -> None:
        """Prove, before anything is sent, that the store can be read and written: SQLite's
        quick check, and a write rolled back (once per connection). Raises a one-line
        StoreError."""
        if self._ready:
            return
        problems = self._query("PRAGMA quick_check")
        if [row[0] for row in problems] != ["ok"]:
            raise store_failure(self.path, sqlite3.DatabaseError(
                f"database disk image is malformed: {problems[0][0]}"))
        with self._lock, self._sqlite():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute("UPDATE _migrations SET applied = applied")
            finally:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
        self._ready = True

    # -- schema -- #

    def migrate(self) -> list[str]:
        """Apply the migrations not applied yet, in order; returns their names."""
        applied = []
        with self.transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL)"
            )
            done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
            if problem := _lost_migrations(db):
                raise sqlite3.DatabaseError(f"database disk image is malformed: {problem}")
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
        params_json: dict[GenerationParams, str] = {}  # one an experiment, as a rule
        for request in requests:
            if request.params not in params_json:
                params_json[request.params] = canonical_json(asdict(request.params))
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
                    request.hash,
                    request.model,
                    prompt_hash,
                    params_json[request.params],
                    request.sample_index,
                    request.seed,
                    now,
                ),
            )

    @classmethod
    def _count_sent(cls, db: sqlite3.Connection, request: Request) -> None:
        """Count one more sending of ``request``, registering it first if it never was."""
        if not db.execute(_MARK_SENT, (request.hash,)).rowcount:
            cls._insert_requests(db, [request])
            db.execute(_MARK_SENT, (request.hash,))

    def mark_sent(self, requests: Sequence[Request]) -> None:
        """Record, in one transaction, that ``requests`` are about to be handed to a backend."""
        if not requests:
            return
        with self.transaction() as db:
            for request in requests:
                self._count_sent(db, request)

    def record(
        self,
        request: Request,
        outcome: Completion | BaseException | str,
        *,
        cost: float | None = None,
        latency_s: float | None = None,
        owner: ClaimOwner | None = None,
    ) -> StoredResponse:
        """Write the outcome of ``request`` in its own transaction, and return it as stored
        (:meth:`record_all` of one)."""
        return self.record_all([Outcome(request, outcome, cost, latency_s)], owner=owner)[0]

    def record_all(
        self, outcomes: Sequence[Outcome], *, owner: ClaimOwner | None = None
    ) -> list[StoredResponse]:
        """Write ``outcomes`` in one transaction, and return them as stored, in order.

        A finished response is never overwritten; a failure is replaced by a later outcome.
        ``owner``'s claims on the requests, if any, are released in the same transaction.
        """
        now = time.time()
        rows = [_upsert_row(o, now) for o in outcomes]  # actions parsed before the lock
        attempts: list[int | None] = []
        with self.transaction() as db:
            for outcome, row in zip(outcomes, rows, strict=True):
                try:
                    written = db.execute(_UPSERT, row).fetchall()
                except sqlite3.IntegrityError:  # the request was never registered
                    self._insert_requests(db, [outcome.request])
                    written = db.execute(_UPSERT, row).fetchall()
                attempts.append(written[0][0] if written else None)
            if owner is not None:
                db.executemany("DELETE FROM claims WHERE request_hash = ? AND owner = ?",
                               [(row[0], owner.id) for row in rows])
        # those already finished (by another run) keep what is there
        kept = self.responses(
            [row[0] for row, tries in zip(rows, attempts, strict=True) if tries is None])
        return [
            kept[row[0]] if tries is None else StoredResponse(
                row[0], outcome.request.model, *row[1:11], error=row[11], attempts=tries,
                created=now)
            for outcome, row, tries in zip(outcomes, rows, attempts, strict=True)
        ]

    # -- claims: one run sends a request, the others wait for its answer -- #

    def claim(
        self,
        requests: Sequence[Request],
        owner: ClaimOwner,
        *,
        since: float,
        sending: bool = True,
    ) -> dict[str, ClaimStatus]:
        """Claim ``requests`` for ``owner`` in one transaction, and say for each what to do.

        A request is DONE when it has a finished response, or a failure written after ``since``
        (by a run this one waited for); TAKEN while another owner's claim is live; else it is
        claimed (MINE, replacing any stale claim) and, with ``sending``, counted as sent.
        """
        now = time.time()
        expires = now + claim_lease_s()
        found: dict[str, ClaimStatus] = {}
        with self.transaction() as db:
            for request in requests:
                key = request.hash
                outcome = db.execute(
                    "SELECT error IS NULL OR created >= ? FROM responses WHERE request_hash = ?",
                    (since, key),
                ).fetchone()
                if outcome and outcome[0]:
                    found[key] = ClaimStatus.DONE
                    continue
                holder = db.execute(
                    "SELECT owner, host, pid, expires FROM claims WHERE request_hash = ?", (key,)
                ).fetchone()
                if holder and holder[0] != owner.id and claim_is_live(*holder[1:], now):
                    found[key] = ClaimStatus.TAKEN
                    continue
                db.execute(
                    "INSERT OR REPLACE INTO claims (request_hash, owner, host, pid, expires)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (key, owner.id, owner.host, owner.pid, expires),
                )
                if sending:
                    self._count_sent(db, request)
                found[key] = ClaimStatus.MINE
        return found

    def held_elsewhere(self, hashes: Sequence[str], owner: ClaimOwner) -> set[str]:
        """The hashes among ``hashes`` that another owner holds a live claim on."""
        now = time.time()
        held: set[str] = set()
        for part in _chunks(hashes):
            rows = self._query(
                "SELECT request_hash, host, pid, expires FROM claims WHERE owner != ?"
                f" AND request_hash IN ({','.join('?' * len(part))})",
                [owner.id, *part],
            )
            held.update(key for key, *holder in rows if claim_is_live(*holder, now))
        return held

    def renew_claims(self, owner: ClaimOwner) -> None:
        """Extend the lease of every claim ``owner`` holds."""
        self._write("UPDATE claims SET expires = ? WHERE owner = ?",
                    (time.time() + claim_lease_s(), owner.id))

    def release_claims(self, owner: ClaimOwner, unsent: Iterable[str] = ()) -> None:
        """Drop every claim ``owner`` still holds (its run ended or was stopped), and take back
        the sending counted for the requests among ``unsent``, claimed but never sent."""
        with self.transaction() as db:
            db.execute("DELETE FROM claims WHERE owner = ?", (owner.id,))
            db.executemany("UPDATE requests SET sent = sent - 1 WHERE hash = ? AND sent > 0",
                           [(key,) for key in unsent])

    # -- reading -- #

    def answered(self, hashes: Iterable[str] | None = None) -> set[str]:
        """The hashes (among ``hashes``, or all) that have a finished response."""
        rows = self._query("SELECT request_hash FROM responses WHERE error IS NULL")
        done = {row[0] for row in rows}
        return done if hashes is None else done.intersection(hashes)

    def responses(self, hashes: Sequence[str]) -> dict[str, StoredResponse]:
        """The stored outcomes of ``hashes`` (finished or failed), by hash."""
        found: dict[str, StoredResponse] = {}
        for part in _chunks(hashes):
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
        self._write(
            "UPDATE batches SET status = 'collected', finished = ? WHERE provider = ? AND id = ?",
            (time.time(), provider, batch_id),
        )

    # -- hand labels -- #

    def set_hand_label(
        self, request_hash: str, labeller: str, label: str, value: str | None, note: str = ""
    ) -> None:
        """Record (or with ``value`` None, remove) ``labeller``'s label of one response."""
        if not labeller.strip():
            raise StoreError("a hand label needs the labeller's name; set it and label again")
        if value is None:
            self._write("DELETE FROM hand_labels WHERE request_hash = ? AND labeller = ?"
                        " AND label = ?", (request_hash, labeller, label))
            return
        if value not in HAND_VALUES:
            raise StoreError(f"a hand label is one of {', '.join(HAND_VALUES)}, not {value!r}")
        try:
            self._write(
                "INSERT INTO hand_labels (request_hash, labeller, label, value, note, created)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (request_hash, labeller, label)"
                " DO UPDATE SET value = excluded.value, note = excluded.note,"
                " created = excluded.created",
                (request_hash, labeller, label, value, note, time.time()),
            )
        except StoreError:
            if not self._query("SELECT 1 FROM requests WHERE hash = ?", (request_hash,)):
                raise StoreError(f"no response {request_hash} in the store {self.path}; "
                                 "label responses the store holds") from None
            raise

    def verdicts(self, classifier: str, hashes: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The verdicts ``classifier`` gave the responses of ``hashes`` (those it gave), as
        stored dicts, by hash."""
        found: dict[str, dict[str, Any]] = {}
        for part in _chunks(hashes):
            rows = self._query(
                "SELECT request_hash, verdict FROM verdicts WHERE classifier = ?"
                f" AND request_hash IN ({','.join('?' * len(part))})",
                [classifier, *part],
            )
            found.update((key, json.loads(verdict)) for key, verdict in rows)
        return found

    def save_verdicts(self, classifier: str, verdicts: Mapping[str, dict[str, Any]]) -> None:
        """Store ``classifier``'s verdicts (JSON-safe dicts, by response hash) in one
        transaction, replacing any it gave before."""
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO verdicts (request_hash, classifier, verdict, created)"
                " VALUES (?, ?, ?, ?)",
                [(key, classifier, json.dumps(verdict, ensure_ascii=False), now)
                 for key, verdict in verdicts.items()],
            )

    def hand_labels(
        self, hashes: Sequence[str] | None = None, labeller: str | None = None
    ) -> list[HandLabel]:
        """The hand labels of ``hashes`` (default: all), by ``labeller`` (default: anyone)."""
        where, params = "", []
        if labeller is not None:
            where, params = " WHERE labeller = ?", [labeller]
        rows = self._query(
            "SELECT request_hash, labeller, label, value, note, created FROM hand_labels"
            f"{where} ORDER BY created", params)
        wanted = None if hashes is None else set(hashes)
        return [HandLabel(*row) for row in rows if wanted is None or row[0] in wanted]

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
            conditions = {s.condition_id: s.values for s in samples}
            values_json = {condition: canonical_json(dict(values))
                           for condition, values in conditions.items()}  # once a condition
            db.executemany(
                "INSERT OR IGNORE INTO experiment_samples (experiment, position, request_hash,"
                ' condition_id, model, sample_index, seed, prompt_hash, "values")'
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        name, position, s.request.hash, s.condition_id, s.request.model,
                        s.request.sample_index, s.request.seed, s.prompt_hash,
                        values_json[s.condition_id],
                    )
                    for position, s in enumerate(samples)
                ),
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

    SAMPLE_COLUMNS = (
        "condition_id", "values", "model", "sample", "seed", "request_hash", "text",
        "reasoning", "input_tokens", "output_tokens", "cache_creation_tokens",
        "cache_read_tokens", "cost", "latency_s", "error", "created", "actions",
    )
    """The fields of each row of :meth:`sample_pages`, in order."""

    def sample_pages(self, name: str, size: int = 2_000) -> Iterator[list[tuple[Any, ...]]]:
        """Experiment ``name``'s samples in plan order, each with its response's fields where
        it has one (:attr:`SAMPLE_COLUMNS`), ``size`` samples a page, so a caller holds one
        page of raw rows at a time. ``text``, ``reasoning`` and ``actions`` come as UTF-8
        bytes (None where there are none): turned into columns without decoding each one."""
        after = -1
        while page := self._query(
            "SELECT s.position, s.condition_id, s.\"values\", s.model, s.sample_index, s.seed,"
            " s.request_hash, CAST(r.text AS BLOB), CAST(r.reasoning AS BLOB), r.input_tokens,"
            " r.output_tokens, r.cache_creation_tokens, r.cache_read_tokens, r.cost, r.latency_s,"
            " r.error, r.created, CAST(r.actions AS BLOB) FROM experiment_samples s"
            " LEFT JOIN responses r ON r.request_hash = s.request_hash"
            " WHERE s.experiment = ? AND s.position > ? ORDER BY s.position LIMIT ?",
            (name, after, size),
        ):
            after = page[-1][0]
            yield [row[1:] for row in page]

    # -- summary -- #

    def condition_counts(self, name: str) -> list[tuple[str, str, str, int, int, int, float]]:
        """Experiment ``name``'s conditions × models in plan order: condition id, the
        condition's values as JSON, model, samples, finished, failed (a sample never sent is
        neither) and the dollars its responses cost."""
        return self._query(
            "SELECT s.condition_id, s.\"values\", s.model, COUNT(*),"
            " COUNT(r.request_hash) FILTER (WHERE r.error IS NULL), COUNT(r.error),"
            " COALESCE(SUM(r.cost), 0.0) FROM experiment_samples s"
            " LEFT JOIN responses r ON r.request_hash = s.request_hash"
            " WHERE s.experiment = ? GROUP BY s.condition_id, s.model ORDER BY MIN(s.position)",
            (name,),
        )

    def experiment_errors(self, name: str) -> list[tuple[str, int]]:
        """The errors of experiment ``name``'s failed samples, commonest first, with how many
        samples each hit."""
        return self._query(
            "SELECT r.error, COUNT(*) FROM experiment_samples s"
            " JOIN responses r ON r.request_hash = s.request_hash"
            " WHERE s.experiment = ? AND r.error IS NOT NULL"
            " GROUP BY r.error ORDER BY COUNT(*) DESC, r.error",
            (name,),
        )

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


def _lost_migrations(db: sqlite3.Connection) -> str | None:
    """What is wrong if the store holds tables but no record of the migrations that made them
    (running them again would fail half-way), else None."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "_migrations" not in tables or tables == {"_migrations"}:
        return None
    if db.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0]:
        return None
    return "it holds tables but no record of the migrations that made them"


def open_store(store: Store | str | Path | None = None) -> Store:
    """``store`` itself, or the store at that path (default: :func:`store_path`)."""
    return store if isinstance(store, Store) else Store(store)


# --- checking and recovering a damaged store -------------------------------------------------

# Tables in the order their rows can be copied (those referenced first); claims are not copied.
_RECOVERED_TABLES = (
    "prompts", "requests", "responses", "experiments", "experiment_samples", "batches",
    "batch_requests", "hand_labels", "verdicts",
)


def _read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise StoreError(f"no store at {path}; give the path of a store.sqlite file")
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)


def integrity_problems(path: str | Path) -> list[str]:
    """SQLite's integrity check of the store file at ``path``: an empty list when it is sound,
    else one line a problem. Opens the file read-only and changes nothing."""
    path = Path(path)
    db = _read_only(path)
    try:
        rows = [row[0] for row in db.execute("PRAGMA integrity_check")]
        if rows == ["ok"]:
            lost = _lost_migrations(db)
            rows = [lost] if lost else []
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    finally:
        db.close()
    return rows


def _readable_rows(db: sqlite3.Connection, table: str, columns: str) -> Iterator[tuple]:
    """Every row of ``table`` that can still be read: all at once while that works, then one
    rowid at a time, skipping damaged ones. Nothing when the table itself cannot be read."""
    try:
        db.execute(f"SELECT {columns} FROM {table} LIMIT 0")
    except sqlite3.DatabaseError:
        return
    try:
        yield from db.execute(f"SELECT {columns} FROM {table}").fetchall()
        return
    except sqlite3.DatabaseError:
        pass
    try:
        (last,) = db.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()
    except sqlite3.DatabaseError:
        last = None
    rowid, misses = 1, 0
    while (rowid <= last) if last is not None else misses < 10_000:
        try:
            row = db.execute(f"SELECT {columns} FROM {table} WHERE rowid = ?",
                             (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            row = None
        misses = 0 if row else misses + 1
        if row:
            yield row
        rowid += 1


def recover(damaged: str | Path, into: str | Path) -> dict[str, int]:
    """Copy every readable row of the store ``damaged`` into a new store ``into``; returns the
    rows copied per table. ``damaged`` is opened read-only and left as it is."""
    damaged, into = Path(damaged), Path(into)
    if into.exists():
        raise StoreError(f"{into} exists already; name a new file to recover into")
    source = _read_only(damaged)
    copied: dict[str, int] = {}
    with Store(into) as target:
        target.db.execute("PRAGMA foreign_keys = OFF")  # rows whose parent was lost stay
        for table in _RECOVERED_TABLES:
            columns = ", ".join(
                f'"{row[1]}"' for row in target.db.execute(f"PRAGMA table_info({table})")
            )
            marks = ", ".join("?" * len(columns.split(", ")))
            count = 0
            with target.transaction() as db:
                for row in _readable_rows(source, table, columns):
                    count += db.execute(
                        f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({marks})", row
                    ).rowcount
            copied[table] = count
    source.close()
    return copied
