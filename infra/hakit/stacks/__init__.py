"""hakit.stacks."""
