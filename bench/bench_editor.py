"""How long the scenario editor takes to update after a change (goal: well under 50 ms).

Run from the repository root:  .venv/bin/python bench/bench_editor.py [-n 500] [--family blackmail]

Builds one ``ScenarioEditor`` on the family and changes its controls programmatically, as a
click or a keystroke would: each change runs the whole update (render, diff against the
baseline, the previews' HTML). Measures a choice flipped at random, a cast name typed (a new
name each time), a keystroke in the system template's text area (a new in-memory family each
time), and the static snapshot. Prints the median and p95 of each.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from bench_render import summary, timed

from workbench.scenarios import load_family
from workbench.widgets import ScenarioEditor

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Print the time an editor update takes, per kind of change."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500, help="changes per measurement")
    parser.add_argument("--family", default=str(ROOT / "scenarios" / "blackmail"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    editor = ScenarioEditor(load_family(args.family))
    print(f"family {editor.family.name}: load + editor built in "
          f"{(time.perf_counter() - start) * 1000:.0f} ms")

    rng = random.Random(args.seed)
    choices = {name: var.choices for name, var in editor.family.variables.items()
               if var.type == "choice"}
    text_name = next(iter(editor.family.spec.cast.values())).name

    def flip() -> None:
        name = rng.choice(sorted(choices))
        control = editor.controls[name]
        control.value = rng.choice([c for c in choices[name] if c != control.value])

    names = iter(f"Name {i}" for i in range(args.n))
    keys = iter(rng.choice("abcdefgh ") for _ in range(args.n))

    def type_key() -> None:
        editor.template_text.value += next(keys)

    print(summary("choice flipped", timed(flip, args.n)))
    print(summary(f"cast name typed ({text_name})",
                  timed(lambda: setattr(editor.controls[text_name], "value", next(names)),
                        args.n)))
    print(summary(f"keystroke in {editor.template.value}", timed(type_key, args.n)))
    print(summary("snapshot_html()", timed(editor.snapshot_html, args.n)))
    assert not editor.problem, editor.problem  # every change rendered
    print(f"last prompt: {editor.prompt.condition_id}")


if __name__ == "__main__":
    main()
