"""hakit.render."""
