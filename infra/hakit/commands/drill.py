"""`hakit drill run|list`: AWS FIS experiments as drills, measured against the RTO budget (docs/drill.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from hakit.commands.console import console
from hakit.errors import HakitError

if TYPE_CHECKING:
    from hakit.ops.aws import Clock
    from hakit.ops.drill import DrillResult

drill_app = typer.Typer(
    help="Fault-injection drills in AWS (FIS experiments): start one, watch it, measure recovery.",
    no_args_is_help=True,
)

_out = console()
_err = console(stderr=True)

REPORT_MAX_BYTES = 20 * 1024 * 1024

Region = Annotated[str, typer.Option("--region", "-r", help="Region of the experiment template.")]
Profile = Annotated[str | None, typer.Option("--profile", help="AWS profile (default: the usual chain).")]
EndpointUrl = Annotated[
    str | None, typer.Option("--endpoint-url", help="Send AWS calls to this URL, e.g. an emulator.")
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def make_clients(profile: str | None, endpoint_url: str | None, region: str) -> tuple[Any, Any]:
    """Real boto3 FIS and Route 53 clients (tests replace this function)."""
    from hakit.ops.aws import Boto3ClientFactory

    factory = Boto3ClientFactory(profile=profile, endpoint_url=endpoint_url)
    return factory.client("fis", region), factory.route53()


def make_clock() -> Clock:
    """The real clock (tests replace this function)."""
    from hakit.ops.aws import Clock

    return Clock()


def budget_from_report(report: Path, path_name: str) -> float:
    """The RTO (seconds) of the budget path `path_name` in a `hakit report --json` file."""
    try:
        size = report.stat().st_size
        if size > REPORT_MAX_BYTES:
            raise HakitError(f"{report}: {size} bytes is larger than a report can be ({REPORT_MAX_BYTES})", 2)
        data = json.loads(report.read_text(encoding="utf-8"))
    except OSError as err:
        raise HakitError(f"{report}: cannot read: {err.strerror or err}", 2) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise HakitError(f"{report}: not a `hakit report --json` file: {err}".splitlines()[0], 2) from None
    paths = data.get("budget", {}).get("paths") if isinstance(data, dict) else None
    if not isinstance(paths, list):
        raise HakitError(f"{report}: budget.paths: missing (not a `hakit report --json` file?)", 2)
    names = [str(p.get("name")) for p in paths if isinstance(p, dict)]
    for entry in paths:
        if isinstance(entry, dict) and entry.get("name") == path_name:
            seconds = entry.get("rto_seconds")
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, int | float)
                or not math.isfinite(seconds)
            ):
                raise HakitError(f"{report}: budget.paths[{path_name}].rto_seconds: not a number", 2)
            return float(seconds)
    raise HakitError(
        f"{report}: budget.paths: no path {path_name!r} (paths: {', '.join(names) or 'none'})", 2
    )


@drill_app.command("run")
def run_command(
    template_id: Annotated[str, typer.Option("--template-id", help="FIS experiment template id (EXT...).")],
    region: Region,
    health_check_id: Annotated[
        str | None, typer.Option("--health-check-id", help="Route 53 health check of the service to watch.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=10, max=43200, help="Seconds before hakit stops the experiment.")
    ] = 1800,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", min=1, max=300, help="Seconds between polls.")
    ] = 10,
    budget_seconds: Annotated[
        float | None, typer.Option("--budget-seconds", min=0, help="The budget's RTO for this failure.")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", help="`hakit report --json` output: take the budget from it.", dir_okay=False
        ),
    ] = None,
    budget_path: Annotated[
        str | None, typer.Option("--budget-path", help="With --report: the budget path's name.")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Start without asking (it injects a real fault).")
    ] = False,
    json_out: JsonOut = False,
    profile: Profile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Start an experiment, watch it and the health check, print detection/recovery next to the budget."""
    from hakit.ops.drill import DrillSettings, run_drill

    if (report is None) != (budget_path is None):
        raise HakitError("--report and --budget-path go together", 2)
    if report is not None and budget_seconds is not None:
        raise HakitError("give --budget-seconds or --report/--budget-path, not both", 2)
    if report is not None and budget_path is not None:
        budget_seconds = budget_from_report(report, budget_path)
    if not template_id.isprintable() or not template_id.strip():
        raise HakitError(f"--template-id: {template_id!r} is not a template id", 2)
    if not yes and not typer.confirm(f"Inject the faults of {template_id} in {region} now?", err=True):
        raise HakitError("not started", 1)
    fis, route53 = make_clients(profile, endpoint_url, region)
    settings = DrillSettings(
        template_id=template_id,
        region=region,
        health_check_id=health_check_id,
        timeout=timeout,
        poll_interval=poll_interval,
        budget_seconds=budget_seconds,
    )

    def progress(line: str) -> None:
        if not json_out:
            _err.print(line, markup=False)

    result = run_drill(fis, route53 if health_check_id else None, settings, make_clock(), progress)
    if json_out:
        _out.print(json.dumps(result.to_json(), indent=2), markup=False)
    else:
        _print_result(result)
    raise typer.Exit(result.exit_code())


def _seconds(value: float | None, missing: str) -> str:
    return missing if value is None else f"{value:g} s"


def _print_result(result: DrillResult) -> None:
    table = Table(title=f"drill {result.experiment_id}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    status = result.status + (f" ({result.reason})" if result.reason else "")
    table.add_row("experiment", status)
    table.add_row("elapsed", _seconds(result.elapsed_seconds, "-"))
    if result.health_check_id:
        table.add_row("detected (unhealthy)", _seconds(result.detected_seconds, "never"))
        table.add_row("recovered (healthy)", _seconds(result.recovered_seconds, "not within the timeout"))
        table.add_row("outage", _seconds(result.outage_seconds, "-"))
    if result.budget_seconds is not None:
        verdict = {True: "within budget", False: "OVER BUDGET", None: "not measured"}[result.within_budget]
        table.add_row("budget (RTO)", f"{result.budget_seconds:g} s: {verdict}")
    _out.print(table)


@drill_app.command("list")
def list_command(
    region: Region, json_out: JsonOut = False, profile: Profile = None, endpoint_url: EndpointUrl = None
) -> None:
    """The region's FIS experiment templates (hakit's carry a `hakit:drill` tag)."""
    from hakit.ops.drill import list_templates

    fis, _ = make_clients(profile, endpoint_url, region)
    templates = list_templates(fis, region, make_clock())
    if json_out:
        _out.print(json.dumps(templates, indent=2), markup=False)
        return
    table = Table(title=f"FIS experiment templates in {region}")
    for column in ("id", "drill", "description"):
        table.add_column(column)
    for item in templates:
        table.add_row(item["id"], item["drill"] or "-", item["description"])
    _out.print(table)


def register(app: typer.Typer) -> None:
    """Add the `drill` group to the root app."""
    app.add_typer(drill_app, name="drill")
