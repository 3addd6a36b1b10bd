"""DNS failover on Route 53: health checks, failover/weighted/latency records, optional ARC routing controls.

`FailoverDns` owns one record name in one hosted zone. Route 53 and Route 53 ARC are global services:
their resources take no `region`; the component's `region` only defaults CloudWatch-alarm checks.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Required, TypedDict

import pulumi

from hakit.components._util import (
    check_choice,
    check_ip,
    check_range,
    check_region,
    child_opts,
    fail,
    merge_tags,
    require_plain,
    resource_suffix,
    unique,
)

if TYPE_CHECKING:
    import pulumi_aws.route53 as route53

TOKEN = "hakit:dns:FailoverDns"
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"  # every CloudFront distribution's alias hosted zone
CHECK_TYPES = ("HTTP", "HTTPS", "TCP", "CALCULATED", "CLOUDWATCH_METRIC")
ROUTING_POLICIES = ("failover", "weighted", "latency")
RECORD_TYPES = ("A", "AAAA", "CNAME")
TTL_RANGE = (1, 86_400)  # 0 disables resolver caching (query storm); over a day defeats failover
INSUFFICIENT_DATA = ("Healthy", "Unhealthy", "LastKnownStatus")


class FailoverDnsHealthCheckArgs(TypedDict, total=False):
    """A Route 53 health check: an endpoint probe, a calculated check over others, or a CloudWatch alarm."""

    type: Required[str]
    """HTTP, HTTPS, TCP (endpoint probes), CALCULATED (over `children`) or CLOUDWATCH_METRIC (an alarm)."""
    fqdn: pulumi.Input[str]
    """Endpoint host name to probe (give this or `ip_address` for HTTP/HTTPS/TCP)."""
    ip_address: pulumi.Input[str]
    """Endpoint IP address to probe."""
    port: int
    """Endpoint port; default 80 for HTTP and TCP, 443 for HTTPS."""
    path: str
    """HTTP(S) request path, e.g. `/healthz`; default `/`."""
    search_string: str
    """HTTP(S) only: the response body (first 5120 bytes) must contain this string (max 255 chars)."""
    request_interval: int
    """Seconds between probes from each checker: 10 (fast) or 30 (standard); default 10."""
    failure_threshold: int
    """Consecutive failures (and successes) to change status, 1..10; default 3."""
    regions: list[str]
    """Checker regions (at least 3); default: Route 53's standard set."""
    measure_latency: bool
    """Publish latency metrics to CloudWatch (cannot be changed after creation); default false."""
    inverted: bool
    """Invert the status (healthy when the endpoint fails); default false."""
    enable_sni: bool
    """HTTPS only: send the host name in the TLS handshake; default true."""
    children: list[str]
    """CALCULATED only: names of other checks in `health_checks`."""
    child_health_threshold: int
    """CALCULATED only: how many children must be healthy; default all of them."""
    alarm_name: pulumi.Input[str]
    """CLOUDWATCH_METRIC only: the alarm's name."""
    alarm_region: str
    """CLOUDWATCH_METRIC only: the alarm's region; default the component's `region`, else `aws:region`."""
    insufficient_data_health_status: str
    """CLOUDWATCH_METRIC only: Healthy, Unhealthy or LastKnownStatus (default) while the alarm lacks data."""


class FailoverDnsAliasArgs(TypedDict, total=False):
    """An alias target: a load balancer, a CloudFront distribution, or another AWS resource with a zone id."""

    name: Required[pulumi.Input[str]]
    """The target's DNS name (e.g. a load balancer's `dns_name`, a distribution's `domain_name`)."""
    zone_id: Required[pulumi.Input[str]]
    """The target's canonical hosted zone id (`zone_id` / `hosted_zone_id` outputs)."""
    evaluate_target_health: bool
    """Let Route 53 use the target's own health (default true). Forced off for CloudFront, which Route 53
    does not support; such records need a `health_check` when they are PRIMARY."""


class FailoverDnsRecordArgs(TypedDict, total=False):
    """One record set of the name: a failover role, a weight, or a latency region, and where it points."""

    role: str
    """Failover routing: PRIMARY or SECONDARY."""
    weight: int
    """Weighted routing: relative weight 0..255."""
    region: str
    """Latency routing: the AWS region of the target (also used to derive the set identifier)."""
    set_identifier: str
    """Unique id within the name; default derived (`primary`, `secondary`, the region, or `weighted-N`)."""
    alias: FailoverDnsAliasArgs
    """Alias target (give this or `values`)."""
    values: list[pulumi.Input[str]]
    """Plain record values (IP addresses, or one host name for CNAME)."""
    ttl: int
    """Plain records only: TTL seconds, 1..86400; default 60."""
    health_check: str
    """Name of a check in `health_checks` that gates this record."""
    cell: str
    """ARC only: the cell (routing control) that gates this record."""


class FailoverDnsRecoveryControlArgs(TypedDict, total=False):
    """Route 53 Application Recovery Controller: one routing control per cell, gated by a safety rule."""

    cells: Required[list[str]]
    """Cell names (often region names); one routing control and one health check each."""
    cluster_arn: pulumi.Input[str]
    """An existing ARC cluster to use (clusters are billed per hour; share one). Default: create one."""
    min_cells_on: int
    """Safety rule: at least this many routing controls stay On; default 1."""
    wait_period_ms: int
    """Safety rule evaluation wait, milliseconds; default 5000."""


class FailoverDnsArgs(TypedDict, total=False):
    """Arguments of `FailoverDns`."""

    zone_id: Required[pulumi.Input[str]]
    """The hosted zone holding the records."""
    name: Required[str]
    """The record name, e.g. `app.example.com`."""
    type: str
    """Record type: A (default), AAAA or CNAME (plain records only)."""
    routing_policy: str
    """failover (default: exactly one PRIMARY and one SECONDARY), weighted or latency (active-active)."""
    records: Required[list[FailoverDnsRecordArgs]]
    """The record sets of the name."""
    health_checks: dict[str, FailoverDnsHealthCheckArgs]
    """Health checks by name (name them after regions so `hakit failover` finds them)."""
    recovery_control: FailoverDnsRecoveryControlArgs
    """Optional ARC routing controls gating the records."""
    region: str
    """Default region for CloudWatch-alarm checks (Route 53 itself is global)."""
    tags: dict[str, str]
    """Extra tags on health checks and ARC resources."""


class FailoverDns(pulumi.ComponentResource):
    """Route 53 failover (or weighted/latency) records for one name, with health checks and optional ARC."""

    fqdn: pulumi.Output[str]
    """The record's fully qualified name."""
    set_identifiers: pulumi.Output[list[str]]
    """Set identifiers of the record sets, in `records` order."""
    health_check_ids: pulumi.Output[dict[str, str]]
    """Health check ids by name (the `health_checks` keys)."""
    routing_control_arns: pulumi.Output[dict[str, str]]
    """ARC routing control ARNs by cell (empty without ARC)."""
    routing_control_health_check_ids: pulumi.Output[dict[str, str]]
    """Routing-control health check ids by cell (empty without ARC)."""
    cluster_arn: pulumi.Output[str | None]
    """The ARC cluster ARN (None without ARC)."""
    control_panel_arn: pulumi.Output[str | None]
    """The ARC control panel ARN (None without ARC)."""

    def __init__(self, name: str, args: FailoverDnsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        """Validate `args` (nothing is registered if they are wrong), then create checks, ARC, records."""
        records = _validate(args)
        super().__init__(TOKEN, name, {}, opts)
        tags = merge_tags(TOKEN, name, args.get("tags"))
        checks = _health_checks(self, name, args, tags)
        arc = _recovery_control(self, name, args.get("recovery_control"), tags)
        zone_id = args["zone_id"]
        created: list[route53.Record] = []
        for index, (record, set_id) in enumerate(records):
            gate = _record_gate(self, name, record, set_id, checks, arc, tags)
            created.append(_record(self, name, args, index, record, set_id, zone_id, gate))

        self.fqdn = created[0].fqdn
        self.set_identifiers = pulumi.Output.from_input([set_id for _, set_id in records])
        self.health_check_ids = pulumi.Output.all(**{k: v.id for k, v in checks.items()}).apply(dict)
        self.routing_control_arns = arc.routing_control_arns
        self.routing_control_health_check_ids = arc.health_check_ids
        self.cluster_arn = arc.cluster_arn
        self.control_panel_arn = arc.control_panel_arn
        self.register_outputs(
            {
                "fqdn": self.fqdn,
                "set_identifiers": self.set_identifiers,
                "health_check_ids": self.health_check_ids,
                "routing_control_arns": self.routing_control_arns,
                "routing_control_health_check_ids": self.routing_control_health_check_ids,
                "cluster_arn": self.cluster_arn,
                "control_panel_arn": self.control_panel_arn,
            }
        )


# ---------------------------------------------------------------- validation (pure)


def _derived_set_id(policy: str, index: int, record: Mapping[str, Any]) -> str:
    if record.get("set_identifier"):
        return str(record["set_identifier"])
    if policy == "failover":
        return str(record.get("role", "")).lower()
    if record.get("region"):
        return str(record["region"])
    return f"weighted-{index}"


def _validate(args: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], str]]:
    """Check every rule the API (or good practice) imposes; return (record, set identifier) pairs."""
    where = "FailoverDnsArgs"
    for key in ("zone_id", "name", "records"):
        if not args.get(key):
            fail(f"{where}.{key}", "is required")
    require_plain(args["name"], f"{where}.name")
    policy = args.get("routing_policy", "failover")
    check_choice(policy, ROUTING_POLICIES, f"{where}.routing_policy")
    rtype = args.get("type", "A")
    check_choice(rtype, RECORD_TYPES, f"{where}.type")
    if args.get("region"):
        check_region(args["region"], f"{where}.region")
    checks: Mapping[str, Any] = args.get("health_checks") or {}
    for key, check in checks.items():
        _validate_check(key, check, checks, args.get("region"))
    _creation_order(checks)  # raises on cycles
    arc = args.get("recovery_control")
    cells: list[str] = []
    if arc is not None:
        cells = list(arc.get("cells") or [])
        if not cells:
            fail(f"{where}.recovery_control.cells", "needs at least one cell")
        if unique(cells):
            fail(f"{where}.recovery_control.cells", f"duplicate cell {unique(cells)[0]!r}")
        check_range(arc.get("min_cells_on", 1), 1, len(cells), f"{where}.recovery_control.min_cells_on")
        check_range(arc.get("wait_period_ms", 5000), 0, 3_600_000, f"{where}.recovery_control.wait_period_ms")

    records: list[Mapping[str, Any]] = list(args["records"])
    if policy == "failover":
        roles = [str(r.get("role", "")).upper() for r in records]
        if sorted(roles) != ["PRIMARY", "SECONDARY"]:
            fail(
                f"{where}.records", f"exactly one PRIMARY and one SECONDARY record are required, got {roles}"
            )
    pairs: list[tuple[Mapping[str, Any], str]] = []
    for index, record in enumerate(records):
        at = f"{where}.records[{index}]"
        _validate_record(at, record, policy, rtype, checks, cells)
        pairs.append((record, _derived_set_id(policy, index, record)))
    dupes = unique([set_id for _, set_id in pairs])
    if dupes:
        fail(f"{where}.records", f"duplicate set identifier {dupes[0]!r} (each record set needs its own)")
    if policy == "weighted" and not any(r.get("weight", 0) for r in records):
        fail(f"{where}.records", "at least one weighted record needs a weight above 0")
    return pairs


def _validate_record(
    at: str,
    record: Mapping[str, Any],
    policy: str,
    rtype: str,
    checks: Mapping[str, Any],
    cells: list[str],
) -> None:
    alias = record.get("alias")
    values = record.get("values")
    if bool(alias) == bool(values):
        fail(at, "give exactly one of `alias` or `values`")
    if alias is not None:
        if rtype == "CNAME":
            fail(f"{at}.alias", "alias records must be type A or AAAA")
        if "ttl" in record:
            fail(f"{at}.ttl", "alias records take the target's TTL; remove `ttl`")
        for key in ("name", "zone_id"):
            if not alias.get(key):
                fail(f"{at}.alias.{key}", "is required")
    else:
        check_range(record.get("ttl", 60), *TTL_RANGE, f"{at}.ttl")
        if rtype == "CNAME" and len(values or []) != 1:
            fail(f"{at}.values", "a CNAME record has exactly one value")
        if rtype in ("A", "AAAA"):
            for i, value in enumerate(values or []):
                check_ip(value, 4 if rtype == "A" else 6, f"{at}.values[{i}]")
    check = record.get("health_check")
    if check is not None and check not in checks:
        fail(
            f"{at}.health_check", f"{check!r} is not in health_checks ({', '.join(sorted(checks)) or 'none'})"
        )
    cell = record.get("cell")
    if cells and not cell:
        fail(f"{at}.cell", "with recovery_control every record names its cell")
    if cell is not None and cell not in cells:
        fail(f"{at}.cell", f"{cell!r} is not in recovery_control.cells")
    if policy == "failover":
        role = str(record.get("role", "")).upper()
        check_choice(role, ("PRIMARY", "SECONDARY"), f"{at}.role")
        has_signal = check is not None or cell is not None
        if role == "PRIMARY" and not has_signal:
            if alias is None:
                fail(at, "a non-alias PRIMARY record needs a health_check (or an ARC cell)")
            if alias.get("zone_id") == CLOUDFRONT_ZONE_ID:
                fail(
                    at,
                    "a PRIMARY alias to CloudFront needs a health_check (Route 53 cannot evaluate it)",
                )
            if alias.get("evaluate_target_health", True) is False:
                fail(at, "a PRIMARY alias without evaluate_target_health needs a health_check")
    elif policy == "weighted":
        if "weight" not in record:
            fail(f"{at}.weight", "is required for weighted routing")
        check_range(record["weight"], 0, 255, f"{at}.weight")
    elif policy == "latency":
        if not record.get("region"):
            fail(f"{at}.region", "is required for latency routing")
        check_region(record["region"], f"{at}.region")


def _validate_check(key: str, check: Mapping[str, Any], checks: Mapping[str, Any], region: Any) -> None:
    at = f"FailoverDnsArgs.health_checks[{key!r}]"
    kind = check.get("type")
    check_choice(kind, CHECK_TYPES, f"{at}.type")
    check_choice(check.get("request_interval", 10), (10, 30), f"{at}.request_interval")
    check_range(check.get("failure_threshold", 3), 1, 10, f"{at}.failure_threshold")
    if kind in ("HTTP", "HTTPS", "TCP"):
        if not check.get("fqdn") and not check.get("ip_address"):
            fail(at, f"a {kind} check needs `fqdn` or `ip_address`")
        if "port" in check:
            check_range(check["port"], 1, 65535, f"{at}.port")
        regions = check.get("regions")
        if regions is not None:
            if len(regions) < 3:
                fail(f"{at}.regions", "Route 53 needs at least 3 checker regions")
            for i, r in enumerate(regions):
                check_region(r, f"{at}.regions[{i}]")
    if kind == "TCP":
        for key_ in ("path", "search_string"):
            if key_ in check:
                fail(f"{at}.{key_}", "only HTTP/HTTPS checks take it")
    search = check.get("search_string")
    if search is not None and not 1 <= len(search) <= 255:
        fail(f"{at}.search_string", "must be 1..255 characters")
    path = check.get("path")
    if path is not None and not str(path).startswith("/"):
        fail(f"{at}.path", "must start with '/'")
    if kind == "CALCULATED":
        children = list(check.get("children") or [])
        if not children:
            fail(f"{at}.children", "a CALCULATED check needs children")
        for child in children:
            if child == key:
                fail(f"{at}.children", "a check cannot be its own child")
            if child not in checks:
                fail(f"{at}.children", f"{child!r} is not in health_checks")
        check_range(
            check.get("child_health_threshold", len(children)),
            0,
            len(children),
            f"{at}.child_health_threshold",
        )
    elif "children" in check:
        fail(f"{at}.children", "only CALCULATED checks have children")
    if kind == "CLOUDWATCH_METRIC":
        if not check.get("alarm_name"):
            fail(f"{at}.alarm_name", "is required for a CLOUDWATCH_METRIC check")
        if not (check.get("alarm_region") or region or pulumi.Config("aws").get("region")):
            fail(f"{at}.alarm_region", "is required (or set the component's region / aws:region)")
        check_choice(
            check.get("insufficient_data_health_status", "LastKnownStatus"),
            INSUFFICIENT_DATA,
            f"{at}.insufficient_data_health_status",
        )


def _creation_order(checks: Mapping[str, Any]) -> list[str]:
    """Check names with every child before its calculated parent; rejects cycles."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(key: str, trail: list[str]) -> None:
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            fail(
                "FailoverDnsArgs.health_checks",
                f"calculated checks form a cycle: {' -> '.join([*trail, key])}",
            )
        state[key] = 1
        for child in checks[key].get("children") or []:
            visit(child, [*trail, key])
        state[key] = 2
        order.append(key)

    for key in checks:
        visit(key, [])
    return order


# ---------------------------------------------------------------- resources


def _health_checks(
    parent: pulumi.Resource, name: str, args: Mapping[str, Any], tags: dict[str, str]
) -> "dict[str, route53.HealthCheck]":
    import pulumi_aws.route53 as route53

    checks: Mapping[str, Any] = args.get("health_checks") or {}
    created: dict[str, route53.HealthCheck] = {}
    for key in _creation_order(checks):
        spec = checks[key]
        kind = spec["type"]
        props: dict[str, Any] = {"request_interval": spec.get("request_interval", 10)}
        props["failure_threshold"] = spec.get("failure_threshold", 3)
        if kind in ("HTTP", "HTTPS", "TCP"):
            search = spec.get("search_string")
            props["type"] = f"{kind}_STR_MATCH" if search else kind
            props["port"] = spec.get("port", 443 if kind == "HTTPS" else 80)
            for key_name in ("fqdn", "ip_address", "regions"):
                if spec.get(key_name) is not None:
                    props[key_name] = spec[key_name]
            if kind != "TCP":
                props["resource_path"] = spec.get("path", "/")
            if search:
                props["search_string"] = search
            if kind == "HTTPS":
                props["enable_sni"] = spec.get("enable_sni", True)
            props["measure_latency"] = spec.get("measure_latency", False)
        elif kind == "CALCULATED":
            children = list(spec["children"])
            props = {
                "type": "CALCULATED",
                "child_healthchecks": [created[c].id for c in children],
                "child_health_threshold": spec.get("child_health_threshold", len(children)),
            }
        else:
            props = {
                "type": "CLOUDWATCH_METRIC",
                "cloudwatch_alarm_name": spec["alarm_name"],
                "cloudwatch_alarm_region": spec.get("alarm_region")
                or args.get("region")
                or pulumi.Config("aws").get("region"),
                "insufficient_data_health_status": spec.get(
                    "insufficient_data_health_status", "LastKnownStatus"
                ),
            }
        props["invert_healthcheck"] = spec.get("inverted", False)
        created[key] = route53.HealthCheck(
            f"{name}-hc-{resource_suffix(key)}",
            tags={**tags, "Name": f"{name}-{key}"},
            opts=child_opts(parent),
            **props,
        )
    return created


class _Arc:
    """What the ARC part produced (all empty/None when ARC is off)."""

    def __init__(self) -> None:
        self.health_checks: dict[str, route53.HealthCheck] = {}
        self.routing_control_arns: pulumi.Output[dict[str, str]] = pulumi.Output.from_input({})
        self.health_check_ids: pulumi.Output[dict[str, str]] = pulumi.Output.from_input({})
        self.cluster_arn: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        self.control_panel_arn: pulumi.Output[str | None] = pulumi.Output.from_input(None)


def _recovery_control(
    parent: pulumi.Resource, name: str, spec: Mapping[str, Any] | None, tags: dict[str, str]
) -> _Arc:
    import pulumi_aws.route53 as route53

    arc = _Arc()
    if spec is None:
        return arc
    import pulumi_aws.route53recoverycontrol as rc

    opts = child_opts(parent)
    cluster_arn: pulumi.Input[str]
    if spec.get("cluster_arn"):
        cluster_arn = spec["cluster_arn"]
    else:
        cluster_arn = rc.Cluster(f"{name}-arc", tags=tags, opts=opts).arn
    panel = rc.ControlPanel(f"{name}-arc-panel", cluster_arn=cluster_arn, tags=tags, opts=opts)
    controls: dict[str, Any] = {}
    for cell in spec["cells"]:
        suffix = resource_suffix(cell)
        control = rc.RoutingControl(
            f"{name}-rc-{suffix}", cluster_arn=cluster_arn, control_panel_arn=panel.arn, opts=opts
        )
        controls[cell] = control
        arc.health_checks[cell] = route53.HealthCheck(
            f"{name}-hc-rc-{suffix}",
            type="RECOVERY_CONTROL",
            routing_control_arn=control.arn,
            tags={**tags, "Name": f"{name}-cell-{cell}"},
            opts=opts,
        )
    rc.SafetyRule(
        f"{name}-arc-min-on",
        control_panel_arn=panel.arn,
        asserted_controls=[c.arn for c in controls.values()],
        rule_config={"type": "ATLEAST", "threshold": spec.get("min_cells_on", 1), "inverted": False},
        wait_period_ms=spec.get("wait_period_ms", 5000),
        tags=tags,
        opts=opts,
    )
    arc.routing_control_arns = pulumi.Output.all(**{k: c.arn for k, c in controls.items()}).apply(dict)
    arc.health_check_ids = pulumi.Output.all(**{k: h.id for k, h in arc.health_checks.items()}).apply(dict)
    arc.cluster_arn = pulumi.Output.from_input(cluster_arn)
    arc.control_panel_arn = panel.arn
    return arc


def _record_gate(
    parent: pulumi.Resource,
    name: str,
    record: Mapping[str, Any],
    set_id: str,
    checks: "Mapping[str, route53.HealthCheck]",
    arc: _Arc,
    tags: dict[str, str],
) -> "route53.HealthCheck | None":
    """The check gating a record: its own, its cell's, or both combined (routing control AND endpoint)."""
    import pulumi_aws.route53 as route53

    own = checks.get(record["health_check"]) if record.get("health_check") else None
    cell = arc.health_checks.get(record["cell"]) if record.get("cell") else None
    if own is None or cell is None:
        return own or cell
    return route53.HealthCheck(
        f"{name}-hc-gate-{resource_suffix(set_id)}",
        type="CALCULATED",
        child_healthchecks=[cell.id, own.id],
        child_health_threshold=2,
        tags={**tags, "Name": f"{name}-{set_id}-gate"},
        opts=child_opts(parent),
    )


def _record(
    parent: pulumi.Resource,
    name: str,
    args: Mapping[str, Any],
    index: int,
    record: Mapping[str, Any],
    set_id: str,
    zone_id: pulumi.Input[str],
    gate: "route53.HealthCheck | None",
) -> "route53.Record":
    import pulumi_aws.route53 as route53

    policy = args.get("routing_policy", "failover")
    props: dict[str, Any] = {"set_identifier": set_id}
    if policy == "failover":
        props["failover_routing_policies"] = [{"type": str(record["role"]).upper()}]
    elif policy == "weighted":
        props["weighted_routing_policies"] = [{"weight": record["weight"]}]
    else:
        props["latency_routing_policies"] = [{"region": record["region"]}]
    alias = record.get("alias")
    if alias is not None:
        wanted = alias.get("evaluate_target_health", True)
        # Route 53 rejects EvaluateTargetHealth for CloudFront targets; decided when the zone id is known.
        zone = alias["zone_id"]
        evaluate: Any = (
            bool(wanted) and zone != CLOUDFRONT_ZONE_ID
            if isinstance(zone, str)
            else pulumi.Output.from_input(zone).apply(lambda z: bool(wanted) and z != CLOUDFRONT_ZONE_ID)
        )
        props["aliases"] = [
            {"name": alias["name"], "zone_id": alias["zone_id"], "evaluate_target_health": evaluate}
        ]
    else:
        props["records"] = list(record["values"])
        props["ttl"] = record.get("ttl", 60)
    if gate is not None:
        props["health_check_id"] = gate.id
    return route53.Record(
        f"{name}-{resource_suffix(set_id)}",
        zone_id=zone_id,
        name=args["name"],
        type=args.get("type", "A"),
        opts=child_opts(parent),
        **props,
    )
