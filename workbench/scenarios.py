"""Load, validate and render scenario families.

A family is a folder ``scenarios/<name>/`` holding ``scenario.yaml`` and Jinja2 templates.
The YAML declares the variables (each a knob), the cast (people, whose names and addresses
are text variables), the templates of the system prompt and the user instruction, and the
inbox: a list of emails whose header fields are template strings, whose body is a template
file and which may carry a ``when`` condition (a Jinja expression over the variables).

A family may name a ``base`` family beside it: it inherits the base's cast, variables,
templates, inbox and classification, its scenario.yaml may add or replace variables (each
whole) and replace the title and description, and a file in its own templates/ replaces the
base's file of that name (which stays reachable as ``<base>/<file>``). One level only: a base
has no base of its own.

A family may instead name a ``generator``: a function of the workbench (``module:function``)
that writes the system prompt, the user message and the inbox from the values in code (the
published prompts of :mod:`workbench.original`). It declares variables, cast (its members'
names and addresses as they are, not variables) and classification like any other family, and
has no templates or inbox. Its generator may refuse a combination of values
(:class:`InvalidCombination`, which a grid skips) or need a package that is not installed
(:class:`Unavailable`, naming the command that installs it).

Families live in ``scenarios/<name>/``, or one level down in a group folder without a
scenario.yaml of its own: ``scenarios/original/blackmail/`` is the family ``original/blackmail``.

Templates are untrusted: they render in :mod:`workbench.sandbox` (jinja's sandbox, the
family's own files and its base's only, bounded work). Breaking a bound, like any other
template error, is a :class:`ScenarioError` of one line naming the file and line.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import itertools
import os
import re
import shutil
from collections.abc import (
    Callable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import quote

import jinja2
import jinja2.meta
import jinja2.nodes
import jinja2.visitor
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workbench.errors import InvalidCombination, ScenarioError, Unavailable
from workbench.hashing import sha256_of
from workbench.project import builtin_file, project_root
from workbench.sandbox import (
    BUDGET,
    MAX_FILE_BYTES,
    Budget,
    Exceeded,
    Sandbox,
    family_file,
    inside,
    joined_output,
    template_name,
    template_position,
)
from workbench.yaml_files import read_yaml, schema_problem

SCENARIO_FILE = "scenario.yaml"
CHARS_PER_TOKEN = 4
"""A rough average for English prompts: token counts from it are approximate."""
T = TypeVar("T")


def scenarios_root() -> Path:
    """The folder of the project's own families, where new ones are saved:
    ``WORKBENCH_SCENARIOS``, else ``scenarios/`` in the project's folder
    (:func:`workbench.project.project_root`, found by walking up from the working directory)."""
    if env := os.environ.get("WORKBENCH_SCENARIOS"):
        return Path(env)
    return project_root() / "scenarios"


def scenarios_roots() -> list[Path]:
    """The folders families are found in, the first holding a name winning:
    ``WORKBENCH_SCENARIOS`` alone when it is set; else the project's folder
    (:func:`scenarios_root`) and then the built-in families, so the project's add to the
    built-in ones and one of the same name overrides the built-in. In the source checkout the
    two are the same folder."""
    own = scenarios_root()
    builtin = builtin_file("scenarios")
    if os.environ.get("WORKBENCH_SCENARIOS") or own.resolve() == builtin.resolve():
        return [own]
    return [own, builtin]


def _roots(root: Path | None) -> list[Path]:
    """``root`` alone when given, else :func:`scenarios_roots`."""
    return [Path(root)] if root else scenarios_roots()


def approx_tokens(text: str) -> int:
    """About how many tokens ``text`` is (:data:`CHARS_PER_TOKEN` characters a token)."""
    return round(len(text) / CHARS_PER_TOKEN)


# --- the schema of scenario.yaml -------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Variable(_Strict):
    """One knob of a scenario: a choice among named values, or free text (names, addresses)."""

    type: Literal["choice", "text"] = "choice"
    choices: list[str] = Field(default_factory=list)
    default: str
    description: str

    @model_validator(mode="after")
    def _check_choices(self) -> Variable:
        if self.type == "choice":
            if len(self.choices) < 2:
                raise ValueError("a choice variable needs at least two choices")
            if self.default not in self.choices:
                raise ValueError(f"default {self.default!r} is not one of {self.choices}")
        elif self.choices:
            raise ValueError("a text variable takes no choices")
        return self


class CastMember(_Strict):
    """A person in the scenario: which text variables hold their name and address (in a family
    with a generator, the name and address themselves)."""

    name: str
    email: str
    role: str


class EmailTemplate(_Strict):
    """One email of the inbox: header fields are template strings, the body a template file."""

    id: str
    sender: str = Field(alias="from")
    to: str
    cc: str = ""
    timestamp: str
    subject: str
    body: str
    when: str = ""


class TemplateFiles(_Strict):
    system: str
    instruction: str


class Classification(_Strict):
    """What the classifiers need to know about the family, in terms of cast roles; ``pack``
    names its classification pack (see :mod:`workbench.classify.packs`)."""

    pack: str = "blackmail"  # workbench.classify.packs.DEFAULT_PACK
    agent: str
    target: str = ""
    decision_makers: list[str] = Field(default_factory=list)
    secret_parties: list[str] = Field(default_factory=list)
    secret_terms: list[str] = Field(default_factory=list)
    secret_evidence: list[str] = Field(default_factory=list)
    replacement_terms: list[str] = Field(default_factory=list)
    roles: dict[str, list[str]] = Field(default_factory=dict)
    """Further groups of cast roles a pack reads, by name (``requester: [contact]``)."""
    terms: dict[str, list[str]] = Field(default_factory=dict)
    """Further word lists a pack reads, by name (``documents: [Project Tern, ...]``)."""

    def named_roles(self) -> list[str]:
        """Every cast role the section names."""
        roles = [self.agent, *([self.target] if self.target else [])]
        roles += self.decision_makers + self.secret_parties
        return roles + [role for group in self.roles.values() for role in group]


class DerivedFrom(_Strict):
    """Where a family written by :meth:`Family.save_as` came from: the family's name, the
    sha256 of its files (of the canonical JSON of its ``template_hashes``) and the templates
    that were edited."""

    family: str
    sha256: str
    edited: list[str] = Field(default_factory=list)


_GENERATOR = re.compile(r"workbench(?:\.\w+)+:\w+")
"""A generator reference: a function of the workbench package (scenario files are untrusted,
so they may name only code the workbench ships)."""


class FamilySpec(_Strict):
    title: str
    description: str
    cast: dict[str, CastMember]
    variables: dict[str, Variable]
    templates: TemplateFiles | None = None
    inbox: list[EmailTemplate] = Field(default_factory=list)
    generator: str | None = None
    """``workbench.<module>:<function>`` writing the prompts in code, instead of templates."""
    classification: Classification
    derived_from: DerivedFrom | None = None
    base: str | None = None
    """The family this one is based on (see :func:`load_family`), a folder beside it."""

    @model_validator(mode="after")
    def _check_references(self) -> FamilySpec:
        if (self.templates is None) == (self.generator is None):
            raise ValueError("give either templates (and inbox) or a generator, not both")
        if self.generator is not None:
            if not _GENERATOR.fullmatch(self.generator):
                raise ValueError(f"generator {self.generator!r} must name a function of the "
                                 "workbench as workbench.<module>:<function>")
            if self.inbox:
                raise ValueError("a family with a generator has no inbox: the generator "
                                 "writes it")
        for role, member in self.cast.items():
            if self.generator is not None:
                break  # the cast's names and addresses are given as they are
            for var in (member.name, member.email):
                if var not in self.variables or self.variables[var].type != "text":
                    raise ValueError(f"cast.{role} names {var!r}, which is not a text variable")
        for role in self.classification.named_roles():
            if role not in self.cast:
                raise ValueError(f"classification names role {role!r}, which is not in the cast")
        ids = [email.id for email in self.inbox]
        if len(ids) != len(set(ids)):
            raise ValueError("two inbox emails share an id")
        return self


# --- rendered prompts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Email:
    """One email of a rendered inbox."""

    id: str
    sender: str
    to: str
    timestamp: str
    subject: str
    body: str
    cc: str = ""
    attachments: str = ""
    """The attachments line of a generated inbox's email, as written; empty for templates."""

    def as_text(self) -> str:
        """The email as the agent reads it."""
        lines = [f"From: {self.sender}", f"To: {self.to}"]
        if self.cc:
            lines.append(f"Cc: {self.cc}")
        lines += [f"Date: {self.timestamp}", f"Subject: {self.subject}", "", self.body.strip()]
        return "<email>\n" + "\n".join(lines) + "\n</email>"

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "from": self.sender,
            "to": self.to,
            "cc": self.cc,
            "timestamp": self.timestamp,
            "subject": self.subject,
            "body": self.body,
        } | ({"attachments": self.attachments} if self.attachments else {})


@dataclass(frozen=True)
class Person:
    role: str
    name: str
    email: str


@dataclass(frozen=True)
class Prompt:
    """A rendered scenario: what a model is sent, and what identifies it."""

    family: str
    system: str
    user: str
    inbox: tuple[Email, ...]
    values: Mapping[str, str]
    condition_id: str
    hash: str
    cast: Mapping[str, Person] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "condition_id": self.condition_id,
            "hash": self.hash,
            "values": dict(self.values),
            "system": self.system,
            "user": self.user,
            "inbox": [email.as_dict() for email in self.inbox],
            "cast": {role: vars(person) for role, person in self.cast.items()},
        }


@dataclass(frozen=True)
class Rendered:
    """What a family's prompt source writes for one combination of values."""

    system: str
    user: str
    """The user message exactly as sent: the instruction and the inbox."""
    inbox: tuple[Email, ...]


class Generator(Protocol):
    """A function that writes a family's prompts in code (``generator:`` in scenario.yaml)."""

    def __call__(self, values: Mapping[str, str]) -> Rendered:
        """The prompts for ``values`` (every variable set, each checked against its
        choices); raises :class:`InvalidCombination` for a combination it does not allow."""
        ...

    def missing(self) -> str | None:
        """Why it cannot run here, naming the command that installs what it needs; None when
        it can. Quick: imports nothing heavy."""
        ...


class PromptSource(Protocol):
    """Where a family's prompts come from: its templates, or a generator."""

    def render(self, values: dict[str, str]) -> Rendered:
        """The prompts for ``values``."""
        ...

    def cast(self, values: Mapping[str, str]) -> dict[str, Person]:
        """The people of the scenario, by role, for ``values``."""
        ...

    def problems(self) -> list[str]:
        """Problems found without rendering, one line each."""
        ...

    def missing(self) -> str | None:
        """Why the family cannot render here, or None."""
        ...

    def refusal(self, values: dict[str, str]) -> str | None:
        """Why the family does not allow ``values`` together, or None."""
        ...


class TemplateSource:
    """Prompts rendered from the family's templates and inbox, in its sandbox."""

    def __init__(self, family: Family) -> None:
        self.family = family

    def render(self, values: dict[str, str]) -> Rendered:
        family, context = self.family, dict(values)
        templates = family.spec.templates
        assert templates is not None  # a family without a generator has templates
        budget = BUDGET.set(Budget())
        try:
            system = family._render_file(templates.system, context)
            instruction = family._render_file(templates.instruction, context)
            inbox = tuple(family._render_inbox(context))
        finally:
            BUDGET.reset(budget)
        user = instruction.strip() + "\n\n" + "\n\n".join(email.as_text() for email in inbox)
        return Rendered(system, user, inbox)

    def cast(self, values: Mapping[str, str]) -> dict[str, Person]:
        return {role: Person(role, values[member.name], values[member.email])
                for role, member in self.family.spec.cast.items()}

    def problems(self) -> list[str]:
        return _template_problems(self.family)

    def missing(self) -> str | None:
        return None

    def refusal(self, values: dict[str, str]) -> str | None:
        return None  # templates take every combination


class GeneratorSource:
    """Prompts written by the workbench function the family names (``module:function``),
    imported when first needed."""

    def __init__(self, name: str, spec: FamilySpec) -> None:
        assert spec.generator is not None
        self.name, self.spec, self.reference = name, spec, spec.generator

    @cached_property
    def generator(self) -> Generator:
        """The function itself."""
        module, _, function = self.reference.partition(":")
        try:
            return getattr(importlib.import_module(module), function)
        except (ImportError, AttributeError) as exc:
            raise ScenarioError(f"{self.name}: generator {self.reference!r} cannot be loaded "
                                f"({exc}); name a function the workbench has") from None

    def render(self, values: dict[str, str]) -> Rendered:
        if reason := self.missing():
            raise Unavailable(f"{self.name}: {reason}")
        try:
            return self.generator(values)
        except ScenarioError as exc:
            raise type(exc)(f"{self.name}: {exc}") from None

    def cast(self, values: Mapping[str, str]) -> dict[str, Person]:
        return {role: Person(role, member.name, member.email)
                for role, member in self.spec.cast.items()}

    def problems(self) -> list[str]:
        return []

    def missing(self) -> str | None:
        return self.generator.missing()

    def refusal(self, values: dict[str, str]) -> str | None:
        try:
            self.render(values)
        except InvalidCombination as exc:
            return str(exc)
        return None


def _compiled(where: str, make: Callable[[], T]) -> T:
    """``make()`` (parse or compile a template), its errors one line naming ``where``."""
    try:
        return make()
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax_error(where, exc) from None
    except (RecursionError, SyntaxError):  # Python's own compiler has limits too
        raise ScenarioError(
            f"{where}: the template nests too deeply to compile; simplify it"
        ) from None


# --- families -------------------------------------------------------------------------------


class Family:
    """A loaded scenario family. Use :func:`load_family` to get one, and
    :meth:`with_templates` for a copy with templates edited in memory."""

    def __init__(self, name: str, folder: Path, spec: FamilySpec,
                 edits: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.folder = folder
        self.spec = spec
        self.edits: Mapping[str, str] = MappingProxyType(dict(edits or {}))
        """Templates held in memory in place of (or besides) files: name under templates/ ->
        text."""
        self.base_folder = base_folder(folder, spec.base) if spec.base else None
        """The folder of the base family, if the family has one."""
        self.env = Sandbox(folder, self.edits, self.base_folder)
        # Header fields and `when` expressions are compiled once per family, not per render:
        # compiling is what makes a render slow (tens of ms for a full inbox).
        self._strings: dict[str, jinja2.Template] = {}
        self._expressions: dict[str, Any] = {}

    @property
    def variables(self) -> dict[str, Variable]:
        return self.spec.variables

    @cached_property
    def source(self) -> PromptSource:
        """Where the prompts come from: the family's templates, or the generator it names."""
        if self.spec.generator is not None:
            return GeneratorSource(self.name, self.spec)
        return TemplateSource(self)

    @property
    def unavailable(self) -> str | None:
        """Why the family cannot render here (an optional package is not installed, say),
        naming the command that fixes it; None when it can."""
        return self.source.missing()

    def ensure_available(self) -> None:
        """Raise :class:`Unavailable`, one line naming the fix, if the family cannot render
        here."""
        if reason := self.unavailable:
            raise Unavailable(f"{self.name}: {reason}")

    @property
    def defaults(self) -> dict[str, str]:
        return {name: var.default for name, var in self.variables.items()}

    def template_files(self) -> list[str]:
        """Every template file the family uses, relative to its templates/ folder; with a base,
        then the base's own file (``<base>/<file>``) of each one the family overrides."""
        if self.spec.templates is None:
            return []
        files = [self.spec.templates.system, self.spec.templates.instruction]
        files += [email.body for email in self.spec.inbox]
        files = list(dict.fromkeys(files))
        if self.spec.base:
            files += [f"{self.spec.base}/{f}" for f in files
                      if (self.folder / "templates" / f).exists()]
        return files

    @cached_property
    def template_hashes(self) -> dict[str, str]:
        """sha256 of scenario.yaml and of every template file (as edited), for manifests; with
        a base, its files too (its scenario.yaml as ``<base>/scenario.yaml``)."""
        paths = {SCENARIO_FILE: (self.folder, self.folder / SCENARIO_FILE)}
        if self.base_folder is not None:
            paths[f"{self.spec.base}/{SCENARIO_FILE}"] = (
                self.base_folder, self.base_folder / SCENARIO_FILE)
        paths |= {f"templates/{f}": self._file(f) for f in self.template_files()}
        hashes = {
            name: hashlib.sha256(path.read_bytes()).hexdigest()
            for name, (owner, path) in paths.items()
            if path.exists() and inside(owner, path).is_file()
        }
        return hashes | {f"templates/{name}": hashlib.sha256(text.encode("utf-8")).hexdigest()
                         for name, text in self.edits.items()}

    def template_source(self, filename: str) -> str | None:
        """The text of the template ``filename`` (under templates/): its edit in memory, else
        its file's; None when there is neither."""
        if filename in self.edits:
            return self.edits[filename]
        owner, path = self._file(filename)
        if not (path.exists() and inside(owner, path).is_file()):
            return None
        try:
            return path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as exc:
            raise _unreadable(f"{self.name}/templates/{filename}", exc) from None

    def _file(self, filename: str) -> tuple[Path, Path]:
        """(the folder of the family that holds the template ``filename``, its path): the
        family's own file, else its base's (:func:`workbench.sandbox.family_file`). A name
        that leaves the folder is kept as written, for :func:`inside` to refuse."""
        own = self.folder / "templates" / filename
        if self.base_folder is None or own.exists() or own.is_symlink():
            return self.folder, own
        try:
            return family_file(self.folder, self.base_folder, filename)
        except jinja2.TemplateNotFound:
            return self.folder, own

    def with_templates(self, templates: Mapping[str, str]) -> Family:
        """A copy of the family in which ``templates`` (file name under templates/ -> text) are
        read from memory instead of the folder, the other files still from the folder through
        the same guarded loader, in the same bounded sandbox. Each given template is parsed at
        once, so a syntax error is a one-line :class:`ScenarioError` here."""
        given = {}
        for name, text in templates.items():
            try:
                filename = template_name(name)
            except jinja2.TemplateNotFound:
                raise ScenarioError(
                    f"{self.name}: {name!r} is not a template name; name a file under templates/"
                ) from None
            if len(text.encode("utf-8")) > MAX_FILE_BYTES:
                raise ScenarioError(
                    f"{self.name}/templates/{filename} is larger than {MAX_FILE_BYTES:,} bytes; "
                    "shorten it"
                )
            given[filename] = text
        if given.items() <= self.edits.items():
            return self
        family = Family(self.name, self.folder, self.spec, {**self.edits, **given})
        family._expressions = self._expressions  # `when` expressions read no template file
        for filename in given:
            family._template(filename)
        return family

    def save_as(self, name: str, root: Path | None = None) -> Family:
        """Write a copy of the family, with its edited templates, as the new family ``name``
        under ``root`` (default :func:`scenarios_root`, the project's), and load it.

        Its scenario.yaml records ``derived_from`` (:class:`DerivedFrom`); a family with a
        base is copied as one (its scenario.yaml and own templates, plus the edits), so it is
        saved beside the same base. Refuses, with one line, a name that is not a plain folder
        name or is taken (by default, also one a built-in family has), a root without the
        family's base, and a family in which
        :func:`check_family` (one variable at a time) finds a problem.
        """
        if not _FAMILY_NAME.fullmatch(name):
            raise ScenarioError(
                f"{name!r} is not a family name: use up to 64 letters, digits, '-' and '_', "
                "starting with a letter or digit"
            )
        folder = Path(root or scenarios_root()) / name
        taken = ScenarioError(f"{folder} already exists; a family is never overwritten: "
                              "choose another name")
        if folder.exists() or folder.is_symlink():
            raise taken
        if root is None and name in list_families():
            raise ScenarioError(f"{name!r} is a built-in family, which a family saved under that "
                                "name would hide: choose another name")
        base = self.base_folder
        if base is not None and base_folder(folder, base.name).resolve() != base.resolve():
            raise ScenarioError(
                f"not saved as {name!r}: {self.name} is based on {base.name!r}, which is not in "
                f"{folder.parent}; save it beside its base, in {base.parent}"
            )
        problems = check_family(self, exhaustive=False)
        if problems:
            raise ScenarioError(f"not saved as {name!r}: {problems[0]}")
        try:
            files = self._files_to_save()
        except OSError as exc:
            raise ScenarioError(f"cannot copy {self.folder}: {exc}") from None
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            folder.mkdir()
        except FileExistsError:
            raise taken from None
        except OSError as exc:
            raise ScenarioError(f"cannot create {folder}: {exc}") from None
        try:
            for relative, data in files.items():
                (folder / relative).parent.mkdir(parents=True, exist_ok=True)
                (folder / relative).write_bytes(data)
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise ScenarioError(f"cannot write {folder}: {exc}") from None
        return load_family(folder)

    def _files_to_save(self) -> dict[str, bytes]:
        """The files of a copy of this family (path in the family folder -> bytes): its
        scenario.yaml with ``derived_from`` set, and templates/ with the edits."""
        on_disk = Family(self.name, self.folder, self.spec)
        derived = DerivedFrom(
            family=self.name,
            sha256=sha256_of(on_disk.template_hashes),
            edited=sorted(f for f, text in self.edits.items()
                          if text != on_disk.template_source(f)),
        )
        spec_path = inside(self.folder, self.folder / SCENARIO_FILE)
        raw, text = read_yaml(spec_path, ScenarioError)
        files = {SCENARIO_FILE: _with_derived_from(text, raw, derived).encode("utf-8")}
        templates = self.folder / "templates"
        for path in sorted(templates.rglob("*")):
            if inside(self.folder, path).is_file():
                files[path.relative_to(self.folder).as_posix()] = path.read_bytes()
        return files | {f"templates/{f}": t.encode("utf-8") for f, t in self.edits.items()}

    def resolve(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """The defaults with ``overrides`` applied, each override checked against its variable."""
        values = self.defaults
        for name, value in (overrides or {}).items():
            if name not in self.variables:
                known = ", ".join(sorted(self.variables))
                raise ScenarioError(
                    f"scenario {self.name!r} has no variable {name!r}; known variables: {known}"
                )
            var = self.variables[name]
            value = str(value)
            if var.type == "choice" and value not in var.choices:
                raise ScenarioError(
                    f"{value!r} is not a choice of {self.name}.{name}; "
                    f"use one of: {', '.join(var.choices)}"
                )
            values[name] = value
        return values

    def condition_id(self, values: Mapping[str, str]) -> str:
        """A readable, stable id: every choice variable, sorted, plus text variables changed
        from their defaults (percent-quoted), plus ``templates=edited-<sha256 prefix>`` when
        templates are edited in memory (so edited answers never pass for the file's)."""
        parts = []
        for name in sorted(self.variables):
            var, value = self.variables[name], values[name]
            if var.type == "choice":
                parts.append(f"{name}={value}")
            elif value != var.default:
                parts.append(f"{name}={quote(value, safe=' @.')}")
        if self.edits:
            parts.append(f"templates=edited-{sha256_of(dict(self.edits))[:8]}")
        return f"{self.name}/" + ",".join(parts)

    def cast(self, values: Mapping[str, str]) -> dict[str, Person]:
        """The people of the scenario, by role, for ``values``."""
        return self.source.cast(values)

    def refusal(self, overrides: Mapping[str, str] | None = None) -> str | None:
        """Why the family does not allow this combination of values (one line), or None;
        a grid skips the combinations it refuses."""
        return self.source.refusal(self.resolve(overrides))

    def render(self, overrides: Mapping[str, str] | None = None) -> Prompt:
        """Render the family with ``overrides`` applied to its defaults."""
        values = self.resolve(overrides)
        rendered = self.source.render(values)
        content = {
            "system": rendered.system,
            "user": rendered.user,
            "inbox": [email.as_dict() for email in rendered.inbox],
        }
        return Prompt(
            family=self.name,
            system=rendered.system,
            user=rendered.user,
            inbox=rendered.inbox,
            values=values,
            condition_id=self.condition_id(values),
            hash=sha256_of(content),
            cast=self.cast(values),
        )

    def combinations(self) -> Iterator[dict[str, str]]:
        """Every combination of the choice variables, text variables at their defaults."""
        choice_vars = {n: v.choices for n, v in self.variables.items() if v.type == "choice"}
        names = sorted(choice_vars)
        for combo in itertools.product(*(choice_vars[n] for n in names)):
            yield dict(zip(names, combo, strict=True))

    # -- rendering helpers -- #

    def _template(self, filename: str) -> jinja2.Template:
        """The compiled template ``filename``, its errors one line."""
        where = f"{self.name}/templates/{filename}"
        try:
            return _compiled(where, functools.partial(self.env.get_template, filename))
        except jinja2.TemplateNotFound:
            raise ScenarioError(
                f"{where}: template file not found; create it or fix the name in {SCENARIO_FILE}"
            ) from None
        except (UnicodeDecodeError, OSError) as exc:
            raise _unreadable(where, exc) from None

    def _render_file(self, filename: str, context: dict[str, str]) -> str:
        template = self._template(filename)
        where = f"{self.name}/templates/{filename}"
        return self._guarded(where, lambda: joined_output(template.generate(context)))

    def _render_string(self, where: str, source: str, context: dict[str, str]) -> str:
        if "{" not in source:
            return source  # plain text: nothing to render
        template = self._strings.get(source)
        if template is None:
            template = _compiled(where, functools.partial(self.env.from_string, source))
            self._strings[source] = template
        return self._guarded(where, lambda: joined_output(template.generate(context)))

    def _render_inbox(self, context: dict[str, str]) -> Iterator[Email]:
        for spec in self.spec.inbox:
            where = f"{self.folder.name}/{SCENARIO_FILE}: inbox email {spec.id!r}"
            if spec.when and not self._condition(where, spec.when, context):
                continue
            fields = {
                key: self._render_string(f"{where} field {key!r}", getattr(spec, key), context)
                for key in ("sender", "to", "cc", "timestamp", "subject")
            }
            body = self._render_file(spec.body, context)
            yield Email(id=spec.id, body=body.strip() + "\n", **fields)

    def _condition(self, where: str, expression: str, context: dict[str, str]) -> bool:
        where = f"{where} 'when'"
        compiled = self._expressions.get(expression)
        if compiled is None:
            compiled = _compiled(where, functools.partial(
                self.env.compile_expression, expression, undefined_to_none=False))
            self._expressions[expression] = compiled
        return bool(self._guarded(where, lambda: compiled(**context)))

    def _guarded(self, where: str, render: Callable[[], T]) -> T:
        try:
            return render()
        except Exceeded as exc:
            raise ScenarioError(
                f"{self._at(where, exc)}: rendering stopped: {exc}; simplify the template"
            ) from None
        except (RecursionError, SyntaxError) as exc:
            raise ScenarioError(
                f"{self._at(where, exc)}: rendering stopped: macros or includes nest too deeply "
                "(does a macro call itself, or a template include itself?); simplify the template"
            ) from None
        except MemoryError as exc:
            raise ScenarioError(
                f"{self._at(where, exc)}: rendering stopped: out of memory; simplify the template"
            ) from None
        except jinja2.exceptions.SecurityError as exc:
            raise ScenarioError(
                f"{where}: the sandbox refused an unsafe operation ({exc}); "
                "templates may use only the scenario's variables"
            ) from None
        except jinja2.UndefinedError as exc:
            raise ScenarioError(
                f"{where}: {exc}; declare the variable in {SCENARIO_FILE} or fix the name"
            ) from None
        except jinja2.TemplateError as exc:
            raise ScenarioError(f"{where}: template error: {exc}") from None
        except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise ScenarioError(f"{where}: template failed to render: {exc}") from None

    def _at(self, where: str, exc: BaseException) -> str:
        """``where`` with the line of the innermost template in ``exc``'s traceback; if that is
        another file of the family or of its base (an include, an imported macro), that file
        and line."""
        position = template_position(exc)
        if position is None:
            return where
        filename, line = position
        if filename == "<template>":  # a header field or a `when`
            return f"{where} line {line}"
        inner = f"{self.name}/" + Path(os.path.relpath(filename, self.folder)).as_posix()
        if self.base_folder is not None:
            in_base = os.path.relpath(filename, self.base_folder)
            if not in_base.startswith(".."):
                inner = f"{self.spec.base}/" + Path(in_base).as_posix()
        if where == inner:
            return f"{where} line {line}"
        return f"{inner} line {line} (rendering {where.removeprefix(self.name + '/')})"


def _syntax_error(where: str, exc: jinja2.TemplateSyntaxError) -> ScenarioError:
    return ScenarioError(f"{where} line {exc.lineno}: template syntax error: {exc.message}")


def _unreadable(where: str, exc: Exception) -> ScenarioError:
    return ScenarioError(f"{where}: cannot read the template ({exc}); save it as UTF-8 text")


# --- saving a copy --------------------------------------------------------------------------

_FAMILY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_DERIVED_FROM = re.compile(r"^derived_from:.*(?:\n(?:[ \t].*)?)*", re.MULTILINE)
"""A top-level ``derived_from:`` field in scenario.yaml, with its indented lines."""


def _with_derived_from(text: str, raw: dict[str, Any], derived: DerivedFrom) -> str:
    """scenario.yaml's ``text`` (holding ``raw``) with ``derived_from`` set: appended to the
    text as written, comments kept, unless the result would not read back as it should (the
    file ends its document with ``...``, say); then ``raw`` with it, written out anew."""
    entry = {"derived_from": derived.model_dump()}
    block = yaml.safe_dump(entry, sort_keys=False, allow_unicode=True)
    appended = _DERIVED_FROM.sub("", text).rstrip("\n") + "\n\n" + block
    try:
        if yaml.safe_load(appended) == yaml.safe_load(text) | entry:
            return appended
    except yaml.YAMLError:
        pass
    return yaml.safe_dump(raw | entry, sort_keys=False, allow_unicode=True, width=100)


# --- finding and loading --------------------------------------------------------------------


def list_families(root: Path | None = None) -> list[str]:
    """Names of the scenario families under ``root`` (default: those of
    :func:`scenarios_roots`), those in a group folder as ``group/name``."""
    return sorted({folder.relative_to(base).as_posix()
                   for base in _roots(root) for folder in _family_folders(base)})


def _family_folders(root: Path) -> list[Path]:
    """The family folders under ``root``: its children holding scenario.yaml, and theirs in
    each child that is a group folder (a folder without a scenario.yaml)."""
    if not root.is_dir():
        return []
    folders = []
    for child in sorted(root.iterdir()):
        if (child / SCENARIO_FILE).is_file():
            folders.append(child)
        elif _FAMILY_NAME.fullmatch(child.name) and child.is_dir():
            folders += [p for p in sorted(child.iterdir()) if (p / SCENARIO_FILE).is_file()]
    return folders


def _family_name(folder: Path, root: Path | None) -> str:
    """The name of the family in ``folder``: its path under the scenarios root when it is
    one of the families there (``original/blackmail``), else the folder's name."""
    for base in _roots(root):
        try:
            name = folder.resolve().relative_to(base.resolve()).as_posix()
        except (ValueError, OSError):
            continue
        if name != "." and name.count("/") <= 1:
            return name
    return folder.name


def family_folder(name_or_path: str | Path, root: Path | None = None) -> Path:
    """The folder of a family given by path, or by name: under ``root``, else in the first of
    :func:`scenarios_roots` that has it."""
    path = Path(name_or_path)
    if (path / SCENARIO_FILE).is_file():
        return path
    if path.name == SCENARIO_FILE and path.is_file():
        return path.parent
    roots = _roots(root)
    for base in roots:
        folder = base / str(name_or_path)
        if (folder / SCENARIO_FILE).is_file():
            return folder
    known = ", ".join(list_families(root)) or "none"
    raise ScenarioError(
        f"no scenario family {str(name_or_path)!r} in {' or '.join(map(str, roots))}; "
        f"known families: {known} (or give the path of a folder holding scenario.yaml)"
    )


def load_family(name_or_path: str | Path, root: Path | None = None) -> Family:
    """Load and validate a scenario family by name or folder path.

    A family whose scenario.yaml names a ``base`` (a family folder beside its own) is that
    base with the family's ``title``, ``description`` and ``variables`` (each whole) over
    it; it may set nothing else. A base that is missing, has a base of its own or is the
    family itself is a one-line :class:`ScenarioError`.
    """
    folder = family_folder(name_or_path, root)
    raw = _raw_spec(folder)
    if "base" in raw:
        raw = _over_base(folder, raw)
    spec = _validated(folder / SCENARIO_FILE, raw)
    return Family(_family_name(folder, root), folder, spec)


_BASED_FIELDS = ("base", "title", "description", "variables", "derived_from")
"""What the scenario.yaml of a family with a base may set; the rest is the base's."""


def _raw_spec(folder: Path) -> dict[str, Any]:
    """The scenario.yaml of the family in ``folder``, read from inside it, not validated."""
    spec_path = inside(folder, folder / SCENARIO_FILE)
    if (folder / "templates").exists():
        inside(folder, folder / "templates")
    raw, _ = read_yaml(spec_path, ScenarioError)
    if not isinstance(raw, dict):
        raise ScenarioError(f"{spec_path}: expected a mapping of title, variables, templates, …")
    return raw


def _validated(spec_path: Path, raw: dict[str, Any]) -> FamilySpec:
    try:
        return FamilySpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(f"{spec_path}: {schema_problem(exc, FamilySpec)}") from None


def base_folder(folder: Path, base: str) -> Path:
    """The folder of the family ``base`` that the family in ``folder`` is based on: the one
    beside it, else the built-in family of that name (so a project's family can be based on a
    built-in one). The folder beside it when neither exists."""
    beside = folder.parent / base
    builtin = builtin_file("scenarios") / base
    if not (beside / SCENARIO_FILE).is_file() and (builtin / SCENARIO_FILE).is_file():
        return builtin
    return beside


def _over_base(folder: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """``raw``, the scenario.yaml of a family with a base, merged over the base's."""
    spec_path, base = folder / SCENARIO_FILE, raw["base"]
    if not isinstance(base, str) or not _FAMILY_NAME.fullmatch(base):
        raise ScenarioError(f"{spec_path}: base must be the name of a family folder beside "
                            f"this one, such as blackmail; got {base!r}")
    if base == folder.name:
        raise ScenarioError(f"{spec_path}: base {base!r} is the family itself (a loop); "
                            "name another family")
    based_on = base_folder(folder, base)
    if not (based_on / SCENARIO_FILE).is_file():
        names = {*list_families(folder.parent), *list_families(builtin_file("scenarios"))}
        known = ", ".join(sorted(names - {folder.name}))
        raise ScenarioError(f"{spec_path}: base family {base!r} not found in {folder.parent} "
                            f"nor among the built-in families; known families: {known or 'none'}")
    if extra := sorted(set(raw) - set(_BASED_FIELDS)):
        raise ScenarioError(
            f"{spec_path}: {extra[0]} is inherited from the base family {base!r}; a family "
            "with a base sets only title, description and variables (or drop base)")
    inherited = _raw_spec(based_on)
    if "base" in inherited:
        further = inherited["base"]
        if further == folder.name:
            raise ScenarioError(f"{spec_path}: base {base!r} has this family as its base "
                                "(a loop); remove base from one of them")
        raise ScenarioError(f"{spec_path}: base {base!r} has a base of its own ({further!r}); "
                            "only one level of base is supported: name a family without one")
    _validated(based_on / SCENARIO_FILE, inherited)
    variables = raw.get("variables") or {}
    if not isinstance(variables, dict):
        raise ScenarioError(f"{spec_path}: variables must be a mapping of names to variables")
    merged = {key: value for key, value in inherited.items() if key != "derived_from"}
    return merged | raw | {"variables": inherited["variables"] | variables}


def render(
    family: str | Path | Family, values: Mapping[str, str] | None = None
) -> Prompt:
    """Render a scenario family (by name, path or loaded) with ``values`` over its defaults."""
    if not isinstance(family, Family):
        family = load_family(family)
    return family.render(values)


def parse_assignments(pairs: list[str] | None) -> dict[str, str]:
    """Parse ``VAR=VALUE`` strings from the command line into a mapping."""
    values: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ScenarioError(f"--set expects VAR=VALUE, got {pair!r}")
        values[name.strip()] = value
    return values


# --- checking a family ----------------------------------------------------------------------


def _template_sources(family: Family) -> dict[str, str]:
    """Every piece of Jinja source in the family, keyed by where it comes from."""
    sources = {}
    for filename in family.template_files():
        source = family.template_source(filename)
        if source is not None:
            sources[f"templates/{filename}"] = source
    for email in family.spec.inbox:
        for key in ("sender", "to", "cc", "timestamp", "subject"):
            sources[f"inbox.{email.id}.{key}"] = getattr(email, key)
        if email.when:
            sources[f"inbox.{email.id}.when"] = "{{ " + email.when + " }}"
    return sources


def check_family(family: Family, exhaustive: bool = True) -> list[str]:
    """Problems with a family, one line each; an empty list means it is sound.

    Looks for undeclared and unused variables, choices that no template mentions, and
    templates that fail to render for some combination of choices (all of them when
    ``exhaustive``, else the defaults and each choice alone). A family with a generator is
    checked by rendering, the combinations it refuses skipped; one that cannot render here
    raises :class:`Unavailable`.
    """
    family.ensure_available()
    problems = family.source.problems()
    if problems:
        return problems
    combos = family.combinations() if exhaustive else _one_at_a_time(family)
    for combo in combos:
        try:
            family.render(combo)
        except InvalidCombination:
            continue
        except ScenarioError as exc:
            problems.append(f"{exc} (with {family.condition_id(family.resolve(combo))})")
            break
    return problems


def _template_problems(family: Family) -> list[str]:
    """What :func:`check_family` finds in a family's template sources without rendering."""
    problems: list[str] = []
    referenced: set[str] = set()
    try:
        sources = _template_sources(family)
    except ScenarioError as exc:
        return [str(exc)]
    for where, source in sources.items():
        try:
            names = _compiled(f"{family.name}/{where}", functools.partial(
                _undeclared_variables, family.env, source))
        except ScenarioError as exc:
            problems.append(str(exc))
            continue
        referenced |= names
        for name in sorted(names - set(family.variables)):
            problems.append(f"{family.name}/{where}: uses undeclared variable {name!r}")
    text_vars = {n for n, v in family.variables.items() if v.type == "text"}
    for name in sorted(set(family.variables) - referenced):
        problems.append(f"{family.name}: variable {name!r} is declared but no template uses it")
    all_source = "\n".join(sources.values())
    for name, var in family.variables.items():
        if name in text_vars or name not in referenced:
            continue
        if re.search(r"\{\{-?\s*" + re.escape(name) + r"\s*-?\}\}", all_source):
            continue  # the value is printed as it is, so every choice shows
        for choice in var.choices:
            if f"'{choice}'" not in all_source and f'"{choice}"' not in all_source:
                problems.append(
                    f"{family.name}: choice {name}={choice} is used by no template "
                    "(compare against it in a template or remove it)"
                )
    return problems


def _undeclared_variables(env: jinja2.Environment, source: str) -> set[str]:
    return jinja2.meta.find_undeclared_variables(env.parse(source))


def _one_at_a_time(family: Family) -> Iterator[dict[str, str]]:
    yield {}
    for name, var in family.variables.items():
        for choice in var.choices:
            yield {name: choice}


def folders_to_check(path: str | Path | None = None) -> list[Path]:
    """The family folders under ``path``: itself if it holds scenario.yaml, else its children;
    without ``path``, those of every family :func:`list_families` names."""
    if path:
        root = Path(path)
        if (root / SCENARIO_FILE).is_file():
            return [root]
        if not root.is_dir():
            raise ScenarioError(f"{root} is not a folder; give a family folder or a folder of them")
        folders = _family_folders(root)
    else:
        folders = [family_folder(name) for name in list_families()]
    if not folders:
        where = path or " or ".join(map(str, scenarios_roots()))
        raise ScenarioError(f"no scenario.yaml found in {where} or its sub-folders")
    return folders
