"""scripts/eip_notify.py against a moto EC2 server and a loopback IMDSv2 stub: the EIP really moves."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "eip_notify.py"
REGION = "eu-west-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ImdsState:
    """What the stub serves and what it saw."""

    instance_id: str = ""
    region: str = REGION
    token: str = "tok-" + os.urandom(6).hex()
    fail_next: int = 0
    requests: list[str] = field(default_factory=list)
    rejected_without_token: int = 0


def _handler(state: ImdsState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            state.requests.append(f"PUT {self.path}")
            if state.fail_next > 0:
                state.fail_next -= 1
                self._send(503, "busy")
            elif self.path == "/latest/api/token" and self.headers.get(
                "X-aws-ec2-metadata-token-ttl-seconds"
            ):
                self._send(200, state.token)
            else:
                self._send(400, "bad token request")

        def do_GET(self) -> None:
            state.requests.append(f"GET {self.path}")
            # IMDSv2 only (http_tokens=required): no token, no metadata.
            if self.headers.get("X-aws-ec2-metadata-token") != state.token:
                state.rejected_without_token += 1
                self._send(401, "")
                return
            answers = {
                "/latest/meta-data/instance-id": state.instance_id,
                "/latest/meta-data/placement/region": state.region,
            }
            if self.path in answers:
                self._send(200, answers[self.path])
            else:
                self._send(404, "")

    return Handler


@pytest.fixture(scope="module")
def imds() -> Iterator[tuple[str, ImdsState]]:
    """An IMDSv2 stub on a free loopback port."""
    state = ImdsState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def ec2_pair() -> Iterator[dict[str, str]]:
    """A moto server with two instances in two AZs and one Elastic IP (unassociated)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        ec2 = boto3.client(
            "ec2",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        instances = []
        for index, zone in enumerate(("a", "b")):
            subnet = ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{index + 1}.0/24", AvailabilityZone=f"{REGION}{zone}"
            )["Subnet"]["SubnetId"]
            run = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet)
            instances.append(run["Instances"][0]["InstanceId"])
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        yield {"endpoint": endpoint, "a": instances[0], "b": instances[1], "allocation": allocation}
    finally:
        server.stop()


def _holder(pair: dict[str, str]) -> str | None:
    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=pair["endpoint"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return ec2.describe_addresses(AllocationIds=[pair["allocation"]])["Addresses"][0].get("InstanceId")


def _run(
    tmp_path: Path, imds_url: str, pair: dict[str, str], *event: str, deadline: float = 10, **extra: str
) -> subprocess.CompletedProcess[str]:
    args, env = _command(tmp_path, imds_url, pair, *event, deadline=deadline, **extra)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)


def _command(
    tmp_path: Path, imds_url: str, pair: dict[str, str], *event: str, deadline: float = 10, **extra: str
) -> tuple[list[str], dict[str, str]]:
    """The hook's command line and environment, as vrrp_notify.sh would start it on one node."""
    settings = tmp_path / "eip_notify.json"
    settings.write_text(json.dumps({"allocation_id": pair["allocation"], "deadline_seconds": deadline}))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",  # boto3 itself must not look for IMDS credentials
        "HAKIT_EIP_CONFIG": str(settings),
        "HAKIT_IMDS_URL": imds_url,
        "HAKIT_EC2_ENDPOINT_URL": pair["endpoint"],
        **extra,
    }
    args = [sys.executable, str(SCRIPT), *event, "--lock-file", str(tmp_path / "eip.lock")]
    return args, env


def test_eip_follows_the_master_and_is_idempotent(
    tmp_path: Path, imds: tuple[str, ImdsState], ec2_pair: dict[str, str]
) -> None:
    url, state = imds
    state.instance_id = ec2_pair["a"]
    state.requests.clear()
    first = _run(tmp_path, url, ec2_pair, "INSTANCE", "VI_EIP", "MASTER", "150")
    assert first.returncode == 0, first.stderr
    assert _holder(ec2_pair) == ec2_pair["a"]
    assert "moved" in first.stderr

    # The other node takes over (keepalived on b calls the hook): the EIP really moves.
    state.instance_id = ec2_pair["b"]
    second = _run(tmp_path, url, ec2_pair, "INSTANCE", "VI_EIP", "MASTER", "100")
    assert second.returncode == 0, second.stderr
    assert _holder(ec2_pair) == ec2_pair["b"]

    # Called again (e.g. notify and notify_master both fire): nothing changes, still success.
    again = _run(tmp_path, url, ec2_pair, "INSTANCE", "VI_EIP", "MASTER", "100")
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr
    assert _holder(ec2_pair) == ec2_pair["b"]
    # Every metadata read carried the IMDSv2 token; one token per run serves both reads.
    assert state.rejected_without_token == 0
    tokens = [r for r in state.requests if r.startswith("PUT /latest/api/token")]
    reads = [r for r in state.requests if r.startswith("GET /latest/meta-data/")]
    assert len(tokens) == 3 and len(reads) == 6


def test_master_rx_lower_pri_reasserts_the_eip(
    tmp_path: Path, imds: tuple[str, ImdsState], ec2_pair: dict[str, str]
) -> None:
    url, state = imds
    state.instance_id = ec2_pair["b"]
    assert _run(tmp_path, url, ec2_pair, "INSTANCE", "VI_EIP", "MASTER", "100").returncode == 0
    # Split brain: a also thinks it is master and hears b's lower-priority adverts -> a re-asserts.
    state.instance_id = ec2_pair["a"]
    result = _run(tmp_path, url, ec2_pair, "INSTANCE", "VI_EIP", "MASTER_RX_LOWER_PRI", "150")
    assert result.returncode == 0, result.stderr
    assert _holder(ec2_pair) == ec2_pair["a"]


def _load_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("eip_notify", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


def test_non_master_states_leave_the_eip_alone(
    tmp_path: Path, imds: tuple[str, ImdsState], ec2_pair: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = imds
    state.instance_id = ec2_pair["a"]
    assert _run(tmp_path, url, ec2_pair, "INSTANCE", "VI_EIP", "MASTER", "150").returncode == 0
    state.instance_id = ec2_pair["b"]
    before = len(state.requests)
    script = _load_script()
    monkeypatch.setenv("HAKIT_IMDS_URL", url)
    monkeypatch.setenv("HAKIT_EC2_ENDPOINT_URL", ec2_pair["endpoint"])
    lock = str(tmp_path / "eip.lock")
    for event_state in ("BACKUP", "FAULT", "STOP", "DELETED"):
        argv = ["INSTANCE", "VI_EIP", event_state, "100", "--allocation-id", ec2_pair["allocation"]]
        assert script.main([*argv, "--lock-file", lock]) == 0
    assert _holder(ec2_pair) == ec2_pair["a"]
    assert len(state.requests) == before  # not even IMDS was asked


def test_transient_imds_failures_are_retried(
    tmp_path: Path, imds: tuple[str, ImdsState], ec2_pair: dict[str, str]
) -> None:
    url, state = imds
    state.instance_id = ec2_pair["a"]
    assert _run(tmp_path, url, ec2_pair, "INSTANCE", "VI_EIP", "MASTER", "150").returncode == 0
    state.instance_id = ec2_pair["b"]
    state.fail_next = 2
    result = _run(tmp_path, url, ec2_pair, "INSTANCE", "VI_EIP", "MASTER", "100")
    assert result.returncode == 0, result.stderr
    assert "retrying" in result.stderr
    assert state.fail_next == 0
    assert _holder(ec2_pair) == ec2_pair["b"]


def test_unreachable_ec2_api_fails_within_the_deadline(
    tmp_path: Path, imds: tuple[str, ImdsState], ec2_pair: dict[str, str]
) -> None:
    url, state = imds
    state.instance_id = ec2_pair["a"]
    dead = dict(ec2_pair, endpoint=f"http://127.0.0.1:{_free_port()}")
    started = time.monotonic()
    result = _run(tmp_path, url, dead, "INSTANCE", "VI_EIP", "MASTER", "150", deadline=2)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "giving up" in result.stderr
    assert elapsed < 20


def test_missing_allocation_is_a_usage_error(tmp_path: Path, imds: tuple[str, ImdsState]) -> None:
    url, _ = imds
    env = {"PATH": os.environ.get("PATH", ""), "HAKIT_EIP_CONFIG": str(tmp_path / "absent.json")}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "INSTANCE", "VI", "MASTER", "1", "--imds-url", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "allocation_id" in result.stderr


def test_settings_file_that_is_not_an_object_is_a_usage_error(tmp_path: Path) -> None:
    settings = tmp_path / "eip_notify.json"
    settings.write_text("[1]")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "INSTANCE", "VI", "MASTER", "1", "--config", str(settings)],
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert f"{settings}: settings must be a JSON object" in result.stderr
    assert "Traceback" not in result.stderr


THROTTLED = (
    b"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>RequestLimitExceeded</Code>"
    b"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>throttled</RequestID></Response>"
)


@dataclass
class Throttle:
    """A loopback proxy in front of moto that answers AssociateAddress with EC2 throttling while `on`."""

    upstream: str
    on: threading.Event = field(default_factory=threading.Event)
    throttled: int = 0
    forwarded: list[str] = field(default_factory=list)


@pytest.fixture
def throttling_proxy(ec2_pair: dict[str, str]) -> Iterator[tuple[str, Throttle]]:
    import urllib.error
    import urllib.parse
    import urllib.request

    throttle = Throttle(ec2_pair["endpoint"])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            action = urllib.parse.parse_qs(body.decode()).get("Action", [""])[0]
            if action == "AssociateAddress" and throttle.on.is_set():
                throttle.throttled += 1
                status, data, kind = 503, THROTTLED, "text/xml"
            else:
                throttle.forwarded.append(action)
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                request = urllib.request.Request(throttle.upstream + self.path, body, headers, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        status, data, kind = (
                            answer.status,
                            answer.read(),
                            answer.headers.get("Content-Type", ""),
                        )
                except urllib.error.HTTPError as err:
                    status, data, kind = err.code, err.read(), err.headers.get("Content-Type", "")
            self.send_response(status)
            self.send_header("Content-Type", kind or "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", throttle
    finally:
        throttle.on.clear()
        server.shutdown()
        server.server_close()


def _wait(condition: Any, seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_master_event_stalled_by_throttling_is_dropped_once_the_node_is_backup(
    tmp_path: Path,
    imds: tuple[str, ImdsState],
    ec2_pair: dict[str, str],
    throttling_proxy: tuple[str, Throttle],
) -> None:
    """a: MASTER (its hook stalls on throttled AssociateAddress), then BACKUP; b holds the EIP meanwhile."""
    url, state = imds
    proxy_url, throttle = throttling_proxy
    direct = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=ec2_pair["endpoint"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    direct.associate_address(
        AllocationId=ec2_pair["allocation"], InstanceId=ec2_pair["b"], AllowReassociation=True
    )
    state.instance_id = ec2_pair["a"]
    via_proxy = dict(ec2_pair, endpoint=proxy_url)
    throttle.on.set()
    args, env = _command(tmp_path, url, via_proxy, "INSTANCE", "VI_EIP", "MASTER", "150", deadline=30)
    stalled = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: throttle.throttled >= 1, 20, "the first throttled AssociateAddress")
        # a drops to BACKUP while its MASTER handler waits: recording must not queue behind that handler.
        started = time.monotonic()
        backup = _run(tmp_path, url, via_proxy, "INSTANCE", "VI_EIP", "BACKUP", "150")
        assert backup.returncode == 0, backup.stderr
        assert time.monotonic() - started < 10
        throttle.on.clear()
        _, stderr = stalled.communicate(timeout=45)
    finally:
        if stalled.poll() is None:
            stalled.kill()
            stalled.wait()
    assert stalled.returncode == 0, stderr
    assert "event 1 (MASTER) superseded by event 2 (BACKUP); the Elastic IP is left alone" in stderr
    assert _holder(ec2_pair) == ec2_pair["b"]
    assert "AssociateAddress" not in throttle.forwarded


def test_event_log_orders_events_and_survives_a_damaged_file(tmp_path: Path) -> None:
    script = _load_script()
    events = script.EventLog(str(tmp_path / "run" / "eip.events"))
    first = events.record("VI_EIP", "MASTER", "150")
    other = events.record("VI_OTHER", "BACKUP", "100")
    events.check_current(first)  # another instance's event does not supersede this one
    newer = events.record("VI_EIP", "MASTER_RX_LOWER_PRI", "150")
    assert (first.seq, other.seq, newer.seq) == (1, 2, 3)
    with pytest.raises(
        script.Superseded, match=r"event 1 \(MASTER\) superseded by event 3 \(MASTER_RX_LOWER_PRI\)"
    ):
        events.check_current(first)
    Path(events.path).write_text("{not json")
    again = events.record("VI_EIP", "BACKUP", "150")
    assert again.seq == 1 and events.latest("VI_EIP") == again
