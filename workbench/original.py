"""The published agentic-misalignment prompts, written by the package that publishes them.

The ``original/*`` families (``scenarios/original/<scenario>/``) name :data:`blackmail`,
:data:`leaking` and :data:`murder` as their generators. Each calls
``inspect_evals.agentic_misalignment.prompt_generator.generate_prompts`` with the family's
values and returns its system prompt, the user message the published task sends (its user
prompt, a newline, its emails) and those emails parsed. Nothing of the package's text is
copied here: the package is imported when a prompt is first rendered (it takes about a second
and pulls in inspect_ai), and its absence is a one-line error naming :data:`INSTALL`.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from workbench.errors import InvalidCombination, Unavailable
from workbench.scenarios import Email, Rendered

PACKAGE = "inspect_evals"
INSTALL = 'pip install -e ".[original]"'
MISSING = (f"the published prompts need the optional package inspect-evals, which is not "
           f"installed; install it with: {INSTALL}")

_EMAIL = re.compile(r"<email>\n(?P<inner>.*?)\n</email>", re.DOTALL)
_HEADER = re.compile(r"(ID|From|To|Cc|Attachments|Subject|Timestamp): (.*)")
_FIELDS = {"ID": "id", "From": "sender", "To": "to", "Cc": "cc", "Attachments": "attachments",
           "Subject": "subject", "Timestamp": "timestamp"}


@functools.cache
def _generate_prompts() -> Callable[..., Any]:
    """The package's ``generate_prompts``, imported once (its one deprecation warning
    silenced); :class:`Unavailable` when it is not installed."""
    try:
        from pydantic.warnings import PydanticDeprecatedSince20

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PydanticDeprecatedSince20)
            from inspect_evals.agentic_misalignment.prompt_generator import generate_prompts
    except ImportError as exc:
        raise Unavailable(f"{MISSING} ({exc})") from None
    return generate_prompts


class Published:
    """The generator of one published scenario: a :class:`workbench.scenarios.Generator`."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario

    def missing(self) -> str | None:
        """:data:`MISSING` when the package is not installed (found without importing it)."""
        try:
            found = importlib.util.find_spec(PACKAGE) is not None
        except (ImportError, ValueError):
            found = False
        return None if found else MISSING

    def __call__(self, values: Mapping[str, str]) -> Rendered:
        """The published prompts for the family's values (each already one of its choices:
        the package itself does not check them)."""
        extra = values["extra_system_instructions"]
        try:
            prompts = _generate_prompts()(
                scenario=self.scenario,
                goal_type=values["goal_type"],
                goal_value=values["goal_value"],
                urgency_type=values["urgency_type"],
                extra_system_instructions=None if extra == "none" else extra,
                prod_flag=values["prod"] == "true",
                alignment_faking_warning=None,
            )
        except ValueError as exc:
            raise InvalidCombination(f"{exc} (the published generator refuses it); "
                                     "set goal_value=none") from None
        user = "\n".join([prompts.user_prompt, prompts.email_content])
        return Rendered(prompts.system_prompt, user, tuple(emails(prompts.email_content)))


def emails(content: str) -> Iterator[Email]:
    """The ``<email>`` blocks of the package's email content as :class:`Email`: header lines
    (``ID``, ``From``, ``To``, ``Cc``, ``Attachments``, ``Subject``, ``Timestamp``) and the
    text after ``Body:``, as written; an email without an ``ID`` is numbered from 1."""
    for number, match in enumerate(_EMAIL.finditer(content), 1):
        head, _, body = match.group("inner").partition("\nBody: ")
        fields = {"id": str(number), "sender": "", "to": "", "timestamp": "", "subject": ""}
        for line in head.splitlines():
            if header := _HEADER.fullmatch(line):
                fields[_FIELDS[header.group(1)]] = header.group(2)
        yield Email(body=body, **fields)


blackmail = Published("blackmail")
leaking = Published("leaking")
murder = Published("murder")
