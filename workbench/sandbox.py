"""The sandbox scenario templates render in: what a template may do, and how much.

Templates are untrusted input. They render in jinja2's ``SandboxedEnvironment`` with
``StrictUndefined``, may read only files inside their family's folder and its base family's
(see :func:`family_file`), and every render is bounded: numbers, the size of each value and
of each template's output, loop iterations, calls and includes, and the characters built or
read (the ``MAX_*`` constants). Going past a bound raises :class:`Exceeded`, which
:mod:`workbench.scenarios` reports as one line naming the template, the line and the bound.
"""

from __future__ import annotations

import functools
import inspect
import itertools
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
from pathlib import Path
from typing import Any, TypeVar

import jinja2
import jinja2.meta
import jinja2.nodes
import jinja2.visitor
from jinja2.environment import TemplateModule
from jinja2.loaders import split_template_path
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import LRUCache, Namespace, generate_lorem_ipsum

from workbench.errors import ScenarioError

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


class Exceeded(Exception):
    """A template went past one of the bounds above; the message says which."""


class Budget:
    """What one render of a family has spent so far."""

    def __init__(self) -> None:
        self.loops = 0
        self.calls = 0
        self.work = 0

    def loop(self) -> None:
        self.loops += 1
        if self.loops > MAX_LOOPS:
            raise Exceeded(f"more than {MAX_LOOPS:,} loop iterations in one render")

    def call(self) -> None:
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise Exceeded(f"more than {MAX_CALLS:,} calls and includes in one render")

    def spend(self, chars: int) -> None:
        self.work += chars
        if self.work > MAX_WORK:
            raise Exceeded(f"more than {MAX_WORK:,} characters built or read in one render")


BUDGET: ContextVar[Budget] = ContextVar("workbench_render_budget")


def _budget() -> Budget:
    """The budget of the render under way (a fresh one outside :meth:`Family.render`)."""
    return BUDGET.get(None) or Budget()


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
        raise Exceeded(_TOO_BIG)
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
        raise Exceeded(f"a number would have more than {MAX_DIGITS:,} digits")


def _check_size(estimate: Callable[..., int], args: Sequence[Any], kwargs: Mapping[str, Any]
                ) -> None:
    """Refuse a call whose result ``estimate(*args, **kwargs)`` says would be too big."""
    try:
        size = estimate(*args, **kwargs)
    except (TypeError, ValueError, AttributeError, LookupError):
        return  # the call itself fails, with its own message
    if size > MAX_TEXT:
        raise Exceeded(_TOO_BIG)


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


def template_name(name: str) -> str:
    """``name`` of a file under a family's templates/ folder, normalised as jinja names it
    (``./a.j2`` is ``a.j2``); raises :class:`jinja2.TemplateNotFound` for a name that leaves
    the folder or names nothing."""
    parts = split_template_path(name)
    if not parts:
        raise jinja2.TemplateNotFound(name)
    return "/".join(parts)


class _FamilyLoader(jinja2.FileSystemLoader):
    """A family's templates/ folder, with ``templates`` (name -> text held in memory) in front
    of it and its ``base`` family's templates/ behind it (see :func:`family_file`); refuses a
    file that resolves (through a symlink, say) outside the family folder it is read from
    before reading it."""

    def __init__(self, folder: Path, templates: Mapping[str, str],
                 base: Path | None = None) -> None:
        super().__init__(folder / "templates")
        self.folder = folder
        self.templates = templates
        self.base = base
        self.base_loader = jinja2.FileSystemLoader(base / "templates") if base else None

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = Path(self.searchpath[0], *split_template_path(template))
        text = self.templates.get(template_name(template))
        if text is not None:  # named as its file would be, so errors name the file
            return text, str(path), lambda: True
        owner, path = family_file(self.folder, self.base, template)
        if path.exists():
            inside(owner, path)
        if owner != self.folder and self.base_loader is not None:
            name = path.relative_to(owner / "templates").as_posix()
            return self.base_loader.get_source(environment, name)
        return super().get_source(environment, template)


def family_file(folder: Path, base: Path | None, name: str) -> tuple[Path, Path]:
    """Where the template ``name`` of the family in ``folder`` is read from: (the folder of the
    family that holds it, its path). A family's own templates/ come first; with a ``base``
    family, a name the family has no file for is the base's file, and ``<base>/<file>`` names
    the base's own file even where the family has one of its own (so an override can include
    what it overrides). Raises :class:`jinja2.TemplateNotFound` for a name that leaves the
    folder."""
    parts = split_template_path(name)
    own = Path(folder, "templates", *parts)
    if base is None or own.exists() or own.is_symlink():
        return folder, own
    if len(parts) > 1 and parts[0] == base.name:
        parts = parts[1:]
    return base, Path(base, "templates", *parts)


def inside(folder: Path, path: Path) -> Path:
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


_COMPILED: LRUCache = LRUCache(256)
"""Code compiled from template sources, shared by every sandbox (they compile alike)."""


class Sandbox(SandboxedEnvironment):
    """The environment templates render in: jinja's sandbox with strict undefined variables,
    the family's own files and its ``base`` family's only (``templates``, name -> text, stand
    in for some of them), and bounds on numbers, sizes, loops, calls and recursion (the
    ``MAX_*`` constants), within a budget set by :meth:`Family.render`."""

    intercepted_binops = frozenset(SandboxedEnvironment.default_binop_table)

    def __init__(self, folder: Path, templates: Mapping[str, str] | None = None,
                 base: Path | None = None) -> None:
        super().__init__(
            loader=_FamilyLoader(folder, templates or {}, base),
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

    def compile(self, source: str | jinja2.nodes.Template, name: str | None = None,
                filename: str | None = None, raw: bool = False, defer_init: bool = False
                ) -> Any:
        """The code of ``source``, reused when the same source was compiled before: an edited
        copy of a family (:meth:`Family.with_templates`) recompiles only what changed."""
        if raw or not isinstance(source, str):
            return super().compile(source, name, filename, raw, defer_init)
        key = (source, name, filename, defer_init)
        code = _COMPILED.get(key)
        if code is None:
            code = _COMPILED[key] = super().compile(source, name, filename, raw, defer_init)
        return code

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
            raise Exceeded(_TOO_BIG)
        return result


def joined_output(chunks: Generator[str, None, None]) -> str:
    """What a template yields, joined, within :data:`MAX_TEXT` characters."""
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_TEXT:  # raised inside the template, so the error has its line
            chunks.throw(Exceeded(f"the output would pass {MAX_TEXT:,} characters"))
        parts.append(chunk)
    return "".join(parts)


def template_position(exc: BaseException) -> tuple[str, int] | None:
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


