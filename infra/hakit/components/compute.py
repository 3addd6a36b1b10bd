"""A self-healing compute tier: a launch template and an Auto Scaling group that replaces dead instances.

`ComputeTier` creates a launch template (IMDSv2 only, encrypted EBS, no public IP unless asked), an Auto
Scaling group across at least two availability zones that judges instances by the load balancer's health
checks (an instance the target group calls unhealthy is replaced, not only one whose hardware died), rolls
out launch-template changes by instance refresh (minimum healthy percentage, checkpoints, rollback on
failure or on CloudWatch alarms), a termination lifecycle hook that gives a leaving instance at least the
target group's deregistration delay to drain, and a target-tracking scaling policy.
"""

import base64
from collections.abc import Mapping
from typing import Any, Required, TypedDict

import pulumi

from hakit.components._util import (
    check_choice,
    check_range,
    check_region,
    child_opts,
    fail,
    merge_tags,
    region_kwargs,
    require_plain,
    unique,
)

TOKEN = "hakit:compute:ComputeTier"
HEALTH_CHECK_TYPES = ("ELB",)
SCALING_METRICS = ("cpu", "requests_per_target")
VOLUME_TYPES = ("gp3", "gp2", "io1", "io2")
PROD_ENVIRONMENTS = ("prod", "production")
# Group metrics published to CloudWatch: in service vs desired is how a replacement is watched.
GROUP_METRICS: Any = ["GroupInServiceInstances", "GroupDesiredCapacity", "GroupTerminatingInstances"]


class ComputeTierRefreshArgs(TypedDict, total=False):
    """Instance refresh: how a launch-template change rolls through the group."""

    min_healthy_percentage: int
    """Share of capacity kept in service during a refresh, 0..100; default 90."""
    max_healthy_percentage: int
    """Capacity allowed above desired while replacing, 100..200, <= min + 100; default 110."""
    checkpoint_percentages: list[int]
    """Pause after this share of instances is replaced, ascending 1..100 ending at 100; default [50, 100]."""
    checkpoint_delay: int
    """Seconds to pause at each checkpoint (watch the alarms), 0..172800; default 300."""
    auto_rollback: bool
    """Roll back to the previous launch template when the refresh fails; default true."""
    rollback_alarm_names: list[pulumi.Input[str]]
    """CloudWatch alarms that fail (and with auto_rollback roll back) the refresh when they fire."""
    skip_matching: bool
    """Skip instances that already run the desired launch template; default true."""


class ComputeTierScalingArgs(TypedDict, total=False):
    """Target-tracking scaling."""

    metric: str
    """`cpu` (average CPU of the group, default) or `requests_per_target` (ALB requests per target)."""
    target_value: float
    """Target of the metric: CPU percent 10..90 (default 50), or requests per target 1..100000."""
    resource_label: pulumi.Input[str]
    """For `requests_per_target`: `app/<lb>/<id>/targetgroup/<tg>/<id>` (ARN suffixes)."""
    disable_scale_in: bool
    """Only scale out (never remove instances for low load); default false."""


class ComputeTierArgs(TypedDict, total=False):
    """Arguments of `ComputeTier`."""

    subnet_ids: Required[list[pulumi.Input[str]]]
    """Private subnets for the instances, one per availability zone, at least two zones."""
    availability_zones: Required[list[str]]
    """The availability zone of each subnet (same order): checked to span at least two zones."""
    image_id: Required[pulumi.Input[str]]
    """AMI of the instances."""
    security_group_ids: Required[list[pulumi.Input[str]]]
    """Security groups of the instances (the load balancer's targets group)."""
    target_group_arns: Required[list[pulumi.Input[str]]]
    """Target groups the instances register with; their health checks decide replacement."""
    instance_type: str
    """EC2 instance type; default t3.small."""
    user_data: pulumi.Input[str]
    """Boot script or cloud-init document (plain text; encoded here). Readable via the metadata service:
    no secrets in it."""
    instance_profile_arn: pulumi.Input[str]
    """IAM instance profile ARN; default none."""
    associate_public_ip: bool
    """Give instances a public IPv4 address; default false (private, behind the load balancer)."""
    volume_size: int
    """Root volume GiB, 8..16384; default 20. Always encrypted."""
    volume_type: str
    """gp3 (default), gp2, io1 or io2."""
    kms_key_id: pulumi.Input[str]
    """KMS key ARN for the volumes; default the account's EBS key."""
    root_device_name: str
    """Root device name of the AMI; default /dev/xvda."""
    min_size: int
    """Fewest instances, 0..1000; default 2. Below 2 in prod needs `allow_single_instance`."""
    max_size: int
    """Most instances, >= min_size and <= 1000; default 6."""
    allow_single_instance: bool
    """Accept min_size < 2 in a prod environment (a single point of failure); default false."""
    environment: str
    """Environment name that decides the prod rules; default the Pulumi stack name."""
    health_check_type: str
    """How instances are judged: ELB (default and only value: EC2-only checks miss a hung application)."""
    health_check_grace_period: int
    """Seconds after launch before health checks count, 0..7200; default 300."""
    default_instance_warmup: int
    """Seconds before a new instance's metrics count for scaling and refresh, 0..3600; default 120."""
    capacity_rebalance: bool
    """Replace Spot instances at elevated interruption risk before they are reclaimed; default true."""
    deregistration_delay: int
    """The target groups' deregistration delay in seconds (the drain hook waits at least this); default 30."""
    drain_timeout: int
    """Seconds the termination lifecycle hook holds a leaving instance, 30..7200 and >= deregistration_delay;
    default 300."""
    instance_refresh: ComputeTierRefreshArgs
    """Instance refresh preferences."""
    scaling: ComputeTierScalingArgs
    """Target-tracking scaling policy."""
    region: str
    """Region of every resource; default the provider's / stack's region."""
    tags: dict[str, str]
    """Extra tags on every resource (propagated to the instances)."""


class ComputeTier(pulumi.ComponentResource):
    """An Auto Scaling group behind a load balancer: ELB health checks replace dead or hung instances."""

    group_name: pulumi.Output[str]
    """The Auto Scaling group's name."""
    group_arn: pulumi.Output[str]
    """The Auto Scaling group's ARN."""
    launch_template_id: pulumi.Output[str]
    """The launch template's id."""

    def __init__(self, name: str, args: ComputeTierArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        """Validate `args` (nothing is registered when they are wrong), then build the tier."""
        import pulumi_aws.autoscaling as autoscaling

        _validate(args)
        super().__init__(TOKEN, name, {}, opts)
        tags = merge_tags(TOKEN, name, args.get("tags"))
        where = region_kwargs(args.get("region"))
        template = _launch_template(self, name, args, tags)
        # A pinned version (not $Latest): instance refresh can only roll back to a known version.
        launch_template: Any = {"id": template.id, "version": template.latest_version.apply(str)}
        group_tags: Any = [{"key": k, "value": v, "propagate_at_launch": True} for k, v in tags.items()]
        group = autoscaling.Group(
            f"{name}-asg",
            vpc_zone_identifiers=list(args["subnet_ids"]),
            min_size=args.get("min_size", 2),
            max_size=args.get("max_size", 6),
            launch_template=launch_template,
            target_group_arns=list(args["target_group_arns"]),
            health_check_type="ELB",
            health_check_grace_period=args.get("health_check_grace_period", 300),
            default_instance_warmup=args.get("default_instance_warmup", 120),
            capacity_rebalance=args.get("capacity_rebalance", True),
            termination_policies=["OldestLaunchTemplate", "Default"],
            enabled_metrics=GROUP_METRICS,
            instance_refresh=_instance_refresh(args.get("instance_refresh") or {}),
            # Pulumi must not wait for ELB health (a new image failing its checks is the refresh's job).
            wait_for_capacity_timeout="0",
            tags=group_tags,
            opts=child_opts(self),
            **where,
        )
        autoscaling.LifecycleHook(
            f"{name}-drain",
            autoscaling_group_name=group.name,
            lifecycle_transition="autoscaling:EC2_INSTANCE_TERMINATING",
            heartbeat_timeout=args.get("drain_timeout", 300),
            # CONTINUE: an instance that never answers still terminates when the heartbeat runs out.
            default_result="CONTINUE",
            opts=child_opts(self),
            **where,
        )
        autoscaling.Policy(
            f"{name}-scaling",
            autoscaling_group_name=group.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration=_target_tracking(args.get("scaling") or {}),
            opts=child_opts(self),
            **where,
        )
        self.group_name = group.name
        self.group_arn = group.arn
        self.launch_template_id = template.id
        self.register_outputs(
            {"group_name": self.group_name, "group_arn": self.group_arn, "launch_template_id": template.id}
        )


# ---------------------------------------------------------------- validation (pure)


def is_production(environment: str) -> bool:
    """Whether an environment name gets the prod rules (`prod`, `production`, `prod-eu` ...)."""
    name = environment.lower()
    return any(name == p or name.startswith(f"{p}-") for p in PROD_ENVIRONMENTS)


def _validate(args: Mapping[str, Any]) -> None:
    where = "ComputeTierArgs"
    for key in ("image_id", "subnet_ids", "availability_zones", "security_group_ids", "target_group_arns"):
        if not args.get(key):
            fail(f"{where}.{key}", "is required")
    for key in ("subnet_ids", "availability_zones", "security_group_ids", "target_group_arns"):
        require_plain(args[key], f"{where}.{key}")
    subnets, zones = list(args["subnet_ids"]), list(args["availability_zones"])
    if len(zones) != len(subnets):
        fail(f"{where}.availability_zones", f"gives {len(zones)} zones for {len(subnets)} subnets")
    dupes = unique([s for s in subnets if isinstance(s, str)])
    if dupes:
        fail(f"{where}.subnet_ids", f"subnet {dupes[0]!r} is listed twice")
    if len(set(zones)) < 2:
        fail(f"{where}.availability_zones", "the group must span at least two availability zones")
    if args.get("region"):
        check_region(args["region"], f"{where}.region")
        for i, zone in enumerate(zones):
            if not str(zone).startswith(str(args["region"])):
                fail(f"{where}.availability_zones[{i}]", f"{zone!r} is not in region {args['region']}")
    check_choice(args.get("health_check_type", "ELB"), HEALTH_CHECK_TYPES, f"{where}.health_check_type")
    grace = args.get("health_check_grace_period", 300)
    check_range(grace, 0, 7200, f"{where}.health_check_grace_period")
    check_range(args.get("default_instance_warmup", 120), 0, 3600, f"{where}.default_instance_warmup")
    _validate_sizes(args, where)
    check_range(args.get("volume_size", 20), 8, 16384, f"{where}.volume_size")
    check_choice(args.get("volume_type", "gp3"), VOLUME_TYPES, f"{where}.volume_type")
    delay = args.get("deregistration_delay", 30)
    drain = args.get("drain_timeout", 300)
    check_range(delay, 0, 3600, f"{where}.deregistration_delay")
    check_range(drain, 30, 7200, f"{where}.drain_timeout")
    if drain < delay:
        fail(
            f"{where}.drain_timeout",
            f"{drain} s is shorter than the deregistration delay ({delay} s): instances would die mid-drain",
        )
    _validate_refresh(args.get("instance_refresh") or {}, f"{where}.instance_refresh")
    _validate_scaling(args.get("scaling") or {}, f"{where}.scaling")


def _validate_sizes(args: Mapping[str, Any], where: str) -> None:
    low, high = args.get("min_size", 2), args.get("max_size", 6)
    check_range(low, 0, 1000, f"{where}.min_size")
    check_range(high, 1, 1000, f"{where}.max_size")
    if high < low:
        fail(f"{where}.max_size", f"{high} is below min_size ({low})")
    environment = str(args.get("environment") or pulumi.get_stack())
    if low < 2 and is_production(environment) and not args.get("allow_single_instance", False):
        fail(
            f"{where}.min_size",
            f"{low} in {environment!r} leaves one instance (or none) to serve: use >= 2, "
            "or set allow_single_instance: true",
        )


def _validate_refresh(refresh: Mapping[str, Any], where: str) -> None:
    low = refresh.get("min_healthy_percentage", 90)
    high = refresh.get("max_healthy_percentage", 110)
    check_range(low, 0, 100, f"{where}.min_healthy_percentage")
    check_range(high, 100, 200, f"{where}.max_healthy_percentage")
    if high - low > 100:
        fail(f"{where}.max_healthy_percentage", f"{high} is more than 100 points above the minimum ({low})")
    points = list(refresh.get("checkpoint_percentages", [50, 100]))
    for i, point in enumerate(points):
        check_range(point, 1, 100, f"{where}.checkpoint_percentages[{i}]")
    if points and (points != sorted(set(points)) or points[-1] != 100):
        fail(f"{where}.checkpoint_percentages", f"{points} must rise strictly and end at 100")
    check_range(refresh.get("checkpoint_delay", 300), 0, 172800, f"{where}.checkpoint_delay")


def _validate_scaling(scaling: Mapping[str, Any], where: str) -> None:
    metric = scaling.get("metric", "cpu")
    check_choice(metric, SCALING_METRICS, f"{where}.metric")
    if metric == "cpu":
        check_range(scaling.get("target_value", 50), 10, 90, f"{where}.target_value")
        if "resource_label" in scaling:
            fail(f"{where}.resource_label", "is only used with metric requests_per_target")
    else:
        check_range(scaling.get("target_value", 1000), 1, 100_000, f"{where}.target_value")
        if not scaling.get("resource_label"):
            fail(f"{where}.resource_label", "requests_per_target needs the ALB/target group label")


# ---------------------------------------------------------------- resources


def _launch_template(
    parent: pulumi.Resource, name: str, args: Mapping[str, Any], tags: dict[str, str]
) -> Any:
    import pulumi_aws.ec2 as ec2

    ebs: dict[str, Any] = {
        "encrypted": "true",
        "delete_on_termination": "true",
        "volume_size": args.get("volume_size", 20),
        "volume_type": args.get("volume_type", "gp3"),
    }
    if args.get("kms_key_id"):
        ebs["kms_key_id"] = args["kms_key_id"]
    props: dict[str, Any] = {}
    if args.get("instance_profile_arn"):
        props["iam_instance_profile"] = {"arn": args["instance_profile_arn"]}
    if args.get("user_data") is not None:
        props["user_data"] = pulumi.Output.from_input(args["user_data"]).apply(
            lambda text: base64.b64encode(text.encode()).decode()
        )
    props.update(
        image_id=args["image_id"],
        instance_type=args.get("instance_type", "t3.small"),
        update_default_version=True,
        metadata_options={
            "http_endpoint": "enabled",
            "http_tokens": "required",  # IMDSv2 only
            "http_put_response_hop_limit": 1,  # a container on the host cannot reach the credentials
            "instance_metadata_tags": "disabled",
        },
        block_device_mappings=[{"device_name": args.get("root_device_name", "/dev/xvda"), "ebs": ebs}],
        network_interfaces=[
            {
                "device_index": 0,
                "associate_public_ip_address": "true" if args.get("associate_public_ip", False) else "false",
                "security_groups": list(args["security_group_ids"]),
                "delete_on_termination": "true",
            }
        ],
        monitoring={"enabled": True},
        tag_specifications=[{"resource_type": kind, "tags": tags} for kind in ("instance", "volume")],
        tags=tags,
        **region_kwargs(args.get("region")),
    )
    return ec2.LaunchTemplate(f"{name}-lt", opts=child_opts(parent), **props)


def _instance_refresh(refresh: Mapping[str, Any]) -> Any:
    preferences: dict[str, Any] = {
        "min_healthy_percentage": refresh.get("min_healthy_percentage", 90),
        "max_healthy_percentage": refresh.get("max_healthy_percentage", 110),
        "checkpoint_delay": str(refresh.get("checkpoint_delay", 300)),
        "auto_rollback": refresh.get("auto_rollback", True),
        "skip_matching": refresh.get("skip_matching", True),
    }
    points = list(refresh.get("checkpoint_percentages", [50, 100]))
    if points:
        preferences["checkpoint_percentages"] = points
    alarms = list(refresh.get("rollback_alarm_names") or [])
    if alarms:
        preferences["alarm_specification"] = {"alarms": alarms}
    return {"strategy": "Rolling", "preferences": preferences}


def _target_tracking(scaling: Mapping[str, Any]) -> Any:
    if scaling.get("metric", "cpu") == "cpu":
        metric: dict[str, Any] = {"predefined_metric_type": "ASGAverageCPUUtilization"}
        target = scaling.get("target_value", 50)
    else:
        metric = {
            "predefined_metric_type": "ALBRequestCountPerTarget",
            "resource_label": scaling["resource_label"],
        }
        target = scaling.get("target_value", 1000)
    return {
        "predefined_metric_specification": metric,
        "target_value": float(target),
        "disable_scale_in": scaling.get("disable_scale_in", False),
    }
