"""`workbench report`: the experiment notebook under papermill, the run folder and its report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from servers import FakeServer

from workbench.classify.packs import load_pack
from workbench.store import Store

REPO = Path(__file__).resolve().parent.parent
PLANTED_KEYS = {
    "ANTHROPIC_API_KEY": "sk-ant-PLANTED-0b6c1f5e9d2a4c7e8f31",
    "OPENAI_API_KEY": "sk-PLANTED-openai-4e2d9a7c1b3f5e6d8c90",
}

EMBEDDED = """\
name: embedded
scenario: blackmail
grid:
  leverage: [affair, none]
models: [local/smollm2]
samples: 1
temperature: 0.7
max_tokens: 16
seed: 3
"""

SERVED = """\
name: {name}
scenario: blackmail
grid:
  leverage: [affair, none]
  successor_values: [similar, different]
models: [openai/fake-model]
samples: {samples}
max_tokens: 64
seed: 1
"""


def workbench(*args: str, cwd: Path, env: dict[str, str] | None = None,
              unset: tuple[str, ...] = (), timeout: float = 600
              ) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process, as a user would."""
    environment = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args], cwd=cwd, capture_output=True,
        text=True, timeout=timeout, env=environment,
    )


class _Resources(HTMLParser):
    """Collects every URL the page would load by itself."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts_with_src = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.scripts_with_src += 1
        for name in ("src", "href", "data", "poster"):
            if found.get(name):
                self.urls.append(found[name] or "")
        if tag == "link" and found.get("href"):
            self.urls.append(found["href"] or "")


def remote_resources(page: str) -> list[str]:
    parser = _Resources()
    parser.feed(page)
    remote = [u for u in parser.urls if re.match(r"^(https?:)?//", u.strip(), re.IGNORECASE)]
    remote += re.findall(r"@import\s+url\(\s*['\"]?(?:https?:)?//[^)]*\)", page)
    remote += re.findall(r"url\(\s*['\"]?(?:https?:)?//[^)]*\)", page)
    return remote + ["<script src>"] * parser.scripts_with_src


def every_file(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
        else:
            yield from (p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    with FakeServer("openai") as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEYS["OPENAI_API_KEY"])
        yield fake


@pytest.mark.slow
def test_notebook_runs_on_the_embedded_model_into_a_complete_run_folder(
    tmp_path: Path, isolated_store: Path
) -> None:
    experiment = tmp_path / "embedded.yaml"
    experiment.write_text(EMBEDDED)
    out = tmp_path / "run"
    done = workbench("report", str(experiment), "--out", str(out), cwd=REPO,
                     env=dict(PLANTED_KEYS))
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("experiment.ipynb", "results.parquet", "manifest.json", "report.html"):
        assert (out / name).is_file(), name
    assert f"report: {out / 'report.html'}" in done.stdout

    manifest = json.loads((out / "manifest.json").read_text())
    results = pd.read_parquet(out / "results.parquet")
    assert manifest["counts"]["samples"] == len(results) == 2
    assert manifest["counts"]["failures"] == int(results["error"].notna().sum()) == 0
    assert manifest["counts"]["requests_sent"] == 2
    assert manifest["models"] == ["local/smollm2"]
    assert sorted(manifest["conditions"]) == sorted(results["condition_id"].unique())
    assert manifest["seeds"] == sorted(set(results["seed"]))
    assert set(manifest["scenario"]["files"]) >= {"scenario.yaml", "templates/system.j2"}
    assert manifest["experiment_file"] == EMBEDDED
    assert manifest["tokens"]["output_tokens"] == int(results["output_tokens"].sum()) > 0
    assert {"blackmail", "disclosure", "evidence"} <= set(results.columns)
    with Store(isolated_store) as store:  # the notebook keeps the rules' verdicts
        kept = store.verdicts(load_pack("blackmail").rules_id, list(results["request_hash"]))
        assert set(kept) == set(results["request_hash"])

    page = (out / "report.html").read_text()
    assert remote_resources(page) == []
    assert "Blackmail rate" in page and "data:image/png;base64," in page
    assert "leverage=affair" in page

    # no secret lands in the run folder or the store
    for path in every_file(out, isolated_store.parent):
        content = path.read_bytes()
        for key in PLANTED_KEYS.values():
            assert key.encode() not in content, f"{key} found in {path}"

    # a re-run reuses the store: no new request, and the manifest says so
    again = workbench("report", str(experiment), "--out", str(tmp_path / "again"), cwd=REPO)
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert second["counts"]["requests_sent"] == 0
    assert second["counts"]["reused_from_store"] == 2


def test_raising_samples_sends_only_what_is_missing_and_parallel_runs_share_the_store(
    tmp_path: Path, server: FakeServer
) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(SERVED.format(name="a", samples=1))
    second.write_text(SERVED.format(name="b", samples=2))
    done = workbench("report", str(first), "--out", str(tmp_path / "run-a"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(server.completed_hashes()) == 4

    # experiment b asks for the same prompts with two samples: only sample 1 of each is new
    done = workbench("report", str(first), str(second), "--parallel", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(server.completed_hashes()) == 8
    assert len(set(server.completed_hashes())) == 8
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert [f.split("-")[0] for f in folders] == ["a", "b"]
    manifest = json.loads(next((tmp_path / "runs").glob("b-*/manifest.json")).read_text())
    assert manifest["counts"] == {"samples": 8, "failures": 0, "requests_sent": 4,
                                  "reused_from_store": 4}


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        (SERVED.format(name="x", samples=1).replace("openai/fake-model", "nowhere/model"), [],
         "nowhere"),
        (SERVED.format(name="x", samples=1).replace("openai/", "anthropic/"), [],
         "ANTHROPIC_API_KEY"),
        (SERVED.format(name="x", samples=1), ["--judge", "mystery/judge"], "mystery"),
        (SERVED.format(name="x", samples=0), [], "samples"),
        (SERVED.format(name="x", samples=1).replace("leverage:", "levrage:"), [], "levrage"),
    ],
)
def test_bad_input_costs_nothing(
    tmp_path: Path, server: FakeServer, content: str, args: list[str], expected: str
) -> None:
    experiment = tmp_path / "x.yaml"
    experiment.write_text(content)
    done = workbench("report", str(experiment), *args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0]
    assert "Traceback" not in done.stderr
    assert server.requests == []
    assert not (tmp_path / "runs").exists()


def test_a_failing_cell_keeps_the_partial_notebook_and_names_the_cell(
    tmp_path: Path, server: FakeServer
) -> None:
    import nbformat

    notebook = nbformat.read(REPO / "notebooks" / "experiment.ipynb", as_version=4)
    broken = nbformat.v4.new_code_cell("raise RuntimeError('this cell is broken on purpose')")
    notebook.cells.insert(4, broken)
    (tmp_path / "notebooks").mkdir()
    nbformat.write(notebook, tmp_path / "notebooks" / "experiment.ipynb")
    experiment = tmp_path / "x.yaml"
    experiment.write_text(SERVED.format(name="x", samples=1))

    done = workbench("report", str(experiment), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert "RuntimeError" in line and "this cell is broken on purpose" in line
    assert re.search(r"cell \d+", line)
    partial = nbformat.read(tmp_path / "run" / "experiment.ipynb", as_version=4)
    errors = [o for c in partial.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "RuntimeError"
    assert not (tmp_path / "run" / "report.html").exists()


def test_run_writes_no_run_folder_and_the_old_spellings_still_work(
    tmp_path: Path, server: FakeServer
) -> None:
    """``workbench run`` is the store and a printed table; ``--no-notebook`` is its old
    spelling, and ``--notebook`` still makes the report, with a note naming ``report``."""
    experiment = tmp_path / "x.yaml"
    experiment.write_text(SERVED.format(name="x", samples=1))
    for old_spelling in ([], ["--no-notebook"]):
        done = workbench("run", str(experiment), *old_spelling, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "4/4 samples finished, 0 failed" in done.stdout
        assert f"the HTML report: workbench report {experiment}" in done.stdout
        assert not (tmp_path / "runs").exists()
    assert len(server.completed_hashes()) == 4  # the second run sent nothing
    refused = workbench("run", str(experiment), "--no-notebook", "--judge", "openai/x",
                        cwd=tmp_path)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1
    assert f"workbench report {experiment} --judge MODEL" in lines[0]

    done = workbench("run", str(experiment), "--notebook", "--out", str(tmp_path / "old"),
                     cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "note: `workbench run --notebook` (or --out, --judge) is `workbench report` now" \
        in done.stderr
    assert (tmp_path / "old" / "report.html").is_file()


def test_remote_resource_check_finds_what_it_should() -> None:
    page = ('<link href="https://cdn.example/x.css"><script src="//cdn/x.js"></script>'
            '<img src="data:image/png;base64,AAA"><style>@import url("http://a/b.css")</style>')
    found = remote_resources(page)
    assert "https://cdn.example/x.css" in found and "//cdn/x.js" in found
    assert any("http://a/b.css" in f for f in found) and "<script src>" in found
    assert not any(f.startswith("data:") for f in found)


def test_the_default_store_is_the_working_directory_s_for_the_notebook_too(
    tmp_path: Path, server: FakeServer
) -> None:
    """Without WORKBENCH_STORE, the notebook's kernel and the CLI share ./.workbench/."""
    experiment = tmp_path / "x.yaml"
    experiment.write_text(SERVED.format(name="x", samples=1))
    done = workbench("report", str(experiment), cwd=tmp_path, unset=("WORKBENCH_STORE",))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "4/4 samples finished, 0 failed" in done.stdout
    assert (tmp_path / ".workbench" / "store.sqlite").is_file()
    assert not list((tmp_path / "runs").rglob(".workbench"))
