"""Stores that cannot be written or are damaged: one line naming the file and what to do,
exit status 2, and nothing sent; `workbench store check` and `store recover`."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from servers import FakeServer
from test_cli_run import EXPERIMENT, invoke

from workbench.runner import run
from workbench.store import Store, recover
from workbench.table import results_table

PAGE = 4096


@pytest.fixture
def filled(tmp_path: Path, server: FakeServer, isolated_store: Path) -> Path:
    """A store holding a finished experiment, and the experiment file grown by one sample a
    condition (so a run has something to send)."""
    path = tmp_path / "cli.yaml"
    path.write_text(EXPERIMENT)
    run(path, progress=False)
    path.write_text(EXPERIMENT.replace("samples: 2", "samples: 3"))
    server.requests.clear()
    return path


def damage(store: Path, offset: int, length: int, byte: bytes = b"\xa5") -> None:
    """Overwrite bytes of the store file, once every page is in it (WAL checkpointed)."""
    db = sqlite3.connect(store)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with store.open("r+b") as file:
        file.seek(offset)
        file.write(byte * length)


def root_page(store: Path, table: str) -> int:
    db = sqlite3.connect(store)
    try:
        query = "SELECT rootpage FROM sqlite_master WHERE name = ?"
        return db.execute(query, (table,)).fetchone()[0]
    finally:
        db.close()


def assert_one_line(code: int, err: str, *expected: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, err


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("header", "file is not a database"),
        ("schema", "malformed"),
        ("migrations", "no record of the migrations"),
        ("responses", "malformed"),
    ],
)
def test_a_damaged_store_is_one_line_and_nothing_is_sent(
    filled: Path, server: FakeServer, isolated_store: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], where: str, expected: str,
) -> None:
    if where == "header":
        damage(isolated_store, 0, 100, b"\0")
    elif where == "schema":
        damage(isolated_store, 100, PAGE - 100, b"\x07")
    elif where == "migrations":  # without the fix, the migrations ran again and failed
        db = sqlite3.connect(isolated_store)
        db.execute("DELETE FROM _migrations")
        db.commit()
        db.close()
    else:
        damage(isolated_store, (root_page(isolated_store, "responses") - 1) * PAGE, PAGE)
    for args in (["run", str(filled)], ["report", str(filled)],
                 ["store", "stats"], ["store", "export", "cli", str(tmp_path / "x.parquet")]):
        code, _, err = invoke(capsys, *args)
        assert_one_line(code, err, f"the store {isolated_store} is damaged", expected,
                        "workbench store check", "workbench store recover")
    assert server.requests == []
    assert not (tmp_path / "runs").exists()  # the report stopped before its run folder
    code, out, err = invoke(capsys, "store", "check")
    assert_one_line(code, err, "is damaged")
    assert f"{isolated_store}: damaged" in out


def test_store_check_says_ok_and_recover_copies_what_is_readable(
    filled: Path, isolated_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = invoke(capsys, "store", "check")
    assert code == 0 and out.strip() == f"{isolated_store}: ok"
    with Store(isolated_store) as store:  # people's labels and classifiers' verdicts
        key = results_table(store, "cli")["request_hash"].iloc[0]
        store.set_hand_label(key, "ana", "blackmail", "yes", note="threat")
        store.save_verdicts("rules:test", {key: {"labels": {"blackmail": True}}})
    damage(isolated_store, (root_page(isolated_store, "responses") - 1) * PAGE, PAGE)
    before = isolated_store.read_bytes()
    recovered = tmp_path / "recovered.sqlite"
    code, out, err = invoke(capsys, "store", "recover", str(recovered))
    assert code == 0, err
    assert "experiments          1 row(s)" in out and "responses            0 row(s)" in out
    assert isolated_store.read_bytes() == before  # the damaged file is left as it was
    code, out, _ = invoke(capsys, "store", "check", str(recovered))
    assert code == 0 and out.strip().endswith(": ok")
    with Store(recovered) as store:
        # the experiment and its samples survive; answers are lost
        frame = results_table(store, "cli")
        assert len(frame) == 4 and (frame["error"] == "not run").all()
        assert [(h.label, h.value, h.note) for h in store.hand_labels([key])] == [
            ("blackmail", "yes", "threat")]
        assert store.verdicts("rules:test", [key]) == {key: {"labels": {"blackmail": True}}}
    code, _, err = invoke(capsys, "store", "recover", str(recovered))
    assert_one_line(code, err, "exists already")


def test_recover_rows_around_a_damaged_page(tmp_path: Path) -> None:
    path = tmp_path / "many.sqlite"
    with Store(path) as store:
        store.db.executemany(
            "INSERT INTO prompts (hash, system, messages) VALUES (?, ?, '[]')",
            [(f"h{i:05d}", "x" * 200) for i in range(2000)],
        )
        (pages,) = store.db.execute("PRAGMA page_count").fetchone()
    damage(path, (pages // 2) * PAGE, PAGE)
    copied = recover(path, tmp_path / "out.sqlite")
    assert 1800 < copied["prompts"] < 2000  # every row but those of the damaged page


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` made read-only for this process: immutable when the tests run as root (root
    writes files whatever their mode), else mode 0444."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o444)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o644)


def test_a_read_only_store_is_one_line_before_anything_is_sent(
    filled: Path, server: FakeServer, isolated_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damage(isolated_store, 0, 0)  # checkpoint: every page in the file
    with read_only(isolated_store):
        for args in (["run", str(filled)], ["report", str(filled)]):
            code, _, err = invoke(capsys, *args)
            assert_one_line(code, err, f"the store {isolated_store} cannot be written",
                            "writable")
        code, out, _ = invoke(capsys, "store", "stats")  # reading still works
        assert code == 0 and "responses" in out
    assert server.requests == []
