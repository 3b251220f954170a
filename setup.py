"""The wheel's packages and package data; the project's metadata is in pyproject.toml.

The built-in scenario families, the demo experiment and the notebooks stay at the repository's
root, where researchers edit them; the wheel carries a copy of them under
``workbench/builtin/`` (found by :func:`workbench.project.builtin_file`).
"""

from setuptools import find_packages, setup

BUILTIN = {
    "scenarios": ["**/*"],
    "experiments": ["demo.yaml"],
    "notebooks": ["*.ipynb"],
}
"""Folder at the repository's root -> the files of it the wheel carries."""

setup(
    packages=[*find_packages(include=["workbench*"]),
              *(f"workbench.builtin.{folder}" for folder in BUILTIN)],
    package_dir={f"workbench.builtin.{folder}": folder for folder in BUILTIN},
    package_data={
        "workbench": ["data/*"],
        "workbench.classify.packs": ["*/labels.md", "*/judge.md", "*/gold/*.jsonl"],
        **{f"workbench.builtin.{folder}": files for folder, files in BUILTIN.items()},
    },
)
