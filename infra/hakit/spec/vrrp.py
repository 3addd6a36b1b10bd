"""VRRP (keepalived) settings of a load-balancer cluster: instances, sync groups, tracking, notify, GARP."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from ipaddress import IPv4Interface, IPv6Interface, ip_interface
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, SecretStr
from pydantic_core import PydanticCustomError

from hakit.spec.base import (
    TOKEN_FORBIDDEN,
    AddressKey,
    DurationMs,
    IfName,
    Name,
    Problem,
    SpecModel,
    address_key,
    check_ip_scope,
    fast_ipv4_interface,
    shared_default,
)

PASSWORD_FORBIDDEN = TOKEN_FORBIDDEN | {"!"}
"""Characters a VRRP password may not hold: a `Token`'s, and keepalived's second comment sign '!'."""

Priority = Annotated[int, Field(ge=1, le=254)]
"""VRRP priority; 255 is reserved for the address owner and 0 means 'release the VIP'."""


def _parse_vip(value: Any) -> Any:
    """One clear error for a bad VIP instead of one per address family; a scope id names an interface."""
    if isinstance(value, str):
        fast = fast_ipv4_interface(value)
        if fast is not value:
            return fast
        check_ip_scope(value)
        try:
            return ip_interface(value)
        except ValueError:
            raise PydanticCustomError(
                "vip", "not an IP address with an optional /prefix: {value}", {"value": repr(value)}
            ) from None
    return value


Vip = Annotated[IPv4Interface | IPv6Interface, BeforeValidator(_parse_vip)]
"""A virtual IP address, IPv4 or IPv6, with the prefix of its segment."""


class VrrpAuth(SpecModel):
    """VRRPv2 authentication (RFC 3768). VRRPv3 removed it: use it with `version: 2` only."""

    type: Literal["PASS", "AH"] = "PASS"
    password: SecretStr = Field(description="at most 8 characters (keepalived truncates longer ones)")

    def rules(self) -> Iterator[Problem]:
        """keepalived silently truncates passwords to 8 characters: refuse instead."""
        if len(self.password.get_secret_value()) > 8:
            yield Problem(("password",), "VRRP passwords are at most 8 characters")
        if not self.password.get_secret_value():
            yield Problem(("password",), "the password is empty")
        # keepalived.conf cuts a bare word at '!' or '#' (comments), '"' and spaces, and '}' closes the
        # authentication block (keepalived 2.2.7); the template also quotes it. The message never echoes
        # the secret, not even the offending character.
        if any(char.isspace() or char in PASSWORD_FORBIDDEN for char in self.password.get_secret_value()):
            yield Problem(
                ("password",), f"must not contain spaces or any of {' '.join(sorted(PASSWORD_FORBIDDEN))}"
            )


class Garp(SpecModel):
    """Gratuitous ARP / unsolicited NA behaviour after a node becomes MASTER (keepalived defaults)."""

    model_config = ConfigDict(frozen=True)  # one default instance is shared (`shared_default`)

    master_delay: int = Field(default=5, ge=0, le=255, description="seconds before the second GARP burst")
    master_repeat: int = Field(default=5, ge=1, le=255, description="GARP messages per burst")
    master_refresh: int = Field(
        default=0, ge=0, description="seconds between refresh bursts while MASTER (0: off)"
    )
    master_refresh_repeat: int = Field(default=1, ge=1, le=255)
    lower_prio_repeat: int | None = Field(
        default=None, ge=1, le=255, description="GARPs sent when a lower-priority advert is received"
    )


class TrackProxy(SpecModel):
    """The `vrrp_script` checking that the local proxy answers on its health port."""

    model_config = ConfigDict(frozen=True)  # one default instance is shared (`shared_default`)

    enabled: bool = True
    interval: DurationMs = Field(default=1000, description="how often the check runs (whole seconds)")
    timeout: DurationMs = Field(default=1000, description="a check slower than this fails (whole seconds)")
    fall: int = Field(default=2, ge=1, le=255, description="consecutive failures before the node gives up")
    rise: int = Field(default=2, ge=1, le=255, description="consecutive successes before it is healthy")
    weight: int = Field(
        default=0,
        ge=-254,
        le=0,
        description="0: a failing proxy puts the node in FAULT; <0: lower the priority",
    )

    def rules(self) -> Iterator[Problem]:
        """keepalived 2.2 reads vrrp_script interval and timeout as whole seconds (1 to 4294)."""
        for name, value in (("interval", self.interval), ("timeout", self.timeout)):
            if value % 1000 or not 1000 <= value <= 4_294_000:
                yield Problem((name,), "keepalived takes whole seconds here (1s to 4294s)")


class VrrpInstance(SpecModel):
    """One virtual router: a VRID on an interface carrying one or more VIPs of a single address family."""

    interface: IfName
    vrid: int = Field(ge=1, le=255, description="virtual_router_id: unique per segment and address family")
    vips: list[Vip] = Field(min_length=1, description="virtual addresses inside the interface subnet")
    routed_vips: list[Vip] = Field(
        default_factory=list, description="virtual addresses outside the subnet, reached through routing"
    )
    priorities: dict[str, Priority] = Field(
        default_factory=dict, description="per-node priority overrides (e.g. active/active pairs)"
    )
    nopreempt: bool = Field(default=False, description="a recovered higher-priority node does not take over")
    preempt_delay: int = Field(default=0, ge=0, le=1000, description="seconds before preempting after start")
    track_interfaces: list[IfName] = Field(
        default_factory=list, description="FAULT when one of these is down"
    )

    def all_vips(self) -> list[Vip]:
        """VIPs in the subnet, then routed VIPs."""
        return [*self.vips, *self.routed_vips]

    def family(self) -> int:
        """4 or 6: the address family of the first VIP."""
        return self.vips[0].version

    def rules(self) -> Iterator[Problem]:
        """One address family per instance; no VIP twice; nopreempt and preempt_delay exclude each other."""
        family = self.family()
        for group_name, group in (("vips", self.vips), ("routed_vips", self.routed_vips)):
            for position, vip in enumerate(group):
                if vip.version != family:
                    yield Problem(
                        (group_name, position),
                        f"an instance carries one address family: {vip} is IPv{vip.version}, "
                        f"the first VIP is IPv{family} (use a second instance)",
                    )
        seen: set[AddressKey] = set()
        for group_name, group in (("vips", self.vips), ("routed_vips", self.routed_vips)):
            for position, vip in enumerate(group):
                key = address_key(vip)
                if key in seen:
                    yield Problem((group_name, position), f"VIP {vip.ip} is listed twice")
                seen.add(key)
        if self.nopreempt and self.preempt_delay:
            yield Problem(("preempt_delay",), "has no effect with nopreempt: remove one of them")
        if len(set(self.track_interfaces)) != len(self.track_interfaces):
            yield Problem(("track_interfaces",), "an interface is listed twice")


class Vrrp(SpecModel):
    """keepalived settings shared by the instances of one cluster."""

    version: Literal[2, 3] = Field(
        default=3, description="VRRP protocol version (3: IPv6, sub-second adverts)"
    )
    advert_int: Decimal = Field(
        default=Decimal(1), description="advertisement interval in seconds; fractional only with version 3"
    )
    unicast: bool = Field(
        default=True, description="unicast adverts to the peers (clouds and many DCs block multicast)"
    )
    auth: VrrpAuth | None = Field(default=None, description="VRRPv2 only")
    track_proxy: TrackProxy = Field(default_factory=shared_default(TrackProxy))
    notify: bool = Field(default=True, description="run the notify script on every state change")
    notify_master_rx_lower_pri: bool = Field(
        default=True, description="call the notify script when a MASTER hears a lower-priority MASTER"
    )
    garp: Garp = Field(default_factory=shared_default(Garp))
    instances: dict[Name, VrrpInstance] = Field(min_length=1)
    sync_groups: dict[Name, list[str]] = Field(
        default_factory=dict, description="instances that change state together"
    )

    def rules(self) -> Iterator[Problem]:
        """Version-specific limits, sync-group references, VRID uniqueness inside the cluster."""
        yield from self._advert_rules()
        if self.auth is not None and self.version == 3:
            yield Problem(("auth",), "VRRPv3 has no authentication (RFC 5798): remove auth or use version: 2")
        for name, instance in self.instances.items():
            if self.version == 2 and instance.family() == 6:
                yield Problem(("instances", name, "vips"), "IPv6 VIPs need VRRP version 3")
        member_of: dict[str, str] = {}
        for group, members in self.sync_groups.items():
            if len(members) < 2:
                yield Problem(("sync_groups", group), "a sync group needs at least two instances")
            for position, member in enumerate(members):
                if member not in self.instances:
                    yield Problem(
                        ("sync_groups", group, position),
                        f"unknown instance {member!r} (known: {', '.join(sorted(self.instances))})",
                    )
                elif member in member_of:
                    yield Problem(
                        ("sync_groups", group, position),
                        f"instance {member!r} is already in sync group {member_of[member]!r}",
                    )
                else:
                    member_of[member] = group

    def _advert_rules(self) -> Iterator[Problem]:
        advert = self.advert_int
        if self.version == 2:
            if advert != advert.to_integral_value():
                yield Problem(("advert_int",), "fractional advert_int needs VRRP version 3")
            elif not 1 <= advert <= 255:
                yield Problem(("advert_int",), "VRRPv2 advert_int is 1 to 255 seconds")
        else:
            if not Decimal("0.01") <= advert <= Decimal("40.95"):
                yield Problem(("advert_int",), "VRRPv3 advert_int is 0.01 to 40.95 seconds")
            elif advert * 100 != (advert * 100).to_integral_value():
                yield Problem(("advert_int",), "VRRPv3 advert_int has a resolution of 10ms (0.01)")
