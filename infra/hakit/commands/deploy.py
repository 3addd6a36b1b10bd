"""`hakit deploy`: render (or take a rendered tree) and push it with the shipped Ansible playbook."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel, SecretStr
from rich.live import Live
from rich.table import Table

from hakit.commands.console import console
from hakit.errors import HakitError

if TYPE_CHECKING:
    from hakit.deploy.runner import Progress

_out = console()
_err = console(stderr=True)

STYLE = {
    "ok": "green",
    "changed": "yellow",
    "started": "yellow",
    "failed": "bold red",
    "unreachable": "bold red",
    "running": "cyan",
}


def secret_values(model: Any) -> list[str]:
    """Every SecretStr value in a spec model (VRRP and stats passwords): masked in all output."""
    found: list[str] = []
    stack: list[Any] = [model]
    while stack:
        node = stack.pop()
        if isinstance(node, SecretStr):
            found.append(node.get_secret_value())
        elif isinstance(node, BaseModel):
            stack.extend(getattr(node, name) for name in type(node).model_fields)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return sorted({s for s in found if s}, key=len, reverse=True)


def progress_table(progress: Progress) -> Table:
    """Hosts x steps, each cell the step's state."""
    from hakit.deploy.runner import DB_STEPS, STEPS

    # The MariaDB columns only when a database node got there: a load-balancer push keeps its width.
    steps = [s for s in STEPS if s not in DB_STEPS or any(s in h.steps for h in progress.hosts.values())]
    table = Table(show_edge=False, header_style="bold")
    table.add_column("host")
    for step in steps:
        table.add_column(step)
    for host, state in progress.hosts.items():
        cells = []
        for step in steps:
            value = state.steps.get(step, "")
            cells.append(f"[{STYLE[value]}]{value}[/]" if value in STYLE else value)
        table.add_row(host, *cells)
    return table


def deploy_command(
    inventory: Annotated[Path, typer.Argument(help="the hakit inventory (YAML)")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="render into this directory (default: a temporary one)")
    ] = None,
    tree: Annotated[
        Path | None, typer.Option("--tree", help="push this already rendered tree instead of rendering")
    ] = None,
    limit: Annotated[str | None, typer.Option(help="hosts or clusters to change, comma-separated")] = None,
    check: Annotated[bool, typer.Option("--check", help="validate on the hosts, change nothing")] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="show per host what changes (secret files: names only)")
    ] = False,
    forks: Annotated[int, typer.Option(min=1, max=500, help="hosts worked on in parallel (pre-flight)")] = 5,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask before changing hosts")] = False,
    start_stopped: Annotated[
        bool,
        typer.Option(
            "--start-stopped",
            help="also start haproxy/nginx/keepalived found stopped on a host that has their config "
            "(without it such a host is refused: stopped on purpose?). A first install (no config on "
            "the host) is always started: proxy first, then keepalived.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document on stdout (CI)")] = False,
    ssh_user: Annotated[str | None, typer.Option(help="override every host's deploy.user")] = None,
    ssh_port: Annotated[int | None, typer.Option(min=1, max=65535, help="override deploy.port")] = None,
    ssh_key: Annotated[Path | None, typer.Option(help="override deploy.key")] = None,
    become: Annotated[
        bool | None, typer.Option("--become/--no-become", help="override deploy.become")
    ] = None,
    ansible_inventory: Annotated[
        list[Path] | None,
        typer.Option(
            "--ansible-inventory", "-i", help="an Ansible inventory whose host vars override hakit's"
        ),
    ] = None,
    extra_vars: Annotated[
        list[str] | None, typer.Option("--extra-vars", "-e", help="passed to ansible-playbook -e")
    ] = None,
) -> None:
    """Push rendered configs: pre-flight, BACKUPs first, VIP holder last; validate, reload, gate, undo."""
    from hakit.deploy.runner import run_playbook
    from hakit.deploy.targets import (
        SshOverrides,
        resolve_limit,
    )
    from hakit.deploy.targets import (
        ansible_inventory as build_inventory,
    )
    from hakit.spec.inventory import load_inventory

    inv = load_inventory(inventory)
    for extra in ansible_inventory or []:
        if not extra.is_file():
            raise HakitError(f"deploy: --ansible-inventory {extra}: no such file", exit_code=2)
    if ssh_key is not None and not ssh_key.is_file():
        raise HakitError(f"deploy: --ssh-key {ssh_key}: no such file", exit_code=2)
    if not check and not yes and (as_json or not sys.stdin.isatty()):
        raise HakitError("deploy: changing hosts needs --yes when not run from a terminal", exit_code=2)
    # One private (0700) scratch directory for the rendered tree (when no -o), the inventory and the tars.
    with tempfile.TemporaryDirectory(prefix="hakit-deploy-") as scratch:
        tree_dir, files = _tree(inv, inventory, out, tree, Path(scratch) / "out")
        targets = resolve_limit(inv, files, limit)
        if not check and not yes and not typer.confirm(f"push to {', '.join(targets)}?"):
            raise typer.Exit(1)
        overrides = SshOverrides(ssh_user, ssh_port, str(ssh_key.resolve()) if ssh_key else None, become)
        data = build_inventory(inv, files, tree_dir=tree_dir.resolve(), targets=targets, overrides=overrides)
        workdir = Path(scratch) / "run"
        workdir.mkdir(mode=0o700)
        options: dict[str, Any] = {
            "workdir": workdir,
            "extra_inventories": ansible_inventory or [],
            "extra_vars": [*(["hakit_start_stopped=true"] if start_stopped else []), *(extra_vars or [])],
            "check": check,
            "diff": diff,
            "forks": forks,
            "secrets": secret_values(inv),
        }
        if as_json or not _err.is_terminal:
            progress, code = run_playbook(data, **options)
        else:
            with Live(console=_err, auto_refresh=False, transient=False) as live:

                def show(progress: Progress) -> None:
                    live.update(progress_table(progress), refresh=True)

                progress, code = run_playbook(data, on_event=show, **options)
                show(progress)
    if not as_json and not _err.is_terminal:
        _err.print(progress_table(progress))
    _report(progress, code, check=check, diff=diff, as_json=as_json)


def _tree(
    inv: Any, inventory: Path, out: Path | None, tree: Path | None, scratch: Path
) -> tuple[Path, dict[str, dict[str, str]]]:
    """The rendered tree to push: read from --tree, else rendered into --out (or `scratch`)."""
    from hakit.deploy.targets import read_tree
    from hakit.render import render_inventory
    from hakit.render.writer import write_tree

    if tree is not None:
        if out is not None:
            raise HakitError("deploy: give --tree or --out, not both", exit_code=2)
        return tree, read_tree(tree)
    rendered = render_inventory(inv, source=str(inventory))
    target = out if out is not None else scratch
    write_tree(rendered, target)
    return target, {host: {path: f.content for path, f in files.items()} for host, files in rendered.items()}


def _report(progress: Progress, code: int, *, check: bool, diff: bool, as_json: bool) -> None:
    ok = code == 0 and progress.failure is None
    if as_json:
        document = {
            "ok": ok,
            "check": check,
            "failure": progress.failure,
            "hosts": {
                host: {
                    "steps": state.steps,
                    "finished": state.finished,
                    "files": state.files,
                    "reloaded": state.reloaded,
                    "started": state.started,
                    "pending": state.pending,
                    **({"diff": state.diff} if diff else {}),
                }
                for host, state in progress.hosts.items()
            },
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        for host, state in progress.hosts.items():
            if diff:
                for text in state.diff:
                    _out.print(f"[bold]{host}[/]", highlight=False)
                    _out.print(text, markup=False, end="")
            for note in state.pending:
                _err.print(f"note: {host}: {note}", markup=False)
            if state.started:
                _err.print(f"{host}: started {', '.join(state.started)} (was stopped)", markup=False)
    if not ok:
        line = " ".join((progress.failure or f"ansible-playbook exited {code}").split())
        _err.print(f"hakit deploy: {line}", markup=False)
        raise typer.Exit(1)
    if not as_json:
        changed = [h for h, s in progress.hosts.items() if s.files]
        verb = "would change" if check else "changed"
        _err.print(f"deploy: {verb} {len(changed)} of {len(progress.hosts)} hosts", markup=False)


def register(app: typer.Typer) -> None:
    """Add `deploy` to the root command."""
    app.command("deploy")(deploy_command)
