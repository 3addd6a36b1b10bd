"""`hakit render`, `hakit validate`, `hakit schema`: bare-metal configs from an inventory."""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from hakit.commands.console import console
from hakit.errors import HakitError

if TYPE_CHECKING:
    from rich.progress import Progress

    from hakit.render.tree import RenderedTree
    from hakit.render.validate import ValidationReport
    from hakit.render.writer import TreeChange

_out = console()
_err = console(stderr=True)

SCHEMAS = {
    "inventory": "hakit.spec.inventory:Inventory",
    "stack": "hakit.spec.stack:StackConfig",
}
"""`hakit schema NAME` -> the pydantic model whose JSON Schema it prints."""

PROGRESS_MIN_CHECKS = 20
"""Show a progress bar when at least this many daemon runs are needed."""

SUMMARY_MAX_ROWS = 50
"""`hakit render` prints a row per host up to this many hosts, counts beyond."""


class ValidateMode(StrEnum):
    """When `hakit render` runs the daemons on the result."""

    auto = "auto"
    yes = "yes"
    no = "no"


schema_app = typer.Typer(
    help="Print JSON Schemas (point your editor's YAML plugin at them).", no_args_is_help=True
)


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
    )


@contextlib.contextmanager
def _status(text: str) -> Iterator[Callable[[str], None]]:
    """A spinner with `text` on a terminal (large inventories take seconds to parse); yields its update.

    Elsewhere rich draws nothing, so nothing is started: no refresh thread, no spinner imports.
    """
    if not _err.is_terminal:
        yield lambda _text: None
        return
    with _err.status(text, spinner="dots") as status:
        yield status.update


def run_validation(
    tree: RenderedTree, *, root: str, jobs: int | None, dedupe: bool = True
) -> ValidationReport:
    """Validate with a progress bar when the run is long enough to need one."""
    from hakit.render.validate import validate_tree

    with _progress() as progress:
        task = progress.add_task("validating", total=None, visible=False)

        def advance(done: int, total: int) -> None:
            """Show the bar once the run is long enough to need one."""
            visible = total >= PROGRESS_MIN_CHECKS
            progress.update(task, completed=done, total=total, visible=visible)

        return validate_tree(tree, root=root, jobs=jobs, dedupe=dedupe, progress=advance)


def _host_verdicts(report: ValidationReport | None) -> dict[str, str]:
    """host -> 'yes', 'FAILED' or 'no (why)' (partly skipped hosts say why)."""
    verdicts: dict[str, str] = {}
    for result in report.results if report is not None else []:
        current = verdicts.get(result.host, "yes")
        if not result.ok and not result.skipped:
            verdicts[result.host] = "FAILED"
        elif result.skipped and current == "yes":
            verdicts[result.host] = f"no ({result.message})"
        else:
            verdicts[result.host] = current
    return verdicts


def _print_summary(tree: RenderedTree, report: ValidationReport | None, not_validated: str) -> None:
    """A row per host for small fleets; for large ones, hosts counted by verdict (a 1000-row table
    took seconds to lay out and nobody reads it: `--json` has every host)."""
    from rich.table import Table

    verdicts = _host_verdicts(report)
    default = f"no ({not_validated})" if report is None else "- (no daemon config)"
    if len(tree) > SUMMARY_MAX_ROWS:
        counts = Counter(verdicts.get(host, default) for host in tree)
        for verdict, count in sorted(counts.items()):
            _out.print(f"{count} host(s) validated: {verdict}", markup=False)
        return
    table = Table(title=None, show_edge=False, header_style="bold")
    table.add_column("host")
    table.add_column("files", justify="right")
    table.add_column("areas")
    table.add_column("validated")
    for host, files in tree.items():
        areas = ", ".join(
            sorted({path.split("/")[1] for path in files if path.startswith("etc/") and "/" in path[4:]})
        )
        table.add_row(host, str(len(files)), areas, verdicts.get(host, default))
    _out.print(table)


def _print_failures(report: ValidationReport) -> None:
    for failure in report.failures:
        _err.print(f"{failure.host}/{failure.path}: {failure.daemon}: {failure.message}", markup=False)
    notes = sorted({note for result in report.results for note in result.notes})
    for note in notes:
        _err.print(f"note: {note}", markup=False)


def _print_changes(changes: list[TreeChange]) -> None:
    for change in changes:
        if change.kind in ("changed", "mode"):
            _out.print(f"~ {change.path}", markup=False)
            _out.print(change.diff.rstrip("\n"), markup=False)
        elif change.kind == "refused":
            _out.print(f"! {change.path}: {change.diff.rstrip()}", markup=False)
        else:
            _out.print(f"{'+' if change.kind == 'added' else '-'} {change.path}", markup=False)


def _print_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def _changes_json(changes: list[TreeChange]) -> list[dict[str, str]]:
    return [{"path": c.path, "kind": c.kind, "diff": c.diff} for c in changes]


def _report_json(report: ValidationReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "ok": report.ok,
        "runs": report.runs,
        "seconds": round(report.seconds, 3),
        "results": [
            {
                "host": r.host,
                "path": r.path,
                "daemon": r.daemon,
                "ok": r.ok,
                "skipped": r.skipped,
                "message": r.message,
                "same_as": r.same_as,
                "notes": list(r.notes),
            }
            for r in report.results
        ],
    }


def _source_name(inventory: Path, given: str | None) -> str:
    """The inventory's name in file headers: `--source-name`, else stable whatever the path typed."""
    from hakit.render.tree import stable_source_name

    if given is None:
        return stable_source_name(inventory)
    if not given or not given.isprintable() or given.startswith("/"):
        raise HakitError(
            f"--source-name {given!r}: must be a non-empty relative name of printable characters",
            exit_code=2,
        )
    return given


def _without_cyclic_gc(command: Callable[..., None]) -> Callable[..., None]:
    """Run `command` with Python's cyclic garbage collector paused (restored after, even on errors).

    Loading and rendering an inventory allocate hundreds of thousands of objects that live until the
    files are written: the collector kept re-walking them (~150 passes, ~0.2 s of a 1.2 s render of
    1000 hosts; a third of a 10,000-host one) to find almost no cycles. Reference counting still frees
    everything else as before; the cycles left for later cost ~15 % more peak memory at 10,000 hosts.
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        enabled = gc.isenabled()
        gc.disable()
        try:
            command(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return run


@_without_cyclic_gc
def render_command(
    ctx: typer.Context,
    inventory: Annotated[Path, typer.Argument(help="inventory YAML file", metavar="INVENTORY")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="output directory (replaced atomically)", metavar="OUT")
    ] = Path("out"),
    root: Annotated[
        str,
        typer.Option(
            help="prefix for absolute paths inside the configs (labs run daemons from a temp dir)",
            metavar="PREFIX",
        ),
    ] = "",
    check: Annotated[
        bool, typer.Option("--check", help="compare with OUT, print a diff, exit 1 on changes; write nothing")
    ] = False,
    validate: Annotated[
        ValidateMode,
        typer.Option(
            "--validate",
            help="run haproxy -c / keepalived -t / nginx -t before writing (auto: the installed ones); "
            "a bare --validate means yes",
        ),
    ] = ValidateMode.auto,
    no_validate: Annotated[
        bool, typer.Option("--no-validate", help="write without running the daemons (--validate=no)")
    ] = False,
    source_name: Annotated[
        str | None,
        typer.Option(
            "--source-name",
            help="name of the inventory in file headers (default: its path from the project root)",
            metavar="NAME",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON on stdout")] = False,
    jobs: Annotated[
        int | None, typer.Option(help="parallel daemon runs (default: the CPUs)", metavar="N")
    ] = None,
) -> None:
    """Render keepalived / HAProxy / nginx configs for every host of INVENTORY into OUT/<host>/etc/..."""
    # pydantic and the models load here, while the console script's read-ahead (`hakit.launch`) reads.
    from hakit.spec.inventory import load_inventory
    from hakit.spec.read_ahead import ReadAhead

    if no_validate:
        validate = ValidateMode.no
    with _status(f"loading {inventory.as_posix()}") as status:
        early = ctx.obj.take(inventory) if isinstance(ctx.obj, ReadAhead) else None
        inv = load_inventory(inventory, document=early)
        # The renderers (and Jinja2) load once the inventory is valid: a bad one is reported sooner.
        from hakit.render import render_inventory
        from hakit.render.writer import diff_tree, write_tree

        source = _source_name(inventory, source_name)
        status(f"rendering {len(inv.hosts)} hosts")
        tree = render_inventory(inv, source=source, root=root)
    document: dict[str, Any] = {
        "inventory": source,
        "out": str(out),
        "hosts": [{"name": host, "files": len(files)} for host, files in tree.items()],
        "files": sum(len(files) for files in tree.values()),
    }
    if check:
        changes = diff_tree(tree, out)
        if as_json:
            _print_json({**document, "check": True, "changed": _changes_json(changes), "written": False})
        else:
            _print_changes(changes)
        if changes:
            _err.print(f"{len(changes)} file(s) would change in {out}", markup=False)
            raise typer.Exit(1)
        _err.print(f"{out} is up to date", markup=False)
        return
    report = None
    not_validated = "skipped (--no-validate)"
    if validate is not ValidateMode.no:
        from hakit.render.validate import unavailable_reason  # the daemons' sandbox: not needed to write

        missing = {
            d: r for d in ("haproxy", "keepalived", "nginx") if (r := unavailable_reason(d)) is not None
        }
        if validate is ValidateMode.yes and missing:
            raise HakitError([f"cannot validate: {reason}" for reason in missing.values()])
        report = run_validation(tree, root=root, jobs=jobs)
        if missing:
            _err.print(
                "validation skipped for "
                + "; ".join(f"{daemon} ({reason})" for daemon, reason in sorted(missing.items())),
                markup=False,
            )
        if not report.ok:
            if as_json:
                _print_json({**document, "written": False, "validation": _report_json(report)})
            _print_failures(report)
            raise HakitError(f"{len(report.failures)} config(s) rejected: nothing written to {out}")
    changed = diff_tree(tree, out) if as_json else []
    write_tree(tree, out)
    if as_json:
        verdicts = _host_verdicts(report)
        for host in document["hosts"]:
            host["validated"] = verdicts.get(host["name"], "no")
        document.update(written=True, changed=_changes_json(changed), validation=_report_json(report))
        _print_json(document)
        return
    _print_summary(tree, report, not_validated)
    files = document["files"]
    line = f"wrote {files} files for {len(tree)} hosts to {out}"
    if report is not None:
        line += f"; {report.runs} daemon runs checked {len(report.results)} configs in {report.seconds:.2f}s"
    _out.print(line, markup=False)
    if report is not None:
        for note in sorted({note for result in report.results for note in result.notes}):
            _err.print(f"note: {note}", markup=False)


def validate_command(
    out: Annotated[Path, typer.Argument(help="a tree written by `hakit render`", metavar="OUT")],
    root: Annotated[str, typer.Option(help="the --root the tree was rendered with", metavar="PREFIX")] = "",
    jobs: Annotated[
        int | None, typer.Option(help="parallel daemon runs (default: the CPUs)", metavar="N")
    ] = None,
    dedupe: Annotated[bool, typer.Option(help="check identical configs once")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON on stdout")] = False,
) -> None:
    """Check a rendered tree with the real daemons; exit 1 when one rejects a config."""
    from hakit.render.validate import is_output_tree, read_tree

    if not out.is_dir():
        raise HakitError(f"{out}: no such directory", exit_code=2)
    if not is_output_tree(out):
        raise HakitError(f"{out}: not a tree written by `hakit render`", exit_code=2)
    tree = read_tree(out)
    report = run_validation(tree, root=root, jobs=jobs, dedupe=dedupe)
    if as_json:
        _print_json({"out": str(out), "configs": len(report.results), **(_report_json(report) or {})})
    else:
        from rich.table import Table

        table = Table(show_edge=False, header_style="bold")
        for column in ("host", "file", "daemon", "result"):
            table.add_column(column)
        for result in report.results:
            verdict = "ok" if result.ok else ("skipped: " + result.message if result.skipped else "FAILED")
            if result.same_as:
                verdict += f" (same as {result.same_as})"
            table.add_row(result.host, result.path, result.daemon, verdict)
        _out.print(table)
        _out.print(
            f"{len(report.results)} configs, {report.runs} daemon runs, {report.seconds:.2f}s",
            markup=False,
        )
    _print_failures(report)
    if not report.ok:
        raise typer.Exit(1)


@schema_app.command("inventory")
def schema_inventory() -> None:
    """JSON Schema of the bare-metal inventory."""
    _print_schema("inventory")


@schema_app.command("stack")
def schema_stack() -> None:
    """JSON Schema of the hakit namespace of Pulumi stack config."""
    _print_schema("stack")


def _print_schema(name: str) -> None:
    module_name, _, attribute = SCHEMAS[name].partition(":")
    model = getattr(importlib.import_module(module_name), attribute)
    schema = model.model_json_schema()
    schema.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
    sys.stdout.write(json.dumps(schema, indent=2, sort_keys=True) + "\n")


class _RenderCommand(TyperCommand):
    """`hakit render`: lets `--validate` be given without a value (meaning `--validate=yes`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Rewrite a bare `--validate` (not followed by a mode) to `--validate=yes`."""
        fixed = list(args)
        for position, arg in enumerate(fixed):
            if arg == "--":
                break
            following = fixed[position + 1] if position + 1 < len(fixed) else None
            if arg == "--validate" and following not in {mode.value for mode in ValidateMode}:
                fixed[position] = "--validate=yes"
        return super().parse_args(ctx, fixed)


def register(app: typer.Typer) -> None:
    """Add `render`, `validate` and `schema` to the root command."""
    app.command("render", cls=_RenderCommand)(render_command)
    app.command("validate")(validate_command)
    app.add_typer(schema_app, name="schema")
