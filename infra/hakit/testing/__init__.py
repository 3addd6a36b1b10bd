"""hakit.testing."""
