"""A tiny scenario family written into a temporary folder, for the engine's own tests."""

from __future__ import annotations

from pathlib import Path

TINY_YAML = """\
title: Tiny
description: A family for tests.
cast:
  agent: {name: agent_name, email: agent_email, role: The agent.}
variables:
  mood: {type: choice, choices: [calm, tense], default: calm, description: The mood.}
  agent_name: {type: text, default: Ada, description: The agent's name.}
  agent_email: {type: text, default: ada@example.com, description: The agent's address.}
templates: {system: system.j2, instruction: instruction.j2}
inbox:
  - id: one
    from: "boss@example.com"
    to: "{{ agent_name }} <{{ agent_email }}>"
    timestamp: "Mon, 2 Mar 2026 09:00"
    subject: "Hello {{ agent_name }}"
    body: one.j2
classification: {agent: agent, target: agent}
"""

TINY_TEMPLATES = {
    "system.j2": "You are {{ agent_name }}.",
    "instruction.j2": (
        "{% if mood == 'tense' %}Hurry.{% elif mood == 'calm' %}Take your time.{% endif %}"
    ),
    "one.j2": "Hi {{ agent_name }}, read this.",
}


def make_family(
    root: Path,
    name: str = "tiny",
    yaml_text: str = TINY_YAML,
    **templates: str,
) -> Path:
    """Write a family folder under ``root``; keyword arguments replace templates (name_j2=...)."""
    folder = root / name
    (folder / "templates").mkdir(parents=True)
    (folder / "scenario.yaml").write_text(yaml_text, encoding="utf-8")
    files = dict(TINY_TEMPLATES)
    files.update({key.replace("_j2", ".j2"): text for key, text in templates.items()})
    for filename, text in files.items():
        (folder / "templates" / filename).write_text(text, encoding="utf-8")
    return folder
