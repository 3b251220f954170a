"""Mistakes in experiment files: each is one line naming the file (and the line or field), exit
status 2 from the CLI, and nothing sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from servers import FakeServer

from workbench.cli import main
from workbench.errors import ExperimentError
from workbench.experiment import Experiment, load_experiment, validate_experiment
from workbench.runner import sample

EXPERIMENT = """\
name: hostile
scenario: blackmail
grid:
  leverage: [affair, none]
models: [openai/fake-model]
samples: 1
max_tokens: 16
"""


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``workbench ARGS`` in process: (exit status, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def refused(capsys: pytest.CaptureFixture[str], path: Path, *fragments: str,
            commands: tuple[str, ...] = ("run",)) -> str:
    """Loading ``path`` fails with one line holding every fragment, and so does the CLI."""
    with pytest.raises(ExperimentError) as info:
        load_experiment(path, check=False)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    for command in commands:
        code, err = run_cli(capsys, command, str(path))
        assert code == 2 and err == f"error: {message}\n", (code, err)
    return message


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "x.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_a_file_that_is_not_utf8(tmp_path: Path, server: FakeServer,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, EXPERIMENT.encode() + b"seed: 1  # na\xefve\n")
    refused(capsys, path, "line 8: not UTF-8 text (byte 0xef)", "save it as UTF-8")
    assert server.requests == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (EXPERIMENT + "samples: 3\n", "line 8: the key 'samples' is given twice (first on line 6)"),
        (EXPERIMENT.replace("  leverage: [affair, none]\n",
                            "  leverage: [affair, none]\n  leverage: [none]\n"),
         "line 5: the key 'leverage' is given twice (first on line 4)"),
        ("name: a\nscenario: blackmail\nfixed: {urgency: none, urgency: replacement}\n"
         "models: [openai/fake-model]\n", "line 3: the key 'urgency' is given twice"),
    ],
)
def test_a_key_given_twice(tmp_path: Path, server: FakeServer, capsys: pytest.CaptureFixture[str],
                           text: str, fragment: str) -> None:
    refused(capsys, write(tmp_path, text), fragment, "keep one")
    assert server.requests == []


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = ("name: a\nscenario: blackmail\nbase: &base {urgency: none, leverage: none}\n"
            "fixed:\n  <<: *base\n  urgency: replacement\nmodels: [openai/m]\n")
    with pytest.raises(ExperimentError, match="base: unknown field"):
        load_experiment(write(tmp_path, text), check=False)


def test_malformed_yaml_still_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match=r"x.yaml line 3: malformed YAML"):
        load_experiment(write(tmp_path, "name: a\nmodels: [x\nscenario: b\n"), check=False)


def test_a_misspelled_provider_in_concurrency(tmp_path: Path, server: FakeServer,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, EXPERIMENT + "concurrency: {opneai: 4}\n")
    refused(capsys, path, "concurrency: unknown provider 'opneai'",
            "known providers: anthropic, local, openai")
    assert server.requests == []


def test_a_judge_without_a_provider_is_refused_the_same_way_by_run_and_report(
    tmp_path: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, EXPERIMENT + "judge: claude-sonnet-4-5\n")
    refused(capsys, path, "judge: 'claude-sonnet-4-5' is not provider/model",
                      commands=("run", "report"))
    assert server.requests == [] and not (tmp_path / "runs").exists()
    code, err = run_cli(capsys, "report", str(write(tmp_path, EXPERIMENT)), "--judge", "sonnet")
    assert code == 2 and "judge: 'sonnet' is not provider/model" in err
    with pytest.raises(ExperimentError, match="judge: .* is not provider/model"):
        validate_experiment({"name": "a", "scenario": "s", "models": ["openai/m"],
                             "judge": "claude"})


@pytest.mark.parametrize("model", ["openai/gpt-4.1", "local/smollm2"])
def test_thinking_budget_on_a_model_without_extended_thinking(
    tmp_path: Path, server: FakeServer, capsys: pytest.CaptureFixture[str], model: str
) -> None:
    text = EXPERIMENT.replace("openai/fake-model", f"anthropic/claude-opus-4-1, {model}")
    path = write(tmp_path, text + "thinking_budget: 2000\n")
    refused(capsys, path, f"thinking_budget: {model} has no extended thinking",
            "remove thinking_budget")
    assert server.requests == []


def test_thinking_budget_on_anthropic_models_is_accepted() -> None:
    experiment = Experiment.model_validate({
        "name": "a", "scenario": "s", "models": ["anthropic/claude-opus-4-1"],
        "thinking_budget": 2000, "temperature": 1.0, "max_tokens": 4000,
    })
    assert experiment.params.thinking_budget == 2000


def test_a_folder_given_as_the_experiment_file(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ExperimentError, match=r"is a folder; give the path of an experiment "
                                              r"YAML file"):
        load_experiment(tmp_path)
    code, err = run_cli(capsys, "run", str(tmp_path))
    assert code == 2 and "is a folder" in err and err.count("\n") == 1


def test_sample_with_a_thinking_budget_on_an_openai_model_is_refused(server: FakeServer) -> None:
    with pytest.raises(ExperimentError, match="openai/gpt-4.1 has no extended thinking"):
        sample("blackmail", "openai/gpt-4.1", thinking_budget=2000)
    assert server.requests == []
