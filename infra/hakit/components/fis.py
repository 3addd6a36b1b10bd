"""Fault-injection drills in the real cloud: AWS FIS experiment templates, one per failure the budget claims.

`FaultDrills` creates up to three experiment templates, each with stop conditions on CloudWatch alarms (a
drill that hurts more than planned stops itself) and one IAM role whose permissions only reach resources
carrying the service's tags (or the named Aurora cluster):

- `az-power`: stop the service's instances in one availability zone (optionally also cut that zone's
  tagged subnets off the network), the instances restart after the duration;
- `aurora-failover`: fail the Aurora cluster over to a reader;
- `region-outage`: stop every service instance in the primary region, so its load balancer has no healthy
  target and DNS fails over to the secondary region.

`hakit drill run --template-id ...` starts one and measures detection and recovery (docs/drill.md).
"""

import json
from collections.abc import Mapping
from typing import Any, Required, TypedDict

import pulumi

from hakit.components._util import (
    check_range,
    check_region,
    child_opts,
    fail,
    merge_tags,
    partition_of,
    region_kwargs,
    require_plain,
    service_trust_policy,
)

TOKEN = "hakit:fis:FaultDrills"
ALARM_SOURCE = "aws:cloudwatch:alarm"
DRILLS = ("az-power", "aurora-failover", "region-outage")


class FaultDrillsAzPowerArgs(TypedDict, total=False):
    """Availability-zone power interruption."""

    availability_zone: Required[str]
    """The zone whose instances are stopped (e.g. us-east-1a)."""
    duration_minutes: int
    """Minutes before the instances start again (and the network is restored), 1..720; default 10."""
    disrupt_subnets: bool
    """Also deny all traffic of the zone's subnets carrying `subnet_tags`; default false."""
    subnet_tags: dict[str, str]
    """Tags of the service's subnets (required with disrupt_subnets)."""
    stop_alarm_arns: list[pulumi.Input[str]]
    """Alarms that stop this drill; default the component's `stop_alarm_arns`."""
    region: str
    """Region of the template; default the component's."""


class FaultDrillsAuroraArgs(TypedDict, total=False):
    """Aurora cluster failover."""

    cluster_arn: Required[pulumi.Input[str]]
    """ARN of the Aurora cluster to fail over."""
    stop_alarm_arns: list[pulumi.Input[str]]
    """Alarms that stop this drill; default the component's `stop_alarm_arns`."""
    region: str
    """Region of the template (the cluster's); default the component's."""


class FaultDrillsRegionArgs(TypedDict, total=False):
    """The primary region unhealthy: every service instance there stopped, DNS must fail over."""

    region: Required[str]
    """The primary region."""
    duration_minutes: int
    """Minutes before the instances start again, 1..720; default 15."""
    stop_alarm_arns: list[pulumi.Input[str]]
    """Alarms that stop this drill; default the component's `stop_alarm_arns`."""


class FaultDrillsArgs(TypedDict, total=False):
    """Arguments of `FaultDrills`."""

    instance_tags: Required[dict[str, str]]
    """Tags that select the service's instances (and scope the role): at least one."""
    stop_alarm_arns: list[pulumi.Input[str]]
    """CloudWatch alarm ARNs that stop any drill when they fire; every drill needs at least one."""
    az_power: FaultDrillsAzPowerArgs
    """The AZ power-interruption drill; omitted: no such template."""
    aurora_failover: FaultDrillsAuroraArgs
    """The Aurora failover drill; omitted: no such template."""
    region_outage: FaultDrillsRegionArgs
    """The primary-region outage drill; omitted: no such template."""
    log_group_arn: pulumi.Input[str]
    """CloudWatch Logs group ARN for experiment logs (ending in `:*`); default no logs."""
    region: str
    """Region of the templates; default the provider's / stack's region."""
    tags: dict[str, str]
    """Extra tags on every resource."""


class FaultDrills(pulumi.ComponentResource):
    """AWS FIS experiment templates with alarm stop conditions and a tag-scoped IAM role."""

    template_ids: pulumi.Output[dict[str, str]]
    """Experiment template ids by drill (`az-power`, `aurora-failover`, `region-outage`)."""
    role_arn: pulumi.Output[str]
    """The role FIS assumes to run the drills."""

    def __init__(self, name: str, args: FaultDrillsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        """Validate `args` (nothing is registered when they are wrong), then build the templates."""
        import pulumi_aws.fis as fis
        import pulumi_aws.iam as iam

        drills = _validate(args)
        super().__init__(TOKEN, name, {}, opts)
        tags = merge_tags(TOKEN, name, args.get("tags"))
        role = iam.Role(
            f"{name}-role",
            description=f"hakit fault drills {name}: FIS acts only on the service's tagged resources",
            assume_role_policy=service_trust_policy("fis.amazonaws.com"),
            tags=tags,
            opts=child_opts(self),
        )
        power: Mapping[str, Any] = args.get("az_power") or {}
        subnet_tags = power.get("subnet_tags") if power.get("disrupt_subnets") else None
        aurora = args.get("aurora_failover")
        cluster_arn = pulumi.Output.from_input(aurora["cluster_arn"] if aurora else "")
        policy = pulumi.Output.all(partition_of(self), cluster_arn).apply(
            lambda values: json.dumps(
                role_policy(values[0], args["instance_tags"], drills, values[1], subnet_tags)
            )
        )
        role_policy_resource = iam.RolePolicy(
            f"{name}-role-policy", role=role.id, policy=policy, opts=child_opts(self)
        )
        ids: dict[str, pulumi.Output[str]] = {}
        for drill in drills:
            spec: Any = dict(args).get(_ARG_OF[drill]) or {}
            region = spec.get("region") if drill != "region-outage" else spec["region"]
            region = region or args.get("region")
            alarms = list(spec.get("stop_alarm_arns") or args.get("stop_alarm_arns") or [])
            targets, actions = _experiment(drill, spec, args["instance_tags"])
            props: dict[str, Any] = {
                "description": f"hakit {name}: {_DESCRIPTIONS[drill]}",
                "role_arn": role.arn,
                "stop_conditions": [{"source": ALARM_SOURCE, "value": arn} for arn in alarms],
                "targets": targets,
                "actions": actions,
                # A drill whose selection matches nothing must fail, not report a vacuous success.
                "experiment_options": {"empty_target_resolution_mode": "fail"},
                "tags": {**tags, "Name": f"{name}-{drill}", "hakit:drill": drill},
                **region_kwargs(region),
            }
            if args.get("log_group_arn"):
                props["log_configuration"] = {
                    "log_schema_version": 2,
                    "cloudwatch_logs_configuration": {"log_group_arn": args["log_group_arn"]},
                }
            template = fis.ExperimentTemplate(
                f"{name}-{drill}",
                opts=child_opts(self, depends_on=[role_policy_resource]),
                **props,
            )
            ids[drill] = template.id
        self.template_ids = pulumi.Output.all(**ids).apply(dict)
        self.role_arn = role.arn
        self.register_outputs({"template_ids": self.template_ids, "role_arn": self.role_arn})


_ARG_OF = {"az-power": "az_power", "aurora-failover": "aurora_failover", "region-outage": "region_outage"}
_DESCRIPTIONS = {
    "az-power": "AZ power interruption (instances stopped in one zone)",
    "aurora-failover": "Aurora cluster failover",
    "region-outage": "primary region unhealthy (every instance stopped): DNS fails over",
}


# ---------------------------------------------------------------- validation (pure)


def _validate(args: Mapping[str, Any]) -> list[str]:
    """Check the arguments; return the drills asked for, in DRILLS order."""
    where = "FaultDrillsArgs"
    tags = args.get("instance_tags")
    require_plain(tags, f"{where}.instance_tags")
    if not isinstance(tags, Mapping) or not tags:
        fail(
            f"{where}.instance_tags", "needs at least one tag (an empty selection would reach every instance)"
        )
    for key, value in tags.items():
        if not key or not isinstance(value, str) or not value:
            fail(f"{where}.instance_tags.{key}", "tag keys and values must be non-empty strings")
    if args.get("region"):
        check_region(args["region"], f"{where}.region")
    require_plain(args.get("stop_alarm_arns") or [], f"{where}.stop_alarm_arns")
    drills = [d for d in DRILLS if args.get(_ARG_OF[d]) is not None]
    if not drills:
        fail(where, "asks for no drill: give az_power, aurora_failover and/or region_outage")
    for drill in drills:
        at = f"{where}.{_ARG_OF[drill]}"
        spec = args[_ARG_OF[drill]]
        require_plain(spec.get("stop_alarm_arns") or [], f"{at}.stop_alarm_arns")
        alarms = list(spec.get("stop_alarm_arns") or args.get("stop_alarm_arns") or [])
        if not alarms:
            fail(
                f"{at}.stop_alarm_arns",
                "no stop condition: give CloudWatch alarm ARNs (here or in stop_alarm_arns) that halt it",
            )
        for i, arn in enumerate(alarms):
            if isinstance(arn, str) and not (
                arn.startswith("arn:") and ":cloudwatch:" in arn and ":alarm:" in arn
            ):
                fail(f"{at}.stop_alarm_arns[{i}]", f"{arn!r} is not a CloudWatch alarm ARN")
        if spec.get("region") or drill == "region-outage":
            check_region(spec.get("region"), f"{at}.region")
            if drill == "region-outage" and not spec.get("region"):
                fail(f"{at}.region", "is required (the primary region)")
        if drill != "aurora-failover":
            check_range(spec.get("duration_minutes", 10), 1, 720, f"{at}.duration_minutes")
    power = args.get("az_power")
    if power is not None:
        zone = power.get("availability_zone")
        region = power.get("region") or args.get("region")
        if not zone or not isinstance(zone, str):
            fail(f"{where}.az_power.availability_zone", "is required")
        if region and not zone.startswith(region):
            fail(f"{where}.az_power.availability_zone", f"{zone!r} is not in region {region}")
        if power.get("disrupt_subnets") and not power.get("subnet_tags"):
            fail(f"{where}.az_power.subnet_tags", "disrupt_subnets needs the tags of the service's subnets")
    aurora = args.get("aurora_failover")
    if aurora is not None:
        arn = aurora.get("cluster_arn")
        if not arn:
            fail(f"{where}.aurora_failover.cluster_arn", "is required")
        if isinstance(arn, str) and not (arn.startswith("arn:") and ":rds:" in arn and ":cluster:" in arn):
            fail(f"{where}.aurora_failover.cluster_arn", f"{arn!r} is not an RDS cluster ARN")
    return drills


# ---------------------------------------------------------------- templates and role (pure)


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


def _experiment(drill: str, spec: Mapping[str, Any], instance_tags: Mapping[str, str]) -> tuple[Any, Any]:
    """(targets, actions) of one drill's template."""
    if drill == "aurora-failover":
        cluster: Any = [
            {
                "name": "cluster",
                "resource_type": "aws:rds:cluster",
                "resource_arns": [spec["cluster_arn"]],
                "selection_mode": "ALL",
            }
        ]
        failover: Any = [
            {
                "name": "failover",
                "action_id": "aws:rds:failover-db-cluster",
                "target": {"key": "Clusters", "value": "cluster"},
            }
        ]
        return cluster, failover
    minutes = spec.get("duration_minutes", 10 if drill == "az-power" else 15)
    instances: dict[str, Any] = {
        "name": "instances",
        "resource_type": "aws:ec2:instance",
        "resource_tags": _tag_list(instance_tags),
        "selection_mode": "ALL",
        "filters": [{"path": "State.Name", "values": ["running"]}],
    }
    if drill == "az-power":
        instances["filters"].append(
            {"path": "Placement.AvailabilityZone", "values": [spec["availability_zone"]]}
        )
    targets: list[dict[str, Any]] = [instances]
    actions: list[dict[str, Any]] = [
        {
            "name": "stop-instances",
            "action_id": "aws:ec2:stop-instances",
            "target": {"key": "Instances", "value": "instances"},
            "parameters": [{"key": "startInstancesAfterDuration", "value": f"PT{minutes}M"}],
        }
    ]
    if drill == "az-power" and spec.get("disrupt_subnets"):
        targets.append(
            {
                "name": "subnets",
                "resource_type": "aws:ec2:subnet",
                "resource_tags": _tag_list(spec["subnet_tags"]),
                "selection_mode": "ALL",
                "filters": [{"path": "AvailabilityZone", "values": [spec["availability_zone"]]}],
            }
        )
        actions.append(
            {
                "name": "disrupt-subnets",
                "action_id": "aws:network:disrupt-connectivity",
                "target": {"key": "Subnets", "value": "subnets"},
                "parameters": [
                    {"key": "duration", "value": f"PT{minutes}M"},
                    {"key": "scope", "value": "all"},
                ],
            }
        )
    return targets, actions


def _tag_condition(tags: Mapping[str, str]) -> dict[str, Any]:
    return {"StringEquals": {f"aws:ResourceTag/{k}": v for k, v in tags.items()}}


def role_policy(
    partition: str,
    instance_tags: Mapping[str, str],
    drills: list[str],
    cluster_arn: str = "",
    subnet_tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The FIS role's policy: instance and subnet actions only on resources carrying the service's tags."""
    statements: list[dict[str, Any]] = [
        {
            # Describe calls have no resource-level permissions; they only read.
            "Sid": "Describe",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeInstances",
                "ec2:DescribeSubnets",
                "ec2:DescribeNetworkAcls",
                "ec2:DescribeVpcs",
            ],
            "Resource": "*",
        }
    ]
    if "az-power" in drills or "region-outage" in drills:
        statements.append(
            {
                "Sid": "StopAndStartTheServiceInstances",
                "Effect": "Allow",
                "Action": ["ec2:StopInstances", "ec2:StartInstances"],
                "Resource": f"arn:{partition}:ec2:*:*:instance/*",
                "Condition": _tag_condition(instance_tags),
            }
        )
    if cluster_arn and "aurora-failover" in drills:
        statements.append(
            {
                "Sid": "FailOverTheCluster",
                "Effect": "Allow",
                "Action": ["rds:FailoverDBCluster"],
                "Resource": cluster_arn,
            }
        )
        statements.append(
            {
                "Sid": "DescribeClusters",
                "Effect": "Allow",
                "Action": ["rds:DescribeDBClusters"],
                "Resource": "*",
            }
        )
    if subnet_tags:
        statements += _network_statements(partition, subnet_tags)
    return {"Version": "2012-10-17", "Statement": statements}


def _network_statements(partition: str, subnet_tags: Mapping[str, str]) -> list[dict[str, Any]]:
    """disrupt-connectivity: FIS creates a tagged deny-all ACL, swaps it onto the subnets, swaps back."""
    acl = f"arn:{partition}:ec2:*:*:network-acl/*"
    return [
        {
            "Sid": "NetworkAclsFisCreates",
            "Effect": "Allow",
            "Action": ["ec2:CreateNetworkAcl", "ec2:CreateTags"],
            "Resource": acl,
            "Condition": {"StringEquals": {"aws:RequestTag/managedByFIS": "true"}},
        },
        {
            "Sid": "NetworkAclsFisManages",
            "Effect": "Allow",
            "Action": ["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAcl"],
            "Resource": acl,
            "Condition": {"StringEquals": {"aws:ResourceTag/managedByFIS": "true"}},
        },
        {
            "Sid": "SwapTheServiceSubnetsAcl",
            "Effect": "Allow",
            "Action": ["ec2:ReplaceNetworkAclAssociation"],
            "Resource": f"arn:{partition}:ec2:*:*:subnet/*",
            "Condition": _tag_condition(subnet_tags),
        },
        {
            # The subnet's own ACL is not FIS's: restoring it needs the association on any ACL.
            "Sid": "RestoreTheOriginalAcl",
            "Effect": "Allow",
            "Action": ["ec2:ReplaceNetworkAclAssociation"],
            "Resource": acl,
        },
    ]
