r"""Quote a `Text` value the way each daemon reads a quoted string back literally (Jinja filters).

Each function returns the value with its surrounding quotes, or raises `QuotingError` when the daemon
has no way to say the value literally: the spec must refuse such values before rendering (a
`QuotingError` at render time is a bug in a field's type, not a user error). Control characters are
never quotable: every daemon reads its configuration line by line.

Verified against the installed daemons (tests/unit/test_quoting.py runs them):
- HAProxy 2.6 (configuration.txt 2.2, "Quoting and escaping"): inside double quotes ("weak quoting")
  a backslash still escapes and `$NAME` expands environment variables; `\\`, `\"` and `\$` give the
  characters; `#`, `'` and spaces are literal.
- nginx 1.22: inside double quotes `\\` and `\"` give the characters; `$name` expands a variable in
  most directives and there is no escape for `$`: `nginx_quote` refuses `$` unless the caller says the
  directive takes a regular expression (`location ~`, `map` regex keys), where `$` is an anchor.
- keepalived 2.2.7: inside double quotes `#`, `!`, `{`, `}`, `'`, backslashes and spaces are literal;
  nothing escapes a quote (`\"` ends the string) and `$NAME` is a config macro: `"` and `$` are refused.
- systemd (systemd.syntax, systemd.service): a double-quoted word takes C escapes (`\\`, `\"`); `%`
  starts a specifier in every setting (`%%` is a literal `%`); in `ExecStart=`-style command lines `$`
  starts a variable (`$$` is a literal `$`), in `Environment=` it does not.
"""

from __future__ import annotations

from hakit.spec.base import CONTROL_CHARACTERS


class QuotingError(ValueError):
    """The daemon cannot read this value back literally, however it is quoted."""


def _refuse_control(value: str, daemon: str) -> None:
    found = CONTROL_CHARACTERS.search(value)
    if found:
        raise QuotingError(f"{daemon} cannot quote control character {found.group()!r}")


def haproxy_quote(value: str) -> str:
    """A HAProxy double-quoted argument that means exactly `value` (no variable expansion)."""
    _refuse_control(value, "haproxy")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def nginx_quote(value: str, regex: bool = False) -> str:
    """An nginx double-quoted parameter that means exactly `value`; `$` only where nginx reads a regex."""
    _refuse_control(value, "nginx")
    if "$" in value and not regex:
        raise QuotingError("nginx cannot quote '$' (it always starts a variable)")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def keepalived_quote(value: str) -> str:
    """A keepalived double-quoted word that means exactly `value` (it cannot say '"' or '$')."""
    _refuse_control(value, "keepalived")
    for char in '"$':
        if char in value:
            raise QuotingError(f"keepalived cannot quote {char!r}")
    return f'"{value}"'


def systemd_quote(value: str, command: bool = True) -> str:
    """A systemd double-quoted word; `command=True` for `ExecStart=`-style lines (also escapes `$`)."""
    _refuse_control(value, "systemd")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    if command:
        escaped = escaped.replace("$", "$$")
    return f'"{escaped}"'


FILTERS = {
    "haproxy_quote": haproxy_quote,
    "nginx_quote": nginx_quote,
    "keepalived_quote": keepalived_quote,
    "systemd_quote": systemd_quote,
}
"""The Jinja filters registered by `hakit.render.environment`."""
