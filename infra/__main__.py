"""The Pulumi program: validated stack config -> stack."""

from hakit.stacks.program import run

run()
