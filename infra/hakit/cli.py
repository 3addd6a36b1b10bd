"""The `hakit` command line (typer + rich)."""

from __future__ import annotations

import copy
import gc
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, get_args, get_origin

import typer

from hakit import __version__
from hakit.commands.console import console
from hakit.errors import HakitError

if TYPE_CHECKING:
    from hakit.spec.read_ahead import ReadAhead

app = typer.Typer(
    name="hakit",
    help="High-availability toolkit: render and check bare-metal configs, plan, report, operate stacks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)

_stderr = console(stderr=True)


COMMAND_MODULES: dict[str, str] = {
    "render": "render",
    "validate": "render",
    "schema": "render",
    "plan": "plan",
    "failover": "failover",
    "backup": "backup",
    "lab": "lab",
    "report": "report",
    "diagram": "report",
    "deploy": "deploy",
    "drill": "drill",
}
"""Subcommand -> the module of `hakit.commands` that registers it; modules in the order help lists them."""

_MODULE_ORDER = list(dict.fromkeys(COMMAND_MODULES.values()))
_registered: set[str] = set()


def _register_commands(modules: Sequence[str] = _MODULE_ORDER) -> None:
    """Import the command modules (each registers its commands on `app`); each once, in help's order.

    `main` imports only the module of the subcommand it runs: the others (rich tables and live
    displays, pydantic for deploy) would only slow `hakit render` down.
    """
    # Each group registers itself; the modules import Pulumi/boto3 only when a command runs.
    for module in modules:
        if module not in _registered:
            importlib.import_module(f"hakit.commands.{module}").register(app)
            _registered.add(module)
    # Whatever was imported first, list the commands as the whole tree always has (the map's order).
    rank = {name: index for index, name in enumerate(COMMAND_MODULES)}
    app.registered_commands.sort(key=lambda info: rank.get(info.name or "", len(rank)))
    app.registered_groups.sort(key=lambda info: rank.get(info.name or "", len(rank)))


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
    if args and _narrowable(args[0]):
        command = typer.main.get_command(_only(args[0]))
    else:
        _register_commands()
        command = typer.main.get_command(app)
    _tidy_help(command)
    return command


def _narrowable(first: str) -> bool:
    # Completion scripts ask the whole tree through the environment (`_HAKIT_COMPLETE`).
    return first in COMMAND_MODULES and not any(key.endswith("_COMPLETE") for key in os.environ)


def _only(name: str) -> typer.Typer:
    """A copy of `app` (same root callback and options) holding only the subcommand `name`."""
    _register_commands([COMMAND_MODULES[name]])
    narrowed = copy.copy(app)
    narrowed.registered_commands = [info for info in app.registered_commands if info.name == name]
    narrowed.registered_groups = [group for group in app.registered_groups if group.name == name]
    return narrowed


def main(early: ReadAhead | None = None) -> None:
    """Run `hakit` with `sys.argv`: errors become their lines on stderr and an exit code.

    `early`: a read of the command's input file already under way, handed to the command in its
    context (`hakit.launch` started it and stops it if the command does not take it).
    """
    args = sys.argv[1:]
    try:
        cli_command(args)(args=args, prog_name="hakit", obj=early)
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


def entry(early: ReadAhead | None = None) -> None:
    """`main`, then a quick exit (the console script is `hakit.launch.entry`)."""
    try:
        main(early)
    finally:
        # Interpreter shutdown runs several full collections over every object still alive (schemas,
        # templates, caches, what a command built): 0.1-0.3 s after rendering 1000 hosts.
        # Frozen objects are skipped; the process ends right after, so nothing needs collecting.
        gc.freeze()


if __name__ == "__main__":
    entry()
