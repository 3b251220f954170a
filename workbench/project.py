"""Where the project is: found the way git finds its folder.

A notebook kernel started in ``notebooks/`` and the CLI started in the project's root must use
the same store and the same scenario families, so both walk up from the working directory to
the nearest folder that holds ``.workbench/`` or ``scenarios/``.
"""

from __future__ import annotations

from pathlib import Path

MARKERS = (".workbench", "scenarios")
CHECKOUT = Path(__file__).resolve().parent.parent
"""The source checkout the package was installed from (for an editable install)."""


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) holding
    ``.workbench/`` or ``scenarios/``; ``start`` itself when none does."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).is_dir() for marker in MARKERS):
            return folder
    return here


def project_file(relative: str) -> Path | None:
    """``relative`` (say ``experiments/demo.yaml``) in the project's folder, else in the source
    checkout the package was installed from; None when it is in neither."""
    for root in (project_root(), CHECKOUT):
        if (root / relative).exists():
            return root / relative
    return None
