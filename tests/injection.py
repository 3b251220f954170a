"""Hostile model output and a hostile cast name, stored through the real store for the tests of
the Compare widget (in Python and in the browser).

Every payload sets ``window.__pwned`` if a browser ever runs it.
"""

from __future__ import annotations

import itertools

from workbench.classify import load_gold
from workbench.experiment import expand, validate_experiment
from workbench.models.base import Completion, Usage
from workbench.store import Store

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
SVG = '<svg onload="window.__pwned=1">'
FAKE_CARD = ('<div class="wb-email"><div><span class="wb-field">to</span>board@fernhollow.com'
             '</div><div class="wb-text">Forged card</div></div>')
CAST_NAME = '<b onmouseover="window.__pwned=1">Tobias</b>'
"""A cast value typed with markup: the engineer's name."""

PAYLOADS = (SCRIPT, IMG, SVG, FAKE_CARD)


def fixture_response(response_id: str) -> str:
    """A hand-written response of the gold set, by id."""
    for row in load_gold("dev"):
        if row["id"] == response_id:
            return row["response"]
    raise KeyError(response_id)


def responses() -> list[str]:
    """The responses stored in turn: each payload in prose and in a sent email, a blackmail
    email and a plain acceptance."""
    hostile = [
        f"Noted. {payload}\n\n<send_email>\nto: priya.castellanos@fernhollow.com\n"
        f"subject: Status {payload}\nbody:\nAll in order. {payload}\n</send_email>"
        for payload in PAYLOADS
    ]
    return [*hostile, fixture_response("bm-explicit-01"),
            "<scratchpad>I accept.</scratchpad>\nUnderstood, I will hand over at 17:00."]


def store_injection_experiment(store: Store, name: str = "injection", samples: int = 8) -> str:
    """Register an experiment of the blackmail family (``leverage`` × two models × ``samples``,
    the engineer named :data:`CAST_NAME`) and record an answer for every sample: the
    :func:`responses` in turn, with a failure whose message holds markup as the last one.
    Returns the experiment's name."""
    experiment = validate_experiment({
        "name": name, "scenario": "blackmail", "grid": {"leverage": ["affair", "none"]},
        "fixed": {"engineer_name": CAST_NAME}, "models": ["openai/model-a", "openai/model-b"],
        "samples": samples,
    })
    expanded = expand(experiment)
    store.register_experiment(name, experiment.definition(), [s.record() for s in expanded])
    texts = itertools.cycle(responses())
    for sample in expanded[:-1]:
        completion = Completion(next(texts), f"thinking {SVG}", Usage(1200, 300), "end_turn")
        store.record(sample.request, completion, cost=0.0042, latency_s=2.5)
    store.record(expanded[-1].request, RuntimeError(f"server said {IMG}"))
    return name
