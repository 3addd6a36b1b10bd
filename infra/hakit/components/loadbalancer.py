"""A load balancer (ALB or NLB) across >= 2 AZs with explicit health checks, TLS and a tight security group.

`LoadBalancer` creates the security group and its rules, the load balancer, its target groups and listeners,
and (on request) a WAFv2 web ACL with a rate-based rule. Every target-group health-check setting is set
explicitly: pulumi-aws's default unhealthy threshold (3) is not the ELB API's (2), so "defaults" would
depend on the tool.
"""

from collections.abc import Mapping
from typing import Any, Required, TypedDict

import pulumi

from hakit.components._util import (
    arn_region,
    check_choice,
    check_cidr,
    check_range,
    check_region,
    check_waf,
    child_opts,
    fail,
    merge_tags,
    rate_limited_web_acl,
    region_kwargs,
    require_plain,
    resource_suffix,
    unique,
)

TOKEN = "hakit:loadbalancer:LoadBalancer"
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
CURRENT_SSL_POLICY_PREFIX = "ELBSecurityPolicy-TLS13-"
LB_TYPES = ("application", "network")
ALB_PROTOCOLS = ("HTTP", "HTTPS")
NLB_PROTOCOLS = ("TCP", "TLS")
HEALTH_PROTOCOLS = {"application": ("HTTP", "HTTPS"), "network": ("TCP", "HTTP", "HTTPS")}


class LoadBalancerHealthCheckArgs(TypedDict, total=False):
    """Target health check; every value is sent explicitly (no tool-dependent defaults)."""

    protocol: str
    """HTTP or HTTPS (ALB; default the target group's protocol); TCP (NLB default), HTTP or HTTPS (NLB)."""
    path: str
    """HTTP(S) request path; default `/healthz`."""
    port: str
    """`traffic-port` (default) or a port number as a string."""
    matcher: str
    """HTTP(S) codes counted healthy; default `200-399`."""
    interval: int
    """Seconds between checks, 5..300; default 10."""
    timeout: int
    """Seconds to wait for a response, 2..120 and below `interval`; default 5."""
    healthy_threshold: int
    """Consecutive successes before a target is healthy, 2..10; default 3."""
    unhealthy_threshold: int
    """Consecutive failures before a target is unhealthy, 2..10; default 2 (the API's default)."""


class LoadBalancerTargetGroupArgs(TypedDict, total=False):
    """A target group behind the load balancer."""

    name: Required[str]
    """Key of the group (outputs are keyed by it; names child resources)."""
    port: int
    """Target port; default 80."""
    protocol: str
    """HTTP (ALB default) or HTTPS; TCP (NLB default) or TLS."""
    protocol_version: str
    """ALB only: HTTP1 (default), HTTP2 or GRPC."""
    target_type: str
    """ip (default), instance, or lambda (ALB)."""
    health_check: LoadBalancerHealthCheckArgs
    """Target health check."""
    deregistration_delay: int
    """Seconds to drain a deregistering target, 0..3600; default 30."""
    slow_start: int
    """ALB only: seconds to ramp a new target up, 0 (off, default) or 30..900; excludes anomaly mitigation."""
    anomaly_mitigation: bool
    """ALB only: weighted-random routing with automatic target anomaly mitigation; default true."""
    dns_failover_min_healthy_targets: int
    """Target-group health: below this many healthy targets the LB's zone is failed out of DNS; default 1."""
    unhealthy_state_routing_min_healthy_targets: int
    """Target-group health: below this many healthy targets the LB fails open to all targets; default 1."""


class LoadBalancerWafArgs(TypedDict, total=False):
    """WAFv2 web ACL for an ALB: AWS managed rule groups plus a per-IP rate limit."""

    rate_limit: int
    """Requests per IP per evaluation window before blocking, 10..2e9; default 2000."""
    evaluation_window_sec: int
    """Rate window in seconds: 60, 120, 300 (default) or 600."""
    managed_rule_groups: list[str]
    """AWS managed rule group names; default ["AWSManagedRulesCommonRuleSet"]."""


class LoadBalancerAccessLogsArgs(TypedDict, total=False):
    """Access logs to S3 (the bucket policy must allow the ELB log delivery service)."""

    bucket: Required[pulumi.Input[str]]
    """Bucket name."""
    prefix: str
    """Key prefix; default the component name."""


class LoadBalancerArgs(TypedDict, total=False):
    """Arguments of `LoadBalancer`."""

    vpc_id: Required[pulumi.Input[str]]
    """VPC of the load balancer, security group and target groups."""
    subnet_ids: Required[list[pulumi.Input[str]]]
    """Subnets in at least two availability zones."""
    type: str
    """application (default) or network."""
    internal: bool
    """Internal (private) load balancer; default false (internet-facing)."""
    ip_address_type: str
    """ipv4 (default) or dualstack."""
    certificate_arn: pulumi.Input[str]
    """ACM certificate in the load balancer's region: required for an ALB; makes an NLB listener TLS."""
    ssl_policy: str
    """TLS policy; default ELBSecurityPolicy-TLS13-1-2-2021-06. Only TLS 1.3 policies are accepted."""
    listener_port: int
    """NLB only: the listener port; default 443."""
    target_groups: list[LoadBalancerTargetGroupArgs]
    """Target groups; default one HTTP (ALB) / TCP (NLB) group `app` on port 80. The first gets traffic."""
    ingress_cidr_blocks: list[str]
    """Clients allowed to the listeners; default 0.0.0.0/0 (and ::/0 for dualstack) when internet-facing."""
    ingress_prefix_list_ids: list[pulumi.Input[str]]
    """Managed prefix lists allowed in (e.g. CloudFront's origin-facing list)."""
    target_security_group_ids: list[pulumi.Input[str]]
    """Security groups of the targets: egress is allowed only to them on the target ports."""
    target_cidr_blocks: list[str]
    """Or: CIDR blocks of the targets for egress (give this or `target_security_group_ids`)."""
    cross_zone: bool
    """Cross-zone load balancing; default true."""
    zonal_shift: bool
    """Allow ARC zonal shift / zonal autoshift to move traffic away from an impaired AZ; default true."""
    deletion_protection: bool
    """Deletion protection; default true."""
    idle_timeout: int
    """ALB only: connection idle timeout seconds, 1..4000; default 60."""
    access_logs: LoadBalancerAccessLogsArgs
    """Optional S3 access logs."""
    waf: LoadBalancerWafArgs
    """Optional WAFv2 web ACL with a rate-based rule (ALB only)."""
    region: str
    """Region of every resource; default the provider's / stack's region."""
    tags: dict[str, str]
    """Extra tags on every resource."""


class LoadBalancer(pulumi.ComponentResource):
    """An ALB or NLB: explicit target health checks, HTTPS/TLS listeners, least-privilege security group."""

    arn: pulumi.Output[str]
    """The load balancer ARN."""
    arn_suffix: pulumi.Output[str]
    """The ARN suffix (CloudWatch dimension)."""
    dns_name: pulumi.Output[str]
    """The load balancer's DNS name (alias target)."""
    zone_id: pulumi.Output[str]
    """The load balancer's canonical hosted zone id (alias target)."""
    security_group_id: pulumi.Output[str]
    """The load balancer's security group."""
    target_group_arns: pulumi.Output[dict[str, str]]
    """Target group ARNs by target group name."""
    target_group_arn_suffixes: pulumi.Output[dict[str, str]]
    """Target group ARN suffixes by name (CloudWatch dimension)."""
    listener_arn: pulumi.Output[str]
    """The ARN of the listener that serves traffic (HTTPS on an ALB)."""
    web_acl_arn: pulumi.Output[str | None]
    """The WAFv2 web ACL ARN (None without WAF)."""

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        """Validate `args` (nothing is registered when they are wrong), then build the load balancer."""
        import pulumi_aws.lb as lb

        groups = _validate(args, opts)
        super().__init__(TOKEN, name, {}, opts)
        kind = args.get("type", "application")
        region = args.get("region")
        tags = merge_tags(TOKEN, name, args.get("tags"))
        where = region_kwargs(region)
        ports = [80, 443] if kind == "application" else [args.get("listener_port", 443)]
        security_group = _security_group(self, name, args, groups, ports, tags)

        balancer = lb.LoadBalancer(
            f"{name}-lb",
            load_balancer_type=kind,
            internal=args.get("internal", False),
            ip_address_type=args.get("ip_address_type", "ipv4"),
            subnets=list(args["subnet_ids"]),
            security_groups=[security_group.id],
            enable_deletion_protection=args.get("deletion_protection", True),
            enable_zonal_shift=args.get("zonal_shift", True),
            access_logs=_access_logs(name, args.get("access_logs")),
            tags=tags,
            opts=child_opts(self),
            **where,
            **_type_specific_lb_props(args),
        )
        target_groups = {g["name"]: _target_group(self, name, args, g, tags) for g in groups}
        default_group = target_groups[groups[0]["name"]]
        listener = _listeners(self, name, args, balancer, default_group, tags)
        web_acl_arn: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        if args.get("waf") is not None:
            acl = rate_limited_web_acl(
                f"{name}-waf", scope="REGIONAL", settings=args["waf"], parent=self, region=region, tags=tags
            )
            import pulumi_aws.wafv2 as wafv2

            wafv2.WebAclAssociation(
                f"{name}-waf-assoc",
                resource_arn=balancer.arn,
                web_acl_arn=acl.arn,
                opts=child_opts(self),
                **where,
            )
            web_acl_arn = acl.arn

        self.arn = balancer.arn
        self.arn_suffix = balancer.arn_suffix
        self.dns_name = balancer.dns_name
        self.zone_id = balancer.zone_id
        self.security_group_id = security_group.id
        self.target_group_arns = pulumi.Output.all(**{k: g.arn for k, g in target_groups.items()}).apply(dict)
        self.target_group_arn_suffixes = pulumi.Output.all(
            **{k: g.arn_suffix for k, g in target_groups.items()}
        ).apply(dict)
        self.listener_arn = listener.arn
        self.web_acl_arn = web_acl_arn
        self.register_outputs(
            {
                "arn": self.arn,
                "arn_suffix": self.arn_suffix,
                "dns_name": self.dns_name,
                "zone_id": self.zone_id,
                "security_group_id": self.security_group_id,
                "target_group_arns": self.target_group_arns,
                "target_group_arn_suffixes": self.target_group_arn_suffixes,
                "listener_arn": self.listener_arn,
                "web_acl_arn": self.web_acl_arn,
            }
        )


# ---------------------------------------------------------------- validation (pure)


def _default_groups(kind: str) -> list[dict[str, Any]]:
    return [{"name": "app", "port": 80, "protocol": "HTTP" if kind == "application" else "TCP"}]


def _validate(args: Mapping[str, Any], opts: pulumi.ResourceOptions | None) -> list[Mapping[str, Any]]:
    """Check the arguments; return the target groups (defaulted)."""
    where = "LoadBalancerArgs"
    kind = args.get("type", "application")
    check_choice(kind, LB_TYPES, f"{where}.type")
    if not args.get("vpc_id"):
        fail(f"{where}.vpc_id", "is required")
    subnets = args.get("subnet_ids")
    require_plain(subnets, f"{where}.subnet_ids")
    if not isinstance(subnets, list) or len(subnets) < 2:
        fail(f"{where}.subnet_ids", "needs subnets in at least two availability zones (>= 2 subnets)")
    plain_subnets = [s for s in subnets or [] if isinstance(s, str)]
    if unique(plain_subnets):
        fail(f"{where}.subnet_ids", f"subnet {unique(plain_subnets)[0]!r} is listed twice")
    region = args.get("region")
    if region:
        check_region(region, f"{where}.region")
    check_choice(args.get("ip_address_type", "ipv4"), ("ipv4", "dualstack"), f"{where}.ip_address_type")
    # Without `region` the stack's aws:region applies, unless a provider (or a parent's) decides it.
    inherits_region = opts is not None and bool(opts.provider or opts.providers or opts.parent)
    _validate_tls(args, kind, region or (None if inherits_region else pulumi.Config("aws").get("region")))
    if kind == "application":
        check_range(args.get("idle_timeout", 60), 1, 4000, f"{where}.idle_timeout")
        if "listener_port" in args:
            fail(f"{where}.listener_port", "an ALB always listens on 80 (redirect) and 443 (HTTPS)")
    else:
        check_range(args.get("listener_port", 443), 1, 65535, f"{where}.listener_port")
        for key in ("idle_timeout", "waf"):
            if key in args:
                fail(f"{where}.{key}", "is only available on an application load balancer")
    internal = args.get("internal", False)
    if internal and not (args.get("ingress_cidr_blocks") or args.get("ingress_prefix_list_ids")):
        fail(f"{where}.ingress_cidr_blocks", "an internal load balancer needs its allowed client ranges")
    for key in ("ingress_cidr_blocks", "target_cidr_blocks"):
        for i, cidr in enumerate(args.get(key) or []):
            check_cidr(cidr, f"{where}.{key}[{i}]")
    if not (args.get("target_security_group_ids") or args.get("target_cidr_blocks")):
        fail(
            f"{where}",
            "give target_security_group_ids or target_cidr_blocks (egress is limited to the targets)",
        )
    if args.get("waf") is not None:
        check_waf(args["waf"], f"{where}.waf")
    logs = args.get("access_logs")
    if logs is not None and not logs.get("bucket"):
        fail(f"{where}.access_logs.bucket", "is required")

    groups: list[Mapping[str, Any]] = list(args.get("target_groups") or _default_groups(kind))
    names = [str(g.get("name", "")) for g in groups]
    if unique(names):
        fail(f"{where}.target_groups", f"duplicate target group name {unique(names)[0]!r}")
    for index, group in enumerate(groups):
        zonal = bool(args.get("zonal_shift", True) and args.get("cross_zone", True))
        _validate_group(f"{where}.target_groups[{index}]", group, kind, zonal)
    return groups


def _validate_tls(args: Mapping[str, Any], kind: str, region: str | None) -> None:
    where = "LoadBalancerArgs"
    cert = args.get("certificate_arn")
    if kind == "application" and not cert:
        fail(f"{where}.certificate_arn", "an ALB serves HTTPS only: give an ACM certificate ARN")
    if isinstance(cert, str):
        if not cert.startswith("arn:") or ":acm:" not in cert:
            fail(f"{where}.certificate_arn", f"{cert!r} is not an ACM certificate ARN")
        lb_region = region
        if lb_region and arn_region(cert) != lb_region:
            fail(
                f"{where}.certificate_arn",
                f"the certificate is in {arn_region(cert)} but the load balancer is in {lb_region} "
                "(ACM certificates are regional)",
            )
    policy = args.get("ssl_policy", DEFAULT_SSL_POLICY)
    if not str(policy).startswith(CURRENT_SSL_POLICY_PREFIX):
        fail(f"{where}.ssl_policy", f"{policy!r} is not a current TLS 1.3 policy (use {DEFAULT_SSL_POLICY})")


def _validate_group(at: str, group: Mapping[str, Any], kind: str, zonal_shift_cross_zone: bool) -> None:
    if not group.get("name"):
        fail(f"{at}.name", "is required")
    alb = kind == "application"
    protocol = group.get("protocol", "HTTP" if alb else "TCP")
    check_choice(protocol, ALB_PROTOCOLS if alb else NLB_PROTOCOLS, f"{at}.protocol")
    check_range(group.get("port", 80), 1, 65535, f"{at}.port")
    check_choice(
        group.get("target_type", "ip"),
        ("ip", "instance", "lambda") if alb else ("ip", "instance", "alb"),
        f"{at}.target_type",
    )
    check_range(group.get("deregistration_delay", 30), 0, 3600, f"{at}.deregistration_delay")
    for key in ("dns_failover_min_healthy_targets", "unhealthy_state_routing_min_healthy_targets"):
        check_range(group.get(key, 1), 1, 10_000, f"{at}.{key}")
    slow_start = group.get("slow_start", 0)
    if alb:
        check_choice(
            group.get("protocol_version", "HTTP1"), ("HTTP1", "HTTP2", "GRPC"), f"{at}.protocol_version"
        )
        if slow_start != 0:
            check_range(slow_start, 30, 900, f"{at}.slow_start")
            if group.get("anomaly_mitigation", True):
                fail(
                    f"{at}.slow_start",
                    "slow start needs round-robin routing; set anomaly_mitigation: false to use it",
                )
    else:
        for key in ("slow_start", "anomaly_mitigation", "protocol_version"):
            if key in group:
                fail(f"{at}.{key}", "is only available on an application load balancer")
        if group.get("target_type") == "alb" and zonal_shift_cross_zone:
            fail(
                f"{at}.target_type",
                "ALB targets exclude zonal shift on a cross-zone NLB (set zonal_shift: false)",
            )
    health = group.get("health_check") or {}
    hc_protocol = health.get("protocol", protocol if alb else "TCP")
    check_choice(hc_protocol, HEALTH_PROTOCOLS[kind], f"{at}.health_check.protocol")
    interval = health.get("interval", 10)
    timeout = health.get("timeout", 5)
    check_range(interval, 5, 300, f"{at}.health_check.interval")
    check_range(timeout, 2, 120, f"{at}.health_check.timeout")
    if isinstance(interval, int) and isinstance(timeout, int) and timeout >= interval:
        fail(f"{at}.health_check.timeout", f"{timeout} s must be below the interval ({interval} s)")
    for key in ("healthy_threshold", "unhealthy_threshold"):
        check_range(
            health.get(key, 3 if key == "healthy_threshold" else 2), 2, 10, f"{at}.health_check.{key}"
        )
    port = health.get("port", "traffic-port")
    if port != "traffic-port" and not (str(port).isdigit() and 1 <= int(port) <= 65535):
        fail(f"{at}.health_check.port", f"{port!r} is neither 'traffic-port' nor a port number")
    path = health.get("path")
    if path is not None and (hc_protocol == "TCP" or not str(path).startswith("/")):
        fail(f"{at}.health_check.path", "needs an HTTP(S) health check and must start with '/'")


# ---------------------------------------------------------------- resources


def _type_specific_lb_props(args: Mapping[str, Any]) -> dict[str, Any]:
    if args.get("type", "application") == "application":
        return {
            "drop_invalid_header_fields": True,
            "desync_mitigation_mode": "defensive",
            "idle_timeout": args.get("idle_timeout", 60),
            "enable_http2": True,
            "enable_waf_fail_open": False,
        }
    return {"enable_cross_zone_load_balancing": args.get("cross_zone", True)}


def _access_logs(name: str, spec: Mapping[str, Any] | None) -> Any:
    if spec is None:
        return None
    return {"bucket": spec["bucket"], "prefix": spec.get("prefix", name), "enabled": True}


def _health_check_props(kind: str, group: Mapping[str, Any]) -> dict[str, Any]:
    alb = kind == "application"
    health = group.get("health_check") or {}
    protocol = health.get("protocol", group.get("protocol", "HTTP") if alb else "TCP")
    props: dict[str, Any] = {
        "enabled": True,
        "protocol": protocol,
        "port": str(health.get("port", "traffic-port")),
        "interval": health.get("interval", 10),
        "timeout": health.get("timeout", 5),
        "healthy_threshold": health.get("healthy_threshold", 3),
        "unhealthy_threshold": health.get("unhealthy_threshold", 2),
    }
    if protocol in ("HTTP", "HTTPS"):
        props["path"] = health.get("path", "/healthz")
        props["matcher"] = health.get(
            "matcher", "12" if group.get("protocol_version") == "GRPC" else "200-399"
        )
    return props


def _target_group(
    parent: pulumi.Resource,
    name: str,
    args: Mapping[str, Any],
    group: Mapping[str, Any],
    tags: dict[str, str],
) -> Any:
    import pulumi_aws.lb as lb

    kind = args.get("type", "application")
    alb = kind == "application"
    props: dict[str, Any] = {
        "vpc_id": args["vpc_id"],
        "port": group.get("port", 80),
        "protocol": group.get("protocol", "HTTP" if alb else "TCP"),
        "target_type": group.get("target_type", "ip"),
        "deregistration_delay": group.get("deregistration_delay", 30),
        "health_check": _health_check_props(kind, group),
        "load_balancing_cross_zone_enabled": "true" if args.get("cross_zone", True) else "false",
        "target_group_health": {
            "dns_failover": {
                "minimum_healthy_targets_count": str(group.get("dns_failover_min_healthy_targets", 1))
            },
            "unhealthy_state_routing": {
                "minimum_healthy_targets_count": group.get("unhealthy_state_routing_min_healthy_targets", 1)
            },
        },
    }
    if alb:
        mitigate = group.get("anomaly_mitigation", True)
        props["protocol_version"] = group.get("protocol_version", "HTTP1")
        props["slow_start"] = group.get("slow_start", 0)
        props["load_balancing_algorithm_type"] = "weighted_random" if mitigate else "round_robin"
        props["load_balancing_anomaly_mitigation"] = "on" if mitigate else "off"
    else:
        props["connection_termination"] = True  # drop connections to deregistered targets after the delay
        if args.get("zonal_shift", True) and args.get("cross_zone", True):
            # Zonal shift on a cross-zone NLB requires keeping connections to unhealthy targets.
            props["target_health_states"] = [{"enable_unhealthy_connection_termination": False}]
    return lb.TargetGroup(
        f"{name}-tg-{resource_suffix(group['name'])}",
        tags=tags,
        opts=child_opts(parent),
        **region_kwargs(args.get("region")),
        **props,
    )


def _listeners(
    parent: pulumi.Resource,
    name: str,
    args: Mapping[str, Any],
    balancer: Any,
    default_group: Any,
    tags: dict[str, str],
) -> Any:
    """ALB: HTTP:80 redirects to HTTPS:443; NLB: one TLS (with a certificate) or TCP listener.

    Returns the listener that serves traffic.
    """
    import pulumi_aws.lb as lb

    where = region_kwargs(args.get("region"))
    forward: Any = [{"type": "forward", "target_group_arn": default_group.arn}]
    policy = args.get("ssl_policy", DEFAULT_SSL_POLICY)
    if args.get("type", "application") == "network":
        port = args.get("listener_port", 443)
        tls: dict[str, Any] = {}
        if args.get("certificate_arn"):
            tls = {"protocol": "TLS", "certificate_arn": args["certificate_arn"], "ssl_policy": policy}
        return lb.Listener(
            f"{name}-listener-{port}",
            load_balancer_arn=balancer.arn,
            port=port,
            protocol=tls.pop("protocol", "TCP"),
            default_actions=forward,
            tags=tags,
            opts=child_opts(parent),
            **where,
            **tls,
        )
    redirect: Any = [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}}
    ]
    lb.Listener(
        f"{name}-http",
        load_balancer_arn=balancer.arn,
        port=80,
        protocol="HTTP",
        default_actions=redirect,
        tags=tags,
        opts=child_opts(parent),
        **where,
    )
    return lb.Listener(
        f"{name}-https",
        load_balancer_arn=balancer.arn,
        port=443,
        protocol="HTTPS",
        ssl_policy=policy,
        certificate_arn=args["certificate_arn"],
        default_actions=forward,
        tags=tags,
        opts=child_opts(parent),
        **where,
    )


def _security_group(
    parent: pulumi.Resource,
    name: str,
    args: Mapping[str, Any],
    groups: list[Mapping[str, Any]],
    listener_ports: list[int],
    tags: dict[str, str],
) -> Any:
    """A security group without inline rules: ingress on listener ports, egress to target ports only."""
    import pulumi_aws.ec2 as ec2
    import pulumi_aws.vpc as vpc

    where = region_kwargs(args.get("region"))
    sg = ec2.SecurityGroup(
        f"{name}-sg",
        vpc_id=args["vpc_id"],
        description=f"hakit load balancer {name}: listeners in, target ports out",
        revoke_rules_on_delete=True,
        tags=tags,
        opts=child_opts(parent),
        **where,
    )
    cidrs = list(args.get("ingress_cidr_blocks") or [])
    if not cidrs and not args.get("ingress_prefix_list_ids") and not args.get("internal", False):
        cidrs = ["0.0.0.0/0"] + (["::/0"] if args.get("ip_address_type") == "dualstack" else [])
    sources: list[tuple[str, dict[str, Any]]] = [
        (resource_suffix(c), {"cidr_ipv6" if ":" in c else "cidr_ipv4": c}) for c in cidrs
    ]
    sources += [
        (f"pl{i}", {"prefix_list_id": p}) for i, p in enumerate(args.get("ingress_prefix_list_ids") or [])
    ]
    for port in listener_ports:
        for label, source in sources:
            vpc.SecurityGroupIngressRule(
                f"{name}-in-{port}-{label}",
                security_group_id=sg.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=f"clients to listener {port}",
                opts=child_opts(parent),
                **where,
                **source,
            )
    target_ports: list[int] = []
    for group in groups:
        port = int(group.get("port", 80))
        health_port = str((group.get("health_check") or {}).get("port", "traffic-port"))
        for p in (port, int(health_port) if health_port.isdigit() else port):
            if p not in target_ports:
                target_ports.append(p)
    destinations: list[tuple[str, dict[str, Any]]] = [
        (f"sg{i}", {"referenced_security_group_id": s})
        for i, s in enumerate(args.get("target_security_group_ids") or [])
    ]
    destinations += [
        (resource_suffix(c), {"cidr_ipv6" if ":" in c else "cidr_ipv4": c})
        for c in args.get("target_cidr_blocks") or []
    ]
    for port in target_ports:
        for label, destination in destinations:
            vpc.SecurityGroupEgressRule(
                f"{name}-out-{port}-{label}",
                security_group_id=sg.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=f"targets and health checks on {port}",
                opts=child_opts(parent),
                **where,
                **destination,
            )
    return sg
