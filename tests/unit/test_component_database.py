"""GlobalDatabase graph tests: every engine and option, secrets, encryption, ignore_changes, rejections."""

from __future__ import annotations

import copy
import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from hakit.components.database import GlobalDatabase
from hakit.components.database.aurora import MEMBER_IGNORE_CHANGES
from hakit.testing import Node, ResourceGraph, synth

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
GLOBAL = "aws:rds/globalCluster:GlobalCluster"
PARAMS = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
SUBNETS = "aws:rds/subnetGroup:SubnetGroup"
KEY = "aws:kms/key:Key"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
TABLE = "aws:dynamodb/table:Table"
DSQL = "aws:dsql/cluster:Cluster"
PEERING = "aws:dsql/clusterPeering:ClusterPeering"

EAST, WEST, OHIO = "us-east-1", "us-west-2", "us-east-2"

NETWORKS: dict[str, Any] = {
    EAST: {
        "subnet_ids": ["subnet-e1", "subnet-e2"],
        "security_group_ids": ["sg-e"],
        "availability_zones": [f"{EAST}a", f"{EAST}b"],
    },
    WEST: {
        "subnet_ids": ["subnet-w1", "subnet-w2"],
        "security_group_ids": ["sg-w"],
        "availability_zones": [f"{WEST}a", f"{WEST}c"],
    },
}


def aurora_args(engine: str = "aurora-postgresql", version: str = "16.4", **aurora: Any) -> dict[str, Any]:
    """Minimal valid Aurora args (primary us-east-1, secondary us-west-2)."""
    return {
        "engine": engine,
        "primary_region": EAST,
        "secondary_regions": [WEST],
        "aurora": {"engine_version": version, "networks": copy.deepcopy(NETWORKS), **aurora},
    }


def dynamo_args(**dynamodb: Any) -> dict[str, Any]:
    """Minimal valid DynamoDB args."""
    return {
        "engine": "dynamodb",
        "primary_region": EAST,
        "secondary_regions": [WEST],
        "dynamodb": {"hash_key": "pk", **dynamodb},
    }


def build(
    args: dict[str, Any], name: str = "orders", opts: pulumi.ResourceOptions | None = None
) -> ResourceGraph:
    """Synthesize one GlobalDatabase and export its outputs."""

    def program() -> None:
        db = GlobalDatabase(name, args, opts)
        for key in (
            "writer_endpoint",
            "reader_endpoints",
            "connections",
            "resource_arns",
            "global_arn",
            "kms_key_arns",
        ):
            pulumi.export(key, getattr(db, key))

    return synth(program, config={"aws:region": "eu-west-1"})


def key_in(graph: ResourceGraph, region: str) -> Node:
    """The component's KMS key of one region."""
    return next(k for k in graph.by_type(KEY) if k.region == region)


@pytest.fixture(scope="module")
def pg() -> ResourceGraph:
    return build(aurora_args(rpo_seconds=30, cluster_parameters={"log_min_duration_statement": "500"}))


@pytest.fixture(scope="module")
def mysql() -> ResourceGraph:
    return build(aurora_args("aurora-mysql", "8.0.mysql_aurora.3.08.0"))


# ------------------------------------------------------------------------- Aurora PostgreSQL


def test_aurora_resource_types_and_regions(pg: ResourceGraph) -> None:
    counts = pg.count_by_type()
    assert counts[GLOBAL] == 1
    assert counts[CLUSTER] == 2
    assert counts[INSTANCE] == 4
    assert counts[SUBNETS] == 2 and counts[PARAMS] == 2 and counts[KEY] == 2
    assert counts[SECRET] == 1 and counts[SECRET_VERSION] == 1
    # Nothing regional leaked into the stack's default region (IAM is global).
    assert {n.region for n in pg.resources if n.type.startswith("aws:") and ":iam/" not in n.type} == {
        EAST,
        WEST,
    }
    component = pg.one("hakit:database:GlobalDatabase")
    assert all(pg.parent_of(n) is component for n in pg.resources)


def test_primary_has_two_instances_in_distinct_azs(pg: ResourceGraph) -> None:
    primary = pg.one(CLUSTER, f"orders-{EAST}")
    instances = [i for i in pg.by_type(INSTANCE) if i.region == EAST]
    assert len(instances) == 2
    assert {i.input("availability_zone") for i in instances} == {f"{EAST}a", f"{EAST}b"}
    assert all(i.input("cluster_identifier") == primary.id for i in instances)
    assert all(i.input("performance_insights_enabled") is True for i in instances)
    assert all(
        i.input("performance_insights_kms_key_id") == key_in(pg, i.region).output("arn")
        for i in pg.by_type(INSTANCE)
    )
    assert all(i.input("publicly_accessible") is False for i in instances)
    # Minor upgrades go through the global cluster, so the regions never run different minors.
    assert all(i.input("auto_minor_version_upgrade") is False for i in pg.by_type(INSTANCE))


def test_members_join_the_global_cluster_encrypted_and_protected(pg: ResourceGraph) -> None:
    global_cluster = pg.one(GLOBAL)
    assert global_cluster.input("storage_encrypted") is True
    assert global_cluster.input("deletion_protection") is True
    assert global_cluster.input("engine_version") == "16.4"
    for cluster in pg.by_type(CLUSTER):
        assert cluster.input("global_cluster_identifier") == global_cluster.id
        assert cluster.input("storage_encrypted") is True
        assert cluster.input("kms_key_id") == key_in(pg, cluster.region).output("arn")
        assert cluster.input("deletion_protection") is True
        assert cluster.input("iam_database_authentication_enabled") is True
        assert cluster.input("backup_retention_period") == 14
        assert cluster.input("enabled_cloudwatch_logs_exports") == ["postgresql"]
    for key in pg.by_type(KEY):
        assert key.input("enable_key_rotation") is True


def test_ignore_changes_on_every_member(pg: ResourceGraph) -> None:
    for cluster in pg.by_type(CLUSTER):
        # The engine receives the property names camelCased.
        ignored = set(cluster.options.ignore_changes)
        assert ignored == {"globalClusterIdentifier", "replicationSourceIdentifier", "engineVersion"}
        assert ignored == {_camel(i) for i in MEMBER_IGNORE_CHANGES}
    assert all(not i.options.ignore_changes for i in pg.by_type(INSTANCE))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def test_master_password_is_secret_and_only_on_primary(pg: ResourceGraph) -> None:
    primary = pg.one(CLUSTER, f"orders-{EAST}")
    secondary = pg.one(CLUSTER, f"orders-{WEST}")
    assert primary.is_secret("master_password")
    assert primary.input("master_username") == "hakit_admin"
    assert primary.input("database_name") == "app"
    assert "manageMasterUserPassword" not in primary.inputs  # unsupported on global clusters
    for field in ("master_password", "master_username", "database_name"):
        assert secondary.input(field, None) is None
    password = pg.one("random:index/randomPassword:RandomPassword")
    assert primary.input("master_password") == password.output("result")
    version = pg.one(SECRET_VERSION)
    assert version.is_secret("secret_string")
    stored = json.loads(version.input("secret_string"))
    assert stored["password"] == password.output("result")
    assert stored["host"] == pg.one(GLOBAL).output("endpoint")


def test_secret_encrypted_and_replicated_per_region(pg: ResourceGraph) -> None:
    secret = pg.one(SECRET)
    assert secret.region == EAST
    assert secret.input("kms_key_id") == key_in(pg, EAST).output("arn")
    assert secret.input("replicas") == [{"region": WEST, "kmsKeyId": key_in(pg, WEST).output("arn")}]


def test_secondary_forwards_writes_and_waits_for_primary(pg: ResourceGraph) -> None:
    primary = pg.one(CLUSTER, f"orders-{EAST}")
    secondary = pg.one(CLUSTER, f"orders-{WEST}")
    assert secondary.input("enable_global_write_forwarding") is True
    # Set on the primary too: it takes effect when a switchover demotes it, so both directions forward.
    assert primary.input("enable_global_write_forwarding") is True
    assert secondary.input("skip_final_snapshot") is True
    assert primary.input("skip_final_snapshot") is False
    assert primary.input("final_snapshot_identifier") == f"orders-{EAST}-final"
    assert secondary.depends_on(primary)
    for instance in (i for i in pg.by_type(INSTANCE) if i.region == EAST):
        assert secondary.depends_on(instance)


def _parameters_of(group: Node) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in group.input("parameters")}


def test_parameter_groups_tls_and_rpo_guard_on_the_primary_only(pg: ResourceGraph) -> None:
    groups = {g.region: g for g in pg.by_type(PARAMS)}
    assert set(groups) == {EAST, WEST}
    for group in groups.values():
        assert group.input("family") == "aurora-postgresql16"
        params = _parameters_of(group)
        assert params["rds.force_ssl"]["value"] == "1"
        assert params["log_min_duration_statement"]["applyMethod"] == "pending-reboot"
    # Two regions: AWS advises the default in the secondary's group, or losing the primary region
    # would leave the promoted cluster blocking every commit (no secondary left to catch up).
    assert _parameters_of(groups[EAST])["rds.global_db_rpo"]["value"] == "30"
    assert "rds.global_db_rpo" not in _parameters_of(groups[WEST])
    for cluster in pg.by_type(CLUSTER):
        assert cluster.input("db_cluster_parameter_group_name") == groups[cluster.region].output("name")


def test_outputs_endpoints_and_connections(pg: ResourceGraph) -> None:
    out = pg.stack_outputs
    assert out["writer_endpoint"] == pg.one(GLOBAL).output("endpoint")
    for region in (EAST, WEST):
        cluster = pg.one(CLUSTER, f"orders-{region}")
        assert out["reader_endpoints"][region] == cluster.output("reader_endpoint")
        conn = out["connections"][region]
        assert conn["host"] == cluster.output("endpoint")
        assert conn["port"] == 5432 and conn["username"] == "hakit_admin"
        assert conn["secret_arn"].split(":")[3] == region
        assert out["resource_arns"][region] == [cluster.output("arn")]
    assert out["connections"][EAST]["writes"] == "local"
    assert out["connections"][WEST]["writes"] == "forwarded"
    assert "connections" in pg.secret_stack_outputs
    assert "writer_endpoint" not in pg.secret_stack_outputs
    assert out["global_arn"] == pg.one(GLOBAL).output("arn")


# ------------------------------------------------------------------------- Aurora MySQL


def test_rpo_guard_in_every_region_with_two_secondaries() -> None:
    args = aurora_args(rpo_seconds=60) | {"secondary_regions": [WEST, OHIO]}
    args["aurora"]["networks"][OHIO] = {"subnet_ids": ["subnet-o1"], "security_group_ids": ["sg-o"]}
    graph = build(args)
    groups = graph.by_type(PARAMS)
    assert {g.region for g in groups} == {EAST, WEST, OHIO}
    assert all(_parameters_of(g)["rds.global_db_rpo"]["value"] == "60" for g in groups)
    assert len(graph.by_type(CLUSTER)) == 3


def test_mysql_family_tls_and_logs(mysql: ResourceGraph) -> None:
    for group in mysql.by_type(PARAMS):
        assert group.input("family") == "aurora-mysql8.0"
        params = {p["name"]: p["value"] for p in group.input("parameters")}
        assert params == {"require_secure_transport": "ON"}
    for cluster in mysql.by_type(CLUSTER):
        assert cluster.input("engine") == "aurora-mysql"
        assert cluster.input("port") == 3306
        assert cluster.input("enabled_cloudwatch_logs_exports") == ["audit", "error", "slowquery"]
    assert mysql.stack_outputs["connections"][WEST]["port"] == 3306


def test_write_forwarding_off_and_options() -> None:
    graph = build(
        aurora_args(
            version="13.9",
            write_forwarding=False,
            primary_instances=3,
            secondary_instances=1,
            instance_class="db.serverless",
            backup_retention_days=35,
            skip_final_snapshot=True,
        )
        | {"deletion_protection": False, "tags": {"team": "payments"}}
    )
    secondary = graph.one(CLUSTER, f"orders-{WEST}")
    assert secondary.input("enable_global_write_forwarding") is False
    assert graph.stack_outputs["connections"][WEST]["writes"] == "read-only"
    assert len([i for i in graph.by_type(INSTANCE) if i.region == EAST]) == 3
    assert len([i for i in graph.by_type(INSTANCE) if i.region == WEST]) == 1
    assert all(c.input("deletion_protection") is False for c in graph.by_type(CLUSTER))
    assert graph.one(CLUSTER, f"orders-{EAST}").input("final_snapshot_identifier", None) is None
    assert all(n.input("tags")["team"] == "payments" for n in graph.by_type(CLUSTER))
    assert all(
        n.input("tags")["hakit:component"] == "hakit:database:GlobalDatabase" for n in graph.by_type(KEY)
    )


def test_existing_kms_keys_are_used() -> None:
    given = {
        EAST: "arn:aws:kms:us-east-1:111122223333:key/east",
        WEST: "arn:aws:kms:us-west-2:111122223333:key/west",
    }
    graph = build(aurora_args() | {"kms_key_arns": given})
    assert graph.by_type(KEY) == []
    for cluster in graph.by_type(CLUSTER):
        assert cluster.input("kms_key_id") == given[cluster.region]


# ------------------------------------------------------------------------- DynamoDB


def test_dynamodb_mrec_replicas_pitr_streams_kms() -> None:
    graph = build(
        dynamo_args(range_key="sk", ttl_attribute="expires_at") | {"secondary_regions": [WEST, OHIO]}
    )
    table = graph.one(TABLE)
    assert table.region == EAST
    assert table.input("stream_enabled") is True
    assert table.input("stream_view_type") == "NEW_AND_OLD_IMAGES"
    assert table.input("point_in_time_recovery") == {"enabled": True}
    assert table.input("server_side_encryption.enabled") is True
    assert table.input("server_side_encryption.kms_key_arn") == key_in(graph, EAST).output("arn")
    assert table.input("deletion_protection_enabled") is True
    assert table.input("ttl") == {"attributeName": "expires_at", "enabled": True}
    assert table.input("global_table_witness", None) is None
    replicas = {r["regionName"]: r for r in table.input("replicas")}
    assert set(replicas) == {WEST, OHIO}
    for region, replica in replicas.items():
        assert replica["pointInTimeRecovery"] is True
        assert replica["deletionProtectionEnabled"] is True
        assert replica["consistencyMode"] == "EVENTUAL"
        assert replica["kmsKeyArn"] == key_in(graph, region).output("arn")
    arns = graph.stack_outputs["resource_arns"]
    assert set(arns) == {EAST, WEST, OHIO}
    assert all(arn[0].split(":")[3] == region for region, arn in arns.items())
    assert graph.stack_outputs["writer_endpoint"] == f"dynamodb.{EAST}.amazonaws.com"


@pytest.mark.parametrize(
    ("secondaries", "witness"),
    [([WEST], OHIO), ([WEST, OHIO], None)],
    ids=["two-replicas-and-witness", "three-replicas"],
)
def test_dynamodb_mrsc(secondaries: list[str], witness: str | None) -> None:
    args = dynamo_args(consistency="MRSC") | {"secondary_regions": secondaries}
    if witness:
        args["witness_region"] = witness
    table = build(args).one(TABLE)
    assert all(r["consistencyMode"] == "STRONG" for r in table.input("replicas"))
    if witness:
        assert table.input("global_table_witness") == {"regionName": witness}
    else:
        assert table.input("global_table_witness", None) is None


# ------------------------------------------------------------------------- DSQL


def test_dsql_clusters_peered_with_witness() -> None:
    graph = build(
        {"engine": "dsql", "primary_region": EAST, "secondary_regions": [OHIO], "witness_region": WEST}
    )
    clusters = {c.region: c for c in graph.by_type(DSQL)}
    assert set(clusters) == {EAST, OHIO}
    for cluster in clusters.values():
        assert cluster.input("deletion_protection_enabled") is True
        assert cluster.input("multi_region_properties") == {"witnessRegion": WEST}
        assert cluster.input("kms_encryption_key") == key_in(graph, cluster.region).output("arn")
    peerings = {p.region: p for p in graph.by_type(PEERING)}
    assert set(peerings) == {EAST, OHIO}
    assert peerings[EAST].input("clusters") == [clusters[OHIO].output("arn")]
    assert peerings[OHIO].input("clusters") == [clusters[EAST].output("arn")]
    assert peerings[EAST].input("identifier") == clusters[EAST].output("identifier")
    assert all(p.input("witness_region") == WEST for p in peerings.values())
    for key in graph.by_type(KEY):
        statements = json.loads(key.input("policy"))["Statement"]
        assert {"Service": "dsql.amazonaws.com"} in [st["Principal"] for st in statements]
        assert {"AWS": "arn:aws:iam::123456789012:root"} in [st["Principal"] for st in statements]
    conn = graph.stack_outputs["connections"][OHIO]
    assert conn["host"].endswith(f".dsql.{OHIO}.on.aws") and conn["auth"] == "iam-token"


# ------------------------------------------------------------------------- options reach children


def test_explicit_provider_and_protect_reach_children() -> None:
    def program() -> None:
        provider = aws.Provider("prod", region=EAST)
        GlobalDatabase("orders", aurora_args(), pulumi.ResourceOptions(providers=[provider], protect=True))

    graph = synth(program)
    provider = graph.one("pulumi:providers:aws")
    aws_children = [n for n in graph.resources if n.type.startswith("aws:")]
    assert aws_children and all(n.provider == provider.urn for n in aws_children)
    assert all(n.options.protect for n in graph.resources)
    # Regions stay explicit per resource even under the caller's provider.
    assert {n.region for n in graph.by_type(CLUSTER)} == {EAST, WEST}


# ------------------------------------------------------------------------- rejections


def _aurora_network_without(region: str) -> dict[str, Any]:
    args = aurora_args()
    del args["aurora"]["networks"][region]
    return args


REJECTIONS: list[tuple[str, dict[str, Any], str]] = [
    (
        "secondary-equals-primary",
        aurora_args() | {"secondary_regions": [EAST]},
        r"secondary_regions\[0\]: us-east-1 is the primary region",
    ),
    (
        "duplicate-secondary",
        aurora_args() | {"secondary_regions": [WEST, WEST]},
        r"secondary_regions\[1\]: us-west-2 is listed twice",
    ),
    (
        "no-secondary",
        aurora_args() | {"secondary_regions": []},
        r"secondary_regions: needs at least one region",
    ),
    (
        "bad-region",
        aurora_args() | {"primary_region": "mars-1"},
        r"primary_region: 'mars-1' is not an AWS region",
    ),
    ("unknown-engine", aurora_args() | {"engine": "oracle"}, r"engine: 'oracle' is not one of"),
    (
        "pg-major-not-global",
        aurora_args(version="10.21"),
        r"Aurora PostgreSQL 10 cannot be a global database",
    ),
    ("pg-minor-too-old", aurora_args(version="14.2", write_forwarding=False), r"14.x needs 14.3 or later"),
    ("pg-no-write-forwarding", aurora_args(version="13.9"), r"13.9 has no global write forwarding"),
    ("pg-15-needs-15.4", aurora_args(version="15.3"), r"15.3 has no global write forwarding \(needs 15.4"),
    (
        "mysql-too-old",
        aurora_args("aurora-mysql", "5.7.mysql_aurora.2.06.0", write_forwarding=False),
        r"2.06.0 cannot be a global database; 2.x needs 2.07.0 or later",
    ),
    (
        "mysql-no-write-forwarding",
        aurora_args("aurora-mysql", "5.7.mysql_aurora.2.07.2"),
        r"2.07.2 has no global write forwarding \(needs 2.08.1 or later\)",
    ),
    (
        "mysql-compat-mismatch",
        aurora_args("aurora-mysql", "5.7.mysql_aurora.3.04.0"),
        r"Aurora MySQL 3 is MySQL 8.0 compatible",
    ),
    ("mysql-bad-version", aurora_args("aurora-mysql", "8.0.32"), r"not an Aurora MySQL version"),
    (
        "mysql-rpo",
        aurora_args("aurora-mysql", "8.0.mysql_aurora.3.08.0", rpo_seconds=60),
        r"rds.global_db_rpo exists only for Aurora PostgreSQL",
    ),
    ("rpo-too-small", aurora_args(rpo_seconds=5), r"rpo_seconds: must be at least 20"),
    ("burstable-class", aurora_args(instance_class="db.t4g.medium"), r"db.t4g.medium is burstable"),
    ("one-primary-instance", aurora_args(primary_instances=1), r"primary_instances: must be at least 2"),
    ("missing-network", _aurora_network_without(WEST), r"aurora.networks.us-west-2: is required"),
    (
        "missing-version",
        aurora_args() | {"aurora": {"networks": NETWORKS}},
        r"aurora.engine_version: is required",
    ),
    (
        "aurora-witness",
        aurora_args() | {"witness_region": OHIO},
        r"witness_region: Aurora global databases have no witness",
    ),
    (
        "pi-retention",
        aurora_args(performance_insights_retention_days=30),
        r"performance_insights_retention_days: must be 7",
    ),
    ("mrsc-two-regions", dynamo_args(consistency="MRSC"), r"MRSC needs exactly three regions .* got 2"),
    (
        "mrsc-four-regions",
        dynamo_args(consistency="MRSC") | {"secondary_regions": [WEST, OHIO], "witness_region": "us-west-1"},
        r"MRSC needs exactly three regions .* got 4",
    ),
    (
        "mrsc-across-region-sets",
        dynamo_args(consistency="MRSC") | {"secondary_regions": [WEST, "eu-west-1"]},
        r"must lie in one region set",
    ),
    (
        "mrec-witness",
        dynamo_args() | {"witness_region": OHIO},
        r"witness_region: a witness is only used with .* MRSC",
    ),
    (
        "witness-is-replica",
        dynamo_args(consistency="MRSC") | {"witness_region": WEST},
        r"witness_region: us-west-2 already holds a replica",
    ),
    ("dynamo-key-type", dynamo_args(hash_key_type="X"), r"hash_key_type: 'X' is not S, N or B"),
    (
        "dsql-no-witness",
        {"engine": "dsql", "primary_region": EAST, "secondary_regions": [OHIO]},
        r"witness_region: is required",
    ),
    (
        "dsql-two-secondaries",
        {
            "engine": "dsql",
            "primary_region": EAST,
            "secondary_regions": [OHIO, WEST],
            "witness_region": "us-west-1",
        },
        r"peers exactly two regional clusters",
    ),
    (
        "dsql-across-sets",
        {
            "engine": "dsql",
            "primary_region": EAST,
            "secondary_regions": ["eu-west-1"],
            "witness_region": WEST,
        },
        r"must lie in one region set",
    ),
]


@pytest.mark.parametrize(("args", "message"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_rejections(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as excinfo:
        build(args)
    assert str(excinfo.value).startswith("GlobalDatabaseArgs.")


def test_rejection_registers_nothing() -> None:
    registered: list[str] = []

    def program() -> None:
        try:
            GlobalDatabase("orders", aurora_args() | {"secondary_regions": [EAST]})
        except ValueError:
            registered.append("raised")

    graph = synth(program)
    assert registered == ["raised"] and len(graph) == 0


def test_structural_args_must_be_plain() -> None:
    def program() -> None:
        GlobalDatabase("orders", aurora_args() | {"primary_region": pulumi.Output.from_input(EAST)})

    with pytest.raises(ValueError, match=r"primary_region: must be a plain value"):
        synth(program)


def test_schema_inference_for_other_languages() -> None:
    from hakit.components.backup import AwsBackup
    from pulumi.provider.experimental.component import ComponentProvider

    schema = json.loads(ComponentProvider([GlobalDatabase, AwsBackup], "hakit").schema)
    database = schema["resources"]["hakit:index:GlobalDatabase"]
    assert database["requiredInputs"] == ["engine", "primaryRegion", "secondaryRegions"]
    assert {"writerEndpoint", "readerEndpoints", "connections", "resourceArns"} <= set(database["properties"])
    assert (
        schema["types"]["hakit:index:GlobalDatabaseAuroraArgs"]["properties"]["rpoSeconds"]["type"]
        == "integer"
    )
    assert schema["resources"]["hakit:index:AwsBackup"]["requiredInputs"] == ["regions", "rules"]


@pytest.mark.parametrize(
    ("engine", "version", "write_forwarding", "accepted"),
    [
        ("aurora-postgresql", "17.4", True, True),
        ("aurora-postgresql", "17.2", False, False),
        ("aurora-postgresql", "16.1", True, True),
        ("aurora-postgresql", "15.2", False, True),
        ("aurora-postgresql", "15.1", False, False),
        ("aurora-postgresql", "15.4", True, True),
        ("aurora-postgresql", "14.8", True, False),
        ("aurora-postgresql", "14.9", True, True),
        ("aurora-postgresql", "13.4", False, True),
        ("aurora-postgresql", "12.7", False, False),
        ("aurora-postgresql", "12.8", False, True),
        ("aurora-postgresql", "13.3", False, False),
        ("aurora-postgresql", "18.3", True, True),
        ("aurora-postgresql", "11.9", False, True),
        ("aurora-postgresql", "11.10", False, False),
        ("aurora-postgresql", "11.13", False, True),
        ("aurora-mysql", "8.0.mysql_aurora.3.01.0", True, True),
        ("aurora-mysql", "8.0.mysql_aurora.3.10.1", True, True),
        ("aurora-mysql", "5.7.mysql_aurora.2.07.0", False, True),
        ("aurora-mysql", "5.7.mysql_aurora.2.08.1", True, True),
        ("aurora-mysql", "5.7.mysql_aurora.2.08.0", True, False),
        ("aurora-mysql", "5.6.mysql_aurora.1.23.4", False, False),
    ],
)
def test_version_table_data_points(engine: str, version: str, write_forwarding: bool, accepted: bool) -> None:
    from hakit.components.database import resolve_aurora_engine

    if accepted:
        resolved = resolve_aurora_engine(engine, version, write_forwarding=write_forwarding, field="v")
        assert resolved.version == version and resolved.write_forwarding is write_forwarding
    else:
        with pytest.raises(ValueError, match=r"^v: "):
            resolve_aurora_engine(engine, version, write_forwarding=write_forwarding, field="v")


def test_enhanced_monitoring_role_on_every_instance(pg: ResourceGraph) -> None:
    role = pg.one("aws:iam/role:Role")
    trust = json.loads(role.input("assume_role_policy"))
    assert trust["Statement"][0]["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    attachment = pg.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.input("policy_arn") == (
        "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    )
    for instance in pg.by_type(INSTANCE):
        assert instance.input("monitoring_interval") == 60
        assert instance.input("monitoring_role_arn") == role.output("arn")
    off = build(aurora_args(monitoring_interval=0))
    assert off.by_type("aws:iam/role:Role") == []
    assert all(i.input("monitoring_interval") == 0 for i in off.by_type(INSTANCE))
