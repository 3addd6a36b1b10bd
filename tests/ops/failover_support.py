"""Test doubles for the failover runbooks: stubbed/moto-backed client factory, fake clock, recording reporter.

Every client (stubbed or real) records its calls in one shared list, so tests can assert the exact global call
order across services and regions, not just the order per client that botocore's Stubber checks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.stub import Stubber
from db_servers import free_port

ACCOUNT = "123456789012"
EAST = "us-east-1"
WEST = "us-west-2"
GLOBAL_ID = "orders-global"
EAST_ARN = f"arn:aws:rds:{EAST}:{ACCOUNT}:cluster:orders-east"
WEST_ARN = f"arn:aws:rds:{WEST}:{ACCOUNT}:cluster:orders-west"
ARC_CLUSTER = f"arn:aws:route53-recovery-control::{ACCOUNT}:cluster/hakit"
RC_EAST = f"arn:aws:route53-recovery-control::{ACCOUNT}:controlpanel/p1/routingcontrol/east"
RC_WEST = f"arn:aws:route53-recovery-control::{ACCOUNT}:controlpanel/p1/routingcontrol/west"
EP1 = "https://host-aaaaaa.us-east-1.example.com/v1"
EP2 = "https://host-bbbbbb.ap-southeast-2.example.com/v1"
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

# The calls that change something: a dry run must make none of them.
MUTATING = {
    "SwitchoverGlobalCluster",
    "FailoverGlobalCluster",
    "UpdateRoutingControlState",
    "UpdateRoutingControlStates",
    "UpdateHealthCheck",
}


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting fails at once with EndpointConnectionError."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass
class FakeClock:
    """Monotonic time that only moves when the code sleeps; records every sleep."""

    t: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        """Current fake time."""
        return self.t

    def sleep(self, seconds: float) -> None:
        """Advance instantly."""
        self.sleeps.append(seconds)
        self.t += seconds

    def now(self) -> datetime:
        """Wall time derived from the fake monotonic time."""
        return NOW + timedelta(seconds=self.t)


def make_clock(fake: FakeClock) -> Any:
    """A hakit Clock wired to the fake."""
    from hakit.ops.aws import Clock

    return Clock(monotonic=fake.monotonic, sleep=fake.sleep, now=fake.now)


@dataclass
class RecordingReporter:
    """Keeps every progress event as (kind, text)."""

    events: list[tuple[str, str]] = field(default_factory=list)

    def info(self, message: str) -> None:
        """Record."""
        self.events.append(("info", message))

    def warn(self, message: str) -> None:
        """Record."""
        self.events.append(("warn", message))

    def wait_started(self, title: str, timeout: float) -> None:
        """Record."""
        self.events.append(("wait_started", f"{title} ({timeout:g}s)"))

    def wait_progress(self, elapsed: float, detail: str) -> None:
        """Record."""
        self.events.append(("wait_progress", f"{elapsed:g}: {detail}"))

    def wait_finished(self, ok: bool, detail: str) -> None:
        """Record."""
        self.events.append(("wait_finished", f"{ok}: {detail}"))

    def kinds(self, kind: str) -> list[str]:
        """Texts of one kind of event."""
        return [text for k, text in self.events if k == kind]


@dataclass(frozen=True)
class Call:
    """One recorded API call: where it went, which operation, with which parameters."""

    where: str
    operation: str
    params: dict[str, Any]


class FakeFactory:
    """The ClientFactory protocol over stubbed clients, moto-backed clients, or unreachable endpoints.

    - route53/dynamodb go to `moto_url` when given, else they are stubbed;
    - `dead` names (service, region-or-endpoint) keys whose client points at a closed loopback port;
    - ARC endpoints that start with http://127.0.0.1 are real clients (to test connection failures).
    """

    def __init__(
        self,
        moto_url: str | None = None,
        dead: set[tuple[str, str]] | None = None,
        endpoints: dict[tuple[str, str], str] | None = None,
    ) -> None:
        self.session = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=EAST
        )
        self.moto_url = moto_url
        self.dead = dead or set()
        # (service, region-or-endpoint) -> URL of a real server (moto, an HTML error page) instead of a stub.
        self.endpoints = endpoints or {}
        self.calls: list[Call] = []
        self.stubbers: dict[tuple[str, str], Stubber] = {}
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def _client(self, service: str, where: str, region: str, endpoint_url: str | None, stub: bool) -> Any:
        key = (service, where)
        if key not in self._clients:
            if key in self.dead:
                endpoint_url, stub = closed_port_url(), False
            elif key in self.endpoints:
                endpoint_url, stub = self.endpoints[key], False
            config = Config(
                retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1, read_timeout=5
            )
            client = self.session.client(
                service, region_name=region, endpoint_url=endpoint_url, config=config
            )

            def record(params: dict[str, Any], model: Any, **_: Any) -> None:
                with self._lock:
                    self.calls.append(Call(f"{service}@{where}", model.name, dict(params)))

            client.meta.events.register("before-parameter-build.*.*", record)
            if stub:
                stubber = Stubber(client)
                stubber.activate()
                self.stubbers[key] = stubber
            self._clients[key] = client
        return self._clients[key]

    def stub(self, service: str, where: str) -> Stubber:
        """The Stubber of a client (created on first use), to queue responses."""
        if service == "route53-recovery-cluster":
            self._client(service, where, EAST, where, True)
        elif service == "route53-recovery-control-config":
            self._client(service, where, WEST, None, True)
        else:
            self._client(service, where, where, None, True)
        return self.stubbers[(service, where)]

    def rds(self, region: str) -> Any:
        """RDS (stubbed)."""
        return self._client("rds", region, region, None, True)

    def cloudwatch(self, region: str) -> Any:
        """CloudWatch (stubbed)."""
        return self._client("cloudwatch", region, region, None, True)

    def route53(self) -> Any:
        """Route 53: moto when available."""
        return self._client("route53", "global", EAST, self.moto_url, self.moto_url is None)

    def dynamodb(self, region: str) -> Any:
        """DynamoDB: moto when available."""
        return self._client("dynamodb", region, region, self.moto_url, self.moto_url is None)

    def arc_config(self) -> Any:
        """ARC control plane (stubbed)."""
        return self._client("route53-recovery-control-config", "control", WEST, None, True)

    def arc_cluster(self, endpoint: str, region: str) -> Any:
        """ARC data plane for one endpoint; loopback endpoints are real (and refuse connections)."""
        real = endpoint.startswith("http://127.0.0.1")
        return self._client("route53-recovery-cluster", endpoint, region, endpoint, not real)

    def operations(self) -> list[str]:
        """`where:Operation` of every call, in order."""
        return [f"{c.where}:{c.operation}" for c in self.calls]

    def mutating(self) -> list[Call]:
        """Calls that change something."""
        return [c for c in self.calls if c.operation in MUTATING]

    def assert_all_used(self) -> None:
        """Every queued stub response was consumed."""
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


# ---------------------------------------------------------------- canned API responses
def member(arn: str, writer: bool, sync: str | None = "connected") -> dict[str, Any]:
    """A GlobalClusterMembers entry."""
    entry: dict[str, Any] = {"DBClusterArn": arn, "IsWriter": writer, "Readers": []}
    if not writer and sync:
        entry["SynchronizationStatus"] = sync
    return entry


def global_cluster(
    writer: str = EAST_ARN,
    status: str = "available",
    failover: dict[str, Any] | None = None,
    members: list[dict[str, Any]] | None = None,
    sync: str | None = "connected",
) -> dict[str, Any]:
    """A describe_global_clusters response."""
    raw: dict[str, Any] = {
        "GlobalClusterIdentifier": GLOBAL_ID,
        "GlobalClusterArn": f"arn:aws:rds::{ACCOUNT}:global-cluster:{GLOBAL_ID}",
        "Status": status,
        "Engine": "aurora-postgresql",
        "GlobalClusterMembers": members
        if members is not None
        else [member(EAST_ARN, writer == EAST_ARN, sync), member(WEST_ARN, writer == WEST_ARN, sync)],
    }
    if failover:
        raw["FailoverState"] = failover
    return {"GlobalClusters": [raw]}


def db_clusters(arn: str, status: str = "available") -> dict[str, Any]:
    """A describe_db_clusters response."""
    return {
        "DBClusters": [{"DBClusterArn": arn, "DBClusterIdentifier": arn.split(":")[-1], "Status": status}]
    }


def lag_request(cluster_id: str, window_s: int = 300, t: float = 0.0) -> dict[str, Any]:
    """The exact get_metric_statistics parameters the runbook must send."""
    end = NOW + timedelta(seconds=t)
    return {
        "Namespace": "AWS/RDS",
        "MetricName": "AuroraGlobalDBReplicationLag",
        "Dimensions": [{"Name": "DBClusterIdentifier", "Value": cluster_id}],
        "StartTime": end - timedelta(seconds=window_s),
        "EndTime": end,
        "Period": 60,
        "Statistics": ["Maximum"],
    }


def lag_response(*values: float) -> dict[str, Any]:
    """Datapoints, oldest first; the runbook must use the newest."""
    return {
        "Label": "AuroraGlobalDBReplicationLag",
        "Datapoints": [
            {"Timestamp": NOW - timedelta(minutes=len(values) - i), "Maximum": v, "Unit": "Milliseconds"}
            for i, v in enumerate(values)
        ],
    }


def arc_cluster_response(*endpoints: tuple[str, str]) -> dict[str, Any]:
    """A describe_cluster response with the given (url, region) endpoints."""
    return {
        "Cluster": {
            "ClusterArn": ARC_CLUSTER,
            "Name": "hakit",
            "Status": "DEPLOYED",
            "ClusterEndpoints": [{"Endpoint": url, "Region": region} for url, region in endpoints],
        }
    }


def rc_state(arn: str, state: str) -> dict[str, Any]:
    """A get_routing_control_state response."""
    return {
        "RoutingControlArn": arn,
        "RoutingControlState": state,
        "RoutingControlName": arn.rsplit("/", 1)[-1],
    }


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port (stopped on exit)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextmanager
def html_error_server(status: int = 502) -> Iterator[str]:
    """A loopback server that answers every request with an HTML error page, as a proxy or gateway does."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    page = (
        b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>"
    )

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def moto_global_cluster(url: str, *, writer_region: str = EAST) -> None:
    """orders-global in moto: orders-east and orders-west, the first writer (moto reports no sync status)."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    first = session.client("rds", region_name=writer_region, endpoint_url=url)
    first.create_global_cluster(GlobalClusterIdentifier=GLOBAL_ID, Engine="aurora-postgresql")
    for region in (writer_region, *(r for r in (EAST, WEST) if r != writer_region)):
        name = "orders-east" if region == EAST else "orders-west"
        extra = (
            {"MasterUsername": "admin", "MasterUserPassword": "not-a-secret-1"}
            if region == writer_region
            else {}
        )
        session.client("rds", region_name=region, endpoint_url=url).create_db_cluster(
            DBClusterIdentifier=name, Engine="aurora-postgresql", GlobalClusterIdentifier=GLOBAL_ID, **extra
        )


def moto_reset(url: str) -> None:
    """Forget every moto resource between tests."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=5).read()


def promoting(**kwargs: Any) -> dict[str, Any]:
    """A switchover/failover_global_cluster response (one GlobalCluster, not a list)."""
    return {"GlobalCluster": global_cluster(**kwargs)["GlobalClusters"][0]}
