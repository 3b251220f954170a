"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import FakeServer

REPO = Path(__file__).resolve().parent.parent
SECRET_VARIABLES = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL")
SETTINGS = ("WORKBENCH_YES", "WORKBENCH_CONFIRM_SAMPLES", "WORKBENCH_CONFIRM_USD",
            "WORKBENCH_CLAIM_LEASE")


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own store, its own working directory (so run folders never land in
    the repository) and no provider keys from the developer's environment."""
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "store.sqlite"
    monkeypatch.setenv("WORKBENCH_STORE", str(store))
    monkeypatch.setenv("WORKBENCH_SCENARIOS", str(REPO / "scenarios"))
    for name in (*SECRET_VARIABLES, *SETTINGS):
        monkeypatch.delenv(name, raising=False)
    return store


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    """A local OpenAI-protocol server, with OPENAI_BASE_URL and a dummy key pointing at it."""
    with FakeServer("openai") as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        yield fake


@pytest.fixture
def repo() -> Path:
    return REPO

