"""hakit.components."""
