"""Small programs of raw pulumi-aws resources (users' own stacks): one failing, one passing per rule."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws.autoscaling as autoscaling
import pulumi_aws.backup as backup
import pulumi_aws.cloudfront as cloudfront
import pulumi_aws.dynamodb as dynamodb
import pulumi_aws.ebs as ebs
import pulumi_aws.ec2 as ec2
import pulumi_aws.lambda_ as lambda_
import pulumi_aws.lb as lb
import pulumi_aws.rds as rds
import pulumi_aws.route53 as route53
import pulumi_aws.s3 as s3
from hakit.testing import ResourceGraph

Program = Callable[[], None]
PRIMARY, SECONDARY = "us-east-1", "us-west-2"
REPO = Path(__file__).resolve().parents[2]


@cache
def stack_graph(env: str) -> ResourceGraph:
    """The project's own program (hakit components) synthesized with `Pulumi.<env>.yaml`, once per run."""
    from hakit.stacks.program import synth_stack

    return synth_stack(env, root=REPO)


# ------------------------------------------------------------------ building blocks


def alb(name: str, region: str, subnets: list[str] | None = None) -> lb.LoadBalancer:
    """An ALB in two subnets (two AZs) unless told otherwise."""
    return lb.LoadBalancer(name, subnets=subnets or ["subnet-a", "subnet-b"], region=region)


def target_group(name: str, region: str, health_check: dict[str, Any] | None = None) -> lb.TargetGroup:
    """A target group with explicit health check settings unless told otherwise."""
    check = (
        health_check
        if health_check is not None
        else {
            "path": "/healthz",
            "interval": 10,
            "healthy_threshold": 2,
            "unhealthy_threshold": 3,
            "timeout": 5,
        }
    )
    return lb.TargetGroup(name, port=8080, protocol="HTTP", vpc_id="vpc-1", region=region, health_check=check)


def https_listener(
    name: str, balancer: lb.LoadBalancer, group: lb.TargetGroup, region: str, **kw: Any
) -> None:
    """A TLS listener forwarding to `group`."""
    lb.Listener(
        name,
        load_balancer_arn=balancer.arn,
        port=443,
        protocol=kw.pop("protocol", "HTTPS"),
        ssl_policy=kw.pop("ssl_policy", "ELBSecurityPolicy-TLS13-1-2-2021-06"),
        certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/x",
        default_actions=[{"type": "forward", "target_group_arn": group.arn}],
        region=region,
        **kw,
    )


def failover_record(
    name: str, kind: str, balancer: lb.LoadBalancer, check: route53.HealthCheck | None, **kw: Any
) -> None:
    """A failover alias record for app.example.com."""
    route53.Record(
        name,
        zone_id="Z123",
        name="app.example.com",
        type="A",
        set_identifier=name,
        failover_routing_policies=[{"type": kind}],
        health_check_id=check.id if check is not None else None,
        aliases=[
            {
                "name": balancer.dns_name,
                "zone_id": balancer.zone_id,
                "evaluate_target_health": kw.pop("ev", False),
            }
        ],
        **kw,
    )


def health_check(
    name: str, balancer: lb.LoadBalancer, interval: int = 10, threshold: int = 3
) -> route53.HealthCheck:
    """An HTTPS health check of an ALB."""
    return route53.HealthCheck(
        name,
        type="HTTPS",
        fqdn=balancer.dns_name,
        port=443,
        resource_path="/healthz",
        request_interval=interval,
        failure_threshold=threshold,
    )


def dns_pair(primary_check: bool = True, secondary: bool = True) -> None:
    """Two regional ALBs behind a failover record set."""
    east, west = alb("east", PRIMARY), alb("west", SECONDARY)
    failover_record("primary", "PRIMARY", east, health_check("east-hc", east) if primary_check else None)
    if secondary:
        failover_record("secondary", "SECONDARY", west, health_check("west-hc", west))


def aurora_cluster(
    name: str, region: str, global_cluster: rds.GlobalCluster | None = None, instances: int = 2, **kw: Any
) -> rds.Cluster:
    """An encrypted, protected Aurora PostgreSQL cluster with `instances` instances."""
    cluster = rds.Cluster(
        name,
        engine="aurora-postgresql",
        engine_version="16.4",
        global_cluster_identifier=global_cluster.id if global_cluster is not None else None,
        storage_encrypted=kw.pop("storage_encrypted", True),
        deletion_protection=kw.pop("deletion_protection", True),
        master_username="app" if global_cluster is None or region == PRIMARY else None,
        master_password=kw.pop("master_password", None),
        region=region,
        **kw,
    )
    for index in range(instances):
        rds.ClusterInstance(
            f"{name}-{index}",
            cluster_identifier=cluster.id,
            instance_class="db.r6g.large",
            engine="aurora-postgresql",
            region=region,
        )
    return cluster


def global_aurora(secondary: bool = True) -> None:
    """An Aurora global database in one or two regions."""
    global_cluster = rds.GlobalCluster(
        "global",
        global_cluster_identifier="app",
        engine="aurora-postgresql",
        engine_version="16.4",
        storage_encrypted=True,
        deletion_protection=True,
        region=PRIMARY,
    )
    aurora_cluster("east-db", PRIMARY, global_cluster)
    if secondary:
        aurora_cluster("west-db", SECONDARY, global_cluster)


def backup_plan(copy_region: str | None = SECONDARY, schedule: str = "cron(0 */4 * * ? *)") -> None:
    """A backup plan (every 4 hours) copying to a vault in `copy_region`."""
    vault = backup.Vault("vault", region=PRIMARY)
    rule: dict[str, Any] = {"rule_name": "main", "target_vault_name": vault.name, "schedule": schedule}
    if copy_region is not None:
        remote = backup.Vault("remote-vault", region=copy_region)
        rule["copy_actions"] = [{"destination_vault_arn": remote.arn}]
    backup.Plan("plan", rules=[rule], region=PRIMARY)


KEEPALIVED = """#cloud-config
write_files:
  - path: /etc/keepalived/keepalived.conf
    content: |
      global_defs {{
        vrrp_version 3
      }}
      vrrp_instance VI_1 {{
        interface ens5
        virtual_router_id 51
        priority {priority}
        advert_int 1
        unicast_peer {{
          10.0.1.10
        }}
      }}
"""


def keepalived_pair(
    zones: tuple[str, str] = ("us-east-1a", "us-east-1b"), priorities: tuple[int, int] = (150, 100)
) -> None:
    """Two EC2 instances running keepalived (config in cloud-init user data), in subnets of `zones`."""
    for index, (zone, priority) in enumerate(zip(zones, priorities, strict=True)):
        subnet = ec2.Subnet(
            f"lb-{index}", vpc_id="vpc-1", cidr_block=f"10.0.{index}.0/24", availability_zone=zone
        )
        ec2.Instance(
            f"lb-{index}",
            ami="ami-123",
            instance_type="t3.micro",
            subnet_id=subnet.id,
            user_data=KEEPALIVED.format(priority=priority),
            root_block_device={"encrypted": True},
        )


def distribution(origin_group: bool = True, **kw: Any) -> None:
    """A CloudFront distribution in front of two ALB origins (an origin group unless told otherwise)."""
    east, west = alb("east", PRIMARY), alb("west", SECONDARY)
    origins = [
        {
            "origin_id": origin_id,
            "domain_name": balancer.dns_name,
            "connection_attempts": 2,
            "connection_timeout": 5,
            "custom_origin_config": {
                "http_port": 80,
                "https_port": 443,
                "origin_protocol_policy": kw.get("origin_protocol", "https-only"),
                "origin_ssl_protocols": ["TLSv1.2"],
                **({"origin_read_timeout": kw["read_timeout"]} if "read_timeout" in kw else {}),
            },
        }
        for origin_id, balancer in (("east", east), ("west", west))
    ]
    groups = [
        {
            "origin_id": "app",
            "failover_criteria": {"status_codes": [500, 502, 503, 504]},
            "members": [{"origin_id": "east"}, {"origin_id": "west"}],
        }
    ]
    cloudfront.Distribution(
        "cdn",
        enabled=True,
        origins=origins if origin_group else origins[:1],
        origin_groups=groups if origin_group else None,
        default_cache_behavior={
            "target_origin_id": "app" if origin_group else "east",
            "viewer_protocol_policy": kw.get("viewer", "redirect-to-https"),
            "allowed_methods": ["GET", "HEAD"],
            "cached_methods": ["GET", "HEAD"],
            "cache_policy_id": "658327ea-f89d-4fab-a63d-7e88639e58f6",
        },
        restrictions={"geo_restriction": {"restriction_type": "none"}},
        viewer_certificate={
            "acm_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/x",
            "ssl_support_method": "sni-only",
            "minimum_protocol_version": kw.get("min_tls", "TLSv1.2_2021"),
        },
    )


def s3_site(oac: bool = True, public: bool = False) -> None:
    """A CloudFront distribution serving an S3 bucket (OAC and a closed bucket unless told otherwise)."""
    bucket = s3.Bucket("site")
    s3.BucketPublicAccessBlock(
        "site",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=not public,
        ignore_public_acls=True,
        restrict_public_buckets=not public,
    )
    control = cloudfront.OriginAccessControl(
        "site", origin_access_control_origin_type="s3", signing_behavior="always", signing_protocol="sigv4"
    )
    cloudfront.Distribution(
        "site",
        enabled=True,
        origins=[
            {
                "origin_id": "s3",
                "domain_name": bucket.bucket_regional_domain_name,
                "origin_access_control_id": control.id if oac else None,
            }
        ],
        default_cache_behavior={
            "target_origin_id": "s3",
            "viewer_protocol_policy": "https-only",
            "allowed_methods": ["GET", "HEAD"],
            "cached_methods": ["GET", "HEAD"],
        },
        restrictions={"geo_restriction": {"restriction_type": "none"}},
        viewer_certificate={"cloudfront_default_certificate": True},
    )
    if public:
        s3.BucketPolicy(
            "site",
            bucket=bucket.id,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
                    ],
                }
            ),
        )


def listener_program(
    protocol: str = "HTTPS", ssl_policy: str | None = "ELBSecurityPolicy-TLS13-1-2-2021-06"
) -> None:
    """An ALB with one listener."""
    balancer = alb("web", PRIMARY)
    group = target_group("web", PRIMARY)
    if protocol == "HTTP-redirect":
        lb.Listener(
            "web",
            load_balancer_arn=balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                {
                    "type": "redirect",
                    "redirect": {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"},
                }
            ],
            region=PRIMARY,
        )
        return
    if protocol == "HTTP":
        lb.Listener(
            "web",
            load_balancer_arn=balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=[{"type": "forward", "target_group_arn": group.arn}],
            region=PRIMARY,
        )
        return
    https_listener("web", balancer, group, PRIMARY, ssl_policy=ssl_policy)


def table(replica: bool = True, protected: bool = True) -> None:
    """A DynamoDB table, a global table with a us-west-2 replica unless told otherwise."""
    dynamodb.Table(
        "orders",
        hash_key="id",
        attributes=[{"name": "id", "type": "S"}],
        billing_mode="PAY_PER_REQUEST",
        stream_enabled=True,
        stream_view_type="NEW_AND_OLD_IMAGES",
        replicas=[{"region_name": SECONDARY}] if replica else None,
        deletion_protection_enabled=protected,
        region=PRIMARY,
    )


def secret_program(secret: bool) -> None:
    """A Lambda function whose DB password (no provider-marked secret field) is or is not a secret."""
    password: Any = pulumi.Output.secret("correct-horse") if secret else "correct-horse"
    lambda_.Function(
        "api",
        role="arn:aws:iam::123456789012:role/api",
        runtime="python3.12",
        handler="app.handler",
        code=pulumi.AssetArchive({"app.py": pulumi.StringAsset("def handler(e, c): return 1")}),
        environment={"variables": {"DB_HOST": "db.internal", "DB_PASSWORD": password}},
    )


def volume(encrypted: bool) -> None:
    """An EBS volume."""
    ebs.Volume("data", availability_zone="us-east-1a", size=10, encrypted=encrypted)


def autoscaling_group(health: str = "ELB", subnets: tuple[str, ...] = ("subnet-a", "subnet-b")) -> None:
    """An Auto Scaling group behind a target group."""
    autoscaling.Group(
        "app",
        min_size=2,
        max_size=4,
        vpc_zone_identifiers=list(subnets),
        target_group_arns=["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/app/1"],
        health_check_type=health,
        launch_template={"id": "lt-1", "version": "1"},
    )


# rule id -> (failing program, passing program)
CASES: dict[str, tuple[Program, Program]] = {
    "HA001": (lambda: dns_pair(primary_check=False), dns_pair),
    "HA002": (lambda: dns_pair(secondary=False), dns_pair),
    "HA003": (lambda: alb("one", PRIMARY, ["subnet-a"]) and None, lambda: alb("two", PRIMARY) and None),
    "HA004": (lambda: global_aurora(secondary=False), global_aurora),
    "HA005": (lambda: backup_plan(copy_region=PRIMARY), backup_plan),
    "HA006": (lambda: keepalived_pair(zones=("us-east-1a", "us-east-1a")), keepalived_pair),
    "HA007": (lambda: keepalived_pair(priorities=(100, 100)), keepalived_pair),
    "HA008": (lambda: distribution(origin_group=False), distribution),
    "HA009": (
        lambda: target_group("tg", PRIMARY, {"path": "/"}) and None,
        lambda: target_group("tg", PRIMARY) and None,
    ),
    "HA010": (
        lambda: aurora_cluster("solo", PRIMARY, instances=1) and None,
        lambda: aurora_cluster("duo", PRIMARY) and None,
    ),
    "HA014": (lambda: autoscaling_group(health="EC2"), autoscaling_group),
    "SEC001": (lambda: volume(False), lambda: volume(True)),
    "SEC002": (lambda: s3_site(oac=False), s3_site),
    "SEC003": (lambda: listener_program("HTTP"), lambda: listener_program("HTTP-redirect")),
    "SEC004": (lambda: listener_program(ssl_policy="ELBSecurityPolicy-2016-08"), listener_program),
    "SEC005": (lambda: table(protected=False), table),
    "SEC006": (lambda: secret_program(False), lambda: secret_program(True)),
}
