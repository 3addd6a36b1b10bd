"""`hakit failover status|switchover|failover`: regional failover runbooks (Aurora Global, ARC, Route 53)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from hakit.commands.console import console
from hakit.errors import HakitError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from hakit.ops.aws import ClientFactory, Clock
    from hakit.ops.failover import Kind, Plan, RunbookSettings
    from hakit.ops.failover_targets import FailoverTargets

failover_app = typer.Typer(
    help="Regional failover runbooks: status, planned switchover, unplanned failover.",
    no_args_is_help=True,
)

_out = console()
_err = console(stderr=True)

StackOutputs = Annotated[
    Path | None,
    typer.Option(
        "--stack-outputs", "-s", help="`pulumi stack output --json` saved to a file.", dir_okay=False
    ),
]
GlobalCluster = Annotated[
    str | None, typer.Option("--global-cluster", help="Aurora global cluster identifier.")
]
Regions = Annotated[list[str] | None, typer.Option("--region", help="A region of the stack (repeat).")]
HealthChecks = Annotated[
    list[str] | None,
    typer.Option("--health-check", help="REGION=HEALTH_CHECK_ID (repeat).", metavar="REGION=ID"),
]
ArcCluster = Annotated[str | None, typer.Option("--arc-cluster-arn", help="ARC cluster ARN (its endpoints).")]
RoutingControls = Annotated[
    list[str] | None,
    typer.Option("--routing-control", help="REGION=ROUTING_CONTROL_ARN (repeat).", metavar="REGION=ARN"),
]
DynamoTable = Annotated[str | None, typer.Option("--dynamodb-table", help="DynamoDB global table name.")]
Profile = Annotated[str | None, typer.Option("--profile", help="AWS profile (default: the usual chain).")]
EndpointUrl = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="Send AWS calls (not ARC data plane) to this URL, e.g. an emulator."),
]
RetryMode = Annotated[str, typer.Option("--retry-mode", help="botocore retry mode: adaptive or standard.")]
MaxAttempts = Annotated[
    int, typer.Option("--max-attempts", min=1, max=20, help="botocore attempts per call.")
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ToRegion = Annotated[str, typer.Option("--to", help="Region whose secondary becomes the writer.")]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Run the pre-checks and print the plan; change nothing.")
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
MaxLag = Annotated[
    float, typer.Option("--max-lag-ms", min=0, help="Refuse when replication lag is above this.")
]
LagWindow = Annotated[
    int, typer.Option("--lag-window", min=60, help="Seconds of CloudWatch lag history to read.")
]
PollInterval = Annotated[
    float, typer.Option("--poll-interval", min=0.1, help="Seconds between writer polls.")
]
Timeout = Annotated[float, typer.Option("--timeout", min=1, help="Seconds to wait for the writer to flip.")]
ArcRounds = Annotated[int, typer.Option("--arc-rounds", min=1, max=10, help="Rounds over all ARC endpoints.")]
SafetyOverride = Annotated[
    list[str] | None, typer.Option("--override-safety-rule", help="ARC safety rule ARN to override (repeat).")
]
TrafficOnly = Annotated[
    bool,
    typer.Option("--traffic-only", help="The writer already moved: only move traffic (after exit code 5)."),
]


def make_factory(
    profile: str | None, endpoint_url: str | None, retry_mode: str, max_attempts: int
) -> ClientFactory:
    """Real boto3 clients (tests replace this function)."""
    from hakit.ops.aws import Boto3ClientFactory

    if retry_mode not in ("adaptive", "standard"):
        raise HakitError(f"--retry-mode: expected adaptive or standard, got {retry_mode!r}", 2)
    return Boto3ClientFactory(
        profile=profile,
        endpoint_url=endpoint_url,
        retry_mode=retry_mode,  # type: ignore[arg-type]
        max_attempts=max_attempts,
    )


def make_clock() -> Clock:
    """The real clock (tests replace this function)."""
    from hakit.ops.aws import Clock

    return Clock()


class RichReporter:
    """Progress on stderr: one line per step, a progress bar while waiting for the writer."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def info(self, message: str) -> None:
        """Print a step."""
        self._console.print(f"[cyan]>[/] {message}", markup=True, highlight=False)

    def warn(self, message: str) -> None:
        """Print a warning."""
        self._console.print(f"[yellow]![/] {message}", markup=True, highlight=False)

    def wait_started(self, title: str, timeout: float) -> None:
        """Start a bar whose total is the timeout."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[detail]}"),
            console=self._console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(title, total=timeout, detail="")

    def wait_progress(self, elapsed: float, detail: str) -> None:
        """Advance the bar to `elapsed` and show the last observation."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=elapsed, detail=detail)

    def wait_finished(self, ok: bool, detail: str) -> None:
        """Stop the bar and print the outcome."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self._console.print(
            f"{'[green]done[/]' if ok else '[red]gave up[/]'}: {detail}", markup=True, highlight=False
        )

    def close(self) -> None:
        """Stop a bar left running by an error, so the terminal is usable for the error line."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _targets(
    stack_outputs: Path | None,
    global_cluster: str | None,
    regions: list[str] | None,
    health_checks: list[str] | None,
    arc_cluster: str | None,
    routing_controls: list[str] | None,
    dynamodb_table: str | None,
) -> FailoverTargets:
    from hakit.ops.failover_targets import parse_region_pairs, resolve_targets

    overrides: dict[str, Any] = {
        "global_cluster_identifier": global_cluster,
        "regions": tuple(regions or ()),
        "health_check_ids": parse_region_pairs(health_checks or [], "--health-check"),
        "arc_cluster_arn": arc_cluster,
        "routing_control_arns": parse_region_pairs(routing_controls or [], "--routing-control"),
        "dynamodb_table_name": dynamodb_table,
    }
    return resolve_targets(stack_outputs, overrides)


@failover_app.command("status")
def status_command(
    stack_outputs: StackOutputs = None,
    global_cluster: GlobalCluster = None,
    region: Regions = None,
    health_check: HealthChecks = None,
    arc_cluster_arn: ArcCluster = None,
    routing_control: RoutingControls = None,
    dynamodb_table: DynamoTable = None,
    profile: Profile = None,
    endpoint_url: EndpointUrl = None,
    retry_mode: RetryMode = "adaptive",
    max_attempts: MaxAttempts = 8,
    as_json: JsonOut = False,
) -> None:
    """Writer region, members, lag, health checks, routing controls, DynamoDB replicas."""
    from hakit.ops.status import collect_status, render_status

    targets = _targets(
        stack_outputs, global_cluster, region, health_check, arc_cluster_arn, routing_control, dynamodb_table
    )
    if not (
        targets.global_cluster_identifier
        or targets.health_check_ids
        or targets.routing_control_arns
        or targets.dynamodb_table_name
    ):
        raise HakitError("nothing to look at: pass --stack-outputs or name resources (see --help)", 2)
    factory = make_factory(profile, endpoint_url, retry_mode, max_attempts)
    status = collect_status(factory, targets, make_clock(), RichReporter(_err))
    if as_json:
        _out.print_json(json.dumps(status.to_json(), default=str))
    else:
        for table in render_status(status):
            _out.print(table)
    if status.errors:
        raise HakitError([f"incomplete: {e}" for e in status.errors], 1)


def _print_plan(plan: Plan) -> None:
    from rich.table import Table

    writer = plan.writer_region or "?"
    title = f"{plan.kind.value} {plan.global_cluster} to {plan.target_region} (writer now in {writer})"
    table = Table("check", "result", "detail", title=title, title_justify="left")
    for check in plan.checks:
        mark = "[green]ok[/]" if check.ok else ("[red]FAIL[/]" if check.blocking else "[yellow]warn[/]")
        table.add_row(check.name, mark, check.detail)
    _out.print(table)
    _out.print("Plan:", markup=False)
    for number, step in enumerate(plan.steps(), start=1):
        _out.print(f"  {number}. {step}", markup=False)


def _run(
    kind: Kind,
    targets: FailoverTargets,
    to: str,
    settings: RunbookSettings,
    *,
    factory_args: tuple[str | None, str | None, str, int],
    dry_run: bool,
    confirmed: bool,
    traffic_only: bool,
    as_json: bool,
) -> None:
    from hakit.ops.failover import EXIT_USAGE, Runbook
    from hakit.ops.failover_targets import REGION_PATTERN

    if not re.fullmatch(REGION_PATTERN, to):
        raise HakitError(f"--to: {to!r} is not an AWS region name", EXIT_USAGE)
    reporter = RichReporter(_err)
    runbook = Runbook(make_factory(*factory_args), targets, settings, make_clock(), reporter)
    plan = runbook.prepare(kind, to, traffic_only=traffic_only)
    if as_json and dry_run:
        _out.print_json(json.dumps(plan.to_json()))
    elif not as_json:
        _print_plan(plan)
    if not plan.ok:
        raise plan.refusal()
    if dry_run:
        return
    if not confirmed:
        if not sys.stdin.isatty():
            raise HakitError(
                f"{kind.value} changes production: pass --yes (or --dry-run to see the plan)", EXIT_USAGE
            )
        typer.confirm(f"Proceed with the {kind.value} to {to}?", abort=True)
    try:
        view = runbook.execute(plan, allow_data_loss=confirmed)
    finally:
        reporter.close()
    writer = view.writer.region if view and view.writer else plan.writer_region
    if as_json:
        _out.print_json(json.dumps({"plan": plan.to_json(), "result": {"writer_region": writer, "ok": True}}))
    else:
        _out.print(f"done: writer in {writer}, traffic via {plan.traffic_method}", markup=False)


def _settings(
    max_lag_ms: float,
    lag_window: int,
    poll_interval: float,
    timeout: float,
    arc_rounds: int,
    overrides: list[str] | None,
) -> RunbookSettings:
    from hakit.ops.failover import RunbookSettings

    return RunbookSettings(
        max_lag_ms=max_lag_ms,
        lag_window_s=lag_window,
        poll_interval_s=poll_interval,
        writer_timeout_s=timeout,
        arc_rounds=arc_rounds,
        safety_rules_to_override=tuple(overrides or ()),
    )


@failover_app.command("switchover")
def switchover_command(
    to: ToRegion,
    stack_outputs: StackOutputs = None,
    global_cluster: GlobalCluster = None,
    region: Regions = None,
    health_check: HealthChecks = None,
    arc_cluster_arn: ArcCluster = None,
    routing_control: RoutingControls = None,
    dynamodb_table: DynamoTable = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    traffic_only: TrafficOnly = False,
    max_lag_ms: MaxLag = 1000.0,
    lag_window: LagWindow = 300,
    poll_interval: PollInterval = 10.0,
    timeout: Timeout = 900.0,
    arc_rounds: ArcRounds = 3,
    override_safety_rule: SafetyOverride = None,
    profile: Profile = None,
    endpoint_url: EndpointUrl = None,
    retry_mode: RetryMode = "adaptive",
    max_attempts: MaxAttempts = 8,
    as_json: JsonOut = False,
) -> None:
    """Planned switchover (RPO 0): promote the secondary in --to, wait for it, then move traffic."""
    from hakit.ops.failover import Kind

    targets = _targets(
        stack_outputs, global_cluster, region, health_check, arc_cluster_arn, routing_control, dynamodb_table
    )
    settings = _settings(max_lag_ms, lag_window, poll_interval, timeout, arc_rounds, override_safety_rule)
    _run(
        Kind.SWITCHOVER,
        targets,
        to,
        settings,
        factory_args=(profile, endpoint_url, retry_mode, max_attempts),
        dry_run=dry_run,
        confirmed=yes,
        traffic_only=traffic_only,
        as_json=as_json,
    )


@failover_app.command("unplanned")
def failover_command(
    to: ToRegion,
    stack_outputs: StackOutputs = None,
    global_cluster: GlobalCluster = None,
    region: Regions = None,
    health_check: HealthChecks = None,
    arc_cluster_arn: ArcCluster = None,
    routing_control: RoutingControls = None,
    dynamodb_table: DynamoTable = None,
    allow_data_loss: Annotated[
        bool, typer.Option("--allow-data-loss", help="Accept losing writes not yet replicated (with --yes).")
    ] = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    traffic_only: TrafficOnly = False,
    max_lag_ms: MaxLag = 1000.0,
    lag_window: LagWindow = 300,
    poll_interval: PollInterval = 10.0,
    timeout: Timeout = 900.0,
    arc_rounds: ArcRounds = 3,
    override_safety_rule: SafetyOverride = None,
    profile: Profile = None,
    endpoint_url: EndpointUrl = None,
    retry_mode: RetryMode = "adaptive",
    max_attempts: MaxAttempts = 8,
    as_json: JsonOut = False,
) -> None:
    """Unplanned failover when the primary region is lost (may lose writes): --allow-data-loss --yes."""
    from hakit.ops.failover import EXIT_USAGE, Kind

    if not dry_run and not (allow_data_loss and yes):
        raise HakitError(
            "failover may lose writes: confirm with --allow-data-loss --yes (or --dry-run, or switchover)",
            EXIT_USAGE,
        )
    targets = _targets(
        stack_outputs, global_cluster, region, health_check, arc_cluster_arn, routing_control, dynamodb_table
    )
    settings = _settings(max_lag_ms, lag_window, poll_interval, timeout, arc_rounds, override_safety_rule)
    _run(
        Kind.FAILOVER,
        targets,
        to,
        settings,
        factory_args=(profile, endpoint_url, retry_mode, max_attempts),
        dry_run=dry_run,
        confirmed=allow_data_loss and yes,
        traffic_only=traffic_only,
        as_json=as_json,
    )


# The verb this command had first ("hakit failover failover"): kept working, out of the help.
failover_app.command("failover", hidden=True)(failover_command)


def register(app: typer.Typer) -> None:
    """Add the `failover` group to the root app."""
    app.add_typer(failover_app, name="failover")
