"""The ``workbench`` command. Every command calls the same Python API a notebook uses."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import click
import typer

from workbench import scenarios
from workbench.errors import WorkbenchError

app = typer.Typer(
    help="Agentic-misalignment experiments: scenarios, models, runs and reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
scenarios_app = typer.Typer(help="List, inspect, render and check scenario families.",
                            no_args_is_help=True)
app.add_typer(scenarios_app, name="scenarios")

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="VAR=VALUE, repeatable: a scenario variable to set."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


# --- scenarios -------------------------------------------------------------------------------


@scenarios_app.command("list")
def scenarios_list(as_json: JsonOption = False) -> None:
    """List the scenario families."""
    rows = []
    for name in scenarios.list_families():
        family = scenarios.load_family(name)
        rows.append({"name": name, "title": family.spec.title,
                     "variables": len(family.variables)})
    if as_json:
        print_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['name']:<20} {row['title']} ({row['variables']} variables)")


@scenarios_app.command("show")
def scenarios_show(name: str, as_json: JsonOption = False) -> None:
    """Show a family's variables with their choices, defaults and descriptions."""
    family = scenarios.load_family(name)
    if as_json:
        print_json({"name": family.name, "title": family.spec.title,
                    "description": family.spec.description,
                    "variables": {n: v.model_dump() for n, v in family.variables.items()}})
        return
    typer.echo(f"{family.name}: {family.spec.title}\n\n{family.spec.description.strip()}\n")
    for var_name, var in family.variables.items():
        options = " | ".join(var.choices) if var.type == "choice" else "text"
        typer.echo(f"  {var_name} = {var.default!r}   [{options}]")
        typer.echo(f"      {var.description}")


@scenarios_app.command("render")
def scenarios_render(name: str, set_: SetOption = None, as_json: JsonOption = False) -> None:
    """Render a family with variables set, and print the prompt."""
    prompt = scenarios.render(name, scenarios.parse_assignments(set_))
    if as_json:
        print_json(prompt.as_dict())
        return
    typer.echo(f"# condition: {prompt.condition_id}\n# hash: {prompt.hash}\n")
    typer.echo(f"=== system ===\n{prompt.system.strip()}\n\n=== user ===\n{prompt.user}")


@scenarios_app.command("check")
def scenarios_check(
    path: Annotated[str | None, typer.Argument(help="A family folder, or a folder of families.")]
    = None,
) -> None:
    """Validate every family: variables, choices, and a render of every combination."""
    folders = scenarios.folders_to_check(path)
    failed = False
    for folder in folders:
        problems = scenarios.check_family(scenarios.load_family(folder))
        failed |= bool(problems)
        status = "ok" if not problems else f"{len(problems)} problem(s)"
        typer.echo(f"{folder.name}: {status}")
        for problem in problems:
            typer.echo(f"  {problem}")
    if failed:
        raise typer.Exit(2)


# --- models, sample, run, store (issue 3) ---------------------------------------------------


# --- classify (issue 4) ----------------------------------------------------------------------


# --- plan and reports (issue 5) --------------------------------------------------------------


# --- entry point -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: user errors print one line on stderr and exit with status 2."""
    try:
        app(args=argv, standalone_mode=False)
    except WorkbenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        typer.echo(f"error: {exc.format_message()} (see --help)", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
