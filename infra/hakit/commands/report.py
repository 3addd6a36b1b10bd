"""`hakit report` and `hakit diagram`: HA/security findings, the RTO/RPO budget and a diagram of a stack,
any Pulumi program, or a bare-metal inventory (offline: programs run under the mock harness)."""

from __future__ import annotations

import importlib
import json
import os
import runpy
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hakit.commands.console import console
from hakit.errors import HakitError, SpecError

if TYPE_CHECKING:
    from hakit.analysis.budget import Slo
    from hakit.analysis.report import Report
    from hakit.analysis.view import StackView
    from hakit.spec.inventory import Inventory

_err = console(stderr=True)


def _console() -> Console:
    """stdout: the terminal's width; in logs and CI `COLUMNS` or 160 (wider than rich's default 80)."""
    if sys.stdout.isatty():
        return console(soft_wrap=False)
    columns = os.environ.get("COLUMNS", "")
    return console(soft_wrap=False, width=int(columns) if columns.isdigit() and int(columns) >= 40 else 160)


_SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}


class FailOn(StrEnum):
    """Finding severity at which `hakit report` exits non-zero."""

    high = "high"
    medium = "medium"
    low = "low"
    never = "never"


StackOpt = Annotated[
    str | None,
    typer.Option("--stack", "-s", help="Stack: runs the project program with Pulumi.<stack>.yaml."),
]
ProgramOpt = Annotated[
    str | None,
    typer.Option(
        "--program",
        "-p",
        help="Any Pulumi program: module:function or a .py file (with --stack: its config).",
    ),
]
InventoryOpt = Annotated[
    Path | None, typer.Option("--inventory", "-i", help="A bare-metal inventory file.", dir_okay=False)
]
RootOpt = Annotated[
    Path, typer.Option("--project-dir", "-C", help="Project directory (holds Pulumi.yaml).", file_okay=False)
]
RtoOpt = Annotated[
    float | None, typer.Option("--rto", help="RTO objective in seconds (overrides slo).", min=0)
]
RpoOpt = Annotated[
    float | None, typer.Option("--rpo", help="RPO objective in seconds (overrides slo).", min=0)
]
MeasuredOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--measured",
        help="[CLUSTER=]FILE: `hakit lab drill --json` results shown next to the stages they measured "
        "(inventory only; repeatable).",
    ),
]


def _load_program(spec: str) -> Any:
    """`module:function`, or a program file (`path/to/__main__.py`) run as `__main__`; errors exit 2."""
    if spec.endswith(".py"):
        path = Path(spec)
        if not path.is_file():
            raise SpecError(f"--program {spec}: no such file")
        return lambda: runpy.run_path(str(path), run_name="__main__")
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise SpecError(f"--program {spec}: expected module:function or a .py file")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # programs next to the user's project, like `python -m`
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise SpecError(f"--program {spec}: cannot import {module_name}: {err}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise SpecError(f"--program {spec}: {module_name} has no function {function_name}")
    return function


def _stack_config(stack: str, root: Path) -> dict[str, Any]:
    from hakit.stacks.program import stack_file
    from hakit.testing import load_stack_config

    return load_stack_config(str(stack_file(stack, root)))


def _synth_view(stack: str | None, program: str | None, root: Path) -> tuple[str, StackView, dict[str, Any]]:
    """(source label, view, stack config) for --stack and/or --program."""
    from hakit.commands.progress import working

    with working("importing the Pulumi SDK"):
        from hakit.analysis.view import from_graph
        from hakit.testing import synth

    config = _stack_config(stack, root) if stack else {}
    try:
        if program is not None:
            function = _load_program(program)
            with working(f"running {program} under mocks"):
                graph = synth(function, config=config or {"aws:region": "us-east-1"}, stack=stack or "report")
            source = f"program {program}" + (f" (stack {stack})" if stack else "")
        else:
            from hakit.stacks.program import stack_file, synth_stack

            assert stack is not None
            try:
                with working(f"synthesizing stack {stack}"):
                    graph = synth_stack(stack, root=root)
            except ValueError as err:
                raise SpecError(f"{stack_file(stack, root)}: {' '.join(str(err).split())}") from None
            source = f"stack {stack}"
    except HakitError:
        raise
    except Exception as err:  # a user program failing under the harness: one line, exit 2
        raise SpecError(f"{program or stack}: the program failed: {type(err).__name__}: {err}") from None
    return source, from_graph(graph, config), config


def _inventory(path: Path) -> Inventory:
    from hakit.spec.inventory import load_inventory

    return load_inventory(path)


def _slo(base: Slo, rto: float | None, rpo: float | None) -> Slo:
    from hakit.analysis.budget import Slo

    return Slo(rto if rto is not None else base.rto_seconds, rpo if rpo is not None else base.rpo_seconds)


def _one_source(stack: str | None, program: str | None, inventory: Path | None) -> None:
    if inventory is not None and (stack or program):
        raise SpecError("give --inventory alone, or --stack and/or --program")
    if inventory is None and not stack and not program:
        raise SpecError("nothing to analyse: give --stack ENV, --program module:function or --inventory FILE")


def build_report(
    stack: str | None,
    program: str | None,
    inventory: Path | None,
    root: Path,
    rto: float | None,
    rpo: float | None,
    measured: list[str] | None = None,
) -> Report:
    """The report of whichever source the options name."""
    from dataclasses import replace

    from hakit.analysis.budget import Slo
    from hakit.analysis.report import inventory_report, slo_from_config, stack_report
    from hakit.analysis.waivers import config_waivers

    _one_source(stack, program, inventory)
    if measured and inventory is None:
        raise SpecError("--measured reads lab drill results: give it with --inventory")
    if inventory is not None:
        model = _inventory(inventory)
        base = Slo.from_mapping(model.slo.model_dump() if model.slo is not None else None)
        result = inventory_report(f"inventory {inventory}", model, _slo(base, rto, rpo))
        for spec in measured or []:
            result = replace(result, budget=_with_drills(result.budget, model, spec))
        return result
    source, view, config = _synth_view(stack, program, root)
    where = str(root / f"Pulumi.{stack}.yaml") if stack else source
    return stack_report(source, view, _slo(slo_from_config(config), rto, rpo), config_waivers(config, where))


_MAX_DRILL_FILE = 4 * 1024 * 1024


def _with_drills(budget: Any, model: Inventory, spec: str) -> Any:
    """`[CLUSTER=]FILE` from --measured applied to the budget; bad files are one-line usage errors."""
    from hakit.analysis.budget import with_drills

    cluster, _, name = spec.rpartition("=")
    clusters = sorted(model.load_balancers)
    if not cluster:
        if len(clusters) != 1:
            raise SpecError(
                f"--measured {spec}: name the cluster the drills ran on (CLUSTER=FILE): {clusters}"
            )
        cluster = clusters[0]
    if cluster not in model.load_balancers:
        raise SpecError(
            f"--measured {spec}: no load balancer cluster {cluster!r} (have: {', '.join(clusters)})"
        )
    path = Path(name)
    try:
        if path.stat().st_size > _MAX_DRILL_FILE:
            raise SpecError(f"{path}: larger than 4 MiB: not a drill result")
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: cannot read: {err}") from None
    except json.JSONDecodeError as err:
        raise SpecError(f"{path}:{err.lineno}: not JSON: {err.msg}") from None
    except RecursionError:
        raise SpecError(f"{path}: nested too deeply: not a drill result") from None
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise SpecError(f"{path}: expected the list `hakit lab drill --json` prints")
    return with_drills(budget, cluster, results, str(path))


def _print_tables(report: Report) -> None:
    """One small table per entry path (readable at 100 columns), then findings, waived findings, notes."""
    from hakit.analysis.report import automatic_text, seconds_text, stage_figure, stage_how

    out = _console()
    slo = report.budget.slo
    out.print(
        f"RTO/RPO budget: {escape(report.source)}  (SLO: RTO "
        f"{seconds_text(slo.rto_seconds) if slo.rto_seconds is not None else '-'}, RPO "
        f"{seconds_text(slo.rpo_seconds) if slo.rpo_seconds is not None else '-'}; operator response "
        f"{seconds_text(slo.operator_response_seconds)})"
    )
    for path in report.budget.paths:
        over = report.budget.path_violations(path)
        title = (
            f"{path.name}: RTO {seconds_text(path.rto_seconds)} = {path.rto_formula()}, "
            f"RPO {seconds_text(path.rpo_seconds)} ({automatic_text(path)})"
        )
        table = Table(title=escape(title), title_justify="left", title_style="bold red" if over else "bold")
        for column, ratio in (("Stage", 3), ("Trigger", 1), ("Figure", 2), ("How [inputs]", 6)):
            table.add_column(escape(column), overflow="fold", ratio=ratio)
        for stage in path.stages:
            table.add_row(
                escape(f"{stage.layer} {stage.metric.upper()} {stage.resource}"),
                stage.trigger if stage.metric == "rto" else "",
                escape(stage_figure(stage)),
                escape(stage_how(stage)),
            )
        out.print(table)
    findings = Table(title="Findings", title_justify="left")
    for column, ratio in (("Severity", 1), ("Rule", 1), ("Resource", 3), ("Message", 6)):
        findings.add_column(column, overflow="fold", ratio=ratio)
    for f in report.active:
        severity = f"[{_SEVERITY_STYLE[f.severity.value]}]{f.severity.value}[/]"
        message = f.message + (f" ({f.waiver.text()})" if f.waiver is not None else "")
        findings.add_row(severity, f.rule_id, escape(_where(f)), escape(message))
    out.print(findings)
    if report.waived:
        waived = Table(title="Waived findings (accepted; they fail nothing)", title_justify="left")
        for column, ratio in (("Rule", 1), ("Resource", 3), ("Waiver", 4), ("Message", 5)):
            waived.add_column(column, overflow="fold", ratio=ratio)
        for f in report.waived:
            assert f.waiver is not None
            waived.add_row(f.rule_id, escape(_where(f)), escape(f.waiver.text()), escape(f.message))
        out.print(waived)
    counts = report.counts()
    out.print(
        f"{counts['high']} high, {counts['medium']} medium, {counts['low']} low, {counts['waived']} waived"
    )
    for note in report.notes:
        out.print(f"[yellow]note:[/] {escape(note)}")
    for line in report.budget.violations():
        out.print(f"[bold red]over budget:[/] {escape(line)}")


def _where(finding: Any) -> str:
    """The resource as `hakit plan` places it: `Record www @global`, `LoadBalancer alb @us-east-1`."""
    return f"{finding.label} @{finding.region}" if finding.region else finding.label


def report(
    stack: StackOpt = None,
    program: ProgramOpt = None,
    inventory: InventoryOpt = None,
    root: RootOpt = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print Markdown (pull-request comments).")
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Exit 1 when a path is over the SLO budget, unbounded, or no SLO is declared."
        ),
    ] = False,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 on findings of this severity or worse.")
    ] = FailOn.never,
    rto: RtoOpt = None,
    rpo: RpoOpt = None,
    measured: MeasuredOpt = None,
) -> None:
    """HA and security findings plus the RTO/RPO budget per entry path, against the declared SLO."""
    from hakit.analysis.model import Severity
    from hakit.analysis.report import to_markdown

    if as_json and markdown:
        raise SpecError("choose one of --json and --markdown")
    result = build_report(stack, program, inventory, root, rto, rpo, measured)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    elif markdown:
        typer.echo(to_markdown(result), nl=False)
    else:
        _print_tables(result)
    threshold = None if fail_on is FailOn.never else Severity(fail_on.value)
    reasons = result.failures(strict=strict, fail_on=threshold)
    if reasons:
        raise HakitError(reasons, exit_code=1)


def diagram(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write: .svg, .png or .dot.")],
    stack: StackOpt = None,
    program: ProgramOpt = None,
    inventory: InventoryOpt = None,
    root: RootOpt = Path("."),
) -> None:
    """Draw regions/AZs, entry points, load balancers, databases and vaults with budgeted failover edges."""
    from hakit.analysis.budget import Slo
    from hakit.analysis.diagram import inventory_diagram, render_file, stack_diagram
    from hakit.analysis.report import inventory_report, slo_from_config, stack_report

    _one_source(stack, program, inventory)
    if output.suffix.lower() not in (".svg", ".png", ".dot", ".gv"):
        raise SpecError(f"{output}: use a .svg, .png or .dot file name")
    # The diagram's failover labels are the report's figures: the same SLO (operator response) feeds both.
    if inventory is not None:
        model = _inventory(inventory)
        slo = Slo.from_mapping(model.slo.model_dump() if model.slo is not None else None)
        result = inventory_report(f"inventory {inventory}", model, slo)
        picture = inventory_diagram(model, result.budget, result.source)
    else:
        source, view, config = _synth_view(stack, program, root)
        picture = stack_diagram(view, stack_report(source, view, slo_from_config(config)).budget, source)
    import graphviz

    try:
        render_file(picture, output)
    except graphviz.ExecutableNotFound:
        raise HakitError("graphviz `dot` is not installed (Debian: apt-get install graphviz)") from None
    except OSError as err:
        raise HakitError(f"{output}: cannot write: {err}") from None
    _err.print(f"wrote {output} ({len(picture.nodes)} nodes, {len(picture.edges)} edges)")


def register(app: typer.Typer) -> None:
    """Add `hakit report` and `hakit diagram` to the root app."""
    app.command("report")(report)
    app.command("diagram")(diagram)
