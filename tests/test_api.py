"""The package's public API resolves, lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import workbench


@pytest.mark.parametrize("name", workbench.__all__)
def test_every_export_resolves(name: str) -> None:
    assert getattr(workbench, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = workbench.no_such_thing  # type: ignore[attr-defined]


def test_rendering_does_not_import_pandas_or_the_sdks() -> None:
    code = ("import sys, workbench; workbench.render('blackmail'); "
            "print(sorted(m for m in ('pandas', 'anthropic', 'openai', 'llama_cpp') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_no_module_shadows_a_public_name() -> None:
    import pkgutil

    import workbench

    modules = {info.name for info in pkgutil.iter_modules(workbench.__path__)}
    assert not modules & set(workbench.__all__), "a submodule would replace the public name"
