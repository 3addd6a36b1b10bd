"""Where hakit's data files (templates, host scripts) live, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the directory holding hakit's `templates` or `scripts`."""
    packaged = _PACKAGE / "_data" / name
    if packaged.is_dir():
        return packaged
    # Editable install / checkout: the top-level folder of the repository.
    return _PACKAGE.parents[1] / name


def templates_dir() -> Path:
    """Return the Jinja2 templates directory."""
    return data_dir("templates")


def scripts_dir() -> Path:
    """Return the directory of programs that run on hosts."""
    return data_dir("scripts")
