"""`hakit report` and `hakit diagram`: HA/security findings, the RTO/RPO budget and a diagram of a stack,
any Pulumi program, or a bare-metal inventory (offline: programs run under the mock harness)."""

from __future__ import annotations

import importlib
import json
import runpy
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hakit.errors import HakitError, SpecError

if TYPE_CHECKING:
    from hakit.analysis.budget import Slo
    from hakit.analysis.report import Report
    from hakit.analysis.view import StackView
    from hakit.spec.inventory import Inventory

# Tables wider than a non-terminal's default 80 columns: the report is read in logs and CI too.
_out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

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
    Path, typer.Option("--root", help="Project directory (holds Pulumi.yaml).", file_okay=False)
]
RtoOpt = Annotated[
    float | None, typer.Option("--rto", help="RTO objective in seconds (overrides slo).", min=0)
]
RpoOpt = Annotated[
    float | None, typer.Option("--rpo", help="RPO objective in seconds (overrides slo).", min=0)
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
    from hakit.analysis.view import from_graph
    from hakit.testing import synth

    config = _stack_config(stack, root) if stack else {}
    try:
        if program is not None:
            function = _load_program(program)
            graph = synth(function, config=config or {"aws:region": "us-east-1"}, stack=stack or "report")
            source = f"program {program}" + (f" (stack {stack})" if stack else "")
        else:
            from hakit.stacks.program import stack_file, synth_stack

            assert stack is not None
            try:
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
) -> Report:
    """The report of whichever source the options name."""
    from hakit.analysis.budget import Slo
    from hakit.analysis.report import inventory_report, slo_from_config, stack_report

    _one_source(stack, program, inventory)
    if inventory is not None:
        model = _inventory(inventory)
        base = Slo.from_mapping(model.slo.model_dump() if model.slo is not None else None)
        return inventory_report(f"inventory {inventory}", model, _slo(base, rto, rpo))
    source, view, config = _synth_view(stack, program, root)
    return stack_report(source, view, _slo(slo_from_config(config), rto, rpo))


def _print_tables(report: Report) -> None:
    from hakit.analysis.report import inputs_text, seconds_text

    slo = report.budget.slo
    budget = Table(
        title=f"RTO/RPO budget: {report.source}"
        + f"  (SLO: RTO {seconds_text(slo.rto_seconds) if slo.rto_seconds is not None else '-'}, "
        + f"RPO {seconds_text(slo.rpo_seconds) if slo.rpo_seconds is not None else '-'})",
        title_justify="left",
    )
    for column in ("Entry path", "RTO", "RPO", "Stage", "Figure", escape("Formula [inputs]")):
        budget.add_column(column, overflow="fold")
    for path in report.budget.paths:
        style = "bold red" if report.budget.path_violations(path) else ""
        for index, stage in enumerate(path.stages):
            first = index == 0
            cells = (
                path.name if first else "",
                f"{seconds_text(path.rto_seconds)} = {path.rto_formula()}" if first else "",
                seconds_text(path.rpo_seconds) if first else "",
                f"{stage.layer} {stage.metric.upper()} {stage.resource}",
                seconds_text(stage.seconds),
                f"{stage.formula} [{inputs_text(stage.inputs)}]" if stage.inputs else stage.formula,
            )
            budget.add_row(*(escape(cell) for cell in cells), style=style if first else "")
    _out.print(budget)
    findings = Table(title="Findings", title_justify="left")
    for column in ("Severity", "Rule", "Resource", "Message"):
        findings.add_column(column, overflow="fold")
    for f in report.findings:
        where = f"{f.label} @{f.region}" if f.region else f.label
        severity = f"[{_SEVERITY_STYLE[f.severity.value]}]{f.severity.value}[/]"
        findings.add_row(severity, f.rule_id, escape(where), escape(f.message))
    _out.print(findings)
    counts = report.counts()
    _out.print(f"{counts['high']} high, {counts['medium']} medium, {counts['low']} low")
    for line in report.budget.violations():
        _out.print(f"[bold red]over budget:[/] {escape(line)}", markup=True)


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
        bool, typer.Option("--strict", help="Exit 1 when a path is over the SLO budget.")
    ] = False,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 on findings of this severity or worse.")
    ] = FailOn.never,
    rto: RtoOpt = None,
    rpo: RpoOpt = None,
) -> None:
    """HA and security findings plus the RTO/RPO budget per entry path, against the declared SLO."""
    from hakit.analysis.model import Severity
    from hakit.analysis.report import to_markdown

    if as_json and markdown:
        raise SpecError("choose one of --json and --markdown")
    result = build_report(stack, program, inventory, root, rto, rpo)
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
    from hakit.analysis.diagram import inventory_diagram, render_file, stack_diagram
    from hakit.analysis.report import inventory_report, stack_report

    _one_source(stack, program, inventory)
    if output.suffix.lower() not in (".svg", ".png", ".dot", ".gv"):
        raise SpecError(f"{output}: use a .svg, .png or .dot file name")
    if inventory is not None:
        model = _inventory(inventory)
        result = inventory_report(f"inventory {inventory}", model)
        picture = inventory_diagram(model, result.budget, result.source)
    else:
        source, view, _ = _synth_view(stack, program, root)
        picture = stack_diagram(view, stack_report(source, view).budget, source)
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
