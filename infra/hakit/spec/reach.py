"""How `hakit deploy` reaches a host over SSH: the optional `deploy:` field of a host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from ipaddress import ip_address

from pydantic import Field

from hakit.spec.base import Port, Problem, SpecModel

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_PATTERN = rf"^{_LABEL}(?:\.{_LABEL})*\.?$"
"""A DNS name: dot-separated labels of letters, digits and inner hyphens (no spaces, quotes or options)."""

USER_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
"""A POSIX login name as `useradd` accepts it by default."""

KEY_PATTERN = r"^[A-Za-z0-9_./~@+-]{1,1024}$"
"""A key file path without spaces, quotes or shell characters (it ends up on ssh's command line)."""


class DeployTarget(SpecModel):
    """SSH access for `hakit deploy`; every field is optional and overridable from the command line."""

    address: str | None = Field(
        default=None,
        max_length=253,
        description="address or DNS name to connect to (default: the host's first interface address)",
    )
    user: str = Field(default="root", pattern=USER_PATTERN, description="SSH login name")
    port: Port = Field(default=22, description="SSH port")
    key: str | None = Field(
        default=None, pattern=KEY_PATTERN, description="private key file (default: ssh's own choice)"
    )
    become: bool = Field(default=False, description="run the steps through sudo (needed unless user is root)")

    def rules(self) -> Iterator[Problem]:
        """The address is an IP address or a DNS name; a non-root user needs become."""
        if self.address is not None and not _is_address(self.address):
            yield Problem(
                ("address",),
                f"{self.address!r} is neither an IP address nor a DNS name (letters, digits, '-', '.')",
            )
        if self.user != "root" and not self.become:
            yield Problem(
                ("become",), f"user {self.user!r} cannot write /etc or reload daemons: set become: true"
            )


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return re.fullmatch(HOSTNAME_PATTERN, text) is not None and not text.startswith("-")
    return True
