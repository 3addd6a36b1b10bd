"""hakit.spec."""
