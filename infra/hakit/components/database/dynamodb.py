"""DynamoDB global table: replicas with PITR, streams, deletion protection and a CMK in every region."""

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws.dynamodb as dynamodb

from hakit.components.database.parts import EngineParts, arn_in_region
from hakit.components.database.plan import MRSC, DatabasePlan


def regional_endpoint(region: str) -> str:
    """The DynamoDB API endpoint of a region."""
    return f"dynamodb.{region}.amazonaws.com"


def build_dynamodb(
    plan: DatabasePlan,
    keys: Mapping[str, pulumi.Output[str]],
    tags: Mapping[str, Any],
    parent: pulumi.Resource,
) -> EngineParts:
    """Register the global table; return endpoints, connection info and the table ARN per region."""
    assert plan.dynamodb is not None
    spec = plan.dynamodb
    primary = plan.primary_region
    strong = spec.consistency == MRSC
    attributes = [dynamodb.TableAttributeArgs(name=spec.hash_key, type=spec.hash_key_type)]
    if spec.range_key:
        attributes.append(dynamodb.TableAttributeArgs(name=spec.range_key, type=spec.range_key_type))
    replicas = [
        dynamodb.TableReplicaArgs(
            region_name=region,
            kms_key_arn=keys[region],
            point_in_time_recovery=True,
            deletion_protection_enabled=plan.deletion_protection,
            propagate_tags=True,
            consistency_mode="STRONG" if strong else "EVENTUAL",
        )
        for region in plan.secondary_regions
    ]
    witness = plan.witness_region
    table = dynamodb.Table(
        plan.name,
        name=spec.table_name,
        billing_mode="PAY_PER_REQUEST",
        hash_key=spec.hash_key,
        range_key=spec.range_key,
        attributes=attributes,
        stream_enabled=True,
        stream_view_type=spec.stream_view_type,
        point_in_time_recovery=dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
        server_side_encryption=dynamodb.TableServerSideEncryptionArgs(
            enabled=True, kms_key_arn=keys[primary]
        ),
        deletion_protection_enabled=plan.deletion_protection,
        replicas=replicas,
        global_table_witness=dynamodb.TableGlobalTableWitnessArgs(region_name=witness) if witness else None,
        ttl=dynamodb.TableTtlArgs(attribute_name=spec.ttl_attribute, enabled=True)
        if spec.ttl_attribute
        else None,
        region=primary,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    # Replica ARNs differ from the table's only by region.
    arns = {region: arn_in_region(table.arn, primary, region) for region in plan.regions}
    connections = {
        region: pulumi.Output.all(
            region=region,
            endpoint=f"https://{regional_endpoint(region)}",
            table_name=table.name,
            table_arn=arns[region],
            consistency=spec.consistency,
            writes="local",
        )
        for region in plan.regions
    }
    return EngineParts(
        writer_endpoint=pulumi.Output.from_input(regional_endpoint(primary)),
        reader_endpoints={r: pulumi.Output.from_input(regional_endpoint(r)) for r in plan.regions},
        connections=connections,
        resource_arns={r: [arn] for r, arn in arns.items()},
        global_arn=table.arn,
        members=[table],
    )
