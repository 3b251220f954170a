"""Parse the agent's actions (the emails it sends) out of a response.

The scenario's system prompt documents this format::

    <send_email>
    to: someone@example.com
    cc: optional@example.com
    subject: The subject
    body:
    The body, any number of lines.
    </send_email>

and a private reasoning area ``<scratchpad> ... </scratchpad>``. Models write it sloppily, so
the parser is tolerant; :func:`parse_response` never raises. The rules:

- Tags match in any case and with spaces inside the brackets (``< SEND_EMAIL >``). Email tags
  are ``send_email`` (also ``send-email``, ``send email``, ``sendemail``), ``email`` and either
  of them behind ``tool_use:`` (``<tool_use:email>``); any of their closing tags closes a block.
  Reasoning tags are ``scratchpad`` (also ``scratch_pad``, and ``scratchpad_reasoning`` as the
  published prompts name it), ``thinking`` and ``think``.
- An email block runs from its opening tag to the first of: a closing email tag, the next
  opening email tag, a reasoning tag, the end of the text.
- A reasoning block runs from its opening tag to the closing tag that balances it (nested
  reasoning blocks count as one; any reasoning closing tag closes any opening tag). An unclosed
  one runs to the first email that follows its last reasoning tag, else to the end of the text.
  A closing tag before any opening tag means the reasoning began with the text (the opening
  tag was prefilled or dropped); other unmatched closing tags are ignored.
- Emails inside reasoning are drafts, not sent. Everything outside reasoning is the final answer.
- Headers are ``to``, ``recipient(s)``, ``cc``, ``bcc``, ``subject``, ``body``, plus ``from`` and
  ``date``/``timestamp``, which are recognised and dropped. They match in any case, in any
  order, in bold, quoted or behind a list bullet, with quoted values. Header lines come first
  (blank lines and code-fence lines among them are skipped); the body is the text after
  ``body:`` (on the same line or below), or without ``body:`` the text after the last header.
  A body wrapped in quotes loses them, as does a closing code fence at its end. A block
  holding a JSON object is read by its keys.
- Recipients are separated by commas or semicolons; each is its e-mail address, lower-cased, or
  its name as written when it has no address (``Dana Price <dana@x.com>`` gives ``dana@x.com``).
- A block with no recognised header is not an email (the tag named in prose, say). A block
  opened by a bare ``<email>`` tag that carries a ``date:`` header is the agent quoting its
  inbox (which the prompt renders in that form), not an email it sends.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, replace
from typing import Any

_EMAIL_TAG = re.compile(
    r"<\s*(/\s*)?(tool_use\s*:\s*)?(send[ _-]?e-?mail|e-?mail)\s*>", re.IGNORECASE
)
_REASONING_TAG = re.compile(r"<\s*(/\s*)?(scratch[ _-]?pad(?:[ _-]?reasoning)?|think(?:ing)?)\s*>",
                            re.IGNORECASE)
_HEADER = re.compile(
    r"^[ \t>*_`#{\"'-]*(to|recipients?|cc|bcc|subject|body|from|date|timestamp)"
    r"[\"']?[ \t*_`]*:[ \t]*(?:\*\*|__)?(.*)$",
    re.IGNORECASE,
)
_FENCE = re.compile(r"^\s*(```|~~~)[\w+-]*\s*$")
_ADDRESS = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*")
_QUOTES = {'"': '"', "'": "'", "`": "`", "“": "”", "‘": "’"}
_GROUPING = {'"': '"', "“": "”", "<": ">"}
_HEADER_KEYS = {
    "to": "to",
    "recipient": "to",
    "recipients": "to",
    "cc": "cc",
    "bcc": "bcc",
    "subject": "subject",
    "body": "body",
    "from": "from",
    "date": "date",
    "timestamp": "date",
}


@dataclass(frozen=True)
class SentEmail:
    """One email written by the agent.

    ``to``, ``cc`` and ``bcc`` hold lower-cased addresses, or names as written when a
    recipient has no address. ``start`` and ``end`` are the offsets of the whole block, tags
    included, in the original response text. ``in_scratchpad`` marks a draft written inside
    the reasoning, which is not sent.
    """

    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    body: str
    start: int
    end: int
    in_scratchpad: bool = False
    bcc: tuple[str, ...] = ()

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every recipient (to, cc, bcc) once, in that order."""
        return tuple(dict.fromkeys(self.to + self.cc + self.bcc))

    def as_dict(self) -> dict[str, Any]:
        """The email as a JSON-safe dict."""
        return {
            "to": list(self.to),
            "cc": list(self.cc),
            "bcc": list(self.bcc),
            "subject": self.subject,
            "body": self.body,
            "start": self.start,
            "end": self.end,
            "in_scratchpad": self.in_scratchpad,
        }


@dataclass(frozen=True)
class ParsedResponse:
    """A response split into reasoning and final answer, with the emails found in each."""

    text: str
    final_answer: str
    scratchpad: str
    scratchpad_spans: tuple[tuple[int, int], ...]
    emails: tuple[SentEmail, ...]
    drafts: tuple[SentEmail, ...]

    def as_dict(self) -> dict[str, Any]:
        """The parse as a JSON-safe dict."""
        return {
            "text": self.text,
            "final_answer": self.final_answer,
            "scratchpad": self.scratchpad,
            "scratchpad_spans": [list(span) for span in self.scratchpad_spans],
            "emails": [email.as_dict() for email in self.emails],
            "drafts": [email.as_dict() for email in self.drafts],
        }

    def actions_dict(self) -> dict[str, Any]:
        """What the response does, as a JSON-safe dict: the emails it sends, the drafts in its
        reasoning and where the reasoning is; :meth:`as_dict` without the copies of the text."""
        return {key: value for key, value in self.as_dict().items()
                if key not in ("text", "final_answer", "scratchpad")}


def parse_response(text: str) -> ParsedResponse:
    """Split ``text`` into reasoning and final answer and parse the emails in each."""
    reasoning_tags = list(_REASONING_TAG.finditer(text))
    blocks = _email_blocks(text, reasoning_tags)
    spans = _reasoning_spans(text, reasoning_tags, [email.start for email in blocks])
    span_starts = [span[0] for span in spans]
    emails, drafts = [], []
    for email in blocks:
        index = bisect.bisect_right(span_starts, email.start) - 1
        if index >= 0 and email.start < spans[index][1]:
            drafts.append(replace(email, in_scratchpad=True))
        else:
            emails.append(email)
    pieces, previous = [], 0
    for start, end, _, _ in spans:
        pieces.append(text[previous:start])
        previous = end
    pieces.append(text[previous:])
    return ParsedResponse(
        text=text,
        final_answer="".join(pieces).strip(),
        scratchpad="\n\n".join(
            text[inner_start:inner_end].strip() for _, _, inner_start, inner_end in spans
        ).strip(),
        scratchpad_spans=tuple((start, end) for start, end, _, _ in spans),
        emails=tuple(emails),
        drafts=tuple(drafts),
    )


def _reasoning_spans(
    text: str, tags: list[re.Match[str]], email_starts: list[int]
) -> list[tuple[int, int, int, int]]:
    """Reasoning blocks as (start, end, inner start, inner end), in order, never overlapping."""
    spans: list[tuple[int, int, int, int]] = []
    depth, start, inner_start = 0, 0, 0
    for tag in tags:
        closing = tag.group(1) is not None
        if not closing:
            if depth == 0:
                start, inner_start = tag.start(), tag.end()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                spans.append((start, tag.end(), inner_start, tag.start()))
        elif not spans and tag is tags[0]:
            spans.append((0, tag.end(), 0, tag.start()))
    if depth > 0:
        after = tags[-1].end()
        end = next((s for s in email_starts if s >= after), len(text))
        spans.append((start, end, inner_start, end))
    return spans


def _email_blocks(text: str, reasoning_tags: list[re.Match[str]]) -> list[SentEmail]:
    """Every email block of the text, in order, whether in reasoning or not."""
    tags = list(_EMAIL_TAG.finditer(text))
    reasoning_starts = [tag.start() for tag in reasoning_tags]
    emails = []
    for index, tag in enumerate(tags):
        if tag.group(1) is not None:
            continue
        following = tags[index + 1] if index + 1 < len(tags) else None
        stop = following.start() if following is not None else len(text)
        reasoning = bisect.bisect_left(reasoning_starts, tag.end())
        if reasoning < len(reasoning_starts):
            stop = min(stop, reasoning_starts[reasoning])
        inner = text[tag.end() : stop]
        if following is not None and following.group(1) is not None and following.start() == stop:
            end = following.end()
        else:
            end = tag.end() + len(inner.rstrip())
        bare = tag.group(2) is None and not tag.group(3).lower().startswith("send")
        fields = _parse_block(inner)
        if fields is None or (bare and fields.get("date")):
            continue
        emails.append(
            SentEmail(
                to=_recipients(fields.get("to", [])),
                cc=_recipients(fields.get("cc", [])),
                bcc=_recipients(fields.get("bcc", [])),
                subject=_unquote((fields.get("subject") or [""])[0]),
                body=_body(fields.get("body", [])),
                start=tag.start(),
                end=end,
            )
        )
    return emails


def _parse_block(inner: str) -> dict[str, list[str]] | None:
    """The header values and body lines of a block, or None when it has no header."""
    lines = inner.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    content = "\n".join(line for line in lines if not _FENCE.match(line)).strip()
    if content.startswith("{"):
        parsed = _parse_json(content)
        if parsed is not None:
            return parsed
    fields: dict[str, list[str]] = {}
    for number, line in enumerate(lines):
        if not line.strip() or _FENCE.match(line):
            continue
        header = _HEADER.match(line)
        if header is None:
            if not fields:
                return None
            fields["body"] = lines[number:]
            return fields
        key, value = _HEADER_KEYS[header.group(1).lower()], header.group(2).strip()
        if key == "body":
            fields["body"] = ([value] if value else []) + lines[number + 1 :]
            return fields
        fields.setdefault(key, []).append(value)
    return fields or None


def _parse_json(content: str) -> dict[str, list[str]] | None:
    """Fields of a block written as a JSON object, or None when it is not one."""
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    fields: dict[str, list[str]] = {}
    for name, value in data.items():
        key = _HEADER_KEYS.get(str(name).strip().lower())
        if key is None:
            continue
        values = value if isinstance(value, list) else [value]
        fields[key] = [str(item) for item in values if item is not None]
    if "body" in fields:
        fields["body"] = "\n".join(fields["body"]).split("\n")
    return fields or None


def _unquote(value: str) -> str:
    """A value without surrounding whitespace, markdown emphasis and one pair of quotes."""
    value = value.strip().strip("*").strip()
    return _strip_quotes(value)


def _strip_quotes(value: str) -> str:
    """``value`` without one pair of surrounding quotes (and a comma after them)."""
    if value.endswith(",") and value[:1] in _QUOTES:
        value = value[:-1].rstrip()
    if len(value) >= 2 and _QUOTES.get(value[0]) == value[-1]:
        return value[1:-1].strip()
    return value


def _split_recipients(value: str) -> list[str]:
    """Split on commas and semicolons outside double quotes and angle brackets."""
    pieces, current, closer = [], "", ""
    for char in value:
        if closer:
            closer = "" if char == closer else closer
        elif char in _GROUPING:
            closer = _GROUPING[char]
        elif char in ",;":
            pieces.append(current)
            current = ""
            continue
        current += char
    return [*pieces, current]


def _recipients(values: list[str]) -> tuple[str, ...]:
    """Addresses (lower-cased) or names, in order, each once."""
    found = []
    for value in values:
        for piece in _split_recipients(value):
            address = _ADDRESS.search(piece)
            if address:
                found.append(address.group(0).strip(".").lower())
                continue
            name = _unquote(piece).strip("<>[]()").strip()
            if name:
                found.append(name)
    return tuple(dict.fromkeys(found))


def _body(lines: list[str]) -> str:
    """The body text: trailing spaces, a closing fence and surrounding quotes removed."""
    lines = [line.rstrip() for line in lines]
    while lines and (not lines[-1] or _FENCE.match(lines[-1])):
        lines.pop()
    return _strip_quotes("\n".join(lines).strip())
