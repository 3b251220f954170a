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


def test_the_readme_architecture_names_every_module() -> None:
    """The README's architecture paragraph names each module and package of ``workbench``
    (a step of the data flow or a support module), and names none that does not exist."""
    import re
    from pathlib import Path

    package = Path(workbench.__file__).parent
    readme = (package.parent / "README.md").read_text(encoding="utf-8")
    paragraph = readme.split("**Architecture.**", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`([a-z_]+)(?:\.py|/)`", paragraph))
    modules = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    packages = {p.parent.name for p in package.glob("*/__init__.py")}
    assert named <= modules | packages
    assert modules | packages <= named


def test_report_is_the_notebook_verb_and_run_notebook_its_old_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``workbench.report`` is the function, not a module; ``run_notebook`` still works, with a
    DeprecationWarning naming ``report``."""
    from workbench import notebook, views  # noqa: F401 (importing views must not shadow it)

    assert workbench.report is notebook.report
    calls: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(notebook, "report", lambda path, **options: calls.append((path, options)))
    with pytest.warns(DeprecationWarning, match="workbench.report"):
        workbench.run_notebook("x.yaml", out="runs/x")
    assert calls == [("x.yaml", {"out": "runs/x"})]


def test_the_readme_python_api_section_names_every_public_name() -> None:
    """The README's *Python API* section names each name of ``workbench.__all__`` as
    ``workbench.<name>``, and names nothing else that way."""
    import re
    from pathlib import Path

    readme = (Path(workbench.__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Python API", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`workbench\.([A-Za-z_]+)", section))
    assert named == set(workbench.__all__)
