"""`hakit lab up|drill|down|status`: a network-namespace failover lab built from one inventory cluster."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from hakit.commands.console import console
from hakit.errors import HakitError

# Wide enough for the drill table when the output is a pipe or a CI log.
_out = console(width=None if sys.stdout.isatty() else 160)
_err = console(stderr=True)

lab_app = typer.Typer(
    help="Failover lab in network namespaces: keepalived + HAProxy/nginx, drills under load (Linux, root).",
    no_args_is_help=True,
)

StateDir = Annotated[Path, typer.Option("--state-dir", help="where labs keep their files and state")]


def _need_root() -> None:
    if sys.platform != "linux" or os.geteuid() != 0:
        raise HakitError("hakit lab needs Linux and root (it creates network namespaces)")


@lab_app.command("up")
def up_command(
    inventory: Annotated[Path, typer.Argument(help="inventory YAML")],
    cluster: Annotated[
        str | None, typer.Option("--cluster", "-c", help="load-balancer cluster to build")
    ] = None,
    state_dir: StateDir = Path("/run/hakit-lab"),
    ssh: Annotated[bool, typer.Option("--ssh", help="nodes also run sshd: a `hakit deploy` target")] = False,
) -> None:
    """Build the lab and leave it running; `hakit lab down` removes it."""
    _need_root()
    from hakit.lab import session

    inv, name = session.open_inventory(inventory, cluster)
    if ssh:
        from hakit.lab.sshd import create_deploy_lab

        with session.terminate_as_interrupt():
            lab, lab_ssh = create_deploy_lab(inv, name, source=str(inventory))
            lab.save_state(session.state_path(lab.prefix, state_dir), inventory)
        if lab.watcher is not None:
            lab.watcher.close()  # the monitors belong to this command; the daemons and sshd stay
        _out.print(f"lab {lab.prefix} up with sshd on every node (files: {lab.workdir})")
        _out.print(f"  deploy to it: ip netns exec {lab.client_ns} hakit deploy {inventory} --yes")
        _out.print(f"                -i {lab_ssh.write_overlay()}   remove it: hakit lab down")
        return
    lab = session.create_lab(inv, name, source=str(inventory), base=state_dir)
    with session.terminate_as_interrupt():
        try:
            lab.up()
            lab.save_state(session.state_path(lab.prefix, state_dir), inventory)
        except BaseException:
            # up() already stopped what it started; the log tails are in the error message.
            lab.remove()
            raise
    if lab.watcher is not None:
        lab.watcher.close()  # the monitors belong to this command; the daemons stay
    _out.print(f"lab {lab.prefix} up: cluster {name} ({lab.plan.proxy}), VIP {lab.plan.vip}:{lab.plan.port}")
    for ns in lab.topology.namespaces():
        _out.print(f"  netns {ns}")
    # A TLS frontend presents the lab's throwaway certificate (its name is the VIP's address).
    curl = f"curl --cacert {lab.plan.ca_file} https" if lab.plan.ca_file else "curl http"
    _out.print(f"  client: ip netns exec {lab.client_ns} {curl}://{lab.plan.vip}:{lab.plan.port}/")
    _out.print(f"  files and logs: {lab.workdir}")
    _out.print("  drill it: hakit lab drill [--drills 1,5]   remove it: hakit lab down")


@lab_app.command("drill")
def drill_command(
    inventory: Annotated[
        Path | None, typer.Argument(help="inventory YAML (omit: drill the lab left running by `lab up`)")
    ] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="load-balancer cluster")] = None,
    lab_prefix: Annotated[str | None, typer.Option("--lab", help="prefix of a running lab to drill")] = None,
    drills: Annotated[
        str, typer.Option("--drills", "-d", help="'all', numbers (1,4-6,10-12) or names")
    ] = "all",
    advert_int: Annotated[float | None, typer.Option(help="override the cluster's VRRP advert_int")] = None,
    frontend: Annotated[
        str | None,
        typer.Option(
            "--frontend", help="frontend to load (default: the closest to plain HTTP); with INVENTORY"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the results as JSON")] = False,
    state_dir: StateDir = Path("/run/hakit-lab"),
) -> None:
    """Run drills under load and print a table (or JSON): on a throwaway lab, or on one left by `lab up`."""
    _need_root()
    from hakit.lab import session
    from hakit.lab.drills import parse_drills, run_drills

    numbers = parse_drills(drills)
    if frontend is not None and inventory is None:
        raise HakitError(
            "lab drill: --frontend needs an INVENTORY (a lab left by `lab up` keeps its frontend)"
        )
    with session.terminate_as_interrupt():
        if inventory is None:
            path = session.recorded_lab(state_dir, lab_prefix)
            lab = session.attach_lab(path)
            try:
                results = run_drills(lab, numbers)
            finally:
                # Drills restart daemons: record the new PIDs so `lab down` still finds every process.
                if lab.watcher is not None:
                    lab.watcher.close()
                lab.save_state(path, Path(str(session.load_state(path)["inventory"])))
        else:
            inv, name = session.open_inventory(inventory, cluster)
            if advert_int is not None:
                inv = session.tune(inv, name, advert_int=advert_int)
            lab = session.create_lab(inv, name, source=str(inventory), base=state_dir, frontend=frontend)
            try:
                lab.up()
                results = run_drills(lab, numbers)
            finally:
                lab.remove()
    if as_json:
        _out.print_json(json.dumps([r.to_dict() for r in results]))
    else:
        title = f"hakit lab drills: {lab.plan.cluster} ({lab.plan.proxy}, lab {lab.prefix})"
        _out.print(session.results_table(results, title=title))


@lab_app.command("down")
def down_command(
    prefix: Annotated[str | None, typer.Argument(help="lab prefix (default: every recorded lab)")] = None,
    state_dir: StateDir = Path("/run/hakit-lab"),
) -> None:
    """Stop the processes (by PID) and delete the namespaces of labs left by `hakit lab up`."""
    _need_root()
    from hakit.lab import session

    removed = session.down_all(state_dir, prefix)
    _out.print(f"removed: {', '.join(removed)}" if removed else "no lab recorded")


@lab_app.command("status")
def status_command(
    state_dir: StateDir = Path("/run/hakit-lab"),
    as_json: Annotated[bool, typer.Option("--json", help="print the labs as JSON")] = False,
) -> None:
    """List the labs left by `hakit lab up`, and whether their processes and namespaces still exist."""
    from hakit.lab import session

    labs = [session.lab_status(path) for path in session.saved_states(state_dir)]
    if as_json:
        _out.print_json(json.dumps(labs))
        return
    if not labs:
        _out.print("no lab recorded")
    for lab in labs:
        procs, spaces = lab["processes"], lab["namespaces"]
        assert isinstance(procs, dict) and isinstance(spaces, dict)
        health = "intact" if lab["intact"] else "DAMAGED (`hakit lab down` removes what is left)"
        _out.print(
            f"{lab['prefix']}: cluster {lab['cluster']} ({lab['proxy']}), VIP {lab['vip']}, "
            f"{procs['running']}/{procs['recorded']} processes running, "
            f"{spaces['present']}/{spaces['recorded']} namespaces: {health}"
        )


def register(app: typer.Typer) -> None:
    """Add the `lab` command group to the root command."""
    app.add_typer(lab_app, name="lab")
