"""The GlobalDatabase component: one multi-region database, engine chosen by args."""

from typing import Any

import pulumi

from hakit.components._util import merge_tags
from hakit.components.database.args import GlobalDatabaseArgs
from hakit.components.database.aurora import build_aurora
from hakit.components.database.dsql import build_dsql, key_policy_for
from hakit.components.database.dynamodb import build_dynamodb
from hakit.components.database.kms import regional_keys
from hakit.components.database.parts import EngineParts
from hakit.components.database.plan import DSQL, DYNAMODB, build_plan

TYPE_TOKEN = "hakit:database:GlobalDatabase"


class GlobalDatabase(pulumi.ComponentResource):
    """A database spanning regions: Aurora Global Database, DynamoDB global table or multi-region DSQL."""

    engine: pulumi.Output[str]
    """The engine: aurora-postgresql, aurora-mysql, dynamodb or dsql."""
    primary_region: pulumi.Output[str]
    """Region of the writer at creation time."""
    regions: pulumi.Output[list[str]]
    """Every region with a copy of the data, primary first."""
    writer_endpoint: pulumi.Output[str]
    """Where writes go: Aurora's global writer endpoint (follows switchovers), else the primary's."""
    reader_endpoints: pulumi.Output[dict[str, str]]
    """Reader endpoint per region."""
    connections: pulumi.Output[dict[str, Any]]
    """Connection info per region (host, port, user, secret ARN, password where there is one); secret."""
    resource_arns: pulumi.Output[dict[str, list[str]]]
    """ARNs per region that AWS Backup can protect (clusters or table replicas)."""
    global_arn: pulumi.Output[str]
    """ARN of the global cluster (Aurora) or of the table in the primary region (DynamoDB); empty for DSQL."""
    master_secret_arn: pulumi.Output[str]
    """Secrets Manager ARN of the Aurora master credentials (replicated to every region); empty otherwise."""
    kms_key_arns: pulumi.Output[dict[str, str]]
    """KMS key ARN per region encrypting the data."""

    def __init__(
        self, name: str, args: GlobalDatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Validate before registering anything: a bad argument must not leave half a graph.
        plan = build_plan(name, dict(args))
        super().__init__(TYPE_TOKEN, name, {}, opts)
        tags: dict[str, Any] = merge_tags(TYPE_TOKEN, plan.name, plan.tags)
        # RDS and DynamoDB use the key through grants (the default key policy); DSQL needs its principal.
        policy = key_policy_for(self) if plan.engine == DSQL else None
        keys = regional_keys(
            plan.name,
            plan.regions,
            plan.kms_key_arns,
            purpose="database",
            tags=tags,
            parent=self,
            policy=policy,
        )
        parts: EngineParts
        if plan.engine == DYNAMODB:
            parts = build_dynamodb(plan, keys, tags, self)
        elif plan.engine == DSQL:
            parts = build_dsql(plan, keys, tags, self)
        else:
            parts = build_aurora(plan, keys, tags, self)

        self.engine = pulumi.Output.from_input(plan.engine)
        self.primary_region = pulumi.Output.from_input(plan.primary_region)
        self.regions = pulumi.Output.from_input(list(plan.regions))
        self.writer_endpoint = parts.writer_endpoint
        self.reader_endpoints = pulumi.Output.all(**parts.reader_endpoints)
        self.connections = pulumi.Output.secret(pulumi.Output.all(**parts.connections))
        self.resource_arns = pulumi.Output.all(
            **{region: pulumi.Output.all(*arns) for region, arns in parts.resource_arns.items()}
        )
        self.global_arn = parts.global_arn if parts.global_arn is not None else pulumi.Output.from_input("")
        self.master_secret_arn = (
            parts.master_secret_arn if parts.master_secret_arn is not None else pulumi.Output.from_input("")
        )
        self.kms_key_arns = pulumi.Output.all(**keys)
        self.members = parts.members
        self.register_outputs(
            {
                "engine": self.engine,
                "primary_region": self.primary_region,
                "regions": self.regions,
                "writer_endpoint": self.writer_endpoint,
                "reader_endpoints": self.reader_endpoints,
                "connections": self.connections,
                "resource_arns": self.resource_arns,
                "global_arn": self.global_arn,
                "master_secret_arn": self.master_secret_arn,
                "kms_key_arns": self.kms_key_arns,
            }
        )
