"""A keepalived + HAProxy/nginx pair on EC2: two instances in two AZs, one Elastic IP that follows the master.

The instances' cloud-init embeds exactly the files hakit renders for a bare-metal pair (same inventory
model, same render functions), with unicast VRRP (AWS has no multicast). The Elastic IP is moved by
`scripts/eip_notify.py`, installed as a keepalived hook; the instance role may only associate that EIP
with these two instances. A security group lets VRRP (IP protocol 112) flow only inside the pair, plus
the service port; CloudWatch alarms recover (system check) or reboot (instance check) a broken instance.

AWS detail: VRRP still needs an address to manage. The pair uses the VPC's fourth address (network + 3),
which AWS reserves in every VPC and never assigns or routes, as a /32 marker of the master; the Elastic
IP is the entry point.
"""

import base64
import gzip
import io
import json
from ipaddress import IPv4Address, IPv4Network
from typing import Any, TypedDict

import pulumi
import pulumi_aws.cloudwatch as cloudwatch
import pulumi_aws.ec2 as ec2
import pulumi_aws.iam as iam
import pulumi_aws.vpc as vpc
from pydantic import ValidationError
from ruamel.yaml import YAML

from hakit.components._util import child_opts, merge_tags, partition_of, service_trust_policy
from hakit.paths import scripts_dir
from hakit.render import render_cluster
from hakit.render.tree import HostFiles
from hakit.spec.inventory import Inventory

CLUSTER = "pair"
NODES = ("node-a", "node-b")
PRIORITIES = {"node-a": 150, "node-b": 100}
INSTANCE = "VI_EIP"
EIP_HOOK = "/etc/keepalived/notify.d/50-eip-move"
EIP_SETTINGS = "/etc/hakit/eip_notify.json"
DEBIAN_OWNER = "136693071363"
"""The AWS account publishing the official Debian AMIs."""


class KeepalivedPairArgs(TypedDict, total=False):
    """Arguments of KeepalivedPair."""

    vpc_id: pulumi.Input[str]
    """VPC of the pair."""
    vpc_cidr: str
    """The VPC's IPv4 CIDR (plain: the rendered configs depend on it)."""
    subnet_ids: list[pulumi.Input[str]]
    """Two subnets in two availability zones: one instance in each."""
    private_ips: list[str]
    """Fixed private IPs of the instances, one per subnet (plain: written into both configs)."""
    targets: list[str]
    """Application targets (IPs) the proxy balances over."""
    allow_single_target: bool
    """Accept a single target (no redundancy behind the pair); default false."""
    target_port: int
    """Port of the application targets (default 80)."""
    listen_port: int
    """Port the proxy listens on, opened in the security group (default 80)."""
    health_path: str
    """HTTP path the proxy checks on the targets (default /healthz)."""
    proxy: str
    """haproxy (default) or nginx."""
    advert_int: float
    """VRRP advertisement interval in seconds (default 1)."""
    interface: str
    """Network interface name on the instances (default ens5, Nitro)."""
    instance_type: pulumi.Input[str]
    """EC2 instance type (default t3.small)."""
    ami: pulumi.Input[str]
    """AMI id (default: the latest official Debian 12)."""
    ingress_cidrs: list[str]
    """Who may reach the service port (default 0.0.0.0/0)."""
    region: str
    """AWS region (default: the provider's)."""
    tags: dict[str, str]
    """Tags on every resource."""


def _need(args: KeepalivedPairArgs, key: str) -> Any:
    value = args.get(key)
    if value is None:
        raise ValueError(f"KeepalivedPairArgs.{key}: required")
    if isinstance(value, pulumi.Output):
        raise ValueError(f"KeepalivedPairArgs.{key}: must be a plain value (it is rendered into the configs)")
    return value


def pair_inventory(args: KeepalivedPairArgs) -> Inventory:
    """The bare-metal inventory of the pair; invalid arguments raise ValueError naming the argument."""
    try:
        network = IPv4Network(str(_need(args, "vpc_cidr")))
    except ValueError as err:
        raise ValueError(f"KeepalivedPairArgs.vpc_cidr: {err}") from None
    ips = [str(ip) for ip in _need(args, "private_ips")]
    if len(ips) != 2 or len(set(ips)) != 2:
        raise ValueError("KeepalivedPairArgs.private_ips: exactly two distinct addresses")
    for ip in ips:
        try:
            address = IPv4Address(ip)
        except ValueError as err:
            raise ValueError(f"KeepalivedPairArgs.private_ips: {err}") from None
        if address not in network:
            raise ValueError(f"KeepalivedPairArgs.private_ips: {ip} is outside vpc_cidr {network}")
    targets = [str(t) for t in _need(args, "targets")]
    single = bool(args.get("allow_single_target", False))
    if not targets or (len(targets) < 2 and not single):
        raise ValueError(
            "KeepalivedPairArgs.targets: at least two targets for redundancy (or set allow_single_target)"
        )
    interface = str(args.get("interface", "ens5"))
    marker = network.network_address + 3  # AWS-reserved in every VPC: never assigned, never routed
    document = {
        "hosts": {
            node: {"interfaces": {interface: {"address": f"{ip}/{network.prefixlen}"}}}
            for node, ip in zip(NODES, ips, strict=True)
        },
        "load_balancers": {
            CLUSTER: {
                "nodes": {node: {"priority": PRIORITIES[node]} for node in NODES},
                "vrrp": {
                    "version": 3,
                    "advert_int": str(args.get("advert_int", 1)),
                    "unicast": True,  # no multicast in a VPC
                    "instances": {INSTANCE: {"interface": interface, "vrid": 51, "vips": [f"{marker}/32"]}},
                },
                "proxy": {
                    "kind": str(args.get("proxy", "haproxy")),
                    "frontends": {
                        "www": {
                            "addresses": ["*"],
                            "port": int(args.get("listen_port", 80)),
                            "backend": "app",
                        }
                    },
                    "backends": {
                        "app": {
                            "balance": "roundrobin",
                            "health_check": {"path": str(args.get("health_path", "/healthz"))},
                            "allow_single_server": single,
                            "servers": {
                                f"app-{i + 1}": {"address": t, "port": int(args.get("target_port", 80))}
                                for i, t in enumerate(targets)
                            },
                        }
                    },
                },
            }
        },
    }
    try:
        return Inventory.model_validate(document)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(
            f"KeepalivedPairArgs: the pair's inventory is invalid at {where}: {first['msg']}"
        ) from None


def pair_files(args: KeepalivedPairArgs, *, source: str) -> dict[str, HostFiles]:
    """The rendered files of both nodes (what bare metal would write to disk)."""
    return render_cluster(pair_inventory(args), CLUSTER, source=source)


def cloud_init(files: HostFiles, *, proxy: str, allocation_id: str, region: str) -> str:
    """`#cloud-config` that installs the packages, writes the rendered files and the EIP hook, starts them."""
    write_files: list[dict[str, Any]] = [
        {
            "path": "/" + path,
            "content": rendered.content,
            "permissions": f"0{rendered.effective_mode:o}",
            "owner": "root:root",
            "defer": True,  # after package installation, so the packages' default configs do not win
        }
        for path, rendered in sorted(files.items())
    ]
    write_files.append(
        {
            "path": EIP_HOOK,
            "content": (scripts_dir() / "eip_notify.py").read_text(encoding="utf-8"),
            "permissions": "0755",
            "owner": "root:root",
            "defer": True,
        }
    )
    write_files.append(
        {
            "path": EIP_SETTINGS,
            "content": json.dumps({"allocation_id": allocation_id, "region": region}, sort_keys=True) + "\n",
            "permissions": "0644",
            "owner": "root:root",
            "defer": True,
        }
    )
    document = {
        "package_update": True,
        "packages": ["keepalived", proxy, "python3-boto3"],
        "write_files": write_files,
        "runcmd": [
            ["sysctl", "--system"],
            ["systemctl", "restart", proxy],
            ["systemctl", "enable", "--now", "keepalived"],
            ["systemctl", "restart", "keepalived"],
        ],
    }
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return "#cloud-config\n" + buffer.getvalue()


def gzip_base64(text: str) -> str:
    """Deterministic gzip + base64 (EC2 user data is limited to 16 KB; cloud-init unpacks gzip)."""
    return base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()


def decode_user_data(value: str) -> str:
    """The inverse of gzip_base64 (for tests and `hakit plan` readers)."""
    return gzip.decompress(base64.b64decode(value)).decode()


class KeepalivedPair(pulumi.ComponentResource):
    """Two EC2 instances running keepalived + a proxy, sharing one Elastic IP moved by VRRP."""

    public_ip: pulumi.Output[str]
    """The Elastic IP (entry point)."""
    allocation_id: pulumi.Output[str]
    """Allocation id of the Elastic IP."""
    instance_ids: pulumi.Output[list[str]]
    """The two instances (first: initial master)."""
    security_group_id: pulumi.Output[str]
    """Security group of the pair."""

    def __init__(
        self, name: str, args: KeepalivedPairArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        files = pair_files(args, source=f"pulumi component {name}")
        proxy = str(args.get("proxy", "haproxy"))
        region = args.get("region") or pulumi.Config("aws").get("region")
        if not region:
            raise ValueError("KeepalivedPairArgs.region: required when the aws:region config is not set")
        subnet_ids = _need(args, "subnet_ids")
        if len(subnet_ids) < 2:
            raise ValueError("KeepalivedPairArgs.subnet_ids: two subnets in two availability zones")
        ips = [str(ip) for ip in _need(args, "private_ips")]
        listen_port = int(args.get("listen_port", 80))
        super().__init__("hakit:keepalived:KeepalivedPair", name, {}, opts)
        explicit_region = args.get("region")  # None: the provider's region
        tags = merge_tags("KeepalivedPair", name, args.get("tags"))

        group = ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args["vpc_id"],
            description=f"hakit keepalived pair {name}: VRRP inside the pair, service port",
            tags=tags,
            opts=child_opts(self),
            region=explicit_region,
        )
        # VRRP is IP protocol 112 (no ports): only members of this group may send it.
        vpc.SecurityGroupIngressRule(
            f"{name}-vrrp",
            security_group_id=group.id,
            ip_protocol="112",
            referenced_security_group_id=group.id,
            description="VRRP between the pair",
            opts=child_opts(self),
            region=explicit_region,
        )
        for index, cidr in enumerate(args.get("ingress_cidrs") or ["0.0.0.0/0"]):
            vpc.SecurityGroupIngressRule(
                f"{name}-service-{index}",
                security_group_id=group.id,
                ip_protocol="tcp",
                from_port=listen_port,
                to_port=listen_port,
                cidr_ipv4=cidr,
                description="service port",
                opts=child_opts(self),
                region=explicit_region,
            )
        vpc.SecurityGroupEgressRule(
            f"{name}-egress",
            security_group_id=group.id,
            ip_protocol="-1",
            cidr_ipv4="0.0.0.0/0",
            description="targets, EC2 API, package mirrors",
            opts=child_opts(self),
            region=explicit_region,
        )
        eip = ec2.Eip(f"{name}-eip", domain="vpc", tags=tags, opts=child_opts(self), region=explicit_region)
        # Not associated here: keepalived's master claims it, and Pulumi must not move it back on the next up.

        role = iam.Role(
            f"{name}-role",
            assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
            tags=tags,
            opts=child_opts(self),
        )
        profile = iam.InstanceProfile(f"{name}-profile", role=role.name, opts=child_opts(self))

        ami = (
            args.get("ami")
            or ec2.get_ami_output(
                most_recent=True,
                owners=[DEBIAN_OWNER],
                filters=[
                    ec2.GetAmiFilterArgs(name="name", values=["debian-12-amd64-*"]),
                    ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
                ],
                region=explicit_region,
            ).id
        )
        partition = partition_of(self)  # ARNs below: aws, aws-us-gov or aws-cn, as the provider says
        instances: list[ec2.Instance] = []
        for index, node in enumerate(NODES):

            def user_data_of(allocation: str, node: str = node) -> str:
                return gzip_base64(
                    cloud_init(files[node], proxy=proxy, allocation_id=allocation, region=str(region))
                )

            user_data = eip.allocation_id.apply(user_data_of)
            instance = ec2.Instance(
                f"{name}-{node}",
                ami=ami,
                instance_type=args.get("instance_type", "t3.small"),
                subnet_id=subnet_ids[index],
                private_ip=ips[index],
                vpc_security_group_ids=[group.id],
                iam_instance_profile=profile.name,
                user_data_base64=user_data,
                root_block_device=ec2.InstanceRootBlockDeviceArgs(encrypted=True, volume_type="gp3"),
                metadata_options=ec2.InstanceMetadataOptionsArgs(
                    http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
                ),
                tags={**tags, "Name": f"{name}-{node}"},
                # A fixed private IP cannot exist twice: replacing means delete first.
                opts=child_opts(self, delete_before_replace=True),
                region=explicit_region,
            )
            instances.append(instance)
            for check, action in (("System", "recover"), ("Instance", "reboot")):
                cloudwatch.MetricAlarm(
                    f"{name}-{node}-{action}",
                    alarm_description=f"{action} {name}-{node} when the {check.lower()} status check fails",
                    namespace="AWS/EC2",
                    metric_name=f"StatusCheckFailed_{check}",
                    dimensions={"InstanceId": instance.id},
                    statistic="Maximum",
                    period=60,
                    evaluation_periods=2,
                    threshold=1,
                    comparison_operator="GreaterThanOrEqualToThreshold",
                    alarm_actions=[
                        pulumi.Output.concat("arn:", partition, f":automate:{region}:ec2:{action}")
                    ],
                    tags=tags,
                    opts=child_opts(self),
                    region=explicit_region,
                )
        # Least privilege: associate this one EIP with these two instances; describing cannot be scoped.
        iam.RolePolicy(
            f"{name}-move-eip",
            role=role.id,
            policy=pulumi.Output.all(partition, eip.allocation_id, *[i.id for i in instances]).apply(
                lambda ids: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "MoveThePairEip",
                                "Effect": "Allow",
                                "Action": "ec2:AssociateAddress",
                                "Resource": [f"arn:{ids[0]}:ec2:{region}:*:elastic-ip/{ids[1]}"]
                                + [f"arn:{ids[0]}:ec2:{region}:*:instance/{i}" for i in ids[2:]],
                            },
                            {
                                "Sid": "SeeAddresses",
                                "Effect": "Allow",
                                "Action": "ec2:DescribeAddresses",
                                "Resource": "*",
                            },
                        ],
                    },
                    sort_keys=True,
                )
            ),
            opts=child_opts(self),
        )
        self.public_ip = eip.public_ip
        self.allocation_id = eip.allocation_id
        self.instance_ids = pulumi.Output.all(*[i.id for i in instances]).apply(list)
        self.security_group_id = group.id
        self.register_outputs(
            {
                "public_ip": self.public_ip,
                "allocation_id": self.allocation_id,
                "instance_ids": self.instance_ids,
                "security_group_id": self.security_group_id,
            }
        )
