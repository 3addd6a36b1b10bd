"""The `hakit` namespace of Pulumi stack config (`Pulumi.<env>.yaml`), validated before any resource.

Every key of the namespace is a field of `StackConfig` (in the file: `hakit:<field>` under `config:`).
`stack_config_from_file` validates a stack file with line numbers; `stack_config_from_mapping` validates
what Pulumi passes to a running program (no lines there). No Pulumi imports: `hakit plan` and the report
use the same model offline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from hakit.errors import SpecError
from hakit.spec.base import Multiline, Name, Port, Problem, SpecModel
from hakit.spec.loader import LineIndex, load_yaml, validate_data
from hakit.spec.slo import SloSpec
from hakit.spec.waivers import WaiverSpec

NAMESPACE = "hakit"
"""The Pulumi config namespace this model describes (`hakit:<key>`)."""


def matching(regex: str, what: str, max_length: int = 1024) -> Callable[[str], str]:
    """A validator: the whole string matches `regex`, else the error says what was expected."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if len(value) > max_length or not compiled.fullmatch(value):
            raise PydanticCustomError("pattern", "'{value}' is not {what}", {"value": value, "what": what})
        return value

    return check


AwsRegion = Annotated[
    str, AfterValidator(matching(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d", "an AWS region like us-east-1"))
]
AwsZone = Annotated[
    str,
    AfterValidator(
        matching(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d[a-z]", "an availability zone like us-east-1a")
    ),
]
DnsName = Annotated[
    str,
    AfterValidator(
        matching(
            r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
            "a lower-case DNS name like example.com",
            253,
        )
    ),
]
DnsLabel = Annotated[
    str,
    AfterValidator(
        matching(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", "a DNS label (lower-case letters, digits, inner '-')")
    ),
]
ImageRef = Annotated[
    str, AfterValidator(matching(r"[a-z0-9][a-z0-9._/:@-]*", "a container image reference like haproxy:2.6"))
]
HttpPath = Annotated[str, AfterValidator(matching(r"/[A-Za-z0-9._~/-]*", "an HTTP path like /healthz"))]
ZoneId = Annotated[
    str, AfterValidator(matching(r"Z[A-Z0-9]{1,31}", "a Route 53 hosted zone id like Z0123456789ABC"))
]
VpcId = Annotated[str, AfterValidator(matching(r"vpc-[0-9a-f]{8,17}", "a VPC id like vpc-0a1b2c3d4e5f60718"))]
SubnetId = Annotated[
    str, AfterValidator(matching(r"subnet-[0-9a-f]{8,17}", "a subnet id like subnet-0a1b2c3d4e5f60718"))
]
AmiId = Annotated[
    str, AfterValidator(matching(r"ami-[0-9a-f]{8,17}", "an AMI id like ami-0123456789abcdef0"))
]
InstanceType = Annotated[
    str, AfterValidator(matching(r"[a-z0-9]+\.[a-z0-9]+", "an EC2 instance type like t3.small"))
]
DbInstanceClass = Annotated[
    str, AfterValidator(matching(r"db\.[a-z0-9]+\.[a-z0-9]+", "an RDS instance class like db.r6g.large"))
]
CertificateArn = Annotated[
    str,
    AfterValidator(
        matching(r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+", "an ACM certificate ARN")
    ),
]
CdnPathPattern = Annotated[  # CloudFront's path-pattern characters, from the root
    str, AfterValidator(matching(r"/[A-Za-z0-9_.*$/~@:+&-]*", "a CloudFront path pattern like /api/*", 255))
]
CdnCertificateArn = Annotated[
    str,
    AfterValidator(
        matching(
            r"arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[A-Za-z0-9-]+",
            "an ACM certificate ARN in us-east-1 (CloudFront takes certificates only from there)",
        )
    ),
]
ArcClusterArn = Annotated[
    str,
    AfterValidator(
        matching(
            r"arn:aws[a-z-]*:route53-recovery-control::\d{12}:cluster/[A-Za-z0-9-]+",
            "a Route 53 ARC cluster ARN",
        )
    ),
]
BackupSchedule = Annotated[
    str, AfterValidator(matching(r"cron\(.+\)", "an AWS cron expression like cron(0 3 * * ? *)"))
]


class HealthCheckSpec(SpecModel):
    """How the edge (DNS, load balancer, CDN) judges a region healthy."""

    path: HttpPath = Field(
        default="/healthz", description="HTTP path that answers 200 when the region can serve"
    )
    interval_seconds: Literal[10, 30] = Field(
        default=10, description="Route 53 checks every 10 or 30 seconds"
    )
    failure_threshold: int = Field(
        default=3, ge=1, le=10, description="consecutive failures before unhealthy"
    )


class ServiceSpec(SpecModel):
    """What is served and under which name."""

    name: DnsLabel = Field(description="service name: prefix of every resource name")
    domain: DnsName = Field(description="hosted zone the entry record lives in, e.g. example.com")
    record: DnsLabel | None = Field(default=None, description="record label under the domain (default: name)")
    zone_id: ZoneId | None = Field(default=None, description="existing hosted zone id (default: create one)")
    port: Port = Field(default=80, description="port the application targets listen on (HTTP)")
    health_check: HealthCheckSpec = Field(default_factory=HealthCheckSpec)

    @property
    def fqdn(self) -> str:
        """The entry hostname: `<record>.<domain>`."""
        return f"{self.record or self.name}.{self.domain}"


class KeepalivedPairSpec(SpecModel):
    """An EC2 keepalived + proxy pair instead of a cloud load balancer (one Elastic IP moved by VRRP)."""

    instance_type: InstanceType = "t3.small"
    ami: AmiId | None = Field(default=None, description="default: the latest Debian 12")
    proxy: Literal["haproxy", "nginx"] = "haproxy"
    private_ips: list[IPv4Address] = Field(
        min_length=2, max_length=2, description="fixed private IPs of the two instances, one per subnet"
    )
    advert_int: float = Field(default=1.0, ge=0.1, le=40.0, description="VRRP advertisement interval (s)")


InstanceProfileArn = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:instance-profile/[\w+=,.@/-]{1,128}$")
]


class RegionComputeSpec(SpecModel):
    """A self-healing Auto Scaling group (ComputeTier) behind the region's ALB instead of fixed targets."""

    image_id: AmiId
    instance_type: InstanceType = "t3.small"
    min_size: int = Field(default=2, ge=0, le=1000, description="fewest instances (prod: >= 2)")
    max_size: int = Field(default=6, ge=1, le=1000, description="most instances")
    allow_single_instance: bool = Field(default=False, description="accept min_size < 2 in prod")
    instance_profile_arn: InstanceProfileArn | None = None
    user_data: Multiline | None = Field(default=None, max_length=16384, description="boot script")
    target_cpu: float = Field(default=50, ge=10, le=90, description="target-tracking average CPU percent")
    health_check_grace_period: int = Field(default=300, ge=0, le=7200, description="seconds after launch")


AlarmArn = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:cloudwatch:[a-z0-9-]+:\d{12}:alarm:[A-Za-z0-9_.+=@/ -]{1,255}$")
]


class DrillsSpec(SpecModel):
    """AWS FIS experiment templates for the failures the budget claims to survive (FaultDrills)."""

    enabled: bool = True
    stop_alarm_arns: list[AlarmArn] = Field(
        min_length=1, max_length=5, description="CloudWatch alarms that stop every drill (FIS allows 5)"
    )
    availability_zone: AwsZone | None = Field(
        default=None, description="the primary region's AZ to power off (default: its first subnet's)"
    )
    duration_minutes: int = Field(default=10, ge=1, le=720, description="minutes each fault lasts")


class RegionSpec(SpecModel):
    """One region of the service: its network, its application targets and its front door."""

    name: AwsRegion
    role: Literal["primary", "secondary"] = Field(default="secondary", description="exactly one primary")
    weight: int = Field(default=100, ge=0, le=255, description="weighted routing: share of traffic")
    vpc_id: VpcId
    subnet_ids: list[SubnetId] = Field(min_length=2, description="subnets in at least two availability zones")
    availability_zones: list[AwsZone] = Field(
        default_factory=list, description="AZ of each subnet, in order (default: <region>a, b, c, ...)"
    )
    targets: list[IPv4Address] = Field(
        default_factory=list,
        description="application targets (private IPs); two at least, for redundancy (or `compute`)",
    )
    compute: RegionComputeSpec | None = Field(
        default=None, description="ALB front door: an Auto Scaling group replaces dead instances (no targets)"
    )
    frontend: Literal["alb", "keepalived"] = Field(default="alb", description="ALB or EC2 keepalived pair")
    certificate_arn: CertificateArn | None = Field(
        default=None,
        description="ACM certificate of this region for <fqdn> and *.<fqdn> (ALB front door)",
    )
    vpc_cidr: IPv4Network | None = Field(default=None, description="the VPC's CIDR (keepalived front door)")
    keepalived: KeepalivedPairSpec | None = Field(default=None, description="settings of the keepalived pair")

    def zones(self) -> list[str]:
        """The AZ of each subnet (given, else <region>a, b, c ...)."""
        if self.availability_zones:
            return list(self.availability_zones)
        return [f"{self.name}{chr(ord('a') + i)}" for i in range(len(self.subnet_ids))]

    def rules(self) -> Iterator[Problem]:
        """Unique subnets/targets, regional certificates, AZs of the region, the pair's addresses."""
        if len(set(self.subnet_ids)) != len(self.subnet_ids):
            yield Problem(("subnet_ids",), "a subnet is listed twice")
        if len(set(self.targets)) != len(self.targets):
            yield Problem(("targets",), "a target is listed twice")
        if self.compute is not None and (self.targets or self.frontend != "alb"):
            yield Problem(("compute",), "compute replaces fixed targets behind an ALB: remove targets")
        elif self.compute is None and len(self.targets) < 2:
            yield Problem(("targets",), "give two or more application targets (or a compute tier)")
        if self.compute is not None and self.compute.max_size < self.compute.min_size:
            yield Problem(("compute", "max_size"), "is below min_size")
        if self.availability_zones and len(self.availability_zones) != len(self.subnet_ids):
            yield Problem(("availability_zones",), "give one AZ per subnet, in the order of subnet_ids")
        for position, zone in enumerate(self.availability_zones):
            if not zone.startswith(self.name):
                yield Problem(("availability_zones", position), f"{zone} is not an AZ of {self.name}")
        if self.frontend == "alb" and self.certificate_arn is None:
            yield Problem(
                ("certificate_arn",), "an ALB serves HTTPS only: give an ACM certificate of this region"
            )
        if self.certificate_arn is not None and f":acm:{self.name}:" not in self.certificate_arn:
            yield Problem(("certificate_arn",), f"ACM certificates are regional: use one from {self.name}")
        if self.frontend == "keepalived":
            yield from self._pair_rules()

    def _pair_rules(self) -> Iterator[Problem]:
        if self.keepalived is None:
            yield Problem(("keepalived",), "frontend keepalived needs keepalived.private_ips")
        zones = self.zones()
        if zones[0] == zones[1]:
            yield Problem(
                ("availability_zones",), "the keepalived pair needs its first two subnets in two AZs"
            )
        if self.vpc_cidr is None:
            yield Problem(("vpc_cidr",), "frontend keepalived needs the VPC CIDR")
        if self.keepalived is None or self.vpc_cidr is None:
            return
        for position, address in enumerate(self.keepalived.private_ips):
            if address not in self.vpc_cidr:
                yield Problem(
                    ("keepalived", "private_ips", position), f"{address} is outside {self.vpc_cidr}"
                )
        if len(set(self.keepalived.private_ips)) != 2:
            yield Problem(("keepalived", "private_ips"), "the two instances need distinct addresses")


class RoutingSpec(SpecModel):
    """How DNS spreads users over regions."""

    policy: Literal["failover", "latency", "weighted"] = Field(
        default="failover", description="failover: active-passive; latency/weighted: active-active"
    )
    recovery_control: bool = Field(
        default=False,
        description="gate each region's records with an ARC routing control (billed per cluster-hour)",
    )
    arc_cluster_arn: ArcClusterArn | None = Field(
        default=None, description="share an existing ARC cluster instead of creating one"
    )


class CdnSpec(SpecModel):
    """An optional CDN in front, with origin failover across the regions."""

    enabled: bool = False
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"
    waf: bool = Field(default=False, description="attach a managed-rules WAF web ACL")
    certificate_arn: CdnCertificateArn | None = Field(
        default=None,
        description="ACM certificate in us-east-1 for <fqdn> (CloudFront takes certificates only from there)",
    )
    # A shop's write paths by default; [] for a read-only site. Origin failover never retries writes.
    write_path_patterns: list[CdnPathPattern] = Field(
        default_factory=lambda: ["/api/*", "/cart/*", "/checkout/*", "/account/*"],
        max_length=20,
        description="paths sent to the primary with every HTTP method, uncached (POST/PUT/DELETE allowed)",
    )


class DatabaseSpec(SpecModel):
    """The global database: writer in the primary region, a secondary cluster in every other region."""

    enabled: bool = True
    engine: Literal["aurora-postgresql", "aurora-mysql"] = "aurora-postgresql"
    engine_version: str | None = Field(default=None, description="default: 16.4 / 8.0.mysql_aurora.3.08.0")
    instance_class: DbInstanceClass = "db.r6g.large"
    primary_instances: int = Field(default=2, ge=2, le=15, description="writer + readers in the primary")
    secondary_instances: int = Field(
        default=2, ge=1, le=15, description="instances per secondary cluster (2: Multi-AZ after a switchover)"
    )
    deletion_protection: bool = True

    def version(self) -> str:
        """The engine version to deploy."""
        if self.engine_version:
            return self.engine_version
        return "16.4" if self.engine == "aurora-postgresql" else "8.0.mysql_aurora.3.08.0"


class BackupSpec(SpecModel):
    """The backup plan: schedule, retention, and the region copies go to."""

    enabled: bool = True
    schedule: BackupSchedule = Field(default="cron(0 3 * * ? *)", description="AWS cron expression, UTC")
    retention_days: int = Field(default=35, ge=1, le=36500)
    copy_region: AwsRegion | None = Field(
        default=None, description="where copies go (default: the second region; none with one region)"
    )


class LocalImagesSpec(SpecModel):
    """Container images of the local lab."""

    backend: ImageRef = "nginxdemos/hello:plain-text"
    haproxy: ImageRef = "haproxy:2.6"
    keepalived: ImageRef = "osixia/keepalived:2.0.20"


class LocalLabSpec(SpecModel):
    """The Docker lab: a network, backends, two HAProxy nodes and keepalived holding a VIP."""

    network: Name = "hakit-lab"
    subnet: IPv4Network = Field(
        default=IPv4Network("172.30.57.0/24"), description="subnet of the lab network"
    )
    vip: IPv4Address = Field(default=IPv4Address("172.30.57.100"), description="address keepalived holds")
    backends: int = Field(default=2, ge=1, le=10)
    http_port: Port = Field(
        default=8080, description="first published port on 127.0.0.1 (one per HAProxy node)"
    )
    vrid: int = Field(default=57, ge=1, le=255)
    images: LocalImagesSpec = Field(default_factory=LocalImagesSpec)

    def rules(self) -> Iterator[Problem]:
        """The VIP must be a usable address of the subnet, clear of the addresses the lab assigns."""
        # Arithmetic, not a list of the subnet's hosts: a /8 would hold 16 million addresses.
        usable = self.subnet.num_addresses - 2  # without the network and broadcast addresses
        gateway = self.subnet.network_address + 1  # the Docker network's gateway (LocalLab)
        if self.vip not in self.subnet:
            yield Problem(("vip",), f"{self.vip} is outside the lab subnet {self.subnet}")
        elif self.vip in self.assigned_addresses().values() or self.vip == gateway:
            yield Problem(("vip",), f"{self.vip} collides with an address the lab assigns to a container")
        if usable < self.backends + 10:
            yield Problem(
                ("subnet",), f"{self.subnet} is too small for {self.backends} backends and two proxies"
            )

    def assigned_addresses(self) -> dict[str, IPv4Address]:
        """Fixed container addresses: proxies at .11/.12, backends from .21 (the gateway keeps .1)."""
        base = self.subnet.network_address
        addresses = {"lb-a": base + 11, "lb-b": base + 12}
        addresses.update({f"app-{i + 1}": base + 21 + i for i in range(self.backends)})
        return addresses


class StackConfig(SpecModel):
    """The whole `hakit` config namespace of one stack."""

    # In the file every field is `hakit:<field>`; errors then name exactly the key the user wrote.
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=lambda field: f"{NAMESPACE}:{field}"
    )

    target: Literal["aws", "local"] = Field(
        default="aws", description="aws: the cloud; local: the Docker lab"
    )
    service: ServiceSpec
    slo: SloSpec
    regions: list[RegionSpec] = Field(default_factory=list, max_length=3, description="one to three regions")
    routing: RoutingSpec = Field(default_factory=RoutingSpec)
    cdn: CdnSpec = Field(default_factory=CdnSpec)
    database: DatabaseSpec | None = Field(default=None, description="omit for a stateless service")
    backup: BackupSpec | None = Field(default=None, description="omit for no backup plan")
    local: LocalLabSpec | None = Field(default=None, description="the Docker lab (target: local)")
    protect: bool = Field(default=False, description="protect stateful resources from `pulumi destroy`")
    tags: dict[str, str] = Field(default_factory=dict, description="tags on every taggable resource")
    waivers: list[WaiverSpec] = Field(
        default_factory=list, max_length=1000, description="findings `hakit report` accepts per resource"
    )
    drills: DrillsSpec | None = Field(default=None, description="FIS fault-injection drills (hakit drill)")

    def rules(self) -> Iterator[Problem]:
        """Cross-field rules: what each target needs, region roles per routing policy, copy regions."""
        if self.target == "local":
            if self.local is None:
                yield Problem(("hakit:local",), "target local needs the lab settings (hakit:local: {})")
            if self.regions:
                yield Problem(("hakit:regions",), "target local deploys no cloud regions: remove them")
            return
        if not self.regions:
            yield Problem(("hakit:regions",), "target aws needs one to three regions")
            return
        seen: set[str] = set()
        for position, region in enumerate(self.regions):
            if region.name in seen:
                yield Problem(("hakit:regions", position, "name"), f"region {region.name} is listed twice")
            seen.add(region.name)
        primaries = [i for i, r in enumerate(self.regions) if r.role == "primary"]
        if len(primaries) != 1:
            where = ("hakit:regions", primaries[1], "role") if len(primaries) > 1 else ("hakit:regions",)
            yield Problem(where, f"exactly one region has role primary (found {len(primaries)})")
        if self.routing.policy == "weighted" and all(r.weight == 0 for r in self.regions):
            yield Problem(("hakit:routing", "policy"), "weighted routing needs one region with weight > 0")
        copy_region = self.backup.copy_region if self.backup is not None else None
        if copy_region is not None and len(primaries) == 1 and copy_region == self.primary_region.name:
            yield Problem(("hakit:backup", "copy_region"), "copies must leave the primary region")
        if self.routing.policy == "failover" and len(self.regions) > 2:
            yield Problem(
                ("hakit:routing", "policy"), "failover has one PRIMARY and one SECONDARY: use latency"
            )
        drills = self.drills
        if drills is not None and drills.availability_zone and len(primaries) == 1:
            primary = self.primary_region
            if drills.availability_zone not in primary.zones():
                yield Problem(
                    ("hakit:drills", "availability_zone"),
                    f"{drills.availability_zone} is not a zone of {primary.name}'s subnets",
                )
        yield from self._feature_rules()

    def _feature_rules(self) -> Iterator[Problem]:
        if self.routing.arc_cluster_arn is not None and not self.routing.recovery_control:
            yield Problem(("hakit:routing", "arc_cluster_arn"), "needs recovery_control: true")
        if self.routing.recovery_control and len(self.regions) < 2:
            yield Problem(
                ("hakit:routing", "recovery_control"), "routing controls shift traffic: add a second region"
            )
        if self.cdn.waf and not self.cdn.enabled:
            yield Problem(("hakit:cdn", "waf"), "the WAF is attached to the CDN: enable the CDN")
        if self.cdn.enabled:
            if len(self.regions) < 2:
                yield Problem(("hakit:cdn", "enabled"), "origin failover needs a second region")
            if self.cdn.certificate_arn is None:
                yield Problem(
                    ("hakit:cdn", "certificate_arn"), "the CDN serves <fqdn>: give a us-east-1 certificate"
                )
            for position, region in enumerate(self.regions):
                if region.frontend != "alb":
                    yield Problem(
                        ("hakit:regions", position, "frontend"), "CDN origins are HTTPS: use an ALB"
                    )
        database = self.database is not None and self.database.enabled
        if database and len(self.regions) < 2:
            yield Problem(
                ("hakit:database",), "a global database needs a second region (omit it for one region)"
            )
        if self.backup is not None and self.backup.enabled and not database:
            yield Problem(
                ("hakit:backup",), "the backup plan protects the database: configure hakit:database"
            )

    @property
    def primary_region(self) -> RegionSpec:
        """The region holding the writer and the PRIMARY record."""
        return next(r for r in self.regions if r.role == "primary")

    @property
    def secondary_regions(self) -> list[RegionSpec]:
        """Every other region, in file order."""
        return [r for r in self.regions if r.role != "primary"]

    @property
    def backup_copy_region(self) -> str | None:
        """Region backup copies go to: explicit, else the first secondary region, else none."""
        if self.backup is None:
            return None
        if self.backup.copy_region is not None:
            return self.backup.copy_region
        secondaries = self.secondary_regions
        return secondaries[0].name if secondaries else None


def hakit_keys(config: Mapping[str, Any]) -> dict[str, Any]:
    """The `hakit:` keys of a config map (other namespaces such as `aws:` are left to their providers)."""
    return {key: value for key, value in config.items() if str(key).startswith(f"{NAMESPACE}:")}


def stack_config_from_file(path: str | Path) -> StackConfig:
    """Validate the `hakit:` keys of a `Pulumi.<env>.yaml` file; problems raise SpecError with file lines."""
    source = str(path)
    document, lines = load_yaml(path)
    if not isinstance(document, Mapping):
        raise SpecError(f"{source}:1: (top): a stack file is a mapping with a config: key")
    config = document.get("config") or {}
    if not isinstance(config, Mapping):
        raise SpecError(f"{source}:{lines.line(('config',)) or 1}: config: must be a mapping")
    return validate_data(StackConfig, hakit_keys(config), source=source, lines=lines.prefixed(("config",)))


def _decode(value: Any) -> Any:
    # The engine hands structured config to programs as JSON text; scalars stay strings (pydantic coerces).
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def stack_config_from_mapping(config: Mapping[str, Any], *, source: str = "pulumi config") -> StackConfig:
    """Validate config as a running program sees it (`ns:key` -> JSON text); lines are unknown."""
    data = {key: _decode(value) for key, value in hakit_keys(config).items()}
    return validate_data(StackConfig, data, source=source, lines=LineIndex())
