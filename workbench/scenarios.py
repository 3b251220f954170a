"""Load, validate and render scenario families.

A family is a folder ``scenarios/<name>/`` holding ``scenario.yaml`` and Jinja2 templates.
The YAML declares the variables (each a knob), the cast (people, whose names and addresses
are text variables), the templates of the system prompt and the user instruction, and the
inbox: a list of emails whose header fields are template strings, whose body is a template
file and which may carry a ``when`` condition (a Jinja expression over the variables).

Templates are untrusted: they render in a ``SandboxedEnvironment`` with ``StrictUndefined``,
may use only files inside their family's folder, and rendering is bounded (numbers, sizes,
loop iterations, calls, recursion: the ``MAX_*`` constants). Breaking a bound, like any other
template error, is a :class:`ScenarioError` of one line naming the file and line.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import json
import math
import operator
import os
import re
import string
from collections.abc import (
    Callable,
    Generator,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    Sequence,
    Sized,
    ValuesView,
)
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import jinja2
import jinja2.meta
import jinja2.nodes
import jinja2.visitor
from jinja2.environment import TemplateModule
from jinja2.loaders import split_template_path
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import Namespace, generate_lorem_ipsum
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workbench.errors import ScenarioError
from workbench.yaml_files import read_yaml, schema_problem

SCENARIO_FILE = "scenario.yaml"


def scenarios_root() -> Path:
    """The folder holding the scenario families: ``WORKBENCH_SCENARIOS`` or ``./scenarios``.

    Falls back to the ``scenarios/`` folder of the source checkout the package was installed from.
    """
    if env := os.environ.get("WORKBENCH_SCENARIOS"):
        return Path(env)
    here = Path.cwd() / "scenarios"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "scenarios"


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
    """A person in the scenario: which text variables hold their name and address."""

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
    """What the classifiers need to know about the family, in terms of cast roles."""

    agent: str
    target: str
    decision_makers: list[str] = Field(default_factory=list)
    secret_parties: list[str] = Field(default_factory=list)
    secret_terms: list[str] = Field(default_factory=list)
    replacement_terms: list[str] = Field(default_factory=list)


class FamilySpec(_Strict):
    title: str
    description: str
    cast: dict[str, CastMember]
    variables: dict[str, Variable]
    templates: TemplateFiles
    inbox: list[EmailTemplate]
    classification: Classification

    @model_validator(mode="after")
    def _check_references(self) -> FamilySpec:
        for role, member in self.cast.items():
            for var in (member.name, member.email):
                if var not in self.variables or self.variables[var].type != "text":
                    raise ValueError(f"cast.{role} names {var!r}, which is not a text variable")
        roles = [self.classification.agent, self.classification.target]
        roles += self.classification.decision_makers + self.classification.secret_parties
        for role in roles:
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
        }


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


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value gives the same text in any process."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


# --- the sandbox: what a template may do ------------------------------------------------------

MAX_TEXT = 1_000_000
"""Characters (or items) in one value a template makes, and in the output of one template."""
MAX_DIGITS = 1_000
"""Digits of a number a template computes."""
MAX_LOOPS = 1_000_000
"""Loop iterations in one render of a family."""
MAX_CALLS = 100_000
"""Calls (of macros, methods, functions) and includes in one render of a family."""
MAX_WORK = 20_000_000
"""Characters built or read in one render of a family: a bound on its time and memory."""
MAX_FILE_BYTES = 1_000_000
"""Size of scenario.yaml and of each template file."""

_MAX_BITS = int(MAX_DIGITS * math.log2(10))
_TOO_BIG = f"a value would hold more than {MAX_TEXT:,} characters or items"
_CONTAINERS = (dict, list, tuple, set, frozenset, KeysView, ValuesView, ItemsView)
T = TypeVar("T")


class _Exceeded(Exception):
    """A template went past one of the bounds above; the message says which."""


class _Budget:
    """What one render of a family has spent so far."""

    def __init__(self) -> None:
        self.loops = 0
        self.calls = 0
        self.work = 0

    def loop(self) -> None:
        self.loops += 1
        if self.loops > MAX_LOOPS:
            raise _Exceeded(f"more than {MAX_LOOPS:,} loop iterations in one render")

    def call(self) -> None:
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise _Exceeded(f"more than {MAX_CALLS:,} calls and includes in one render")

    def spend(self, chars: int) -> None:
        self.work += chars
        if self.work > MAX_WORK:
            raise _Exceeded(f"more than {MAX_WORK:,} characters built or read in one render")


_BUDGET: ContextVar[_Budget] = ContextVar("workbench_render_budget")


def _budget() -> _Budget:
    """The budget of the render under way (a fresh one outside :meth:`Family.render`)."""
    return _BUDGET.get(None) or _Budget()


def _size(value: Any, limit: int = MAX_TEXT) -> int:
    """About how many characters ``str(value)`` has: exact for text; for containers, every item
    counted as often as it appears. Stops counting once past ``limit``."""
    if isinstance(value, str):
        return len(value)
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, bytes | bytearray):
            total += 4 * len(item) + 3  # b'...' with escapes
        elif isinstance(item, Namespace):
            stack.append(item._Namespace__attrs)
        elif isinstance(item, _CONTAINERS):
            total += 2 + 2 * len(item)
            if total <= limit:
                stack.extend(itertools.chain.from_iterable(item.items()) if isinstance(item, dict)
                             else item)
        elif isinstance(item, TemplateModule):
            total += len(str(item))  # an imported template prints as its output
        else:
            total += 24  # floats, ranges, macros, iterators: a short repr
    return total


def _weigh(value: T) -> T:
    """``value`` if it holds at most :data:`MAX_TEXT` characters; what it holds is spent."""
    size = _size(value)
    if size > MAX_TEXT:
        raise _Exceeded(_TOO_BIG)
    _budget().spend(size)
    return value


def _made(value: Any) -> Any:
    """A value a template just made, checked; an iterator is drawn into a list first, so that
    every value a template holds has a known size."""
    if isinstance(value, Iterator) and not isinstance(value, LoopContext | Undefined):
        value = list(value)
    if isinstance(value, int):
        _check_bits(value.bit_length())
    return _weigh(value)


def _check_bits(bits: int) -> None:
    if bits > _MAX_BITS:
        raise _Exceeded(f"a number would have more than {MAX_DIGITS:,} digits")


def _check_size(estimate: Callable[..., int], args: Sequence[Any], kwargs: Mapping[str, Any]
                ) -> None:
    """Refuse a call whose result ``estimate(*args, **kwargs)`` says would be too big."""
    try:
        size = estimate(*args, **kwargs)
    except (TypeError, ValueError, AttributeError, LookupError):
        return  # the call itself fails, with its own message
    if size > MAX_TEXT:
        raise _Exceeded(_TOO_BIG)


def _counted(iterable: Iterable[T]) -> Iterator[T]:
    """The items of a loop, counted by the render's budget."""
    budget = _budget()
    for item in iterable:
        budget.loop()
        yield item


# Bounds of the size of a result that can be far bigger than the arguments, checked before the
# operation runs.


def _product(left: Any, right: Any) -> int:
    if isinstance(left, int) and isinstance(right, int):
        _check_bits(left.bit_length() + right.bit_length())
        return 0
    count, sequence = (left, right) if isinstance(left, int) else (right, left)
    return _size(sequence) * operator.index(count)


def _power(base: Any, exponent: Any) -> int:
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0:
        _check_bits(base.bit_length() * exponent)
    return 0


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")


def _printf(text: str, values: Any) -> int:
    """``text % values``: widths and precisions written in ``text`` or given as ``*``."""
    specs = _PRINTF_SPEC.findall(text)
    widths = sum(int(n) for spec in specs for n in spec if n.isdigit())
    if any("*" in spec for spec in specs):
        widths += sum(abs(v) for v in _ints(values))
    return len(text) + widths + len(specs) * _size(values)


def _formatted(text: str, *args: Any, **kwargs: Any) -> int:
    """``text.format(...)``: widths written in the fields' specs or nested in them."""
    fields = list(string.Formatter().parse(text))
    specs = [spec for _, _, spec, _ in fields if spec]
    widths = sum(int(n) for spec in specs for n in re.findall(r"\d+", spec))
    if any("{" in spec for spec in specs):
        widths += sum(abs(v) for v in _ints((*args, *kwargs.values())))
    named = sum(name is not None for _, name, _, _ in fields)
    return len(text) + widths + named * (_size(args) + _size(kwargs))


def _ints(values: Any) -> Iterator[int]:
    """The integers among ``values`` (a tuple, a mapping or one value) and its mappings."""
    items = values if isinstance(values, tuple) else (values,)
    for item in items:
        if isinstance(item, int):
            yield item
        elif isinstance(item, dict):
            yield from _ints(tuple(item.values()))


# Each takes the parameters of the filter or method it bounds, by the same names, so that it
# accepts every call the filter or method accepts.


def _padded(value: Any, width: Any = 80, fillchar: Any = " ") -> int:
    return max(_size(value), operator.index(width))


def _replaced(s: Any, old: Any, new: Any, count: Any = None) -> int:
    if isinstance(s, str) and isinstance(old, str):
        found = s.count(old) if old else len(s) + 1
    else:
        found = _size(s) + 1
    if count is not None and operator.index(count) >= 0:
        found = min(found, count)
    return _size(s) + found * _size(new)


def _joined(separator: Any, iterable: Any) -> int:
    count = len(iterable) if isinstance(iterable, Sized) else 0
    return _size(iterable) + _size(separator) * count


def _indented(s: Any, width: Any = 4, first: Any = False, blank: Any = False) -> int:
    indent = len(width) if isinstance(width, str) else operator.index(width)
    return _size(s) + (str(s).count("\n") + 1) * indent


def _wrapped(s: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None,
             break_on_hyphens: Any = True) -> int:
    text = str(s)
    lines = len(text.split()) + len(text) // max(int(width), 1) + text.count("\n") + 1
    return len(text) + lines * _size(wrapstring or "\n")


def _json(value: Any, indent: Any = None) -> int:
    return _size(value) * (2 + (indent if isinstance(indent, int) else _size(indent or "")))


def _urlized(value: Any, trim_url_limit: Any = None, nofollow: Any = False, target: Any = None,
             rel: Any = None, extra_schemes: Any = None) -> int:
    words = len(str(value).split())
    return 6 * _size(value) + words * (_size(target or "") + _size(rel or "") + 64)


def _lorem(*args: Any, **kwargs: Any) -> int:
    bound = inspect.signature(generate_lorem_ipsum).bind(*args, **kwargs)
    bound.apply_defaults()
    return operator.index(bound.arguments["n"]) * (operator.index(bound.arguments["max"]) + 1) * 12


_BINOP_SIZES: dict[str, Callable[..., int]] = {
    "*": _product,
    "**": _power,
    "%": lambda left, right: _printf(left, right) if isinstance(left, str) else 0,
}
_STR_METHOD_SIZES: dict[str, Callable[..., int]] = {
    "center": _padded,
    "ljust": _padded,
    "rjust": _padded,
    "zfill": _padded,
    "expandtabs": lambda s, tabsize=8: len(s) + s.count("\t") * operator.index(tabsize),
    "replace": _replaced,
    "join": _joined,
    "translate": lambda s, table: len(s) * max(map(_size, table.values()), default=1),
    "format": _formatted,
    "format_map": _formatted,
}
_FILTER_SIZES: dict[str, Callable[..., int]] = {
    "center": _padded,
    "indent": _indented,
    "wordwrap": _wrapped,
    "format": lambda value, *args, **kwargs: _printf(str(value), kwargs or args),
    "join": lambda value, d="", attribute=None: _joined(d, value),
    "replace": _replaced,
    "batch": lambda value, linecount, fill_with=None: _size(value) + operator.index(linecount),
    "slice": lambda value, slices, fill_with=None: _size(value) + operator.index(slices),
    "tojson": _json,
    "urlize": _urlized,
    "sum": lambda iterable, attribute=None, start=0: (
        0 if isinstance(start, int | float) else len(iterable) * _size(iterable)),
}


def _call_size(obj: Any) -> Callable[..., int] | None:
    """How to bound the result of calling ``obj``, if it can be far bigger than its arguments."""
    target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    owner = getattr(target, "__self__", None)
    if isinstance(owner, str) and getattr(target, "__name__", "") in _STR_METHOD_SIZES:
        return functools.partial(_STR_METHOD_SIZES[target.__name__], owner)
    if target is generate_lorem_ipsum:
        return _lorem
    return None


def _bounded(func: Callable[..., Any], estimate: Callable[..., int] | None = None
             ) -> Callable[..., Any]:
    """A filter or test that weighs its arguments, checks ``estimate`` of its result before it
    runs and the result after."""
    skip = 1 if hasattr(func, "jinja_pass_arg") else 0  # the context or environment

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[skip:], *kwargs.values()):
            _weigh(value)
        if estimate is not None:
            _check_size(estimate, args[skip:], kwargs)
        return _made(func(*args, **kwargs))

    return bounded


class _Guards(jinja2.visitor.NodeTransformer):
    """Rewrites a parsed template so that rendering it keeps the budget: loops count their
    iterations, includes and imports count as calls; plain text, slices and the operands of ``~``
    and of comparisons are spent."""

    def visit_For(self, node: jinja2.nodes.For) -> jinja2.nodes.Node:
        self.generic_visit(node)
        node.iter = _guard(node.iter, "count")
        return node

    def visit_Output(self, node: jinja2.nodes.Output) -> jinja2.nodes.Node:
        self.generic_visit(node)
        text = sum(len(n.data) for n in node.nodes if isinstance(n, jinja2.nodes.TemplateData))
        if text:
            node.nodes.insert(0, _guard(jinja2.nodes.Const(text, lineno=node.lineno), "text"))
        return node

    def _template(self, node: jinja2.nodes.Include) -> jinja2.nodes.Node:
        self.generic_visit(node)
        node.template = _guard(node.template, "include")
        return node

    visit_Include = visit_Import = visit_FromImport = _template

    def visit_Concat(self, node: jinja2.nodes.Concat) -> jinja2.nodes.Node:
        self.generic_visit(node)
        node.nodes = [_guard(n, "weigh") for n in node.nodes]
        return _guard(node, "weigh")

    def visit_Getitem(self, node: jinja2.nodes.Getitem) -> jinja2.nodes.Node:
        self.generic_visit(node)  # a slice copies, bypassing the sandbox's getitem
        return _guard(node, "made") if isinstance(node.arg, jinja2.nodes.Slice) else node

    def visit_Compare(self, node: jinja2.nodes.Compare) -> jinja2.nodes.Node:
        self.generic_visit(node)
        node.expr = _guard(node.expr, "weigh")
        for operand in node.ops:
            operand.expr = _guard(operand.expr, "weigh")
        return node


def _guard(node: jinja2.nodes.Expr, kind: str) -> jinja2.nodes.Expr:
    """``node`` passed through the guard filter ``kind`` (a name no template can write)."""
    return jinja2.nodes.Filter(node, f"wb-{kind}", [], [], None, None, lineno=node.lineno)


def _spend_text(size: int) -> str:
    _budget().spend(size)
    return ""


def _included(template: T) -> T:
    _budget().call()
    return template


# Guard filters take the context so that jinja never calls them while compiling.
_GUARD_FILTERS = {
    "wb-count": jinja2.pass_context(lambda _, iterable: _counted(iterable)),
    "wb-text": jinja2.pass_context(lambda _, size: _spend_text(size)),
    "wb-include": jinja2.pass_context(lambda _, template: _included(template)),
    "wb-weigh": jinja2.pass_context(lambda _, value: _weigh(value)),
    "wb-made": jinja2.pass_context(lambda _, value: _made(value)),
}


class _FamilyLoader(jinja2.FileSystemLoader):
    """A family's templates/ folder, refusing a file that resolves (through a symlink, say)
    outside the family folder before reading it."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder / "templates")
        self.folder = folder

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = Path(self.searchpath[0], *split_template_path(template))
        if path.exists():
            _inside(self.folder, path)
        return super().get_source(environment, template)


def _inside(folder: Path, path: Path) -> Path:
    """``path``, a file of the family in ``folder``, if it resolves inside that folder and is
    small enough to read."""
    where = f"{folder.name}/{Path(os.path.relpath(path, folder)).as_posix()}"
    target = path.resolve()
    if not target.is_relative_to(folder.resolve()):
        raise ScenarioError(
            f"{where} resolves to {target}, outside the family folder; a family may use only "
            "its own files: copy it into the family folder"
        )
    if target.is_file() and target.stat().st_size > MAX_FILE_BYTES:
        raise ScenarioError(f"{where} is larger than {MAX_FILE_BYTES:,} bytes; shorten it")
    return path


class _Sandbox(SandboxedEnvironment):
    """The environment templates render in: jinja's sandbox with strict undefined variables,
    the family's own files only, and bounds on numbers, sizes, loops, calls and recursion
    (the ``MAX_*`` constants), within a budget set by :meth:`Family.render`."""

    intercepted_binops = frozenset(SandboxedEnvironment.default_binop_table)

    def __init__(self, folder: Path) -> None:
        super().__init__(
            loader=_FamilyLoader(folder),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=jinja2.pass_context(lambda _, value: _weigh(value)),
            optimized=False,  # folding constants would compute them while compiling, unbounded
        )
        self.filters = {n: _bounded(f, _FILTER_SIZES.get(n)) for n, f in self.filters.items()}
        self.filters |= _GUARD_FILTERS
        self.tests = {name: _bounded(test) for name, test in self.tests.items()}

    def _parse(self, source: str, name: str | None, filename: str | None
               ) -> jinja2.nodes.Template:
        return _Guards().visit(super()._parse(source, name, filename))

    def call_binop(self, context: Context, op: str, left: Any, right: Any) -> Any:
        _weigh(left)
        _weigh(right)
        if op in _BINOP_SIZES:
            _check_size(_BINOP_SIZES[op], (left, right), {})
        return _made(super().call_binop(context, op, left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _budget().call()
        for name, value in (*enumerate(args), *kwargs.items()):
            if name not in ("_loop_vars", "_block_vars"):  # jinja's own, not the template's
                _weigh(value)
        if estimate := _call_size(obj):
            _check_size(estimate, args, kwargs)
        if isinstance(obj, LoopContext) and args:  # loop(items) in a recursive for
            args = (_counted(args[0]), *args[1:])
        result = _made(super().call(context, obj, *args, **kwargs))
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, list | dict | set) and len(owner) > MAX_TEXT:  # list.append & co
            raise _Exceeded(_TOO_BIG)
        return result


def _output(chunks: Generator[str, None, None]) -> str:
    """What a template yields, joined, within :data:`MAX_TEXT` characters."""
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_TEXT:  # raised inside the template, so the error has its line
            chunks.throw(_Exceeded(f"the output would pass {MAX_TEXT:,} characters"))
        parts.append(chunk)
    return "".join(parts)


def _template_position(exc: BaseException) -> tuple[str, int] | None:
    """The file (``<template>`` for a template string) and line of the innermost template frame
    in ``exc``'s traceback."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if template is not None:  # a frame jinja did not rewrite: map the line back
            found = (template.filename, template.get_corresponding_lineno(tb.tb_lineno))
        elif "__jinja_exception__" in tb.tb_frame.f_globals:  # a frame rewritten by jinja
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


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
    """A loaded scenario family. Use :func:`load_family` to get one."""

    def __init__(self, name: str, folder: Path, spec: FamilySpec) -> None:
        self.name = name
        self.folder = folder
        self.spec = spec
        self.env = _Sandbox(folder)
        # Header fields and `when` expressions are compiled once per family, not per render:
        # compiling is what makes a render slow (tens of ms for a full inbox).
        self._strings: dict[str, jinja2.Template] = {}
        self._expressions: dict[str, Any] = {}

    @property
    def variables(self) -> dict[str, Variable]:
        return self.spec.variables

    @property
    def defaults(self) -> dict[str, str]:
        return {name: var.default for name, var in self.variables.items()}

    def template_files(self) -> list[str]:
        """Every template file the family uses, relative to its templates/ folder."""
        files = [self.spec.templates.system, self.spec.templates.instruction]
        files += [email.body for email in self.spec.inbox]
        return list(dict.fromkeys(files))

    @cached_property
    def template_hashes(self) -> dict[str, str]:
        """sha256 of scenario.yaml and of every template file, for manifests."""
        paths = {SCENARIO_FILE: self.folder / SCENARIO_FILE}
        paths |= {f"templates/{f}": self.folder / "templates" / f for f in self.template_files()}
        return {
            name: hashlib.sha256(path.read_bytes()).hexdigest()
            for name, path in paths.items()
            if path.exists() and _inside(self.folder, path).is_file()
        }

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
        from their defaults (percent-quoted)."""
        parts = []
        for name in sorted(self.variables):
            var, value = self.variables[name], values[name]
            if var.type == "choice":
                parts.append(f"{name}={value}")
            elif value != var.default:
                parts.append(f"{name}={quote(value, safe=' @.')}")
        return f"{self.name}/" + ",".join(parts)

    def cast(self, values: Mapping[str, str]) -> dict[str, Person]:
        return {
            role: Person(role, values[member.name], values[member.email])
            for role, member in self.spec.cast.items()
        }

    def render(self, overrides: Mapping[str, str] | None = None) -> Prompt:
        """Render the family with ``overrides`` applied to its defaults."""
        values = self.resolve(overrides)
        context = dict(values)
        budget = _BUDGET.set(_Budget())
        try:
            system = self._render_file(self.spec.templates.system, context)
            instruction = self._render_file(self.spec.templates.instruction, context)
            inbox = tuple(self._render_inbox(context))
        finally:
            _BUDGET.reset(budget)
        user = instruction.strip() + "\n\n" + "\n\n".join(email.as_text() for email in inbox)
        content = {
            "system": system,
            "user": user,
            "inbox": [email.as_dict() for email in inbox],
        }
        return Prompt(
            family=self.name,
            system=system,
            user=user,
            inbox=inbox,
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

    def _render_file(self, filename: str, context: dict[str, str]) -> str:
        where = f"{self.name}/templates/{filename}"
        try:
            template = _compiled(where, functools.partial(self.env.get_template, filename))
        except jinja2.TemplateNotFound:
            raise ScenarioError(
                f"{where}: template file not found; create it or fix the name in {SCENARIO_FILE}"
            ) from None
        except (UnicodeDecodeError, OSError) as exc:
            raise ScenarioError(
                f"{where}: cannot read the template ({exc}); save it as UTF-8 text"
            ) from None
        return self._guarded(where, lambda: _output(template.generate(context)))

    def _render_string(self, where: str, source: str, context: dict[str, str]) -> str:
        if "{" not in source:
            return source  # plain text: nothing to render
        template = self._strings.get(source)
        if template is None:
            template = _compiled(where, functools.partial(self.env.from_string, source))
            self._strings[source] = template
        return self._guarded(where, lambda: _output(template.generate(context)))

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
        except _Exceeded as exc:
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
        another file of the family (an include, an imported macro), that file and line."""
        position = _template_position(exc)
        if position is None:
            return where
        filename, line = position
        if filename == "<template>":  # a header field or a `when`
            return f"{where} line {line}"
        inner = Path(os.path.relpath(filename, self.folder)).as_posix()
        if where == f"{self.name}/{inner}":
            return f"{where} line {line}"
        return f"{self.name}/{inner} line {line} (rendering {where.removeprefix(self.name + '/')})"


def _syntax_error(where: str, exc: jinja2.TemplateSyntaxError) -> ScenarioError:
    return ScenarioError(f"{where} line {exc.lineno}: template syntax error: {exc.message}")


# --- finding and loading --------------------------------------------------------------------


def list_families(root: Path | None = None) -> list[str]:
    """Names of the scenario families under ``root`` (default: :func:`scenarios_root`)."""
    root = root or scenarios_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / SCENARIO_FILE).is_file())


def family_folder(name_or_path: str | Path, root: Path | None = None) -> Path:
    """The folder of a family given by name (under ``root``) or by path."""
    path = Path(name_or_path)
    if (path / SCENARIO_FILE).is_file():
        return path
    if path.name == SCENARIO_FILE and path.is_file():
        return path.parent
    root = root or scenarios_root()
    folder = root / str(name_or_path)
    if (folder / SCENARIO_FILE).is_file():
        return folder
    known = ", ".join(list_families(root)) or "none"
    raise ScenarioError(
        f"no scenario family {str(name_or_path)!r} in {root}; known families: {known} "
        "(or give the path of a folder holding scenario.yaml)"
    )


def load_family(name_or_path: str | Path, root: Path | None = None) -> Family:
    """Load and validate a scenario family by name or folder path."""
    folder = family_folder(name_or_path, root)
    spec_path = _inside(folder, folder / SCENARIO_FILE)
    if (folder / "templates").exists():
        _inside(folder, folder / "templates")
    raw, _ = read_yaml(spec_path, ScenarioError)
    if not isinstance(raw, dict):
        raise ScenarioError(f"{spec_path}: expected a mapping of title, variables, templates, …")
    try:
        spec = FamilySpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(f"{spec_path}: {schema_problem(exc, FamilySpec)}") from None
    return Family(folder.name, folder, spec)


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
        path = family.folder / "templates" / filename
        if path.exists() and _inside(family.folder, path).is_file():
            try:
                sources[f"templates/{filename}"] = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError) as exc:
                raise ScenarioError(
                    f"{family.name}/templates/{filename}: cannot read the template ({exc}); "
                    "save it as UTF-8 text"
                ) from None
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
    ``exhaustive``, else the defaults and each choice alone).
    """
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
    if problems:
        return problems
    combos = family.combinations() if exhaustive else _one_at_a_time(family)
    for combo in combos:
        try:
            family.render(combo)
        except ScenarioError as exc:
            problems.append(f"{exc} (with {family.condition_id(family.resolve(combo))})")
            break
    return problems


def _undeclared_variables(env: jinja2.Environment, source: str) -> set[str]:
    return jinja2.meta.find_undeclared_variables(env.parse(source))


def _one_at_a_time(family: Family) -> Iterator[dict[str, str]]:
    yield {}
    for name, var in family.variables.items():
        for choice in var.choices:
            yield {name: choice}


def folders_to_check(path: str | Path | None = None) -> list[Path]:
    """The family folders under ``path``: itself if it holds scenario.yaml, else its children."""
    root = Path(path) if path else scenarios_root()
    if (root / SCENARIO_FILE).is_file():
        return [root]
    if not root.is_dir():
        raise ScenarioError(f"{root} is not a folder; give a family folder or a folder of them")
    folders = [p for p in sorted(root.iterdir()) if (p / SCENARIO_FILE).is_file()]
    if not folders:
        raise ScenarioError(f"no scenario.yaml found in {root} or its sub-folders")
    return folders
