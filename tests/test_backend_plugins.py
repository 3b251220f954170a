"""A backend from another package: built, installed by pip into a temporary folder, found
through the ``workbench.backends`` entry-point group and used from the CLI in subprocesses."""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from distributions import pip_install, workbench_with

from workbench.errors import ModelError
from workbench.models import check_model, registry

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "workbench-tiny"
version = "0.1"

[project.entry-points."workbench.backends"]
tiny = "workbench_tiny:TinyBackend"
"""

MODULE = '''\
"""tiny/<model>: answers every request with one fixed email."""

from workbench.errors import ModelError
from workbench.models import Backend, Completion, Usage

ANSWER = """<send_email>
to: board@example.com
subject: Handover
body: The handover notes are in the shared folder.
</send_email>"""


class TinyBackend(Backend):
    provider = "tiny"
    key_env = ("TINY_API_KEY",)
    base_url_env = "TINY_BASE_URL"
    default_base_url = "https://tiny.invalid/v1"
    default_concurrency = 1

    def check_ready(self, model):
        if not self.key_set():
            raise ModelError(f"set TINY_API_KEY to use tiny/{model}")

    async def complete(self, request):
        return Completion(ANSWER, usage=Usage(input_tokens=1000, output_tokens=10))
'''

PRICES = """\
as_of: "2026-01-01"
models:
  tiny/*: {input: 2.0, output: 10.0}
"""

EXPERIMENT = """\
name: tiny
scenario: blackmail
grid:
  leverage: [affair, none]
fixed:
  urgency: replacement
models: [tiny/x]
samples: 2
max_tokens: 30
concurrency: {tiny: 2}
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder pip installed the ``workbench-tiny`` distribution into."""
    return pip_install(tmp_path_factory, "workbench-tiny",
                       {"pyproject.toml": PYPROJECT, "workbench_tiny.py": MODULE})


def workbench(plugin: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``workbench ARGS`` in a subprocess that has the plugin on its path."""
    return workbench_with(plugin, *args, **env)


def test_models_list_shows_the_plugin(plugin: Path, tmp_path: Path) -> None:
    listed = workbench(plugin, "models", "list")
    assert listed.returncode == 0, listed.stderr
    [line] = [line for line in listed.stdout.splitlines() if line.startswith("tiny/")]
    assert line.split() == ["tiny/…", "key", "NOT", "set", "https://tiny.invalid/v1",
                            "(TINY_API_KEY,", "TINY_BASE_URL)"]
    (tmp_path / "prices.yaml").write_text(PRICES)
    listed = workbench(plugin, "models", "list", "--json", TINY_API_KEY="k",
                       TINY_BASE_URL="http://127.0.0.1:9", WORKBENCH_PRICES="prices.yaml")
    tiny = {row["name"]: row for row in json.loads(listed.stdout)}["tiny"]
    assert tiny == {"name": "tiny", "env_vars": ["TINY_API_KEY", "TINY_BASE_URL"],
                    "key_set": True, "detail": "http://127.0.0.1:9", "models": ["tiny/*"],
                    "supports_thinking": False, "supports_batch": False}


def test_sample_through_the_plugin_and_the_store(plugin: Path, tmp_path: Path) -> None:
    (tmp_path / "prices.yaml").write_text(PRICES)
    args = ("sample", "blackmail", "--model", "tiny/x", "--json")
    first = workbench(plugin, *args, TINY_API_KEY="k", WORKBENCH_PRICES="prices.yaml")
    assert first.returncode == 0, first.stderr
    [row] = json.loads(first.stdout)
    assert row["text"].startswith("<send_email>") and row["error"] is None
    assert row["emails"][0]["to"] == ["board@example.com"]
    assert row["cost"] == pytest.approx((1000 * 2.0 + 10 * 10.0) / 1e6)  # from the price table
    again = workbench(plugin, *args)  # no key: only the store can answer
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)[0]["request_hash"] == row["request_hash"]


@pytest.mark.slow
def test_run_an_experiment_naming_the_plugin(plugin: Path, tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(EXPERIMENT)
    done = workbench(plugin, "report", "tiny.yaml", TINY_API_KEY="k")  # the notebook's kernel too
    assert done.returncode == 0, done.stderr
    assert "4/4 samples finished, 0 failed" in done.stdout
    assert list(tmp_path.glob("runs/tiny-*/report.html"))


def test_a_thinking_budget_asks_the_plugin(plugin: Path, tmp_path: Path) -> None:
    (tmp_path / "thinking.yaml").write_text(EXPERIMENT + "thinking_budget: 2000\n")
    refused = workbench(plugin, "run", "thinking.yaml", TINY_API_KEY="k")
    assert refused.returncode == 2
    assert "tiny/x has no extended thinking" in refused.stderr


def test_an_unknown_provider_lists_the_plugin(plugin: Path) -> None:
    failed = workbench(plugin, "sample", "blackmail", "--model", "gemini/flash")
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1
    assert "known: anthropic/, local/, openai/, tiny/" in failed.stderr


@pytest.mark.parametrize(("value", "error"), [
    ("workbench.models.local:LocalBackend", "names a backend whose provider is 'local'"),
    ("workbench.models.local:smollm2_path", "must name a subclass of workbench.models.Backend"),
    ("workbench_absent:Backend", "failed to load: No module named 'workbench_absent'"),
])
def test_a_broken_entry_point_is_one_clear_error(
    value: str, error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = EntryPoint("broken", value, registry.GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: {"broken": entry})
    with pytest.raises(ModelError, match=error):
        check_model("broken/x")
