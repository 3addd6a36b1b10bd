"""hakit.ops."""
