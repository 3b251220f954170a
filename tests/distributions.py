"""Build and install a tiny distribution (a plugin from "another package") with pip into a
temporary folder, and run the CLI with that folder on its path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def pip_install(tmp_path_factory: pytest.TempPathFactory, name: str,
                files: dict[str, str]) -> Path:
    """Write ``files`` (``pyproject.toml`` and modules) as the distribution ``name``, install it
    with pip into a new folder, and return that folder."""
    source = tmp_path_factory.mktemp(name)
    for filename, text in files.items():
        (source / filename).write_text(text)
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(source)], check=True, capture_output=True)
    return target


def workbench_with(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``workbench ARGS`` in a subprocess that has ``site`` on its path."""
    paths = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths), **env},
    )
