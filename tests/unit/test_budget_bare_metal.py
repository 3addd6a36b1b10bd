"""Inventory budget beyond load balancers: MariaDB write VIPs, host backup jobs, the inventory `slo:`."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hakit.analysis.budget import Slo, inventory_budget
from hakit.analysis.schedule import calendar_interval_seconds, calendar_to_cron
from hakit.spec.inventory import Inventory
from ruamel.yaml import YAML
from support import HakitCli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory.yaml"


def example_data() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(EXAMPLE.read_text())
    return data


@pytest.mark.parametrize(
    ("calendar", "seconds"),
    [
        ("daily", 86400),
        ("hourly", 3600),
        ("weekly", 7 * 86400),
        ("*-*-* 02:30:00", 86400),
        ("*-*-* 00/6:00:00", 6 * 3600),
        ("*-*-* 02,14:00", 12 * 3600),
        ("*-*-* *:0/15:00", 900),
        ("Mon..Fri 02:00", 3 * 86400),
        ("Sun *-*-* 03:00:00", 7 * 86400),
        ("*-*-01 04:00:00", 31 * 86400),
        ("*-*-* *:*:*", None),
        ("every night", None),
    ],
)
def test_calendar_interval(calendar: str, seconds: float | None) -> None:
    assert calendar_interval_seconds(calendar) == seconds


def test_calendar_weekday_range_becomes_cron_weekdays() -> None:
    assert calendar_to_cron("Mon..Fri 02:00") == "cron(00 02 ? * MON-FRI *)"


def test_database_pair_path_from_write_vip_settings() -> None:
    inventory = Inventory.model_validate(example_data())
    budget = inventory_budget(inventory)
    path = next(p for p in budget.paths if p.name == "database shop")
    stages = {s.layer: s for s in path.stages}
    vip = inventory.databases["shop"].write_vip
    assert vip is not None
    standby = min(n.priority for n in inventory.databases["shop"].nodes.values())
    advert = float(vip.advert_int)
    takeover = 3 * advert + (256 - standby) / 256 * advert
    assert stages["keepalived"].seconds == pytest.approx(takeover, abs=1e-3)
    check = (vip.fall * vip.check_interval + vip.check_timeout) / 1000 + advert
    assert stages["mariadb-check"].seconds == pytest.approx(check)
    assert path.rto_seconds == pytest.approx(max(check, stages["keepalived"].seconds or 0))
    assert path.rpo_seconds == 1.0


def test_backup_of_an_unreplicated_host_risks_its_interval() -> None:
    data = example_data()
    job = copy.deepcopy(data["backups"]["shop-db1"])
    job.update(host="api1", schedule="*-*-* 00/6:00:00")
    data["backups"]["api1-db"] = job
    budget = inventory_budget(Inventory.model_validate(data), Slo(rpo_seconds=3600))
    path = next(p for p in budget.paths if p.name == "backup api1-db")
    assert path.rpo_seconds == 6 * 3600
    assert "backup api1-db: RPO 21600s exceeds the SLO of 3600s" in budget.violations()
    # The pair's own job is covered by replication, not listed as a separate path.
    assert not any(p.name == "backup shop-db1" for p in budget.paths)


def test_inventory_slo_drives_strict(tmp_path: Path, hakit_cli: HakitCli) -> None:
    ok = hakit_cli("report", "--inventory", str(EXAMPLE), "--strict")
    assert ok.code == 0, ok.err
    data = example_data()
    data["slo"] = {"rto_seconds": 4, "rpo_seconds": 0}
    tight = tmp_path / "tight.yaml"
    with tight.open("w") as handle:
        YAML().dump(data, handle)
    over = hakit_cli("report", "--inventory", str(tight), "--strict")
    assert over.code == 1
    assert "over budget: database shop: RTO 5s exceeds the SLO of 4s" in over.out
    assert over.err.startswith("strict: ")


def test_inventory_slo_is_validated(tmp_path: Path, hakit_cli: HakitCli) -> None:
    bad = tmp_path / "bad.yaml"
    text = EXAMPLE.read_text()
    bad.write_text(text.replace("rto_seconds: 30", "rto_seconds: 0"))
    line = text.splitlines().index("  rto_seconds: 30") + 1
    result = hakit_cli("report", "--inventory", str(bad))
    assert result.code == 2
    assert result.err.strip() == f"{bad}:{line}: slo.rto_seconds: Input should be greater than 0"
