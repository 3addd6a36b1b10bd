"""Realistic computed outputs for mocked resources and invokes, so dependent inputs do not silently vanish."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"

# Canonical hosted zone ids of ELB per region: (ALB/CLB, NLB). Route53 alias records need the right one.
ELB_ZONE_IDS: dict[str, tuple[str, str]] = {
    "us-east-1": ("Z35SXDOTRQ7X7K", "Z26RNL4JYFTOTI"),
    "us-east-2": ("Z3AADJGX6KTTL2", "ZLMOA37VPKANP"),
    "us-west-1": ("Z368ELLRRE2KJ0", "Z24FKFUX50B4VW"),
    "us-west-2": ("Z1H1FL5HABSF5", "Z18D5FSROUN65G"),
    "eu-west-1": ("Z32O12XQLNTSW2", "Z2IFOLAFXWLO4F"),
    "eu-west-2": ("ZHURV8PSTC4K8", "ZD4D7Y8KGAS4G"),
    "eu-central-1": ("Z215JYRZR1TBD5", "Z3F0SRJ5LGBH90"),
    "ap-southeast-1": ("Z1LMS91P8CMLE5", "ZKVM4W9LS7TM"),
    "ap-southeast-2": ("Z1GM3OXH4ZPM65", "ZCT6FZBF4DROD"),
    "ap-northeast-1": ("Z14GRHDCWA56QT", "Z31USIVHYNEOWT"),
}

Computed = Callable[["MockContext"], dict[str, Any]]

# Region prefixes of the partitions other than `aws` (the provider answers getPartition this way).
_PARTITIONS = (
    ("us-gov-", "aws-us-gov", "amazonaws.com"),
    ("cn-", "aws-cn", "amazonaws.com.cn"),
    ("us-isob-", "aws-iso-b", "sc2s.sgov.gov"),
    ("us-iso-", "aws-iso", "c2s.ic.gov"),
)


def partition_of_region(region: str) -> tuple[str, str]:
    """(partition, DNS suffix) of a region: `us-gov-west-1` -> (`aws-us-gov`, `amazonaws.com`)."""
    for prefix, partition, suffix in _PARTITIONS:
        if region.startswith(prefix):
            return partition, suffix
    return "aws", "amazonaws.com"


class MockContext:
    """What an output function sees: type, logical name, inputs (camelCase), effective region."""

    def __init__(self, type_: str, name: str, inputs: Mapping[str, Any], region: str) -> None:
        self.type = type_
        self.name = name
        self.inputs = inputs
        self.region = region

    def digest(self, length: int = 8) -> str:
        """A deterministic hex suffix for this resource (same program -> same ids)."""
        return hashlib.sha256(f"{self.type}|{self.name}|{self.region}".encode()).hexdigest()[:length]

    @property
    def physical_name(self) -> str:
        """The given `name` input or an auto-name `<logical>-<hex>` like the engine's."""
        given = self.inputs.get("name")
        return str(given) if isinstance(given, str) and given else f"{self.name}-{self.digest(7)}"

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        """An ARN in the mock account."""
        where = self.region if region else ""
        return f"arn:{partition_of_region(self.region)[0]}:{service}:{where}:{ACCOUNT_ID}:{resource}"


def _load_balancer(ctx: MockContext) -> dict[str, Any]:
    network = ctx.inputs.get("loadBalancerType") == "network"
    kind = "net" if network else "app"
    zones = ELB_ZONE_IDS.get(ctx.region, ELB_ZONE_IDS[DEFAULT_REGION])
    lb_name = ctx.physical_name[:32]
    suffix = f"{kind}/{lb_name}/{ctx.digest(16)}"
    return {
        "arn": ctx.arn("elasticloadbalancing", f"loadbalancer/{suffix}"),
        "arnSuffix": suffix,
        "dnsName": f"{lb_name}-{ctx.digest(10)}.{'elb' if network else ctx.region + '.elb'}.amazonaws.com",
        "zoneId": zones[1] if network else zones[0],
        "name": lb_name,
    }


def _target_group(ctx: MockContext) -> dict[str, Any]:
    suffix = f"targetgroup/{ctx.physical_name[:32]}/{ctx.digest(16)}"
    return {
        "arn": ctx.arn("elasticloadbalancing", suffix),
        "arnSuffix": suffix,
        "name": ctx.physical_name[:32],
    }


def _distribution(ctx: MockContext) -> dict[str, Any]:
    dist_id = "E" + ctx.digest(13).upper()
    return {
        "arn": ctx.arn("cloudfront", f"distribution/{dist_id}", region=False),
        "domainName": f"d{ctx.digest(13)}.cloudfront.net",
        "hostedZoneId": CLOUDFRONT_ZONE_ID,
        "status": "Deployed",
        "etag": ctx.digest(14).upper(),
        "_id": dist_id,
    }


def _rds_cluster(ctx: MockContext) -> dict[str, Any]:
    ident = str(ctx.inputs.get("clusterIdentifier") or ctx.physical_name)
    host = f"{ident}.cluster-{ctx.digest(12)}.{ctx.region}.rds.amazonaws.com"
    return {
        "arn": ctx.arn("rds", f"cluster:{ident}"),
        "clusterIdentifier": ident,
        "clusterResourceId": "cluster-" + ctx.digest(26).upper(),
        "endpoint": host,
        "readerEndpoint": host.replace(".cluster-", ".cluster-ro-"),
        "port": ctx.inputs.get("port", 5432.0 if "postgres" in str(ctx.inputs.get("engine", "")) else 3306.0),
        "_id": ident,
    }


def _rds_instance(ctx: MockContext) -> dict[str, Any]:
    ident = str(ctx.inputs.get("identifier") or ctx.physical_name)
    return {
        "arn": ctx.arn("rds", f"db:{ident}"),
        "identifier": ident,
        "endpoint": f"{ident}.{ctx.digest(12)}.{ctx.region}.rds.amazonaws.com",
        "_id": ident,
    }


def _global_cluster(ctx: MockContext) -> dict[str, Any]:
    ident = str(ctx.inputs.get("globalClusterIdentifier") or ctx.physical_name)
    return {
        "arn": ctx.arn("rds", f"global-cluster:{ident}", region=False),
        "globalClusterResourceId": "cluster-" + ctx.digest(26),
        "endpoint": f"{ident}.global-{ctx.digest(6)}.global.rds.amazonaws.com",
        "_id": ident,
    }


def _dynamodb_table(ctx: MockContext) -> dict[str, Any]:
    table = str(ctx.inputs.get("name") or ctx.physical_name)
    label = "2026-01-01T00:00:00.000"
    return {
        "arn": ctx.arn("dynamodb", f"table/{table}"),
        "streamArn": ctx.arn("dynamodb", f"table/{table}/stream/{label}"),
        "streamLabel": label,
        "_id": table,
    }


def _dsql_cluster(ctx: MockContext) -> dict[str, Any]:
    ident = ctx.digest(26)
    return {
        "identifier": ident,
        "arn": ctx.arn("dsql", f"cluster/{ident}"),
        "vpcEndpointServiceName": f"com.amazonaws.{ctx.region}.dsql-{ctx.digest(4)}",
        "_id": ident,
    }


def _arc_cluster(ctx: MockContext) -> dict[str, Any]:
    regions = ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "ap-southeast-2"]
    return {
        "arn": ctx.arn("route53-recovery-control", f"cluster/{ctx.digest(36)}", region=False),
        "status": "DEPLOYED",
        "clusterEndpoints": [
            {"endpoint": f"https://host-{ctx.digest(6)}.{r}.example-arc.aws", "region": r} for r in regions
        ],
    }


def _control_panel(ctx: MockContext) -> dict[str, Any]:
    # Each panel its own id: `arn:PARTITION:route53-recovery-control::ACCOUNT:controlpanel/<32 hex>`.
    return {
        "arn": ctx.arn("route53-recovery-control", f"controlpanel/{ctx.digest(32)}", region=False),
        "status": "DEPLOYED",
        "defaultControlPanel": False,
        "routingControlCount": 0,
    }


def _default_control_panel(cluster_arn: str) -> str:
    """The panel AWS creates with each cluster (used when a routing control names no panel)."""
    prefix = cluster_arn.split(":cluster/")[0]
    digest = hashlib.sha256(f"default-panel|{cluster_arn}".encode()).hexdigest()[:32]
    return f"{prefix}:controlpanel/{digest}"


def _arc_child(kind: str) -> Computed:
    """Routing controls and safety rules sit under their panel: `.../controlpanel/<id>/<kind>/<id>`."""

    def compute(ctx: MockContext) -> dict[str, Any]:
        panel = ctx.inputs.get("controlPanelArn")
        if not isinstance(panel, str) or not panel:
            cluster = ctx.inputs.get("clusterArn")
            fallback = ctx.arn("route53-recovery-control", "cluster/unknown", region=False)
            panel = _default_control_panel(cluster if isinstance(cluster, str) and cluster else fallback)
        return {"arn": f"{panel}/{kind}/{ctx.digest(16)}", "status": "DEPLOYED"}

    return compute


def _kms_key(ctx: MockContext) -> dict[str, Any]:
    key_id = f"{ctx.digest(8)}-{ctx.digest(4)}-4{ctx.digest(3)}-a{ctx.digest(3)}-{ctx.digest(12)}"
    return {"arn": ctx.arn("kms", f"key/{key_id}"), "keyId": key_id, "_id": key_id}


def _bucket(ctx: MockContext) -> dict[str, Any]:
    bucket = str(ctx.inputs.get("bucket") or ctx.physical_name).lower()
    return {
        "bucket": bucket,
        "arn": f"arn:{partition_of_region(ctx.region)[0]}:s3:::{bucket}",
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{ctx.region}.amazonaws.com",
        "region": ctx.region,
        "_id": bucket,
    }


def _eip(ctx: MockContext) -> dict[str, Any]:
    n = int(ctx.digest(4), 16)
    return {"publicIp": f"203.0.113.{n % 250 + 1}", "allocationId": f"eipalloc-{ctx.digest(17)}"}


def _instance(ctx: MockContext) -> dict[str, Any]:
    n = int(ctx.digest(4), 16)
    return {
        "arn": ctx.arn("ec2", f"instance/i-{ctx.digest(17)}"),
        "privateIp": f"10.0.{n % 200}.{n % 250 + 1}",
        "primaryNetworkInterfaceId": f"eni-{ctx.digest(17)}",
        "availabilityZone": ctx.inputs.get("availabilityZone", f"{ctx.region}a"),
        "_id": f"i-{ctx.digest(17)}",
    }


def _iam_role(ctx: MockContext) -> dict[str, Any]:
    return {"arn": ctx.arn("iam", f"role/{ctx.physical_name}", region=False), "name": ctx.physical_name}


def _secret(ctx: MockContext) -> dict[str, Any]:
    return {"arn": ctx.arn("secretsmanager", f"secret:{ctx.physical_name}-{ctx.digest(6)}")}


def _certificate(ctx: MockContext) -> dict[str, Any]:
    return {"arn": ctx.arn("acm", f"certificate/{ctx.digest(36)}"), "status": "ISSUED"}


def _route53_record(ctx: MockContext) -> dict[str, Any]:
    # Route 53 returns the name fully qualified, without the trailing dot.
    return {"fqdn": str(ctx.inputs.get("name", "")).rstrip(".")}


def _hosted_zone(ctx: MockContext) -> dict[str, Any]:
    zone_id = "Z" + ctx.digest(20).upper()
    servers = [
        f"ns-{int(ctx.digest(3), 16) % 2048 + i}.awsdns-{i:02d}.{tld}"
        for i, tld in enumerate(("com", "net", "org", "co.uk"))
    ]
    return {
        "zoneId": zone_id,
        "nameServers": servers,
        "arn": f"arn:{partition_of_region(ctx.region)[0]}:route53:::hostedzone/{zone_id}",
        "_id": zone_id,
    }


def _random_password(ctx: MockContext) -> dict[str, Any]:
    length = int(ctx.inputs.get("length", 16))
    return {"result": ("mock-" + ctx.digest(64))[:length], "bcryptHash": "$2a$10$" + ctx.digest(53)}


COMPUTED: dict[str, Computed] = {
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:alb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:alb/targetGroup:TargetGroup": _target_group,
    "aws:cloudfront/distribution:Distribution": _distribution,
    "aws:rds/cluster:Cluster": _rds_cluster,
    "aws:rds/clusterInstance:ClusterInstance": _rds_instance,
    "aws:rds/globalCluster:GlobalCluster": _global_cluster,
    "aws:dynamodb/table:Table": _dynamodb_table,
    "aws:dsql/cluster:Cluster": _dsql_cluster,
    "aws:route53recoverycontrol/cluster:Cluster": _arc_cluster,
    "aws:route53recoverycontrol/controlPanel:ControlPanel": _control_panel,
    "aws:route53recoverycontrol/routingControl:RoutingControl": _arc_child("routingcontrol"),
    "aws:route53recoverycontrol/safetyRule:SafetyRule": _arc_child("safetyrule"),
    "aws:kms/key:Key": _kms_key,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    "aws:ec2/eip:Eip": _eip,
    "aws:ec2/instance:Instance": _instance,
    "aws:iam/role:Role": _iam_role,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:acm/certificate:Certificate": _certificate,
    "aws:route53/record:Record": _route53_record,
    "random:index/randomPassword:RandomPassword": _random_password,
    "aws:route53/zone:Zone": _hosted_zone,
    # A new launch template is version 1 (an Auto Scaling group pins it; without it the pin would vanish).
    "aws:ec2/launchTemplate:LaunchTemplate": lambda ctx: {"latestVersion": 1, "defaultVersion": 1},
}


def _generic_arn(ctx: MockContext) -> str:
    # aws:backup/vault:Vault -> arn:aws:backup:<region>:<acct>:vault/<name>
    module, _, rest = ctx.type.partition(":")[2].partition("/")
    kind = rest.split(":")[0]
    return ctx.arn(module, f"{kind}/{ctx.physical_name}")


def mock_resource(
    type_: str, name: str, inputs: Mapping[str, Any], region: str
) -> tuple[str, dict[str, Any]]:
    """Return (id, state) for a new resource: its inputs plus realistic computed outputs."""
    ctx = MockContext(type_, name, inputs, region)
    computed: dict[str, Any] = {}
    if type_.startswith("aws:"):
        computed["arn"] = _generic_arn(ctx)
        computed["name"] = ctx.physical_name
        tags = inputs.get("tags") or {}
        # An Auto Scaling group's `tags` is a list of {key, value, propagateAtLaunch}: no tagsAll for it.
        computed["tagsAll"] = dict(tags) if isinstance(tags, Mapping) else {}
        if "region" not in inputs:
            computed["region"] = region
    special = COMPUTED.get(type_)
    if special is not None:
        computed.update(special(ctx))
    resource_id = str(computed.pop("_id", None) or f"{ctx.physical_name}-id")
    state = {**computed, **dict(inputs)}
    # Computed attributes win over echoed inputs where the provider would compute them.
    for key in ("arn", "arnSuffix", "dnsName", "zoneId", "domainName", "hostedZoneId", "endpoint", "result"):
        if key in computed:
            state[key] = computed[key]
    return resource_id, state


def _policy_document(args: Mapping[str, Any]) -> dict[str, Any]:
    statements = []
    for st in args.get("statements") or []:
        out: dict[str, Any] = {"Effect": st.get("effect", "Allow")}
        if st.get("sid"):
            out["Sid"] = st["sid"]
        for src, dst in (("actions", "Action"), ("notActions", "NotAction"), ("resources", "Resource")):
            if st.get(src):
                out[dst] = st[src]
        for principal in st.get("principals") or []:
            out.setdefault("Principal", {})[principal["type"]] = principal["identifiers"]
        for cond in st.get("conditions") or []:
            out.setdefault("Condition", {}).setdefault(cond["test"], {})[cond["variable"]] = cond["values"]
        statements.append(out)
    document = {"Version": "2012-10-17", "Statement": statements}
    return {"json": json.dumps(document, sort_keys=True), "minifiedJson": json.dumps(document)}


def mock_call(token: str, args: Mapping[str, Any], region: str) -> dict[str, Any]:
    """Return the result of a data-source invoke (caller identity, region, AZs, policy documents ...)."""
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        partition = partition_of_region(region)[0]
        return {
            "accountId": ACCOUNT_ID,
            "arn": f"arn:{partition}:iam::{ACCOUNT_ID}:user/mock",
            "userId": "AIDMOCK",
        }
    if token == "aws:index/getRegion:getRegion":
        name = str(args.get("region") or args.get("name") or region)
        return {"name": name, "region": name, "endpoint": f"ec2.{name}.amazonaws.com", "id": name}
    if token == "aws:index/getPartition:getPartition":
        partition, suffix = partition_of_region(region)
        return {"partition": partition, "dnsSuffix": suffix, "id": partition, "reverseDnsPrefix": ""}
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        where = str(args.get("region") or region)
        names = [f"{where}{s}" for s in "abc"]
        return {"names": names, "zoneIds": [f"use1-az{i}" for i in (1, 2, 4)], "id": where}
    if token == "aws:iam/getPolicyDocument:getPolicyDocument":
        return _policy_document(args)
    if token == "aws:ec2/getAmi:getAmi":
        return {"id": "ami-0123456789abcdef0", "imageId": "ami-0123456789abcdef0", "architecture": "x86_64"}
    return dict(args)
