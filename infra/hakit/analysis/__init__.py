"""hakit.analysis."""
