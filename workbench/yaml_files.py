"""Reading the YAML files people write (scenario.yaml, experiment files), with one-line errors.

:func:`read_yaml` is the one way they are read: as UTF-8, with YAML 1.2 booleans (only
``true``/``false``, so ``yes``, ``no``, ``on``, ``off`` stay text) and no key given twice;
:func:`schema_problem` words a pydantic error about the data as one line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from workbench.errors import WorkbenchError

_MERGE = "tag:yaml.org,2002:merge"


class _DuplicateKey(yaml.MarkedYAMLError):
    """A mapping gives the same key twice."""


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when there
    """SafeLoader with YAML 1.2 booleans that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue  # `<<: *base` keys may be overridden: that is what merging is for
            key = self.construct_object(key_node, deep=deep)
            try:
                seen = first.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: the base class says so
            if seen is not key_node:
                raise _DuplicateKey(
                    problem=f"the key {key!r} is given twice (first on line "
                    f"{seen.start_mark.line + 1}); keep one",
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(path: Path, error: type[WorkbenchError]) -> tuple[Any, str]:
    """The data in the YAML file ``path`` and its text.

    Raises ``error`` with one line naming the file (and the line) if it cannot be read, is not
    UTF-8, is malformed or gives a key twice."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read it ({exc.strerror or exc}); check the path") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(
            f"{path} line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            "save it as UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_Loader), text
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if not isinstance(exc, _DuplicateKey):
            problem = f"malformed YAML: {problem}"
        raise error(f"{path}{line}: {problem}") from None


def schema_problem(exc: ValidationError, model: type[BaseModel]) -> str:
    """The first error of a pydantic validation as ``field: what is wrong`` on one line."""
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        if len(first["loc"]) == 1:
            message = f"unknown field; the fields are: {', '.join(model.model_fields)}"
        else:
            message = "unknown field; remove it or fix its spelling"
    elif first["type"] == "missing":
        message = "required field is missing; add it"
    return f"{loc}: {message}"
