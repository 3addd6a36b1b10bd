"""The `hakit` command line (typer + rich)."""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Sequence
from typing import Any, get_args, get_origin

import typer

from hakit import __version__
from hakit.commands.console import console
from hakit.errors import HakitError

app = typer.Typer(
    name="hakit",
    help="High-availability toolkit: render and check bare-metal configs, plan, report, operate stacks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)

_stderr = console(stderr=True)


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
    from hakit.commands import drill as drill_commands

    drill_commands.register(app)


_register_commands()


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"hakit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print hakit's version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    """High-availability toolkit: render and check bare-metal configs, plan, report, operate stacks."""


_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH", "bool": "BOOLEAN"}


def _value_word(annotation: Any) -> str:
    """`list[str]` -> TEXT, `Path` -> PATH: the word click itself would print."""
    args = get_args(annotation)
    if get_origin(annotation) in (list, tuple) and args:
        return _value_word(args[0])
    name = getattr(annotation, "__name__", str(annotation))
    return _WORDS.get(name, "VALUE")


def _tidy_help(command: Any) -> None:
    """Name every value in help as a word (INVENTORY, PATH), and flags by name alone.

    Typer prints each parameter's Python type (`<bool>`, `{inventory}`, `<list[str]>`): noise to a user.
    Typer vendors its own click, so parameters are recognised by their attributes, not their classes.
    """
    for param in command.params:
        if param.param_type_name == "argument":
            if param.metavar is None and param.name:
                param.metavar = param.name.upper()
            word = param.metavar if param.required else f"[{param.metavar}]"
            param.get_usage_pieces = lambda ctx, word=word: [word]
            param.display_type_rich = lambda ctx: None
        elif param.metavar is None:
            if getattr(param, "is_flag", False) or getattr(param, "count", False):
                param.metavar = ""
            elif not param.type_descriptor.is_choice:
                param.metavar = _value_word(param.type_descriptor.annotation)
    command.get_help_option = _bare_help_option(command.get_help_option)
    for sub in getattr(command, "commands", {}).values():
        _tidy_help(sub)


def _bare_help_option(make: Any) -> Any:
    def help_option(ctx: Any) -> Any:
        option = make(ctx)
        if option is not None:
            option.metavar = ""
        return option

    return help_option


def cli_command(args: Sequence[str] | None = None) -> Any:
    """The click command tree behind `hakit`, with help tidied (what `main` runs).

    Given the command line `args`, only the subcommand it names is built: Typer reads every command's
    signature to build the tree, which cost ~50 ms of each `hakit render`. The root group, its options and
    the subcommand are the same as in the whole tree, so help, errors and exit codes are too; anything
    else (no subcommand, root options first, an unknown name, shell completion) gets the whole tree.
    """
    command = typer.main.get_command(_only(args[0]) if args and _narrowable(args[0]) else app)
    _tidy_help(command)
    return command


def _subcommand_names() -> dict[str, Any]:
    names: dict[str, Any] = {}
    for info in app.registered_commands:
        if info.name:
            names[info.name] = info
    for group in app.registered_groups:
        if group.name:
            names[group.name] = group
    return names


def _narrowable(first: str) -> bool:
    # Completion scripts ask the whole tree through the environment (`_HAKIT_COMPLETE`).
    return first in _subcommand_names() and not any(key.endswith("_COMPLETE") for key in os.environ)


def _only(name: str) -> typer.Typer:
    """A copy of `app` (same root callback and options) holding only the subcommand `name`."""
    narrowed = copy.copy(app)
    narrowed.registered_commands = [info for info in app.registered_commands if info.name == name]
    narrowed.registered_groups = [group for group in app.registered_groups if group.name == name]
    return narrowed


def main() -> None:
    """Entry point of the `hakit` console script."""
    try:
        cli_command(sys.argv[1:])(prog_name="hakit")
    except HakitError as err:
        for line in err.lines:
            _stderr.print(line, markup=False, emoji=False)
        sys.exit(err.exit_code)
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith("pulumi"):
            raise
        # A host that installed only the core (the backup agent) has no Pulumi SDK: one line, not a traceback.
        _stderr.print(f"this command needs the Pulumi SDK ({err.name}): install hakit[cloud]", markup=False)
        sys.exit(2)
    except KeyboardInterrupt:
        _stderr.print("interrupted", markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
