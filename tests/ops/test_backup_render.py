"""Backup jobs in the inventory: errors with file and line, units checked by systemd, retention rules."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hakit.errors import SpecError
from hakit.ops.backup_store import make_stamp, parse_stamp, select_keep
from hakit.render import render_inventory
from hakit.render.writer import write_tree
from hakit.spec.backup import BackupJobConfig, Retention
from hakit.spec.inventory import load_inventory
from hypothesis import given
from hypothesis import strategies as st
from support import require_binaries

HAKIT_BIN = str(Path(sys.executable).with_name("hakit"))

INVENTORY = f"""\
version: 1
hosts:
  db1:
    interfaces:
      eth0: {{address: 198.18.7.11/24}}
backups:
  orders:
    host: db1
    source: {{engine: postgresql, database: orders}}
    target:
      bucket: example-backups
      prefix: prod/
      region: eu-west-1
      encryption: {{algorithm: "aws:kms", kms_key_id: alias/backups}}
      object_lock: {{mode: COMPLIANCE, days: 35}}
    retention: {{daily: 7, weekly: 5}}
    schedule: "*-*-* 03:15:00"
    randomized_delay_sec: 900
    credentials: {{aws: /etc/hakit/backup/orders.aws, pgpass: /etc/hakit/backup/orders.pgpass}}
    hakit_bin: {HAKIT_BIN}
  app:
    host: db1
    source: {{engine: mariadb, database: app, defaults_file: /etc/mysql/debian.cnf}}
    target: {{bucket: example-backups}}
    hakit_bin: {HAKIT_BIN}
"""


@pytest.fixture
def inventory_file(tmp_path: Path) -> Path:
    """The example inventory on disk."""
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY)
    return path


def test_units_and_job_files(inventory_file: Path):
    """Service (hardened, OnFailure), timer (RandomizedDelaySec, Persistent) and a job file per job."""
    inv = load_inventory(inventory_file)
    files = render_inventory(inv, source="inventory.yaml")["db1"]
    service = files["etc/systemd/system/hakit-backup-orders.service"].content
    for line in (
        "User=postgres",
        f'ExecStart="{HAKIT_BIN}" "backup" "run" "--config" "/etc/hakit/backup/orders.json"',
        "LoadCredential=manifest-key:/etc/hakit/backup/orders.key",
        "LoadCredential=aws:/etc/hakit/backup/orders.aws",
        "LoadCredential=pgpass:/etc/hakit/backup/orders.pgpass",
        "ProtectProc=invisible",
        "SystemCallFilter=@system-service",
        "OnFailure=hakit-backup-failure@%n.service",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "After=network-online.target postgresql.service",
    ):
        assert line in service.splitlines(), line
    timer = files["etc/systemd/system/hakit-backup-orders.timer"].content.splitlines()
    assert (
        "OnCalendar=*-*-* 03:15:00" in timer
        and "RandomizedDelaySec=900" in timer
        and "Persistent=true" in timer
    )
    assert "User=root" in files["etc/systemd/system/hakit-backup-app.service"].content.splitlines()
    job = BackupJobConfig.model_validate_json(files["etc/hakit/backup/orders.json"].content)
    assert job.name == "orders" and job.host == "db1"
    assert job.target.object_lock is not None and job.target.object_lock.mode == "COMPLIANCE"
    assert job.retention == Retention(daily=7, weekly=5)
    assert all(not f.secret and f.mode == 0o644 for f in files.values())


def test_systemd_accepts_the_units(inventory_file: Path, tmp_path: Path, report: Callable[[str], None]):
    """`systemd-analyze verify` loads the units; `security --offline` rates the service's exposure."""
    found = require_binaries("systemd-analyze")
    inv = load_inventory(inventory_file)
    root = tmp_path / "out"
    write_tree({"db1": render_inventory(inv, source="inventory.yaml", root=str(root / "db1"))["db1"]}, root)
    units = root / "db1/etc/systemd/system"
    names = ["hakit-backup-orders.service", "hakit-backup-orders.timer", "hakit-backup-failure@.service"]
    names += ["hakit-backup-app.service", "hakit-backup-app.timer"]
    verify = subprocess.run(
        [found["systemd-analyze"], "verify", "--man=no", *names],
        cwd=units,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stderr.strip() == "", verify.stderr
    security = subprocess.run(
        [
            found["systemd-analyze"],
            "security",
            "--offline=yes",
            "--no-pager",
            "./hakit-backup-orders.service",
        ],
        cwd=units,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for .*: (\d+\.\d)", security.stdout + security.stderr)
    assert match, security.stdout + security.stderr
    report(f"systemd-analyze security exposure of the backup service: {match.group(1)} (0 best, 10 worst)")
    assert float(match.group(1)) <= 4.0


def test_systemd_rejects_what_we_let_through(inventory_file: Path, tmp_path: Path):
    """The verify step is not a rubber stamp: an impossible calendar expression fails it."""
    found = require_binaries("systemd-analyze")
    broken = tmp_path / "broken.yaml"
    broken.write_text(INVENTORY.replace('"*-*-* 03:15:00"', '"*-*-* 25:15:00"'))
    root = tmp_path / "out"
    write_tree(
        {"db1": render_inventory(load_inventory(broken), source="x", root=str(root / "db1"))["db1"]}, root
    )
    verify = subprocess.run(
        [found["systemd-analyze"], "verify", "--man=no", "hakit-backup-orders.timer"],
        cwd=root / "db1/etc/systemd/system",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert verify.returncode != 0 and "calendar" in verify.stderr


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        (
            "    host: db1\n    source: {engine: postgresql",
            "    host: db9\n    source: {engine: postgresql",
            r"backups\.orders\.host: unknown host 'db9'",
        ),
        (
            "retention: {daily: 7, weekly: 5}",
            "retention: {daily: 0, weekly: 0}",
            r"backups\.orders\.retention\.daily: daily and weekly are both 0",
        ),
        (
            'algorithm: "aws:kms"',
            "algorithm: AES256",
            r"backups\.orders\.target\.encryption\.kms_key_id:",
        ),
        ("days: 35", "days: 0", r"backups\.orders\.target\.object_lock\.days:"),
        (
            "bucket: example-backups\n      prefix",
            "bucket: Bad_Bucket\n      prefix",
            r"backups\.orders\.target\.bucket:",
        ),
        ("engine: mariadb", "engine: oracle", r"backups\.app\.source:"),
    ],
)
def test_bad_jobs_are_reported_with_file_and_line(tmp_path: Path, old: str, new: str, error: str):
    """Every mistake comes back as FILE:LINE: path: rule (exit code 2)."""
    assert old in INVENTORY
    path = tmp_path / "inventory.yaml"
    text = INVENTORY.replace(old, new, 1)
    path.write_text(text)
    line = text[: text.index(new)].count("\n") + 1  # the line the broken value is on
    with pytest.raises(SpecError) as caught:
        load_inventory(path)
    assert caught.value.exit_code == 2
    expected = re.compile(re.escape(f"{path}:{line}: ") + error)
    assert any(expected.match(found) for found in caught.value.lines), caught.value.lines


def test_job_file_errors_name_the_file(tmp_path: Path):
    """`hakit backup` on a broken job file: one line per problem, exit 2, no traceback."""
    path = tmp_path / "job.json"
    path.write_text('{"name": "x",\n "host": "db1",\n "retention": {"daily": -1}}\n')
    done = subprocess.run(
        [HAKIT_BIN, "backup", "list", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"{path}:1: source: required field is missing",
        f"{path}:1: target: required field is missing",
        f"{path}:3: retention.daily: Input should be greater than or equal to 0",
    ]


moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))


@given(
    taken=st.lists(moments, min_size=1, max_size=60, unique=True),
    daily=st.integers(0, 10),
    weekly=st.integers(0, 8),
)
def test_retention_properties(taken: list[datetime], daily: int, weekly: int):
    """Newest always kept; at most daily+weekly kept; each kept day/week keeps its newest; idempotent."""
    retention = Retention.model_construct(daily=daily, weekly=weekly)
    keep = select_keep(taken, retention)
    assert max(taken) in keep
    assert len(keep) <= max(1, daily + weekly)
    days = sorted({m.date() for m in taken}, reverse=True)[:daily]
    for day in days:
        assert max(m for m in taken if m.date() == day) in keep
    weeks = sorted({m.isocalendar()[:2] for m in taken}, reverse=True)[:weekly]
    for week in weeks:
        assert max(m for m in taken if m.isocalendar()[:2] == week) in keep
    assert select_keep(sorted(keep), retention) == keep


def test_retention_example():
    """A month of nightly backups, 7 daily + 4 weekly: the last 7 nights, and the newest of each of the last 4
    ISO weeks, two of which the nights already cover (as in restic's --keep-daily/--keep-weekly)."""
    newest = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # a Monday
    taken = [newest - timedelta(days=n) for n in range(31)]
    keep = select_keep(taken, Retention(daily=7, weekly=4))
    assert sorted(m.date().isoformat() for m in keep) == [
        "2026-11-15",
        "2026-11-22",
        "2026-11-24",
        "2026-11-25",
        "2026-11-26",
        "2026-11-27",
        "2026-11-28",
        "2026-11-29",
        "2026-11-30",
    ]


@given(moments)
def test_stamps_round_trip_and_sort(moment: datetime):
    """Keys sort by time and parse back to the millisecond."""
    assert parse_stamp(make_stamp(moment)) == moment
    later = moment + timedelta(milliseconds=1)
    assert make_stamp(moment) < make_stamp(later)


def test_hakit_bin_is_a_real_program():
    """The units in these tests point at the hakit of this environment."""
    assert shutil.which(HAKIT_BIN) is not None


def _load_text(tmp_path: Path, text: str) -> object:
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    return load_inventory(path)


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        # A carriage return used to end the EnvironmentFile= line and add a root ExecStartPre=.
        (
            "credentials: {aws: /etc/hakit/backup/orders.aws,",
            'environment_file: "/etc/x.env\\rExecStartPre=+/bin/touch /tmp/pwned"\n    '
            "credentials: {aws: /etc/hakit/backup/orders.aws,",
            r"backups\.orders\.environment_file: ",
        ),
        (
            "credentials: {aws: /etc/hakit/backup/orders.aws,",
            'credentials: {aws: "/etc/a.aws\\rExecStartPre=+/bin/sh",',
            r"backups\.orders\.credentials\.aws: ",
        ),
        (
            f"    hakit_bin: {HAKIT_BIN}\n  app:",
            '    hakit_bin: "/usr/bin/hakit %n $HOME"\n  app:',
            r"hakit_bin",
        ),
        ('schedule: "*-*-* 03:15:00"', 'schedule: "*-*-* 03:15:00\\n"', r"backups\.orders\.schedule: "),
        (
            "region: eu-west-1",
            'region: eu-west-1\n      endpoint_url: "http://s3#x"',
            r"backups\.orders\.target\.endpoint_url: ",
        ),
        (
            "database: orders}",
            'database: orders, host: "db\\nhost"}',
            r"backups\.orders\.source\.postgresql\.host",
        ),
    ],
)
def test_hostile_values_never_reach_a_unit(tmp_path: Path, old: str, new: str, error: str):
    """Control characters, spaces, `%` and `$` in anything a unit is built from: refused with FILE:LINE."""
    assert old in INVENTORY
    with pytest.raises(SpecError) as caught:
        _load_text(tmp_path, INVENTORY.replace(old, new, 1))
    assert caught.value.exit_code == 2
    assert any(re.search(error, line) for line in caught.value.lines), caught.value.lines


def test_systemd_quote_round_trips_through_systemd(tmp_path: Path):
    """Quoted words come back from systemd as the same argv; control characters are refused outright."""
    found = require_binaries("systemd-analyze")
    from hakit.render.quoting import systemd_quote

    words = ["/usr/bin/printf", "a b", 'q"uote', "back\\slash", "50%", "$HOME", "${X}", "semi;colon"]
    unit = tmp_path / "quote-test.service"
    unit.write_text(f"[Service]\nType=oneshot\nExecStart={' '.join(systemd_quote(w) for w in words)}\n")
    verify = subprocess.run(
        [found["systemd-analyze"], "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    # Not a rubber stamp: the same words unquoted break the line (unbalanced quote: fatal).
    unit.write_text(f"[Service]\nType=oneshot\nExecStart={' '.join(words)}\n")
    broken = subprocess.run(
        [found["systemd-analyze"], "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert broken.returncode != 0 and "quoting" in broken.stderr, broken.stderr
    for bad in ("a\rb", "a\nb", "a\x00b", "a\x1bb"):
        with pytest.raises(ValueError, match="control character"):
            systemd_quote(bad)


def test_overlapping_job_folders_are_refused(tmp_path: Path):
    """A job whose S3 folder lies inside another's would list, restore and prune its objects: refused."""
    nested = INVENTORY + (
        "  nested:\n"
        "    host: db1\n"
        "    source: {engine: mariadb, database: app}\n"
        "    target: {bucket: example-backups, prefix: db1/app/mariadb/app/}\n"
        f"    hakit_bin: {HAKIT_BIN}\n"
    )
    with pytest.raises(SpecError) as caught:
        _load_text(tmp_path, nested)
    assert any(
        "backups.nested.target.prefix: s3://example-backups/db1/app/mariadb/app/db1/app/mariadb/nested/ "
        "lies inside job 'app'" in line
        for line in caught.value.lines
    ), caught.value.lines
    # Two jobs on the same host and database (hourly + nightly) are apart: accepted.
    apart = INVENTORY + (
        "  app-hourly:\n"
        "    host: db1\n"
        "    source: {engine: mariadb, database: app}\n"
        "    target: {bucket: example-backups}\n"
        f"    hakit_bin: {HAKIT_BIN}\n"
    )
    assert set(_load_text(tmp_path, apart).backups) == {"orders", "app", "app-hourly"}  # type: ignore[attr-defined]


def test_ip_filter_only_when_every_peer_is_an_address(inventory_file: Path):
    """IPAddressDeny=any + IPAddressAllow= for an S3 endpoint given by IP; none for AWS names."""
    from hakit.render.backup import job_files

    inv = load_inventory(inventory_file)
    service = job_files("orders", inv.backups["orders"], source="x")[
        "etc/systemd/system/hakit-backup-orders.service"
    ]
    assert "IPAddressDeny" not in service.content  # AWS S3: addresses change, no filter
    local = inv.backups["orders"].model_copy(
        update={
            "target": inv.backups["orders"].target.model_copy(update={"endpoint_url": "http://10.1.2.3:9000"})
        }
    )
    lines = job_files("orders", local, source="x")["etc/systemd/system/hakit-backup-orders.service"].content
    assert "IPAddressDeny=any" in lines.splitlines()
    assert "IPAddressAllow=localhost 10.1.2.3" in lines.splitlines()
