"""Aurora DSQL multi-region: one cluster per region, peered, with a witness region."""

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws.dsql as dsql
from pulumi_aws.get_caller_identity import get_caller_identity_output

from hakit.components._util import account_administers_key
from hakit.components.database.parts import EngineParts
from hakit.components.database.plan import DatabasePlan

DSQL_PORT = 5432
DSQL_DATABASE = "postgres"
DSQL_ADMIN = "admin"


def cluster_endpoint(identifier: str, region: str) -> str:
    """The public endpoint of a DSQL cluster."""
    return f"{identifier}.dsql.{region}.on.aws"


def dsql_key_policy(partition: str, account: str) -> str:
    """KMS key policy for DSQL clusters: the account administers the key; Aurora DSQL may use it for
    clusters of this account (DSQL reaches a customer managed key through its service principal)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                account_administers_key(partition, account),
                {
                    "Sid": "AuroraDsqlUsesTheKey",
                    "Effect": "Allow",
                    "Principal": {"Service": "dsql.amazonaws.com"},
                    "Action": [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:DescribeKey",
                    ],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                },
            ],
        },
        sort_keys=True,
    )


def key_policy_for(parent: pulumi.Resource) -> pulumi.Output[str]:
    """The DSQL key policy for the deploying account (one caller-identity lookup)."""
    identity = get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=parent))
    return pulumi.Output.all(identity.arn, identity.account_id).apply(
        lambda values: dsql_key_policy(values[0].split(":")[1], values[1])
    )


def _endpoint(cluster: dsql.Cluster, region: str) -> pulumi.Output[str]:
    return cluster.identifier.apply(lambda identifier: cluster_endpoint(identifier, region))


def build_dsql(
    plan: DatabasePlan,
    keys: Mapping[str, pulumi.Output[str]],
    tags: Mapping[str, Any],
    parent: pulumi.Resource,
) -> EngineParts:
    """Register both regional clusters and their peerings; return endpoints and connection info."""
    assert plan.witness_region is not None
    clusters: dict[str, dsql.Cluster] = {}
    for region in plan.regions:
        clusters[region] = dsql.Cluster(
            f"{plan.name}-{region}",
            deletion_protection_enabled=plan.deletion_protection,
            kms_encryption_key=keys[region],
            multi_region_properties={"witness_region": plan.witness_region},
            region=region,
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=parent),
        )
    for region, cluster in clusters.items():
        dsql.ClusterPeering(
            f"{plan.name}-{region}",
            identifier=cluster.identifier,
            clusters=[other.arn for r, other in clusters.items() if r != region],
            witness_region=plan.witness_region,
            region=region,
            opts=pulumi.ResourceOptions(parent=parent),
        )
    endpoints = {r: _endpoint(c, r) for r, c in clusters.items()}
    connections = {
        region: pulumi.Output.all(
            region=region,
            host=endpoints[region],
            port=DSQL_PORT,
            database=DSQL_DATABASE,
            username=DSQL_ADMIN,
            auth="iam-token",
            cluster_arn=clusters[region].arn,
            writes="local",
        )
        for region in plan.regions
    }
    return EngineParts(
        writer_endpoint=endpoints[plan.primary_region],
        reader_endpoints=endpoints,
        connections=connections,
        resource_arns={r: [c.arn] for r, c in clusters.items()},
        members=list(clusters.values()),
    )
