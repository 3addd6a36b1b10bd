"""Global (multi-region) database component: Aurora Global Database, DynamoDB global table, Aurora DSQL."""

from hakit.components.database.args import (
    GlobalDatabaseArgs,
    GlobalDatabaseAuroraArgs,
    GlobalDatabaseDynamoDbArgs,
    GlobalDatabaseNetworkArgs,
)
from hakit.components.database.component import GlobalDatabase
from hakit.components.database.plan import build_plan
from hakit.components.database.versions import resolve_aurora_engine

__all__ = [
    "GlobalDatabase",
    "GlobalDatabaseArgs",
    "GlobalDatabaseAuroraArgs",
    "GlobalDatabaseDynamoDbArgs",
    "GlobalDatabaseNetworkArgs",
    "build_plan",
    "resolve_aurora_engine",
]
