"""The `hakit` command line (typer + rich)."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from hakit.errors import HakitError

app = typer.Typer(
    name="hakit",
    help="High-availability toolkit: render and check bare-metal configs, plan, report, operate stacks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def _register_commands() -> None:
    # Each group registers itself; the modules import Pulumi/boto3 only when a command runs.
    from hakit.commands import render as render_commands

    render_commands.register(app)
    from hakit.commands import plan as plan_commands

    plan_commands.register(app)
    from hakit.commands import failover as failover_commands

    failover_commands.register(app)
    from hakit.commands import backup as backup_commands

    backup_commands.register(app)
    from hakit.commands import lab as lab_commands

    lab_commands.register(app)
    from hakit.commands import report as report_commands

    report_commands.register(app)
    from hakit.commands import deploy as deploy_commands

    deploy_commands.register(app)


_register_commands()


def main() -> None:
    """Entry point of the `hakit` console script."""
    try:
        app()
    except HakitError as err:
        for line in err.lines:
            _stderr.print(line, markup=False)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        _stderr.print("interrupted", markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
