"""`hakit plan --stack ENV`: what `pulumi up` would build, offline (the program under the mock harness)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hakit.errors import HakitError, SpecError


def plan(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack name: uses Pulumi.<stack>.yaml.")],
    root: Annotated[
        Path,
        typer.Option("--project-dir", "-C", help="Project directory (holds Pulumi.yaml).", file_okay=False),
    ] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Run the stack's program under mocks and print its resource tree and counts per type and region."""
    from hakit.commands.progress import working

    with working(f"importing the Pulumi SDK and running Pulumi.{stack}.yaml's program under mocks"):
        from hakit.stacks.plan import render_text, summarize
        from hakit.stacks.program import stack_file, synth_stack
        from hakit.testing import DuplicateUrnError

    try:
        with working(f"synthesizing stack {stack}"):
            graph = synth_stack(stack, root=root)
    except ValueError as err:
        # A component rejected its arguments: still a config problem of this stack file, exit 2.
        raise SpecError(f"{stack_file(stack, root)}: {' '.join(str(err).split())}") from None
    except DuplicateUrnError as err:
        # The engine would refuse the deployment the same way: a program bug, said in one line.
        raise HakitError(f"{stack_file(stack, root)}: {err}") from None
    summary = summarize(graph, inputs=as_json)
    typer.echo(json.dumps(summary, indent=2, default=str) if as_json else render_text(summary))


def register(app: typer.Typer) -> None:
    """Add `hakit plan` to the root app."""
    app.command("plan")(plan)
