"""The size of a run is known before it is expanded: `--dry-run` prints the plan, and a run
above the confirmation threshold asks on a terminal or stops with one line naming --yes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import FakeServer
from test_cli_run import EXPERIMENT, invoke

from workbench.errors import ConfirmationNeeded
from workbench.experiment import plan
from workbench.runner import run


def experiment_file(tmp_path: Path, text: str = EXPERIMENT) -> Path:
    path = tmp_path / "cli.yaml"
    path.write_text(text)
    return path


def test_ten_million_samples_are_planned_in_a_moment_and_refused_without_yes(
    tmp_path: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = experiment_file(tmp_path, EXPERIMENT.replace("samples: 2", "samples: 10000000"))
    started = time.monotonic()
    code, out, err = invoke(capsys, "run", str(path), "--dry-run")
    assert time.monotonic() - started < 30  # not expanded: minutes and gigabytes before the fix
    assert code == 0, err
    assert "2 condition(s) × 1 model(s) = 20,000,000 samples" in out
    assert "already in the store: not counted (too many); to send: 20,000,000" in out
    assert "a run would ask first: 20,000,000 samples to send is above the 10,000" in out
    for args in (["run", str(path)], ["report", str(path)]):
        code, _, err = invoke(capsys, *args)  # stdin is not a terminal under pytest
        assert code == 2 and err.count("\n") == 1 and "--yes" in err, err
    assert server.requests == []
    with pytest.raises(ConfirmationNeeded, match="yes=True"):
        run(path, progress=False)


def test_dry_run_counts_what_the_store_holds_and_sends_nothing(
    tmp_path: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = experiment_file(tmp_path)
    run(path, progress=False)
    path.write_text(EXPERIMENT.replace("samples: 2", "samples: 5"))
    sent = len(server.requests)
    for command in ("run", "report"):
        code, out, _ = invoke(capsys, command, str(path), "--dry-run")
        assert code == 0 and len(server.requests) == sent == 4
        assert "= 10 samples" in out and "already in the store: 4; to send: 6" in out
    assert not (tmp_path / "runs").exists()
    found = plan(path)
    assert (found.samples, found.stored, found.to_send) == (10, 4, 6)
    assert found.output_tokens == 6 * 30  # max_tokens each
    # the canonical prompt is about 2,400 tokens: the estimate is in its neighbourhood
    assert 1_500 * 6 < found.input_tokens < 4_000 * 6
    assert found.needs_confirmation() is None


def test_the_threshold_counts_dollars_from_the_price_table(
    tmp_path: Path, server: FakeServer, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(  # $1,000 per million input tokens: ~2,400 tokens is ~$2.4 a sample
        "as_of: 2026-01-01\nmodels:\n  openai/fake-model: {input: 1000.0, output: 0.0}\n")
    monkeypatch.setenv("WORKBENCH_PRICES", str(prices))
    path = experiment_file(tmp_path, EXPERIMENT.replace("samples: 2", "samples: 20"))
    found = plan(path)
    assert found.samples == 40 and 40 < found.cost < 200
    assert "above the $50.00" in (found.needs_confirmation() or "")
    code, _, err = invoke(capsys, "run", str(path))
    assert code == 2 and "above the $50.00" in err and "--yes" in err
    monkeypatch.setenv("WORKBENCH_CONFIRM_USD", "1000")
    assert plan(path).needs_confirmation() is None
    monkeypatch.setenv("WORKBENCH_CONFIRM_USD", "50")
    code, out, err = invoke(capsys, "run", str(path), "--yes")
    assert code == 0, err
    assert len(server.requests) == 40


def test_a_terminal_is_asked_and_no_sends_nothing(tmp_path: Path, server: FakeServer) -> None:
    """A real terminal (a pty), answered no, then yes."""
    import pty

    path = experiment_file(tmp_path)
    env = {**os.environ, "WORKBENCH_CONFIRM_SAMPLES": "3"}

    def answer(reply: bytes) -> tuple[int, str]:
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "run", str(path)],
            stdin=follower, stdout=follower, stderr=follower, env=env, cwd=tmp_path,
        )
        os.close(follower)
        seen = b""
        while b"Run it?" not in seen:
            try:
                seen += os.read(leader, 4096)
            except OSError:  # the process ended without asking
                raise AssertionError(seen.decode(errors="replace")) from None
        os.write(leader, reply)
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the process ended and closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        os.close(leader)
        return process.wait(timeout=60), seen.decode(errors="replace")

    code, screen = answer(b"n\n")
    assert code == 1 and "4 samples to send is above the 3" in screen and "not run" in screen
    assert server.requests == []
    code, screen = answer(b"y\n")
    assert code == 0, screen
    assert len(server.requests) == 4


def test_samples_already_stored_do_not_count_towards_the_threshold(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = experiment_file(tmp_path)
    run(path, progress=False)  # 4 samples stored
    path.write_text(EXPERIMENT.replace("samples: 2", "samples: 3"))  # 6 in all, 2 to send
    monkeypatch.setenv("WORKBENCH_CONFIRM_SAMPLES", "3")
    frame = run(path, progress=False)  # 6 > 3, but only 2 are to send: no question
    assert frame["error"].isna().all() and len(server.requests) == 6
    path.write_text(EXPERIMENT.replace("samples: 2", "samples: 6"))  # 12 in all, 6 to send
    with pytest.raises(ConfirmationNeeded, match="6 samples to send is above the 3"):
        run(path, progress=False)
    assert len(server.requests) == 6
