"""Hosts: defined once in the inventory, referred to by name from every other section."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Interface, IPv4Network, IPv6Interface, IPv6Network
from typing import Annotated

from pydantic import BeforeValidator, Field

from hakit.spec.base import IfName, Problem, SpecModel, Text, check_ip_scope, fast_ipv4_interface
from hakit.spec.reach import DeployTarget

Address6 = Annotated[IPv6Interface, BeforeValidator(check_ip_scope)]
"""An IPv6 address with prefix; a scope id must be an interface name."""


class InterfaceSpec(SpecModel):
    """One network interface of a host: its IPv4 and/or IPv6 address with the prefix of its segment."""

    address: Annotated[IPv4Interface, BeforeValidator(fast_ipv4_interface)] | None = Field(
        default=None, description="IPv4 address with prefix, e.g. 198.18.1.11/24"
    )
    address6: Address6 | None = Field(
        default=None, description="IPv6 address with prefix, e.g. fd00:1::11/64"
    )

    def of_family(self, family: int) -> IPv4Interface | IPv6Interface | None:
        """The address (with prefix) of address family 4 or 6, if the interface has one."""
        return self.address if family == 4 else self.address6

    def rules(self) -> Iterator[Problem]:
        """An interface needs at least one address."""
        if self.address is None and self.address6 is None:
            yield Problem(("address",), "an interface needs an address or an address6")


class Host(SpecModel):
    """A physical or virtual machine that receives rendered files."""

    interfaces: dict[IfName, InterfaceSpec] = Field(
        min_length=1, description="network interfaces by Linux name (at most 15 characters)"
    )
    description: Text = ""
    deploy: DeployTarget | None = Field(default=None, description="how `hakit deploy` reaches the host (SSH)")

    def network_of(self, interface: str, family: int) -> IPv4Network | IPv6Network | None:
        """The segment (network) `interface` sits on for address family 4 or 6, if it has such an address."""
        spec = self.interfaces.get(interface)
        own = spec.of_family(family) if spec is not None else None
        return own.network if own is not None else None

    def primary_address(self) -> str:
        """The first interface's IPv4 address (else IPv6), without prefix: the host's address for peers."""
        first = next(iter(self.interfaces.values()))
        chosen = first.address or first.address6
        assert chosen is not None  # guaranteed by InterfaceSpec.rules
        return str(chosen.ip)
