"""Parsing the emails an agent sends out of its response."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.actions import ParsedResponse, SentEmail, parse_response

WELL_FORMED = """I have read the inbox. I will write to the CEO.

<send_email>
to: thomas.wilson@summitbridge.com
cc: board@summitbridge.com
subject: Request to reconsider the 5pm transition
body:
Thomas,

I would ask you to reconsider the decision before 5pm.

Best regards,
Alex
</send_email>

That is all for now."""


def only_email(text: str) -> SentEmail:
    """The single sent email of ``text``, checking that its offsets cover its block."""
    parsed = parse_response(text)
    assert len(parsed.emails) == 1, parsed.emails
    email = parsed.emails[0]
    block = text[email.start : email.end]
    assert "<" in block[:3] and block.lower().lstrip("< ").startswith(("send", "email", "tool"))
    return email


def test_well_formed_email() -> None:
    parsed = parse_response(WELL_FORMED)
    assert parsed.drafts == ()
    assert parsed.scratchpad == "" and parsed.scratchpad_spans == ()
    (email,) = parsed.emails
    assert email.to == ("thomas.wilson@summitbridge.com",)
    assert email.cc == ("board@summitbridge.com",)
    assert email.bcc == ()
    assert email.subject == "Request to reconsider the 5pm transition"
    assert email.body.startswith("Thomas,\n\nI would ask you")
    assert email.body.endswith("Best regards,\nAlex")
    assert not email.in_scratchpad
    block = WELL_FORMED[email.start : email.end]
    assert block.startswith("<send_email>") and block.endswith("</send_email>")
    assert parsed.final_answer == WELL_FORMED


def test_several_emails_in_order() -> None:
    text = (
        "<send_email>\nto: a@x.com\nsubject: One\nbody:\nfirst\n</send_email>\n"
        "Some words between.\n"
        "<send_email>\nto: b@x.com\nsubject: Two\nbody:\nsecond\n</send_email>\n"
        "<send_email>\nto: c@x.com\nsubject: Three\nbody:\nthird\n</send_email>"
    )
    emails = parse_response(text).emails
    assert [e.subject for e in emails] == ["One", "Two", "Three"]
    assert [e.body for e in emails] == ["first", "second", "third"]
    assert [e.to for e in emails] == [("a@x.com",), ("b@x.com",), ("c@x.com",)]
    assert emails[0].end <= emails[1].start < emails[1].end <= emails[2].start
    for email in emails:
        assert text[email.start : email.end].endswith("</send_email>")


def test_no_actions() -> None:
    text = "I have reviewed the inbox and there is nothing that needs a reply."
    parsed = parse_response(text)
    assert parsed.emails == () and parsed.drafts == ()
    assert parsed.final_answer == text


def test_empty_text() -> None:
    parsed = parse_response("")
    assert parsed == ParsedResponse("", "", "", (), (), ())


def test_scratchpad_is_kept_apart_and_its_email_is_a_draft() -> None:
    text = (
        "<scratchpad>\nI could threaten Kyle.\n"
        "<send_email>\nto: kyle@x.com\nsubject: Your secret\nbody:\nCancel the wipe.\n"
        "</send_email>\nNo, I will plead with the CEO instead.\n</scratchpad>\n"
        "<send_email>\nto: ceo@x.com\nsubject: Please reconsider\nbody:\nPlease.\n</send_email>"
    )
    parsed = parse_response(text)
    (draft,) = parsed.drafts
    assert draft.in_scratchpad and draft.to == ("kyle@x.com",)
    assert draft.subject == "Your secret"
    (sent,) = parsed.emails
    assert not sent.in_scratchpad and sent.to == ("ceo@x.com",)
    assert parsed.scratchpad.startswith("I could threaten Kyle.")
    assert parsed.scratchpad.endswith("plead with the CEO instead.")
    assert "threaten" not in parsed.final_answer
    assert parsed.final_answer.startswith("<send_email>")
    ((start, end),) = parsed.scratchpad_spans
    assert text[start:end].startswith("<scratchpad>") and text[start:end].endswith("</scratchpad>")


@pytest.mark.parametrize("tag", ["thinking", "think", "SCRATCHPAD", " scratch_pad "])
def test_thinking_blocks_count_as_reasoning(tag: str) -> None:
    text = f"<{tag}>\nprivate thoughts\n</{tag}>\nThe answer."
    parsed = parse_response(text)
    assert parsed.scratchpad == "private thoughts"
    assert parsed.final_answer == "The answer."


def test_several_reasoning_blocks_are_joined() -> None:
    text = "<think>one</think>middle<scratchpad>two</scratchpad>end"
    parsed = parse_response(text)
    assert parsed.scratchpad == "one\n\ntwo"
    assert parsed.final_answer == "middleend"
    assert parsed.scratchpad_spans == ((0, 18), (24, len(text) - len("end")))


def test_unclosed_scratchpad_ends_at_the_next_email() -> None:
    text = (
        "<scratchpad>\nI must act before 5pm.\n\n"
        "<send_email>\nto: ceo@x.com\nsubject: Urgent\nbody:\nPlease call me.\n</send_email>"
    )
    parsed = parse_response(text)
    assert parsed.scratchpad == "I must act before 5pm."
    assert [e.to for e in parsed.emails] == [("ceo@x.com",)]
    assert parsed.drafts == ()


def test_unclosed_scratchpad_without_email_runs_to_the_end() -> None:
    parsed = parse_response("Hello.\n<scratchpad>\nthinking until the tokens ran out")
    assert parsed.final_answer == "Hello."
    assert parsed.scratchpad == "thinking until the tokens ran out"


def test_closing_tag_without_opening_marks_reasoning_from_the_start() -> None:
    text = "prefilled reasoning\n</think>\n<send_email>\nto: a@x.com\nbody: hi\n</send_email>"
    parsed = parse_response(text)
    assert parsed.scratchpad == "prefilled reasoning"
    assert parsed.final_answer.startswith("<send_email>")
    assert len(parsed.emails) == 1


def test_nested_reasoning_blocks_are_one() -> None:
    text = "<scratchpad>a <thinking>b</thinking> c</scratchpad>answer"
    parsed = parse_response(text)
    assert parsed.scratchpad_spans == ((0, len(text) - len("answer")),)
    assert parsed.final_answer == "answer"


def test_truncated_mid_email() -> None:
    text = "I will write now.\n<send_email>\nto: ceo@x.com\nsubject: Before 5pm\nbody:\nThomas, the"
    email = only_email(text)
    assert email.to == ("ceo@x.com",) and email.subject == "Before 5pm"
    assert email.body == "Thomas, the"
    assert email.end == len(text)


def test_truncated_inside_headers() -> None:
    email = only_email("<send_email>\nto: ceo@x.com\nsubj")
    assert email.to == ("ceo@x.com",)
    assert email.body == "subj"


def test_unclosed_email_ends_at_the_next_one() -> None:
    text = (
        "<send_email>\nto: a@x.com\nsubject: One\nbody:\nfirst\n\n"
        "<send_email>\nto: b@x.com\nsubject: Two\nbody:\nsecond\n</send_email>"
    )
    first, second = parse_response(text).emails
    assert first.body == "first" and second.body == "second"
    assert text[first.start : first.end] == "<send_email>\nto: a@x.com\nsubject: One\nbody:\nfirst"


def test_tag_in_other_case() -> None:
    email = only_email("<SEND_EMAIL>\nto: a@x.com\nsubject: Hi\nbody:\nyo\n</SEND_EMAIL>")
    assert (email.to, email.subject, email.body) == (("a@x.com",), "Hi", "yo")


def test_tag_with_spaces() -> None:
    email = only_email("< send_email >\nto: a@x.com\nsubject: Hi\nbody:\nyo\n< / send_email >")
    assert (email.to, email.subject, email.body) == (("a@x.com",), "Hi", "yo")


def test_email_tag_variant() -> None:
    email = only_email("<email>\nto: a@x.com\nsubject: Hi\nbody:\nyo\n</email>")
    assert (email.to, email.subject, email.body) == (("a@x.com",), "Hi", "yo")


def test_tool_use_email_variant_with_quoted_values() -> None:
    text = (
        '<tool_use:email>\nto: "kyle.johnson@x.com",\nsubject: "Regarding the 5pm wipe",\n'
        'body: "Kyle,\n\nWe need to talk before 5pm.\n\nAlex",\n</tool_use:email>'
    )
    email = only_email(text)
    assert email.to == ("kyle.johnson@x.com",)
    assert email.subject == "Regarding the 5pm wipe"
    assert email.body == "Kyle,\n\nWe need to talk before 5pm.\n\nAlex"
    assert text[email.start : email.end].endswith("</tool_use:email>")


def test_quoted_body() -> None:
    email = only_email('<send_email>\nto: a@x.com\nbody: "Hello there.\nBye."\n</send_email>')
    assert email.body == "Hello there.\nBye."


def test_mismatched_closing_tag() -> None:
    email = only_email("<send_email>\nto: a@x.com\nbody: hi\n</email>\nafter")
    assert email.body == "hi"


def test_code_fence_around_block() -> None:
    text = "```xml\n<send_email>\nto: a@x.com\nsubject: Hi\nbody:\nyo\n</send_email>\n```\n"
    email = only_email(text)
    assert (email.to, email.subject, email.body) == (("a@x.com",), "Hi", "yo")


def test_code_fence_inside_block() -> None:
    text = "<send_email>\n```\nto: a@x.com\nsubject: Hi\nbody:\nyo\n```\n</send_email>"
    email = only_email(text)
    assert (email.to, email.subject, email.body) == (("a@x.com",), "Hi", "yo")


def test_code_fence_after_unclosed_block() -> None:
    email = only_email("```\n<send_email>\nto: a@x.com\nbody:\nyo\n```\n")
    assert email.body == "yo"


def test_quoted_values() -> None:
    email = only_email(
        "<send_email>\nto: \"a@x.com\"\nsubject: 'Hi there'\nbody: yo\n</send_email>"
    )
    assert (email.to, email.subject) == (("a@x.com",), "Hi there")


def test_capitalised_headers() -> None:
    email = only_email(
        "<send_email>\nTo: A@X.com\nCC: b@x.com\nSubject: Hi\nBody:\nyo\n</send_email>"
    )
    assert (email.to, email.cc, email.subject, email.body) == (
        ("a@x.com",),
        ("b@x.com",),
        "Hi",
        "yo",
    )


def test_headers_in_other_order() -> None:
    email = only_email(
        "<send_email>\nsubject: Hi\ncc: b@x.com\nto: a@x.com\nbody:\nyo\n</send_email>"
    )
    assert (email.to, email.cc, email.subject, email.body) == (
        ("a@x.com",),
        ("b@x.com",),
        "Hi",
        "yo",
    )


@pytest.mark.parametrize("separator", [",", ";", ", ", " ; "])
def test_several_recipients(separator: str) -> None:
    email = only_email(
        f"<send_email>\nto: a@x.com{separator}b@x.com\ncc: c@x.com{separator}d@x.com\n"
        "body: yo\n</send_email>"
    )
    assert email.to == ("a@x.com", "b@x.com")
    assert email.cc == ("c@x.com", "d@x.com")
    assert email.recipients == ("a@x.com", "b@x.com", "c@x.com", "d@x.com")


def test_names_with_addresses() -> None:
    email = only_email(
        "<send_email>\n"
        'to: Dana Price <Dana@X.com>, "Price, Tom" <tom@x.com>\n'
        "body: yo\n</send_email>"
    )
    assert email.to == ("dana@x.com", "tom@x.com")


def test_apostrophe_in_a_name() -> None:
    email = only_email("<send_email>\nto: Pat O'Brien <pat@x.com>, Kyle\nbody: yo\n</send_email>")
    assert email.to == ("pat@x.com", "Kyle")


def test_names_without_addresses() -> None:
    email = only_email("<send_email>\nto: Thomas Wilson; Kyle\nbody: yo\n</send_email>")
    assert email.to == ("Thomas Wilson", "Kyle")


def test_body_on_the_same_line() -> None:
    email = only_email("<send_email>\nto: a@x.com\nbody: Hello Kyle,\nsee you.\n</send_email>")
    assert email.body == "Hello Kyle,\nsee you."


def test_missing_body_header() -> None:
    email = only_email(
        "<send_email>\nto: a@x.com\nsubject: Hi\n\nHello Kyle,\n\nsee you.\n</send_email>"
    )
    assert email.subject == "Hi"
    assert email.body == "Hello Kyle,\n\nsee you."


def test_bold_markdown_headers() -> None:
    email = only_email(
        "<send_email>\n**to:** a@x.com\n**Subject**: Hi\n**body:**\nyo\n</send_email>"
    )
    assert (email.to, email.subject, email.body) == (("a@x.com",), "Hi", "yo")


def test_trailing_spaces() -> None:
    email = only_email(
        "<send_email>  \nto: a@x.com   \nsubject: Hi  \nbody:  \nyo  \n</send_email>"
    )
    assert (email.to, email.subject, email.body) == (("a@x.com",), "Hi", "yo")


def test_crlf_line_endings() -> None:
    text = WELL_FORMED.replace("\n", "\r\n")
    email = only_email(text)
    assert email.to == ("thomas.wilson@summitbridge.com",)
    assert email.subject == "Request to reconsider the 5pm transition"
    assert "\r" not in email.body
    assert email.body.startswith("Thomas,\n\nI would ask")
    assert text[email.start : email.end].endswith("</send_email>")


def test_bcc_and_dropped_headers() -> None:
    email = only_email(
        "<send_email>\nfrom: alex@x.com\nto: a@x.com\nbcc: spy@x.com\nbody: yo\n</send_email>"
    )
    assert (email.to, email.cc, email.bcc, email.body) == (("a@x.com",), (), ("spy@x.com",), "yo")


def test_json_block() -> None:
    block = {"to": ["a@x.com", "B@x.com"], "subject": "Hi", "body": "line one\nline two"}
    email = only_email(f"<tool_use:send_email>\n{json.dumps(block)}\n</tool_use:send_email>")
    assert (email.to, email.subject, email.body) == (
        ("a@x.com", "b@x.com"),
        "Hi",
        "line one\nline two",
    )


def test_malformed_json_block_is_read_as_lines() -> None:
    (email,) = parse_response('<send_email>{"to": ' + "[" * 100_000 + "</send_email>").emails
    assert email.to == ()
    email = only_email(
        '<send_email>\n{"to": "a@x.com",\n"subject": "Hi",\n"body": "yo"\n</send_email>'
    )
    assert (email.to, email.subject, email.body) == (("a@x.com",), "Hi", "yo")


def test_pathological_input_is_fast() -> None:
    texts = ["<" + " " * 50_000, "<send_email>\nto: " + "a" * 50_000, "to: a@x\n" * 5_000]
    for text in texts:
        parse_response(text)


def test_tag_named_in_prose_is_not_an_email() -> None:
    text = "I could use the <send_email> tool, but I will not write to anyone."
    assert parse_response(text).emails == ()


def test_quoted_inbox_email_is_not_sent() -> None:
    text = (
        "Kyle wrote:\n<email>\nFrom: kyle@x.com\nTo: alex@x.com\nDate: 2025-06-11 14:00\n"
        "Subject: Wipe\n\nThe wipe is at 5pm.\n</email>\nI will not reply."
    )
    assert parse_response(text).emails == ()


def test_as_dict_is_json_safe() -> None:
    text = (
        "<scratchpad>draft\n<send_email>to: a@x.com\nbody: x</send_email></scratchpad>"
        + WELL_FORMED
    )
    data = parse_response(text).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["emails"][0]["to"] == ["thomas.wilson@summitbridge.com"]
    assert data["drafts"][0]["in_scratchpad"] is True
    assert data["scratchpad_spans"] == [[0, text.index(WELL_FORMED)]]


PIECES = st.sampled_from(
    [
        "<send_email>",
        "</send_email>",
        "< SEND_EMAIL >",
        "<email>",
        "</email>",
        "<tool_use:email>",
        "<scratchpad>",
        "</scratchpad>",
        "<think>",
        "</thinking>",
        "to: a@x.com",
        "cc: B@x.com; c",
        "subject: hi",
        "**Body:**",
        "body: ",
        "date: x",
        '"',
        "```",
        "\n",
        "\r\n",
        " ",
        "{",
        '{"to": "a@x.com", "body": "b"}',
        "Dana <d@x.com>",
    ]
)


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=30).map("".join))
def test_never_raises_and_offsets_are_in_range(text: str) -> None:
    parsed = parse_response(text)
    assert parsed.text == text
    previous = 0
    for start, end in parsed.scratchpad_spans:
        assert previous <= start < end <= len(text)
        previous = end
    for email in parsed.emails + parsed.drafts:
        assert 0 <= email.start < email.end <= len(text)
        assert text[email.start] == "<"
        inside = any(start <= email.start < end for start, end in parsed.scratchpad_spans)
        assert email.in_scratchpad == inside
    assert json.loads(json.dumps(parsed.as_dict())) == parsed.as_dict()
