"""The bare-metal inventory: hosts defined once, sections that refer to them by name.

Extending it: add an optional section field to `Inventory` whose models refer to hosts by name, and
add its cross-section checks to `Inventory.rules` (host references are checked by `_host_refs`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from hakit.spec.backup import Backups, backup_rules
from hakit.spec.base import AddressKey, Name, Problem, SpecModel, address_key
from hakit.spec.hosts import Host
from hakit.spec.loadbalancer import LoadBalancer, Node
from hakit.spec.loader import load_model
from hakit.spec.mariadb import Databases, database_rules
from hakit.spec.slo import SloSpec
from hakit.spec.vrrp import Vrrp
from hakit.spec.waivers import WaiverSpec
from hakit.spec.yaml_reader import YamlDocument

_VALIDATED: ContextVar[dict[int, Any] | None] = ContextVar("hakit_inventory_validated", default=None)
"""While an inventory validates: id(raw section) -> its validated model (for the rules over valid parts)."""


def _remembered(raw: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate a host or cluster and remember the result, so the error path need not validate it again."""
    result = handler(raw)
    memo = _VALIDATED.get()
    if memo is not None:
        memo[id(raw)] = result
    return result


class Inventory(SpecModel):
    """Top level of `inventory.yaml`; top-level `x-*` keys are ignored (YAML anchors live there)."""

    model_config = ConfigDict(json_schema_extra={"patternProperties": {"^x-": {}}})

    _declared_hosts: set[str] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _validate_everything(cls, data: Any, handler: ModelWrapValidatorHandler[Inventory]) -> Inventory:
        """Drop `x-*` keys (YAML anchors live there), then report every problem at once.

        When some hosts or clusters are invalid, the cross-section rules still run over the valid
        ones, so a VRID clash is reported together with a typo elsewhere.
        """
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if not str(key).startswith("x-")}
        token = _VALIDATED.set({})
        try:
            return handler(data)
        except ValidationError as err:
            errors = err.errors(include_url=False)
            known = {(tuple(error["loc"]), error["msg"]) for error in errors}
            more = [p for p in _rules_over_the_valid_parts(data, err) if (p.loc, p.message) not in known]
            if not more:
                raise
            details = [
                _detail(error["type"], error["msg"], error["loc"], error.get("input")) for error in errors
            ]
            details += [_detail("rule", problem.message, problem.loc, None) for problem in more]
            raise ValidationError.from_exception_data(cls.__name__, details) from None
        finally:
            _VALIDATED.reset(token)

    version: Literal[1] = 1
    hosts: dict[Name, Annotated[Host, WrapValidator(_remembered)]] = Field(min_length=1)
    load_balancers: dict[Name, Annotated[LoadBalancer, WrapValidator(_remembered)]] = Field(
        default_factory=dict, description="keepalived + HAProxy/nginx clusters"
    )
    backups: Backups = Field(default_factory=dict, description="database dumps to S3 on systemd timers")
    databases: Databases = Field(default_factory=dict, description="dual-primary MariaDB pairs")
    slo: SloSpec | None = Field(default=None, description="recovery objectives `hakit report` checks against")
    waivers: list[WaiverSpec] = Field(
        default_factory=list, max_length=1000, description="findings accepted per inventory object"
    )

    def rules(self) -> Iterator[Problem]:
        """Cross-section rules: host references, interfaces, VIP subnets, VRID per segment."""
        yield from self._unique_addresses()
        owner: dict[str, str] = {}
        declared = self._declared_hosts if self._declared_hosts is not None else set(self.hosts)
        for cluster_name, cluster in self.load_balancers.items():
            base = ("load_balancers", cluster_name)
            for node in cluster.nodes:
                if node not in declared:
                    yield Problem((*base, "nodes", node), f"unknown host {node!r} (define it under hosts)")
                elif node not in self.hosts:
                    continue  # declared but invalid: its own errors are reported
                elif node in owner:
                    yield Problem(
                        (*base, "nodes", node),
                        f"host {node!r} is already a node of load balancer {owner[node]!r}",
                    )
                else:
                    owner[node] = cluster_name
            if all(node in self.hosts for node in cluster.nodes):
                yield from self._interface_rules(cluster_name, cluster)
        yield from self._vrid_rules()
        yield from backup_rules(self.backups, self.hosts)
        yield from database_rules(self.databases, self.hosts, owner)

    def _unique_addresses(self) -> Iterator[Problem]:
        seen: dict[AddressKey, str] = {}
        for host_name, host in self.hosts.items():
            for if_name, interface in host.interfaces.items():
                for field, value in (("address", interface.address), ("address6", interface.address6)):
                    if value is None:
                        continue
                    key = address_key(value)
                    if key in seen:
                        yield Problem(
                            ("hosts", host_name, "interfaces", if_name, field),
                            f"{value.ip} is already used by {seen[key]}",
                        )
                    else:
                        seen[key] = f"{host_name}.{if_name}"

    def _interface_rules(self, cluster_name: str, cluster: LoadBalancer) -> Iterator[Problem]:
        for name, spec in cluster.vrrp.instances.items():
            loc = ("load_balancers", cluster_name, "vrrp", "instances", name)
            family = spec.family()
            vips = [(position, vip, address_key(vip)) for position, vip in enumerate(spec.vips)]
            for node in cluster.nodes:
                interfaces = self.hosts[node].interfaces
                interface = interfaces.get(spec.interface)
                if interface is None:
                    yield Problem((*loc, "interface"), f"host {node!r} has no interface {spec.interface!r}")
                    continue
                own = interface.of_family(family)
                if own is None:
                    field = "address" if family == 4 else "address6"
                    yield Problem(
                        (*loc, "vips"),
                        f"IPv{family} VIPs need an IPv{family} {field} on {node}.{spec.interface}",
                    )
                    continue
                own_key = address_key(own)
                network = own.network
                base, mask = int(network.network_address), int(network.netmask)
                for position, vip, vip_key in vips:
                    # `vip.ip in own.network` on the integers at hand (two objects per VIP cost more)
                    if vip_key[0] != own_key[0] or vip_key[1] & mask != base:
                        yield Problem(
                            (*loc, "vips", position),
                            f"{vip.ip} is outside {node}.{spec.interface}'s subnet {network} "
                            "(move it to routed_vips if it is routed to the nodes)",
                        )
                    if vip_key == own_key:
                        yield Problem((*loc, "vips", position), f"{vip.ip} is the address of host {node!r}")
                for position, track in enumerate(spec.track_interfaces):
                    if track not in interfaces:
                        yield Problem(
                            (*loc, "track_interfaces", position), f"host {node!r} has no interface {track!r}"
                        )

    def segment_of(self, node: str, interface: str, family: int) -> str | None:
        """The L2 segment (subnet) that `node`'s `interface` sits on for an address family."""
        network = self.hosts[node].network_of(interface, family)
        return str(network) if network is not None else None

    def _vrid_rules(self) -> Iterator[Problem]:
        """A VRID may appear once per segment and family: two routers with one VRID fight over the VIPs."""
        # A segment is keyed by integers (family, network, netmask): they hash in C, where a network
        # object hashes in Python, and they sort as the networks do.
        seen: dict[tuple[tuple[int, int, int], int], str] = {}
        hosts = self.hosts
        for cluster_name, cluster in self.load_balancers.items():
            nodes = [hosts[node] for node in cluster.nodes if node in hosts]
            if len(nodes) != len(cluster.nodes):
                continue
            for name, spec in cluster.vrrp.instances.items():
                family = spec.family()
                segments: dict[tuple[int, int, int], IPv4Network | IPv6Network] = {}
                for host in nodes:
                    network = host.network_of(spec.interface, family)
                    if network is not None:
                        segments[(family, int(network.network_address), int(network.netmask))] = network
                for segment in sorted(segments) if len(segments) > 1 else segments:
                    key = (segment, spec.vrid)
                    if key in seen:
                        yield Problem(
                            ("load_balancers", cluster_name, "vrrp", "instances", name, "vrid"),
                            f"VRID {spec.vrid} is already used on segment {segments[segment]} by {seen[key]}",
                        )
                        break
                    seen[key] = f"{cluster_name}.{name}"

    def hosts_of(self, cluster_name: str) -> list[str]:
        """The node host names of a load-balancer cluster, in inventory order."""
        return list(self.load_balancers[cluster_name].nodes)


def _rules_over_the_valid_parts(data: dict[str, Any], err: ValidationError) -> list[Problem]:
    """The cross-section problems among the hosts and clusters that are valid on their own."""
    broken = {tuple(error["loc"][:2]) for error in err.errors(include_url=False) if len(error["loc"]) >= 2}
    raw_hosts = data.get("hosts") if isinstance(data.get("hosts"), dict) else {}
    raw_clusters = data.get("load_balancers") if isinstance(data.get("load_balancers"), dict) else {}
    assert isinstance(raw_hosts, dict) and isinstance(raw_clusters, dict)
    hosts = {name: _valid(Host, raw) for name, raw in raw_hosts.items() if ("hosts", name) not in broken}
    clusters = {name: _cluster_for_rules(raw) for name, raw in raw_clusters.items()}
    partial = Inventory.model_construct(
        hosts={name: host for name, host in hosts.items() if host is not None},
        load_balancers={name: cluster for name, cluster in clusters.items() if cluster is not None},
        backups={},
        databases={},
    )
    partial._declared_hosts = {str(name) for name in raw_hosts}
    return list(partial.rules())


def _cluster_for_rules(raw: Any) -> LoadBalancer | None:
    """A cluster for the cross-section rules: valid, or its valid `nodes` and `vrrp` when only other parts
    (frontends, backends...) are broken, so a frontend typo does not hide a VIP outside its subnet.

    The cross-section rules read only `nodes` and `vrrp` of a cluster.
    """
    full = _valid(LoadBalancer, raw)
    if full is not None or not isinstance(raw, dict):
        return full
    nodes = _valid_as(_NODES, raw.get("nodes"))
    vrrp = _valid(Vrrp, raw.get("vrrp"))
    if nodes is None or vrrp is None or len(nodes) < 2:
        return None
    return LoadBalancer.model_construct(nodes=nodes, vrrp=vrrp, proxy=None)  # type: ignore[arg-type]


_NODES: TypeAdapter[dict[str, Node]] = TypeAdapter(dict[str, Node])


def _valid_as(adapter: TypeAdapter[Any], raw: Any) -> Any:
    try:
        return adapter.validate_python(raw)
    except ValidationError:
        return None


def _detail(kind: str, message: str, loc: Any, value: Any) -> InitErrorDetails:
    """A pydantic error carrying `message` verbatim (its type kept for the loader's wording)."""
    return InitErrorDetails(
        type=PydanticCustomError(kind, "{message}", {"message": message}), loc=tuple(loc), input=value
    )


def _valid(model: type[SpecModel], raw: Any) -> Any:
    memo = _VALIDATED.get()
    if memo is not None and id(raw) in memo:
        return memo[id(raw)]
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def load_inventory(path: str | Path, *, document: YamlDocument | None = None) -> Inventory:
    """Load and validate an inventory file; problems raise `SpecError` (exit 2) with FILE:LINE lines.

    `document`: the file already read (by `read_ahead`); None reads it here.
    """
    return load_model(path, Inventory, document=document)
