"""The `orders` team's stack: hakit components composed the way any other Pulumi program would.

Two regions, each with a hakit LoadBalancer (ALB) in front of the team's own targets; hakit FailoverDns
sends `orders.example.org` to the first region and fails over to the second; a DynamoDB global table from
hakit GlobalDatabase holds the orders, and hakit AwsBackup keeps daily copies in both regions.
"""

import pulumi
from hakit.components.backup import AwsBackup
from hakit.components.database import GlobalDatabase
from hakit.components.dns import FailoverDns
from hakit.components.loadbalancer import LoadBalancer

config = pulumi.Config("orders")
regions = config.require_object("regions")
primary, secondary = regions[0]["name"], regions[1]["name"]

balancers = {
    region["name"]: LoadBalancer(
        f"orders-{region['name']}",
        {
            "vpc_id": region["vpcId"],
            "subnet_ids": region["subnetIds"],
            "certificate_arn": region["certificateArn"],
            "target_groups": [{"name": "api", "port": 8080, "target_type": "ip"}],
            "target_cidr_blocks": region["targetCidrs"],
            "region": region["name"],
            "tags": {"team": "orders"},
        },
    )
    for region in regions
}

dns = FailoverDns(
    "orders",
    {
        "zone_id": config.require("zoneId"),
        "name": config.require("hostname"),
        "routing_policy": "failover",
        "health_checks": {
            name: {"type": "HTTPS", "fqdn": lb.dns_name, "path": "/healthz", "request_interval": 10}
            for name, lb in balancers.items()
        },
        "records": [
            {
                "role": role,
                "health_check": name,
                "alias": {"name": balancers[name].dns_name, "zone_id": balancers[name].zone_id},
            }
            for role, name in (("PRIMARY", primary), ("SECONDARY", secondary))
        ],
    },
)

table = GlobalDatabase(
    "orders",
    {
        "engine": "dynamodb",
        "primary_region": primary,
        "secondary_regions": [secondary],
        "dynamodb": {"hash_key": "order_id", "range_key": "created_at"},
        "tags": {"team": "orders"},
    },
)

backup = AwsBackup(
    "orders",
    {
        "regions": [primary, secondary],
        "rules": [{"name": "daily", "schedule": "cron(0 2 * * ? *)", "delete_after_days": 35}],
        "protect_arns": table.resource_arns,
        "tags": {"team": "orders"},
    },
)

# `regions`, `healthCheckIds` and `dynamodbTableName` are what `hakit failover --stack-outputs` reads.
pulumi.export("url", f"https://{config.require('hostname')}/")
pulumi.export("regions", [primary, secondary])
pulumi.export("healthCheckIds", dns.health_check_ids)
pulumi.export("dynamodbTableName", table.global_arn.apply(lambda arn: arn.rsplit("/", 1)[-1]))
pulumi.export("tableArns", table.resource_arns)
pulumi.export("backupVaults", backup.vault_arns)
