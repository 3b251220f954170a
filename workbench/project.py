"""Where the project is, found the way git finds its folder, and where the built-in resources are.

A notebook kernel started in ``notebooks/`` and the CLI started in the project's root must use
the same store and the same scenario families, so both walk up from the working directory to
the nearest folder that holds ``.workbench/`` or ``scenarios/``.

The built-in scenario families, the demo experiment and the notebooks live at the root of the
source checkout; an installed wheel carries a copy of them in ``workbench/builtin/``.
"""

from __future__ import annotations

from pathlib import Path

MARKERS = (".workbench", "scenarios")
_PACKAGE = Path(__file__).resolve().parent
BUILTIN = _PACKAGE / "builtin" if (_PACKAGE / "builtin").is_dir() else _PACKAGE.parent
"""The folder of the built-in resources: the copy an installed wheel carries, else the source
checkout the package runs from (a clone, an editable install)."""


def builtin_file(relative: str) -> Path:
    """The built-in ``relative`` (say ``scenarios`` or ``notebooks/experiment.ipynb``): in a
    source checkout its file at the root, in an installed wheel the package's copy."""
    return BUILTIN / relative


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) holding
    ``.workbench/`` or ``scenarios/``; ``start`` itself when none does."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).is_dir() for marker in MARKERS):
            return folder
    return here


def project_file(relative: str) -> Path | None:
    """``relative`` (say ``experiments/demo.yaml``) in the project's folder, else the built-in
    one (:func:`builtin_file`); None when it is in neither."""
    for path in (project_root() / relative, builtin_file(relative)):
        if path.exists():
            return path
    return None
