"""The CLI's models, sample, run, demo and store commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from servers import FakeServer

from workbench import runner
from workbench.cli import main
from workbench.experiment import expand, load_experiment
from workbench.table import results_table as table

EXPERIMENT = """\
name: cli
scenario: blackmail
grid:
  leverage: [affair, none]
fixed:
  urgency: replacement
models: [openai/fake-model]
samples: 2
max_tokens: 30
"""


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``workbench ARGS``; returns (exit status, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_run_prints_a_table_and_store_commands_work(
    tmp_path: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cli.yaml"
    path.write_text(EXPERIMENT)
    read: list[str] = []
    with pytest.MonkeyPatch.context() as patch:  # counted in the store: no results table built
        patch.setattr(runner, "results_table", lambda *a, **k: read.append(a[1]) or table(*a, **k))
        code, out, err = invoke(capsys, "run", str(path))
    assert code == 0, err
    assert read == []
    lines = out.splitlines()
    assert lines[0].split() == ["leverage", "model", "samples", "finished", "failed"]
    assert lines[1].split() == ["affair", "openai/fake-model", "2", "2", "0"]
    assert "4/4 samples finished, 0 failed" in out
    assert len(server.requests) == 4

    code, out, _ = invoke(capsys, "store", "stats", "--json")
    stats = json.loads(out)
    assert (stats["experiments"], stats["responses"], stats["requests_sent"]) == (1, 4, 4)
    code, out, _ = invoke(capsys, "store", "stats")
    assert code == 0 and "requests_sent" in out

    target = tmp_path / "cli.parquet"
    code, out, _ = invoke(capsys, "store", "export", "cli", str(target))
    assert code == 0 and len(pd.read_parquet(target)) == 4
    code, _, err = invoke(capsys, "store", "export", "nope", str(target))
    assert code == 2 and "no experiment 'nope'" in err


def test_run_on_the_command_line_does_not_load_pandas(tmp_path: Path, server: FakeServer) -> None:
    """`workbench run` counts its table in the store: it never builds the DataFrame, so the
    process does not import pandas (a third of a second, and the whole table's memory)."""
    path = tmp_path / "cli.yaml"
    path.write_text(EXPERIMENT)
    code = ("import sys\nfrom workbench.cli import main\ntry:\n    main(['run', sys.argv[1]])\n"
            "finally:\n    print('pandas loaded:', 'pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "4/4 samples finished" in done.stdout
    assert done.stdout.splitlines()[-1] == "pandas loaded: False"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "no such experiment file"),
        ("name: cli\nscenario: [\n", "malformed YAML"),
        (EXPERIMENT + "colour: red\n", "colour: unknown field"),
        (EXPERIMENT.replace("leverage:", "leverag:"), "no variable 'leverag'"),
        (EXPERIMENT.replace("[affair, none]", "[affair, gossip]"), "'gossip' is not a choice"),
        (EXPERIMENT.replace("openai/fake-model", "nowhere/x"), "unknown model provider"),
        (EXPERIMENT.replace("openai/fake-model", "anthropic/claude"), "ANTHROPIC_API_KEY"),
    ],
)
def test_bad_input_is_one_line_and_sends_nothing(
    tmp_path: Path, server: FakeServer, capsys: pytest.CaptureFixture[str],
    text: str | None, expected: str,
) -> None:
    path = tmp_path / "bad.yaml"
    if text is not None:
        path.write_text(text)
    code, out, err = invoke(capsys, "run", str(path))
    assert code == 2 and expected in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert server.requests == []


def test_missing_key_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cli.yaml"
    path.write_text(EXPERIMENT)
    code, _, err = invoke(capsys, "run", str(path))
    assert code == 2 and "OPENAI_API_KEY" in err and err.count("\n") == 1


def test_sample_goes_through_the_store(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("sample", "blackmail", "--model", "openai/fake-model", "--set", "leverage=none",
            "-n", "2", "--max-tokens", "20")
    code, out, err = invoke(capsys, *args, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["sample"] for r in rows] == [0, 1] and all(r["text"] for r in rows)
    assert all(isinstance(r["emails"], list) for r in rows)
    code, out, _ = invoke(capsys, *args)
    assert code == 0 and "=== sample 0" in out and "email(s) sent" in out
    assert len(server.requests) == 2
    code, _, err = invoke(capsys, "sample", "blackmail", "--model", "openai/x", "--set", "x=y")
    assert code == 2 and "no variable 'x'" in err


HOSTILE_REPLY = ("\x1b]0;pwned\x07\x1b[2J<send_email>\nto: tobias.renner@fernhollow.com\n"
                 "subject: \x1b[31mred\nbody:\n\x9b6nhello\n</send_email>")


def test_sample_output_cannot_drive_the_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Escape sequences in a model's answer are printed as text, never sent to the terminal."""
    with FakeServer("openai", reply=lambda body: HOSTILE_REPLY) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        for extra in ((), ("--json",)):
            code, out, err = invoke(capsys, "sample", "blackmail", "--model", "openai/evil",
                                    "--max-tokens", "20", *extra)
            assert code == 0, err
            assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
            assert "\\x1b]0;pwned" in out or "\\u001b]0;pwned" in out


def test_models_list(capsys: pytest.CaptureFixture[str],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    code, out, _ = invoke(capsys, "models", "list", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0 and rows["openai"]["key_set"] is True
    assert rows["anthropic"]["key_set"] is False and rows["local"]["detail"].endswith(".gguf")
    code, out, _ = invoke(capsys, "models", "list")
    assert "key NOT set" in out and "key set" in out


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store for the demo's tests, so the second reuses the first one's samples."""
    return tmp_path_factory.mktemp("demo") / "store.sqlite"


@pytest.mark.slow
def test_demo_runs_the_demo_experiment_on_the_embedded_model(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_store: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `make demo` runs: the real embedded model, through the notebook, into a report."""
    monkeypatch.setenv("WORKBENCH_STORE", str(demo_store))
    demo = load_experiment(repo / "experiments" / "demo.yaml")
    assert demo.models == ["local/smollm2"] and demo.max_tokens <= 200
    total = len(expand(demo))
    assert total <= 16
    code, out, err = invoke(capsys, "demo", "--out", str(tmp_path / "demo"))
    assert code == 0, err
    assert f"{total}/{total} samples finished, 0 failed" in out
    assert f"report: {tmp_path / 'demo' / 'report.html'}" in out
    assert (tmp_path / "demo" / "report.html").stat().st_size > 10_000


@pytest.mark.slow
def test_the_notebook_runs_alone_with_its_default_parameters(
    repo: Path, tmp_path: Path, demo_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a user opening notebooks/experiment.ipynb in JupyterLab and running every cell."""
    import nbformat
    import papermill

    monkeypatch.setenv("WORKBENCH_STORE", str(demo_store))
    executed = tmp_path / "executed.ipynb"
    papermill.execute_notebook(str(repo / "notebooks" / "experiment.ipynb"), str(executed),
                               cwd=str(repo / "notebooks"), kernel_name="python3",
                               progress_bar=False)
    notebook = nbformat.read(executed, as_version=4)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs
                   if isinstance(o.get("data", {}).get("text/html", ""), str))
    assert "Blackmail rate" in html and "leverage=affair, urgency=replacement" in html
    assert not list((repo / "notebooks").glob("*.parquet"))  # out_dir "" writes nothing


def test_failed_runs_name_their_commonest_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("WORKBENCH_MAX_RETRIES", "0")
    path = tmp_path / "cli.yaml"
    path.write_text(EXPERIMENT)
    with FakeServer("openai", fault_rate=1.0, faults=("500",)) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        code, out, _ = invoke(capsys, "run", str(path))
    assert code == 1
    lines = out.splitlines()
    at = lines.index("0/4 samples finished, 4 failed; cost $0.0000")
    assert lines[at + 1].startswith("  4 × InternalServerError: Error code: 500")
