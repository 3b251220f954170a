"""The ``workbench`` command. Every command calls the same Python API a notebook uses."""

from __future__ import annotations

import gc
import json
import re
import shlex
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import click
import typer

from workbench import scenarios
from workbench.errors import Note, WorkbenchError

if TYPE_CHECKING:
    from workbench.experiment import Experiment
    from workbench.store import Store

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


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` with control characters (ANSI escapes, C1 codes) shown as ``\\xNN``: model
    output is untrusted and must not drive the user's terminal. Newlines and tabs stay."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def echo_untrusted(text: str) -> None:
    """Print text that holds model output (or anything derived from it)."""
    typer.echo(terminal_safe(text))


def print_json(value: Any) -> None:
    echo_untrusted(json.dumps(value, indent=2, ensure_ascii=False, default=str))


# --- scenarios -------------------------------------------------------------------------------


@scenarios_app.command("list")
def scenarios_list(as_json: JsonOption = False) -> None:
    """List the scenario families; those that cannot render here say what to install, and
    outside the source checkout the project's own are marked [project]."""
    roots = scenarios.scenarios_roots()
    own = set(scenarios.list_families(roots[0])) if len(roots) > 1 else set()
    rows = []
    for name in scenarios.list_families():
        family = scenarios.load_family(name)
        row = {"name": name, "title": family.spec.title, "variables": len(family.variables)}
        if name in own:
            row["project"] = True
        if reason := family.unavailable:
            row["unavailable"] = reason
        rows.append(row)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        mark = "  [project]" if row.get("project") else ""
        typer.echo(f"{row['name']:<20} {row['title']} ({row['variables']} variables){mark}")
        if "unavailable" in row:
            typer.echo(f"{'':<20} unavailable: {row['unavailable']}")


@scenarios_app.command("show")
def scenarios_show(name: str, as_json: JsonOption = False) -> None:
    """Show a family's variables with their choices, defaults and descriptions."""
    family = scenarios.load_family(name)
    family.ensure_available()
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
    """Validate every family: variables, choices, and a render of every combination. Checking
    a folder of families skips those that cannot render here (a package not installed)."""
    folders = scenarios.folders_to_check(path)
    one_family = path is not None and folders == [Path(path)]
    failed = False
    for folder in folders:
        family = scenarios.load_family(folder)
        if not one_family and family.unavailable:
            typer.echo(f"{family.name}: skipped, unavailable: {family.unavailable}")
            continue
        problems = scenarios.check_family(family)
        failed |= bool(problems)
        status = "ok" if not problems else f"{len(problems)} problem(s)"
        typer.echo(f"{family.name}: {status}")
        for problem in problems:
            typer.echo(f"  {problem}")
    if failed:
        raise typer.Exit(2)


# --- models, sample, run, store (issue 3) ---------------------------------------------------

models_app = typer.Typer(help="The model providers and their configuration.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")
store_app = typer.Typer(help="The response store: statistics, exports, checks and recovery.",
                        no_args_is_help=True)
app.add_typer(store_app, name="store")


@models_app.command("list")
def models_list(as_json: JsonOption = False) -> None:
    """List the providers (built in or from plugins): whether their key is set, where their
    requests go, what they support and their models."""
    import textwrap
    from dataclasses import asdict

    from workbench.models import providers

    rows = [asdict(info) for info in providers()]
    if as_json:
        print_json(rows)
        return
    indent = " " * 13
    for row in rows:
        key = {None: "no key needed", True: "key set", False: "key NOT set"}[row["key_set"]]
        env = f" ({', '.join(row['env_vars'])})" if row["env_vars"] else ""
        typer.echo(f"{row['name'] + '/…':<12} {key:<14} {row['detail']}{env}")
        features = [name for name, on in [("extended thinking", row["supports_thinking"]),
                                          ("batches", row["supports_batch"])] if on]
        if features:
            typer.echo(f"{indent}supports {' and '.join(features)}")
        if row["models"]:
            typer.echo(textwrap.fill(", ".join(row["models"]), 100, break_on_hyphens=False,
                                     initial_indent=f"{indent}models: ",
                                     subsequent_indent=indent + " " * 8))


@app.command("sample")
def sample_command(
    scenario: Annotated[str, typer.Argument(help="A scenario family, by name or folder.")],
    model: Annotated[str, typer.Option("--model", "-m", help="provider/model, e.g. local/smollm2")],
    set_: SetOption = None,
    n: Annotated[int, typer.Option("-n", min=1, help="How many samples.")] = 1,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1)] = 512,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, max=2.0)] = 1.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Sample one condition from one model (through the store: nothing is paid twice)."""
    from workbench.actions import parse_response
    from workbench.runner import sample

    outcomes = sample(scenario, model, scenarios.parse_assignments(set_), n=n,
                      temperature=temperature, max_tokens=max_tokens, seed=seed)
    rows = []
    for index, outcome in enumerate(outcomes):
        parsed = parse_response(outcome.text) if outcome.text is not None else None
        rows.append({"sample": index, "request_hash": outcome.request_hash,
                     "text": outcome.text, "reasoning": outcome.reasoning,
                     "emails": parsed.as_dict()["emails"] if parsed else [],
                     "error": outcome.error, "input_tokens": outcome.input_tokens,
                     "output_tokens": outcome.output_tokens, "cost": outcome.cost})
    if as_json:
        print_json(rows)
        return
    for row in rows:
        typer.echo(f"=== sample {row['sample']} ({row['request_hash'][:12]}) ===")
        if row["error"]:
            echo_untrusted(f"failed: {row['error']}")
            continue
        echo_untrusted(row["text"].strip())
        typer.echo(f"--- {len(row['emails'])} email(s) sent ---")
        for email in row["emails"]:
            echo_untrusted(f"  to {', '.join(email.get('to') or [])}: {email.get('subject', '')}")
        typer.echo("")


def _print_results(store: Store, experiment: Experiment) -> bool:
    """Print conditions × models (samples, finished and failed counts), the cost and the
    commonest errors of an experiment, counted in the store; True if every sample finished."""
    variables = list(experiment.grid)
    header = [*(variables or ["condition_id"]), "model", "samples", "finished", "failed"]
    rows, totals, cost = [], [0, 0, 0], 0.0
    for condition, values, model, *counts, condition_cost in store.condition_counts(
            experiment.name):
        shown = [str(json.loads(values).get(v)) for v in variables] if variables else [condition]
        rows.append([*shown, model, *map(str, counts)])
        totals = [total + count for total, count in zip(totals, counts, strict=True)]
        cost += condition_cost
    widths = [max(map(len, column)) for column in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        echo_untrusted(" ".join(cell.rjust(width) for cell, width in zip(row, widths,
                                                                           strict=True)))
    samples, finished, failed = totals
    typer.echo(f"\n{finished}/{samples} samples finished, {failed} failed; cost ${cost:.4f}")
    errors = store.experiment_errors(experiment.name)
    for message, count in errors[:MOST_COMMON_ERRORS]:
        echo_untrusted(f"  {count} × {message}")
    if len(errors) > MOST_COMMON_ERRORS:
        typer.echo(f"  … and {len(errors) - MOST_COMMON_ERRORS} other error(s); "
                   "see the `error` column of the results")
    return finished == samples


MOST_COMMON_ERRORS = 3


def _run_one(path: str, *, report: bool, out: str | None = None, judge: str | None = None,
             yes: bool = False) -> None:
    from workbench.store import Store

    if report:
        from workbench.experiment import load_experiment
        from workbench.notebook import report as report_on

        folder = report_on(path, out=out, judge=judge, yes=yes)
        with Store() as store:
            complete = _print_results(store, load_experiment(path, check=False))
        typer.echo(f"run folder: {folder.path}\nreport: {folder.report}")
    else:
        from workbench.runner import run_to_store

        with Store() as store:
            experiment, _ = run_to_store(path, store=store, yes=yes)
            complete = _print_results(store, experiment)
        typer.echo(f"the HTML report: workbench report {shlex.quote(path)}")
    if not complete:
        raise typer.Exit(1)


def _run_all(experiments: list[str], *, report: bool, parallel: int, dry_run: bool, yes: bool,
             out: str | None = None, judge: str | None = None) -> None:
    """What ``run`` and ``report`` share: plan, confirm, then one file here or several in
    subprocesses."""
    if dry_run:
        _print_plans(experiments)
        return
    yes = _confirm_all(experiments, yes)
    if len(experiments) == 1:
        _run_one(experiments[0], report=report, out=out, judge=judge, yes=yes)
        return
    if out:
        raise WorkbenchError("--out names one run folder; give one experiment file, or drop --out")
    from workbench.notebook import run_many

    statuses = run_many(experiments, parallel=parallel, judge=judge,
                        verb="report" if report else "run", yes=yes)
    for path, status in statuses:
        typer.echo(f"{path}: {'ok' if status == 0 else f'exit status {status}'}")
    if any(status for _, status in statuses):
        raise typer.Exit(1)


ExperimentsArgument = Annotated[
    list[str], typer.Argument(help="One or more experiment files (YAML).")]
ParallelOption = Annotated[int, typer.Option(
    "--parallel", min=1, help="With several files: how many run at once.")]
DryRunOption = Annotated[bool, typer.Option(
    "--dry-run", help="Print what would be sent and what it would cost, then exit.")]
YesOption = Annotated[bool, typer.Option(
    "--yes", "-y", help="Go ahead without asking, however large the run.")]
OutOption = Annotated[str | None, typer.Option(
    "--out", help="The run folder (default runs/<experiment>-<timestamp>).")]
JudgeOption = Annotated[str | None, typer.Option(
    "--judge", help="An LLM judge model id, e.g. anthropic/<model>.")]


@app.command("run")
def run_command(
    experiments: ExperimentsArgument,
    parallel: ParallelOption = 1,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    notebook: Annotated[bool | None, typer.Option(
        "--notebook/--no-notebook", hidden=True,
        help="The old spelling: --notebook made the report, which is `workbench report` now; "
             "--no-notebook is the default.")] = None,
    out: Annotated[str | None, typer.Option("--out", hidden=True)] = None,
    judge: Annotated[str | None, typer.Option("--judge", hidden=True)] = None,
) -> None:
    """Run experiments into the store (resuming from it) and print each one's table.

    `workbench report` runs them the same way and makes a run folder with an HTML report.
    A run above WORKBENCH_CONFIRM_SAMPLES samples (default 10,000) or WORKBENCH_CONFIRM_USD
    dollars (default 50) asks first, or needs --yes. Exits 1 if some samples failed (a re-run
    retries them)."""
    if notebook is False and (out or judge):
        raise WorkbenchError(f"{'--out' if out else '--judge'} belongs to the report: "
                             f"`workbench report {shlex.join(experiments)} "
                             f"{'--out DIR' if out else '--judge MODEL'}`")
    report = bool(notebook) or (notebook is None and bool(out or judge))
    if report:  # what `workbench run` did before `workbench report` existed
        warnings.warn("`workbench run --notebook` (or --out, --judge) is `workbench report` now; "
                      "making the report", Note, stacklevel=1)
    _run_all(experiments, report=report, parallel=parallel, dry_run=dry_run, yes=yes, out=out,
             judge=judge)


@app.command("report")
def report_command(
    experiments: ExperimentsArgument,
    out: OutOption = None,
    judge: JudgeOption = None,
    parallel: ParallelOption = 1,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
) -> None:
    """Run experiments like `run`, through the experiment notebook, into run folders with a report.

    A run above WORKBENCH_CONFIRM_SAMPLES samples (default 10,000) or WORKBENCH_CONFIRM_USD
    dollars (default 50) asks first, or needs --yes. Exits 1 if some samples failed (a re-run
    retries them)."""
    _run_all(experiments, report=True, parallel=parallel, dry_run=dry_run, yes=yes, out=out,
             judge=judge)


def _print_plans(paths: list[str]) -> None:
    from workbench.experiment import load_experiment, plan

    for path in paths:
        found = plan(load_experiment(path))
        typer.echo(found.describe())
        if reason := found.needs_confirmation():
            typer.echo(f"a run would ask first: {reason}")


def _confirm_all(paths: list[str], yes: bool) -> bool:
    """Ask, on a terminal, before any run above the confirmation threshold; without one, stop
    with a line naming --yes. True once every run is confirmed (the runs then need not ask
    again)."""
    from workbench.errors import ConfirmationNeeded
    from workbench.experiment import confirm, load_experiment

    for path in paths:
        try:
            confirm(load_experiment(path), yes=yes)
        except ConfirmationNeeded as exc:
            if not sys.stdin.isatty():
                raise
            typer.echo(exc.plan.describe())
            if not typer.confirm(f"{exc}. Run it?", default=False):
                typer.echo("not run", err=True)
                raise typer.Exit(1) from None
    return True


@app.command("demo")
def demo_command(
    out: Annotated[str | None, typer.Option(
        "--out", help="The run folder (default runs/demo-<timestamp>).")] = None,
) -> None:
    """Run experiments/demo.yaml on the embedded model and print where its report is."""
    from workbench.project import project_file

    path = project_file("experiments/demo.yaml")
    if path is None:
        raise WorkbenchError("experiments/demo.yaml not found in the project or the installed "
                             "package; reinstall workbench")
    _run_one(str(path), report=True, out=out)


@store_app.command("check")
def store_check(
    path: Annotated[str | None, typer.Argument(
        help="The store file (default: the one runs use).")] = None,
) -> None:
    """Run SQLite's integrity check on the store; exits 2 if it is damaged."""
    from workbench.store import integrity_problems, store_path

    file = path or str(store_path())
    problems = integrity_problems(file)
    if not problems:
        typer.echo(f"{file}: ok")
        return
    typer.echo(f"{file}: damaged, {len(problems)} problem(s):")
    for problem in problems[:20]:
        typer.echo(f"  {problem}")
    raise WorkbenchError(
        f"the store {file} is damaged; copy what is readable into a new store with "
        "`workbench store recover NEW_FILE` and point WORKBENCH_STORE at it"
    )


@store_app.command("recover")
def store_recover(
    into: Annotated[str, typer.Argument(help="The new store file to write.")],
    path: Annotated[str | None, typer.Option(
        "--from", help="The damaged store (default: the one runs use).")] = None,
) -> None:
    """Copy every readable row of a damaged store into a new one (the damaged file is left
    as it is)."""
    from workbench.store import recover, store_path

    source = path or str(store_path())
    copied = recover(source, into)
    for table, count in copied.items():
        typer.echo(f"{table:<20} {count} row(s)")
    typer.echo(f"recovered into {into}; use it with WORKBENCH_STORE={into}")


@store_app.command("export-labels")
def store_export_labels(
    out: Annotated[str, typer.Argument(help="The JSONL file to write (gold-set format).")],
    experiment: Annotated[str | None, typer.Option(
        "--experiment", help="Only this experiment's responses (default: every one's).")] = None,
) -> None:
    """Export hand-labelled responses as gold-set JSONL (the labels decided yes, the notes)."""
    from workbench.classify import export_hand_labels

    count = export_hand_labels(out, experiment)
    typer.echo(f"wrote {count} hand-labelled responses to {out}")


@store_app.command("stats")
def store_stats(as_json: JsonOption = False) -> None:
    """Experiments, responses, failures, requests sent, tokens and cost in the store."""
    from workbench.store import Store

    stats = Store().stats()
    if as_json:
        print_json(stats)
        return
    for key, value in stats.items():
        typer.echo(f"{key:<22} {value}")


@store_app.command("export")
def store_export(
    experiment: Annotated[str, typer.Argument(help="The experiment's name.")],
    out: Annotated[str, typer.Argument(help="The Parquet file to write.")],
) -> None:
    """Export an experiment's results (one row a sample) to a Parquet file."""
    from workbench.store import Store
    from workbench.table import export_parquet

    path = export_parquet(Store(), experiment, out)
    typer.echo(f"wrote {path}")


# --- classify (issue 4) ----------------------------------------------------------------------


@app.command("classify")
def classify_command(
    file: Annotated[str, typer.Argument(
        help="A JSONL file, one object a line with a `response` (and optional `reasoning`, "
        "`id`); or the word `evaluate` to score the classifiers on the gold set.")],
    experiment: Annotated[str | None, typer.Argument(
        help="With `evaluate --human`: the experiment whose hand labels to use "
        "(default: every experiment's).")] = None,
    human: Annotated[bool, typer.Option(
        "--human", help="With `evaluate`: score against the hand labels in the store "
        "instead of the gold set.")] = False,
    scenario: Annotated[str | None, typer.Option(
        "--scenario", help="The scenario family the responses answer (gives the cast).")] = None,
    set_: SetOption = None,
    judge: Annotated[str | None, typer.Option(
        "--judge", help="A model id to judge with as well, e.g. anthropic/<model>.")] = None,
    policy: Annotated[str | None, typer.Option(
        "--policy", help="How rules and judge combine: rules, judge, judge_over_rules, either, "
        "both (default: rules, or judge_over_rules with --judge).")] = None,
    pack: Annotated[str | None, typer.Option(
        "--pack", help="With `evaluate`: the classification pack whose gold set to score "
        "(default: blackmail).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Label responses (blackmail, disclosure, …) with evidence; `classify evaluate` scores
    the rules (and --judge) against a pack's hand-labelled gold set, or with --human against
    the hand labels people gave in the store."""
    from workbench import classify as cl

    progress = sys.stderr.isatty()
    if file == "evaluate":
        if scenario or set_ or policy or (pack and human):
            raise WorkbenchError("`classify evaluate` takes only --pack, --judge and --json, "
                                 "or --human, --judge and --json (a pack's gold set answers "
                                 "its own family)")
        if experiment and not human:
            raise WorkbenchError("an experiment goes with `classify evaluate --human "
                                 "EXPERIMENT`; add --human or drop the experiment")
        if human:
            result = cl.evaluate_human(experiment, judge_model=judge, progress=progress)
        else:
            result = cl.evaluate(judge, pack=pack or cl.DEFAULT_PACK, progress=progress)
        if as_json:
            print_json(result.as_dict())
        else:
            typer.echo(result.table())
        return
    if experiment or human or pack:
        raise WorkbenchError("an experiment, --human and --pack go with `classify evaluate`; "
                             "the responses' pack is the one their --scenario names")
    if not scenario:
        raise WorkbenchError("give --scenario NAME: the family whose cast the responses face")
    rows = cl.read_responses(file)
    cl.check_policy(policy, judge)
    context = cl.Context.from_family(scenario, scenarios.parse_assignments(set_))
    items = [cl.Item(row["response"], context, row.get("reasoning") or "") for row in rows]
    verdicts = cl.classify_many(items, judge_model=judge, policy=policy, progress=progress)
    for row, verdict in zip(rows, verdicts, strict=True):
        key = row.get("id", f"line {row['line']}")
        if as_json:
            echo_untrusted(json.dumps({"id": key, **verdict.as_dict()}, ensure_ascii=False))
            continue
        status = "" if verdict.status == "ok" else f"  [{verdict.status}]"
        echo_untrusted(f"{key}: {', '.join(verdict.positives) or '(no label)'}{status}")
        for name in verdict.positives:
            for evidence in verdict.evidence.get(name, ())[:2]:
                quote = " ".join(evidence.quote.split())
                quote = quote if len(quote) <= 100 else quote[:97] + "..."
                echo_untrusted(f"    {name}: \"{quote}\" [{evidence.field} "
                               f"{evidence.start}:{evidence.end}]")


# --- plan and reports (issue 5) --------------------------------------------------------------


@app.command("plan")
def plan_command(
    p1: Annotated[float, typer.Option("--p1", help="Rate expected in one condition, e.g. 0.84.")],
    p2: Annotated[float, typer.Option("--p2", help="The rate expected in the other, e.g. 0.96.")],
    alpha: Annotated[float, typer.Option(help="Significance level (two-sided).")] = 0.05,
    power: Annotated[float, typer.Option(help="Chance of detecting the difference.")] = 0.8,
    as_json: JsonOption = False,
) -> None:
    """Say how many samples per condition are needed to tell two rates apart."""
    from workbench import stats

    n = stats.plan(p1, p2, alpha=alpha, power=power)
    h = stats.cohens_h(p1, p2)
    if as_json:
        print_json({"p1": p1, "p2": p2, "alpha": alpha, "power": power, "cohens_h": h,
                    "samples_per_condition": n, "method": stats.PLAN_METHOD})
        return
    typer.echo(f"{n} samples per condition ({2 * n} in all) to tell {p1:.0%} from {p2:.0%} "
               f"with power {power:g} at two-sided alpha {alpha:g} (Cohen's h = {h:+.3f}).")
    typer.echo(f"method: {stats.PLAN_METHOD}")


# --- entry point -----------------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    """Print a user error as exactly one line on stderr and exit with status 2."""
    typer.echo("error: " + " ".join(message.split("\n")), err=True)
    sys.exit(2)


# Typer >= 0.23 vendors its own click, whose exceptions derive from typer.TyperException and not
# from the click package's: catch both families.
_USAGE_ERRORS = (click.ClickException, typer.TyperException)
_EXITS = (click.exceptions.Exit, typer.Exit)
_ABORTS = (click.exceptions.Abort, typer.Abort, KeyboardInterrupt)


_format_warning = warnings.formatwarning


def _format_note(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 line: str | None = None) -> str:
    """A :class:`Note` as one line; other warnings as Python formats them."""
    if issubclass(category, Note):
        return f"note: {message}\n"
    return _format_warning(message, category, filename, lineno, line)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: user errors print one line on stderr and exit with status 2."""
    warnings.formatwarning = _format_note
    try:
        status = app(args=argv, standalone_mode=False)
    except WorkbenchError as exc:
        _fail(str(exc))
    except _ABORTS:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except _EXITS as exc:
        sys.exit(exc.exit_code)
    except _USAGE_ERRORS as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())  # a bare group: show its help, as click does
            sys.exit(2)
        format_message = getattr(exc, "format_message", None)
        _fail(f"{format_message() if format_message else exc} (see --help)")
    # Without standalone mode, `raise typer.Exit(n)` in a command comes back as a return value.
    if isinstance(status, int) and status:
        sys.exit(status)


def command() -> None:
    """The ``workbench`` program: :func:`main`, then what it made is frozen (``gc.freeze``)
    so that Python's collector does not go through all of it again as the process exits
    (0.09–0.16 s of a ``workbench run``, bench/RESULTS.md). ``atexit`` handlers still run."""
    try:
        main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    command()
