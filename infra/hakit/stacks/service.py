"""The multi-region service stack: per region a front door (ALB or keepalived pair) over the app targets,
DNS failover (active-passive) or latency/weighted routing (active-active) across regions, an optional CDN
with origin failover in front, the global database and the backup plan. One region (dev) up to three.

Names: the entry is `<fqdn>`. Without a CDN the routing records live at `<fqdn>`; with a CDN they live at
`origin.<fqdn>` (the CDN's primary origin, so it follows DNS failover too), the CDN's secondary origin is
`<region>.<fqdn>` of the first secondary region, and `<fqdn>` aliases the distribution. The regions' ALB
certificates therefore cover `<fqdn>` and `*.<fqdn>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws.ec2 as ec2
import pulumi_aws.lb as aws_lb
import pulumi_aws.route53 as route53
import pulumi_aws.vpc as vpc

from hakit.components.backup import AwsBackup, AwsBackupArgs, check_backup_schedule
from hakit.components.cdn import FailoverCdn, FailoverCdnArgs
from hakit.components.compute import ComputeTier, ComputeTierArgs
from hakit.components.database import GlobalDatabase, GlobalDatabaseArgs, resolve_aurora_engine
from hakit.components.dns import (
    FailoverDns,
    FailoverDnsArgs,
    FailoverDnsHealthCheckArgs,
    FailoverDnsRecordArgs,
    FailoverDnsRecoveryControlArgs,
)
from hakit.components.fis import FaultDrills, FaultDrillsArgs
from hakit.components.keepalived_pair import KeepalivedPair, KeepalivedPairArgs
from hakit.components.loadbalancer import LoadBalancer, LoadBalancerArgs
from hakit.spec.base import Problem
from hakit.spec.stack import RegionSpec, StackConfig

DB_PORTS = {"aurora-postgresql": 5432, "aurora-mysql": 3306}


class ServiceRegion(pulumi.ComponentResource):
    """One region of the service: the front door with its targets, and the database's security group."""

    def __init__(
        self, name: str, config: StackConfig, region: RegionSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hakit:stacks:ServiceRegion", name, {}, opts)
        self.region = region.name
        self.frontend = region.frontend
        tags = {**config.tags, "hakit:service": config.service.name, "hakit:region": region.name}
        child = pulumi.ResourceOptions(parent=self)
        targets = [str(ip) for ip in region.targets]
        self.dns_name: pulumi.Output[str] | None = None
        self.zone_id: pulumi.Output[str] | None = None
        self.public_ip: pulumi.Output[str] | None = None
        self.security_group_id: pulumi.Output[str]
        self.app_security_group: ec2.SecurityGroup | None = None
        if region.frontend == "alb":
            self._alb(name, config, region, targets, tags)
        else:
            self._pair(name, config, region, targets, tags)
        self.database_security_group: ec2.SecurityGroup | None = None
        if config.database is not None and config.database.enabled:
            port = DB_PORTS[config.database.engine]
            self.database_security_group = ec2.SecurityGroup(
                f"{name}-db-sg",
                vpc_id=region.vpc_id,
                description=f"{config.service.name} database: the application targets only",
                ingress=[
                    ec2.SecurityGroupIngressArgs(
                        protocol="tcp",
                        from_port=port,
                        to_port=port,
                        cidr_blocks=[f"{ip}/32" for ip in targets] or None,
                        security_groups=[self.app_security_group.id] if self.app_security_group else None,
                    )
                ],
                tags=tags,
                region=region.name,
                opts=child,
            )
        self.register_outputs({"dns_name": self.dns_name, "public_ip": self.public_ip})

    def _alb(
        self, name: str, config: StackConfig, region: RegionSpec, targets: list[str], tags: dict[str, str]
    ) -> None:
        """An ALB over the targets (HTTPS with the region's certificate), the targets attached by IP."""
        child = pulumi.ResourceOptions(parent=self)
        assert region.certificate_arn is not None  # RegionSpec.rules
        if region.compute is not None:
            self.app_security_group = ec2.SecurityGroup(
                f"{name}-app-sg",
                vpc_id=region.vpc_id,
                description=f"{config.service.name} instances: the load balancer in, any out",
                egress=[
                    ec2.SecurityGroupEgressArgs(
                        protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"]
                    )
                ],
                tags=tags,
                region=region.name,
                opts=child,
            )
        balancer = LoadBalancer(
            f"{name}-alb",
            LoadBalancerArgs(
                vpc_id=region.vpc_id,
                subnet_ids=list(region.subnet_ids),
                certificate_arn=region.certificate_arn,
                target_groups=[
                    {
                        "name": "app",
                        "port": config.service.port,
                        "protocol": "HTTP",
                        "target_type": "ip" if region.compute is None else "instance",
                        "health_check": {"path": config.service.health_check.path},
                    }
                ],
                target_cidr_blocks=[f"{ip}/32" for ip in targets],
                target_security_group_ids=[self.app_security_group.id] if self.app_security_group else [],
                deletion_protection=config.protect,
                region=region.name,
                tags=tags,
            ),
            opts=child,
        )
        group_arn = balancer.target_group_arns.apply(lambda arns: arns["app"])
        if region.compute is not None and self.app_security_group is not None:
            self._compute(name, config, region, balancer, group_arn, tags)
        for index, ip in enumerate(targets):
            aws_lb.TargetGroupAttachment(
                f"{name}-target-{index}",
                target_group_arn=group_arn,
                target_id=ip,
                port=config.service.port,
                region=region.name,
                opts=child,
            )
        self.dns_name = balancer.dns_name
        self.security_group_id = balancer.security_group_id
        self.zone_id = balancer.zone_id

    def _compute(
        self,
        name: str,
        config: StackConfig,
        region: RegionSpec,
        balancer: LoadBalancer,
        group_arn: pulumi.Output[str],
        tags: dict[str, str],
    ) -> None:
        """The ALB's targets as a ComputeTier: instances that fail the ALB's checks are replaced."""
        compute, app_sg = region.compute, self.app_security_group
        assert compute is not None and app_sg is not None
        child = pulumi.ResourceOptions(parent=self)
        vpc.SecurityGroupIngressRule(
            f"{name}-app-from-alb",
            security_group_id=app_sg.id,
            referenced_security_group_id=balancer.security_group_id,
            ip_protocol="tcp",
            from_port=config.service.port,
            to_port=config.service.port,
            description="the load balancer to the service port",
            region=region.name,
            opts=child,
        )
        args = ComputeTierArgs(
            subnet_ids=list(region.subnet_ids),
            availability_zones=region.zones(),
            image_id=compute.image_id,
            instance_type=compute.instance_type,
            security_group_ids=[app_sg.id],
            target_group_arns=[group_arn],
            min_size=compute.min_size,
            max_size=compute.max_size,
            allow_single_instance=compute.allow_single_instance,
            health_check_grace_period=compute.health_check_grace_period,
            scaling={"metric": "cpu", "target_value": compute.target_cpu},
            region=region.name,
            tags=tags,
        )
        if compute.user_data:
            args["user_data"] = compute.user_data
        if compute.instance_profile_arn:
            args["instance_profile_arn"] = compute.instance_profile_arn
        ComputeTier(f"{name}-compute", args, opts=child)

    def _pair(
        self, name: str, config: StackConfig, region: RegionSpec, targets: list[str], tags: dict[str, str]
    ) -> None:
        """The EC2 keepalived pair over the targets, its Elastic IP the region's entry."""
        child = pulumi.ResourceOptions(parent=self)
        assert region.keepalived is not None and region.vpc_cidr is not None  # RegionSpec.rules
        pair = KeepalivedPair(
            f"{name}-pair",
            KeepalivedPairArgs(
                vpc_id=region.vpc_id,
                vpc_cidr=str(region.vpc_cidr),
                subnet_ids=list(region.subnet_ids[:2]),
                private_ips=[str(ip) for ip in region.keepalived.private_ips],
                targets=targets,
                target_port=config.service.port,
                health_path=config.service.health_check.path,
                proxy=region.keepalived.proxy,
                advert_int=region.keepalived.advert_int,
                instance_type=region.keepalived.instance_type,
                region=region.name,
                tags=tags,
                **({"ami": region.keepalived.ami} if region.keepalived.ami else {}),
            ),
            opts=child,
        )
        self.public_ip = pair.public_ip
        self.security_group_id = pair.security_group_id

    def summary(self) -> dict[str, Any]:
        """The front door as a stack output: kind, entry (ALB DNS name or Elastic IP), security group."""
        if self.dns_name is not None:
            return {"kind": "alb", "dnsName": self.dns_name, "securityGroupId": self.security_group_id}
        return {"kind": "keepalived", "eip": self.public_ip, "securityGroupId": self.security_group_id}

    def health_check(self, config: StackConfig) -> FailoverDnsHealthCheckArgs:
        """The Route 53 check of this region's front door (HTTPS to the ALB, HTTP to the pair's EIP)."""
        spec = config.service.health_check
        common: FailoverDnsHealthCheckArgs = {
            "type": "HTTPS",
            "path": spec.path,
            "request_interval": spec.interval_seconds,
            "failure_threshold": spec.failure_threshold,
        }
        if self.dns_name is not None:
            return {**common, "fqdn": self.dns_name, "port": 443}
        assert self.public_ip is not None
        return {**common, "type": "HTTP", "ip_address": self.public_ip, "port": 80}

    def record(self, config: StackConfig, region: RegionSpec) -> FailoverDnsRecordArgs:
        """This region's record set: alias to the ALB or the pair's Elastic IP, gated by its health check."""
        record: FailoverDnsRecordArgs = {"health_check": region.name}
        if config.routing.recovery_control:
            record["cell"] = region.name  # served only while the region's routing control is On
        if self.dns_name is not None and self.zone_id is not None:
            record["alias"] = {"name": self.dns_name, "zone_id": self.zone_id, "evaluate_target_health": True}
        else:
            assert self.public_ip is not None
            record["values"] = [self.public_ip]
        policy = routing_policy(config)
        if policy == "failover":
            record["role"] = "PRIMARY" if region.role == "primary" else "SECONDARY"
        elif policy == "latency":
            record["region"] = region.name
        else:
            record["weight"] = region.weight
            record["set_identifier"] = region.name
        return record


def preflight(config: StackConfig) -> list[Problem]:
    """The components' own checks of values the config passes through untouched, run before any resource.

    The stack model cannot know which engine versions can be global or what a valid AWS cron is; the
    components do (pure functions). Asking them first turns a late component error into a config error.
    """
    problems: list[Problem] = []
    database = config.database
    if database is not None and database.enabled:
        try:
            resolve_aurora_engine(
                database.engine, database.version(), write_forwarding=True, field="engine_version"
            )
        except ValueError as err:
            problems.append(
                Problem(("hakit:database", "engine_version"), _without_field(err, "engine_version"))
            )
    backup = config.backup
    if backup is not None and backup.enabled:
        try:
            check_backup_schedule(backup.schedule, "schedule")
        except ValueError as err:
            problems.append(Problem(("hakit:backup", "schedule"), _without_field(err, "schedule")))
    return problems


def _without_field(err: ValueError, field: str) -> str:
    text = " ".join(str(err).split())
    return text[len(field) + 2 :] if text.startswith(f"{field}: ") else text


def recovery_control(config: StackConfig) -> FailoverDnsRecoveryControlArgs | None:
    """FailoverDns ARC settings: one cell (routing control) per region, at least one On."""
    if not config.routing.recovery_control:
        return None
    settings: FailoverDnsRecoveryControlArgs = {"cells": [r.name for r in config.regions], "min_cells_on": 1}
    if config.routing.arc_cluster_arn:
        settings["cluster_arn"] = config.routing.arc_cluster_arn
    return settings


def routing_policy(config: StackConfig) -> str:
    """The DNS policy in use: one region has nothing to fail over to, so it gets a single weighted record."""
    return "weighted" if len(config.regions) == 1 else config.routing.policy


class ServiceStack(pulumi.ComponentResource):
    """The whole multi-region service of one stack config."""

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hakit:stacks:ServiceStack", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        keep = pulumi.ResourceOptions(parent=self, protect=config.protect)
        tags = {**config.tags, "hakit:service": config.service.name}
        fqdn = config.service.fqdn
        ordered = [config.primary_region, *config.secondary_regions]

        zone_id: pulumi.Input[str]
        self.name_servers: pulumi.Output[Sequence[str]] | None = None
        if config.service.zone_id:
            zone_id = config.service.zone_id
        else:
            zone = route53.Zone(f"{name}-zone", name=config.service.domain, tags=tags, opts=keep)
            zone_id = zone.zone_id
            self.name_servers = zone.name_servers

        self.regions = {r.name: ServiceRegion(f"{name}-{r.name}", config, r, opts=child) for r in ordered}

        # With a CDN the routing records sit behind it, at its primary origin's name.
        self.routed_name = f"origin.{fqdn}" if config.cdn.enabled else fqdn
        dns_args = FailoverDnsArgs(
            zone_id=zone_id,
            name=self.routed_name,
            routing_policy=routing_policy(config),
            health_checks={r.name: self.regions[r.name].health_check(config) for r in ordered},
            records=[self.regions[r.name].record(config, r) for r in ordered],
            region=config.primary_region.name,
            tags=tags,
        )
        control = recovery_control(config)
        if control is not None:
            dns_args["recovery_control"] = control
        self.dns = FailoverDns(f"{name}-dns", dns_args, opts=child)
        self.cdn: FailoverCdn | None = None
        if config.cdn.enabled:
            self.cdn = self._cdn(name, config, zone_id, tags, self.routed_name)

        self.database: GlobalDatabase | None = None
        if config.database is not None and config.database.enabled:
            self.database = self._database(name, config, tags, keep)
        self.backup: AwsBackup | None = None
        if config.backup is not None and config.backup.enabled and self.database is not None:
            self.backup = self._backup(name, config, self.database, tags, keep)
        self.drills: FaultDrills | None = None
        if config.drills is not None and config.drills.enabled:
            self.drills = self._drills(name, config, tags)
        self.register_outputs({"fqdn": fqdn})

    def _drills(self, name: str, config: StackConfig, tags: dict[str, str]) -> FaultDrills:
        """FIS templates for the failures the budget claims: an AZ, the Aurora writer, the primary region."""
        drills = config.drills
        assert drills is not None
        primary = config.primary_region
        minutes = drills.duration_minutes
        args = FaultDrillsArgs(
            instance_tags={"hakit:service": config.service.name},
            stop_alarm_arns=list(drills.stop_alarm_arns),
            az_power={
                "availability_zone": drills.availability_zone or primary.zones()[0],
                "duration_minutes": minutes,
            },
            region=primary.name,
            tags=tags,
        )
        if config.secondary_regions:
            args["region_outage"] = {"region": primary.name, "duration_minutes": minutes}
        if (
            self.database is not None
            and config.database is not None
            and config.database.engine.startswith("aurora")
        ):
            cluster = self.database.resource_arns.apply(lambda arns: arns[primary.name][0])
            args["aurora_failover"] = {"cluster_arn": cluster}
        return FaultDrills(f"{name}-drills", args, opts=pulumi.ResourceOptions(parent=self))

    def _cdn(
        self,
        name: str,
        config: StackConfig,
        zone_id: pulumi.Input[str],
        tags: dict[str, str],
        routed_name: str,
    ) -> FailoverCdn:
        """CloudFront over `origin.<fqdn>` (DNS failover) and the second region's name; `<fqdn>` -> CDN."""
        fqdn = config.service.fqdn
        secondary = config.secondary_regions[0]
        front = self.regions[secondary.name]
        assert front.dns_name is not None and front.zone_id is not None  # StackConfig: CDN needs ALBs
        regional_name = f"{secondary.name}.{fqdn}"
        route53.Record(
            f"{name}-{secondary.name}-origin",
            zone_id=zone_id,
            name=regional_name,
            type="A",
            aliases=[{"name": front.dns_name, "zone_id": front.zone_id, "evaluate_target_health": True}],
            opts=pulumi.ResourceOptions(parent=self),
        )
        assert config.cdn.certificate_arn is not None
        cdn_args = FailoverCdnArgs(
            primary={"domain_name": routed_name},
            secondary={"domain_name": regional_name},
            aliases=[fqdn],
            certificate_arn=config.cdn.certificate_arn,
            price_class=config.cdn.price_class,
            tags=tags,
        )
        if config.cdn.write_path_patterns:
            # Writes go to origin.<fqdn> (DNS failover), never to the origin group: CloudFront retries only
            # GET/HEAD/OPTIONS at the secondary, so a write during a regional failover fails and is retried.
            cdn_args["write_path_patterns"] = list(config.cdn.write_path_patterns)
        if config.cdn.waf:
            cdn_args["waf"] = {}
        cdn = FailoverCdn(f"{name}-cdn", cdn_args, opts=pulumi.ResourceOptions(parent=self))
        for record_type in ("A", "AAAA"):
            route53.Record(
                f"{name}-entry-{record_type.lower()}",
                zone_id=zone_id,
                name=fqdn,
                type=record_type,
                aliases=[
                    {"name": cdn.domain_name, "zone_id": cdn.hosted_zone_id, "evaluate_target_health": False}
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
        return cdn

    def _database(
        self, name: str, config: StackConfig, tags: dict[str, str], opts: pulumi.ResourceOptions
    ) -> GlobalDatabase:
        """The Aurora global database: writer in the primary region, a secondary cluster in every other."""
        database = config.database
        assert database is not None
        networks: dict[str, Any] = {}
        for region in config.regions:
            group = self.regions[region.name].database_security_group
            assert group is not None
            networks[region.name] = {
                "subnet_ids": list(region.subnet_ids),
                "security_group_ids": [group.id],
                "availability_zones": region.zones(),
            }
        return GlobalDatabase(
            f"{name}-db",
            GlobalDatabaseArgs(
                engine=database.engine,
                primary_region=config.primary_region.name,
                secondary_regions=[r.name for r in config.secondary_regions],
                name=config.service.name,
                deletion_protection=database.deletion_protection,
                tags=tags,
                aurora={
                    "engine_version": database.version(),
                    "instance_class": database.instance_class,
                    "primary_instances": database.primary_instances,
                    "secondary_instances": database.secondary_instances,
                    "networks": networks,
                    "skip_final_snapshot": not config.protect,
                },
            ),
            opts=opts,
        )

    def _backup(
        self,
        name: str,
        config: StackConfig,
        database: GlobalDatabase,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions,
    ) -> AwsBackup:
        """Daily backups of the writer's cluster, copied to the copy region's vault."""
        backup = config.backup
        assert backup is not None
        primary = config.primary_region.name
        regions = [primary]
        copy_region = config.backup_copy_region
        if copy_region is not None and copy_region not in regions:
            regions.append(copy_region)
        writer_arns = database.resource_arns.apply(lambda arns: list(arns.get(primary, [])))
        return AwsBackup(
            f"{name}-backup",
            AwsBackupArgs(
                regions=regions,
                name=config.service.name,
                rules=[
                    {"name": "daily", "schedule": backup.schedule, "delete_after_days": backup.retention_days}
                ],
                copy_to_other_regions=len(regions) > 1,
                # The writer's cluster; copies of its recovery points go to the copy region's vault.
                protect_arns={primary: writer_arns},  # type: ignore[dict-item]
                tags=tags,
            ),
            opts=opts,
        )


def build_service(config: StackConfig, stack: str) -> dict[str, Any]:
    """Register the service stack; return its outputs, camelCase as Pulumi programs export them.

    `regions`, `healthCheckIds`, `arcClusterArn`, `routingControlArns` and `globalClusterIdentifier` are
    what `hakit failover --stack-outputs` reads (`pulumi stack output --json`).
    """
    service = ServiceStack(config.service.name, config)
    fqdn = config.service.fqdn
    outputs: dict[str, Any] = {
        "entryUrl": f"https://{fqdn}/",
        "fqdn": fqdn,
        "routedName": service.routed_name,
        "routingPolicy": routing_policy(config),
        "primaryRegion": config.primary_region.name,
        "regions": [r.name for r in config.regions],
        "slo": {"rtoSeconds": config.slo.rto_seconds, "rpoSeconds": config.slo.rpo_seconds},
        "healthCheckIds": service.dns.health_check_ids,
        "frontends": {region: part.summary() for region, part in service.regions.items()},
    }
    if config.routing.recovery_control:
        outputs["arcClusterArn"] = service.dns.cluster_arn
        outputs["routingControlArns"] = service.dns.routing_control_arns
    if service.name_servers is not None:
        outputs["nameServers"] = service.name_servers
    if service.cdn is not None:
        outputs["cdnDomain"] = service.cdn.domain_name
        outputs["cdnDistributionId"] = service.cdn.distribution_id
    if service.database is not None:
        outputs["writerEndpoint"] = service.database.writer_endpoint
        outputs["readerEndpoints"] = service.database.reader_endpoints
        outputs["globalClusterIdentifier"] = service.database.global_arn.apply(
            lambda arn: arn.rsplit(":", 1)[-1]
        )
        outputs["dbMasterSecretArn"] = service.database.master_secret_arn
    if service.backup is not None:
        outputs["backupVaults"] = service.backup.vault_arns
    return outputs
