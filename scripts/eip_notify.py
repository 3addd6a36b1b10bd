#!/usr/bin/env python3
"""keepalived hook on an EC2 keepalived pair: move the pair's Elastic IP here when this node becomes MASTER.

Installed as an executable in keepalived's hook directory (/etc/keepalived/notify.d/), it is called by
hakit's vrrp_notify.sh with `TYPE NAME STATE PRIORITY` on every state change, including
`MASTER_RX_LOWER_PRI` (a master hearing a lower-priority master: re-assert the EIP after a split brain).

- Every event (any state) is first recorded with a sequence number in an events file (under a short lock of
  its own, so recording never waits behind a handler that is busy with AWS).
- Only MASTER and MASTER_RX_LOWER_PRI act; other states exit 0 once recorded.
- Stale events are dropped: keepalived starts one hook process per event, and a MASTER handler stalled on
  throttling must not move the EIP back here after this node became BACKUP. Before each EC2 change (and each
  retry of it) the handler re-reads the events file; if a later event of the same VRRP instance or group
  was recorded (BACKUP, FAULT, or a newer MASTER whose own handler will act), it stops without changing
  anything and exits 0.
- Instance id and region come from IMDSv2 (token PUT, then GETs with the token).
- Idempotent: if the EIP is already on this instance nothing is changed.
- Retries every AWS/IMDS step with capped exponential backoff inside a deadline, then verifies the move.
- A lock file serialises concurrent handlers (notify_master and rx_lower_pri can fire together).

Settings: a JSON file (default /etc/hakit/eip_notify.json: {"allocation_id": ..., "region": ...}), then
environment (HAKIT_EIP_ALLOCATION_ID, HAKIT_EIP_REGION, HAKIT_IMDS_URL, HAKIT_EC2_ENDPOINT_URL), then flags.
The events file defaults to the lock file's path plus `.events` (both under /run: a reboot forgets them).
Needs only the Python standard library and boto3. Exit codes: 0 done/nothing to do, 1 failed, 2 usage.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import logging.handlers
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

DEFAULT_CONFIG = "/etc/hakit/eip_notify.json"
DEFAULT_IMDS = "http://169.254.169.254"
DEFAULT_LOCK = "/run/hakit-eip-notify.lock"
ACTING_STATES = frozenset({"MASTER", "MASTER_RX_LOWER_PRI"})
TOKEN_TTL_SECONDS = 60

log = logging.getLogger("hakit-eip")
T = TypeVar("T")


class NotifyError(Exception):
    """A step failed for good (after its retries)."""


class Superseded(Exception):
    """A later VRRP event of the same instance was recorded: this handler must not change anything."""


@dataclass(frozen=True)
class Settings:
    """What the hook needs to know besides the VRRP event."""

    allocation_id: str
    region: str | None
    imds_url: str
    endpoint_url: str | None
    deadline_seconds: float
    lock_file: str
    events_file: str


@dataclass(frozen=True)
class Event:
    """One keepalived event as recorded in the events file."""

    name: str
    state: str
    seq: int


class EventLog:
    """The latest event per VRRP instance/group, with a sequence number, in a small JSON file.

    keepalived runs one hook process per event, possibly concurrently: each process records its event
    before anything else (so the sequence follows the order keepalived started them) and a handler that
    acts later asks `latest()` whether its event is still the newest. A short flock on `PATH.lock` guards
    the read-modify-write; the file itself is replaced atomically, so readers never see half a document.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def _read(self) -> dict[str, object]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                document = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            # A damaged file must not stop failover: start a new sequence (later events still order).
            log.warning("events file %s unreadable (%s); starting a new one", self.path, err)
            return {}
        return document if isinstance(document, dict) else {}

    def record(self, name: str, state: str, priority: str) -> Event:
        """Append this event: the next sequence number, and the instance's latest state."""
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path + ".lock", "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            document = self._read()
            last = document.get("seq")
            seq = (last if isinstance(last, int) else 0) + 1
            instances = document.get("instances")
            instances = dict(instances) if isinstance(instances, dict) else {}
            instances[name] = {"seq": seq, "state": state, "priority": priority, "time": time.time()}
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump({"seq": seq, "instances": instances}, handle)
            os.replace(tmp, self.path)
        return Event(name, state, seq)

    def latest(self, name: str) -> Event | None:
        """The newest recorded event of `name` (None when the file has none, e.g. after a reboot)."""
        instances = self._read().get("instances")
        entry = instances.get(name) if isinstance(instances, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("seq"), int):
            return None
        return Event(name, str(entry.get("state", "")), int(entry["seq"]))

    def check_current(self, mine: Event) -> None:
        """Raise Superseded when a later event of the same instance/group was recorded."""
        newest = self.latest(mine.name)
        if newest is not None and newest.seq > mine.seq:
            raise Superseded(
                f"event {mine.seq} ({mine.state}) superseded by event {newest.seq} ({newest.state})"
            )


def retry(step: str, action: Callable[[], T], deadline: float, *, first_delay: float = 0.2) -> T:
    """Run `action` until it succeeds or the monotonic `deadline` passes (capped exponential backoff)."""
    delay = first_delay
    attempt = 1
    while True:
        try:
            return action()
        except Superseded:
            raise
        except Exception as err:  # boto3, urllib and socket errors all deserve another try
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NotifyError(f"{step}: giving up after {attempt} attempts: {err}") from err
            log.warning("%s: attempt %d failed (%s); retrying", step, attempt, err)
            time.sleep(min(delay, max(remaining, 0)))
            delay = min(delay * 2, 5.0)
            attempt += 1


class Imds:
    """A minimal IMDSv2 client (session token first, then metadata reads with the token)."""

    def __init__(self, base_url: str, timeout: float = 2.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._cached: tuple[str, float] | None = None

    def _token(self) -> str:
        # One token serves every read of this run (it lives TOKEN_TTL_SECONDS; renew well before).
        if self._cached is not None and time.monotonic() < self._cached[1]:
            return self._cached[0]
        request = urllib.request.Request(
            f"{self.base_url}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_SECONDS)},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            token = str(response.read().decode().strip())
        self._cached = (token, time.monotonic() + TOKEN_TTL_SECONDS / 2)
        return token

    def get(self, path: str) -> str:
        """Read one metadata path (e.g. `meta-data/instance-id`)."""
        request = urllib.request.Request(
            f"{self.base_url}/latest/{path}", headers={"X-aws-ec2-metadata-token": self._token()}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            value = response.read().decode().strip()
        if not value:
            raise NotifyError(f"IMDS returned an empty {path}")
        return str(value)


def current_instance(ec2: object, allocation_id: str) -> str | None:
    """The instance the EIP is associated with now (None: unassociated)."""
    answer = ec2.describe_addresses(AllocationIds=[allocation_id])  # type: ignore[attr-defined]
    addresses = answer.get("Addresses", [])
    if not addresses:
        raise NotifyError(f"Elastic IP {allocation_id} not found")
    instance = addresses[0].get("InstanceId")
    return str(instance) if instance else None


def move_eip(
    settings: Settings,
    instance_id: str,
    region: str,
    deadline: float,
    still_current: Callable[[], None] = lambda: None,
) -> str:
    """Associate the EIP with `instance_id` unless it is already; verify; all by `deadline` (monotonic).

    `still_current` raises Superseded when this event is stale; it runs before every associate attempt.
    """
    import boto3
    from botocore.config import Config

    ec2 = boto3.client(
        "ec2",
        region_name=region,
        endpoint_url=settings.endpoint_url,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=5),
    )
    holder = retry("describe-addresses", lambda: current_instance(ec2, settings.allocation_id), deadline)
    if holder == instance_id:
        log.info("%s is already associated with %s: nothing to do", settings.allocation_id, instance_id)
        return "unchanged"
    log.info("moving %s from %s to %s", settings.allocation_id, holder or "nothing", instance_id)

    # Ask again right before every HTTP attempt of the change, botocore's own throttling retries included:
    # each may come seconds after the last, and the node may have become BACKUP meanwhile.
    ec2.meta.events.register("before-send.ec2.AssociateAddress", lambda **_: still_current())
    retry(
        "associate-address",
        lambda: ec2.associate_address(
            AllocationId=settings.allocation_id, InstanceId=instance_id, AllowReassociation=True
        ),
        deadline,
    )

    def verify() -> None:
        now = current_instance(ec2, settings.allocation_id)
        if now != instance_id:
            raise NotifyError(f"{settings.allocation_id} is on {now}, not {instance_id}")

    retry("verify", verify, deadline)
    log.info("%s now points at %s", settings.allocation_id, instance_id)
    return "moved"


def merged_values(args: argparse.Namespace) -> dict[str, object]:
    """The JSON file, the environment and the flags merged (later wins); nothing checked yet."""
    values: dict[str, object] = {}
    path = args.config or os.environ.get("HAKIT_EIP_CONFIG", DEFAULT_CONFIG)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        if not isinstance(document, dict):
            raise NotifyError(f"{path}: settings must be a JSON object")
        values.update(document)
    elif args.config:
        raise NotifyError(f"{path}: no such settings file")
    for key, env in (
        ("allocation_id", "HAKIT_EIP_ALLOCATION_ID"),
        ("region", "HAKIT_EIP_REGION"),
        ("imds_url", "HAKIT_IMDS_URL"),
        ("endpoint_url", "HAKIT_EC2_ENDPOINT_URL"),
    ):
        if os.environ.get(env):
            values[key] = os.environ[env]
    for key in (
        "allocation_id",
        "region",
        "imds_url",
        "endpoint_url",
        "deadline_seconds",
        "lock_file",
        "events_file",
    ):
        flag = getattr(args, key)
        if flag is not None:
            values[key] = flag
    return values


def events_path(values: dict[str, object]) -> str:
    """Where events are recorded: `events_file`, else next to the lock file."""
    lock_file = str(values.get("lock_file") or DEFAULT_LOCK)
    return str(values.get("events_file") or lock_file + ".events")


def load_settings(values: dict[str, object]) -> Settings:
    """Check the merged values of an acting event."""
    allocation = str(values.get("allocation_id") or "")
    if not allocation.startswith("eipalloc-"):
        raise NotifyError("allocation_id is missing or not an eipalloc-... id")
    return Settings(
        allocation_id=allocation,
        region=str(values["region"]) if values.get("region") else None,
        imds_url=str(values.get("imds_url") or DEFAULT_IMDS),
        endpoint_url=str(values["endpoint_url"]) if values.get("endpoint_url") else None,
        deadline_seconds=float(values.get("deadline_seconds") or 30.0),  # type: ignore[arg-type]
        lock_file=str(values.get("lock_file") or DEFAULT_LOCK),
        events_file=events_path(values),
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    """keepalived's positional `TYPE NAME STATE [PRIORITY]` plus optional flags."""
    parser = argparse.ArgumentParser(description="Move the pair's Elastic IP to this instance on MASTER.")
    parser.add_argument("kind", nargs="?", default="INSTANCE", help="INSTANCE or GROUP")
    parser.add_argument("name", nargs="?", default="unknown", help="VRRP instance or group name")
    parser.add_argument("state", nargs="?", default="MASTER", help="MASTER, BACKUP, FAULT, STOP, ...")
    parser.add_argument("priority", nargs="?", default="0")
    parser.add_argument("--config", help=f"JSON settings file (default {DEFAULT_CONFIG})")
    parser.add_argument("--allocation-id", dest="allocation_id")
    parser.add_argument("--region")
    parser.add_argument("--imds-url", dest="imds_url", help=f"IMDS base URL (default {DEFAULT_IMDS})")
    parser.add_argument("--endpoint-url", dest="endpoint_url", help="EC2 API endpoint (tests, VPC endpoints)")
    parser.add_argument("--deadline", dest="deadline_seconds", type=float, help="seconds for all retries")
    parser.add_argument("--lock-file", dest="lock_file")
    parser.add_argument(
        "--events-file", dest="events_file", help="latest event per instance (default: LOCK.events)"
    )
    return parser.parse_args(argv)


def _setup_logging() -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if os.path.exists("/dev/log"):
        syslog = logging.handlers.SysLogHandler(address="/dev/log")
        syslog.setFormatter(logging.Formatter("hakit-eip: %(message)s"))
        handlers.append(syslog)
    logging.basicConfig(level=logging.INFO, format="hakit-eip: %(levelname)s %(message)s", handlers=handlers)


def main(argv: list[str] | None = None) -> int:
    """Handle one keepalived event; see the module docstring."""
    _setup_logging()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    state = args.state.upper()
    try:
        values = merged_values(args)
        events = EventLog(events_path(values))
    except (NotifyError, ValueError, OSError) as err:
        log.error("bad settings: %s", err)
        return 2
    try:
        # First thing, for every state: a handler still busy with an older MASTER event must see this one.
        event = events.record(args.name, state, args.priority)
    except OSError as err:
        log.error(
            "%s %s -> %s: cannot record the event in %s: %s", args.kind, args.name, state, events.path, err
        )
        return 1
    if state not in ACTING_STATES:
        log.info("%s %s -> %s: only MASTER moves the Elastic IP", args.kind, args.name, state)
        return 0
    try:
        settings = load_settings(values)
    except (NotifyError, ValueError, OSError) as err:
        log.error("bad settings: %s", err)
        return 2
    try:
        os.makedirs(os.path.dirname(settings.lock_file) or ".", exist_ok=True)
        with open(settings.lock_file, "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            deadline = time.monotonic() + settings.deadline_seconds
            events.check_current(event)  # superseded while waiting for the lock
            imds = Imds(settings.imds_url)
            instance_id = retry("imds instance-id", lambda: imds.get("meta-data/instance-id"), deadline)
            region = settings.region or retry(
                "imds region", lambda: imds.get("meta-data/placement/region"), deadline
            )
            outcome = move_eip(settings, instance_id, region, deadline, lambda: events.check_current(event))
    except Superseded as err:
        log.info("%s %s -> %s: %s; the Elastic IP is left alone", args.kind, args.name, state, err)
        return 0
    except (NotifyError, OSError) as err:  # OSError: the lock file's directory or the file itself
        log.error("%s %s -> %s: %s", args.kind, args.name, state, err)
        return 1
    log.info("%s %s -> %s: Elastic IP %s", args.kind, args.name, state, outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
