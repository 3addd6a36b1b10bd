"""hakit_db, the deploy module's MariaDB steps: options checked by the real mariadbd, replication, paths."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hakit.deploy.playbook.library.hakit_db import (
    Db,
    StepError,
    changed_options,
    domain_position,
    effective_options,
    option_errors,
    replication_problems,
    slave_status,
)
from hakit.deploy.targets import ansible_inventory, mariadb_paths
from hakit.render import render_inventory
from hakit.spec.inventory import load_inventory
from support import require_binaries, require_root

REPO = Path(__file__).parents[2]

HELP = """\
Variables (--variable-name=value)
and boolean options {FALSE|TRUE}                             Value (after reading options)
------------------------------------------------------------ -------------
back-log                                                     80
bind-address                                                 10.0.0.1,10.0.0.9

To see what values a running MariaDB server is using, type
"""


def test_effective_options_and_what_changed() -> None:
    before = effective_options(HELP)
    assert before == {"back-log": "80", "bind-address": "10.0.0.1,10.0.0.9"}
    after = dict(before, **{"back-log": "120", "max-connections": "100"})
    assert changed_options(before, after) == ["back-log: 80 -> 120", "max-connections: (unset) -> 100"]
    assert changed_options(before, before) == []


def test_error_lines_count_even_when_mariadbd_exits_0() -> None:
    stderr = (
        "2026-12-07 19:32:37 0 [Warning] Could not increase number of max_open_files\n"
        "2026-12-07 19:32:37 0 [ERROR] mariadbd: Error while setting value 'abc' to 'innodb-log-file-size'\n"
    )
    assert option_errors(stderr) == ["mariadbd: Error while setting value 'abc' to 'innodb-log-file-size'"]


def test_replication_judgement() -> None:
    healthy = slave_status(
        "*************************** 1. row ***************************\n"
        "   Slave_IO_Running: Yes\n  Slave_SQL_Running: Yes\nSeconds_Behind_Master: 0\n"
    )
    assert replication_problems(healthy, max_lag=5) == []
    assert replication_problems(dict(healthy, Seconds_Behind_Master="9"), 5) == [
        "replication lag 9 s (bound 5 s)"
    ]
    stopped = dict(healthy, Slave_SQL_Running="No", Seconds_Behind_Master="NULL")
    assert replication_problems(stopped, 5) == ["replication SQL thread No (stopped)"]
    broken = dict(stopped, Last_SQL_Error="Duplicate entry '7' for key 'PRIMARY'")
    assert replication_problems(broken, 5) == [
        "replication SQL thread No (Duplicate entry '7' for key 'PRIMARY')"
    ]
    assert replication_problems({}, 5) == ["no replication configured (run the pair's bootstrap script)"]
    assert domain_position("1-11-40,2-12-7", "2") == "2-12-7"
    assert domain_position("1-11-40", "2") == ""


def _db(tmp_path: Path) -> Db:
    params = {"state_dir": str(tmp_path), "db": mariadb_paths("main"), "vips": [], "restart": "false"}
    params |= {"max_lag": 5, "gtid": "", "timeout": 5.0, "label": "", "settle": False}
    return Db(params)


@pytest.mark.parametrize(
    ("option", "error"),
    [
        ("innodb_buffer_pool_size = 64Q", "Unknown suffix 'Q'"),  # mariadbd exits 0 on this one
        ("back_lgo = 120", "unknown variable 'back_lgo=120'"),
        ("binlog_format = FOO", "Error while setting value 'FOO' to 'binlog_format'"),
    ],
)
def test_validate_refuses_what_mariadbd_refuses(tmp_path: Path, option: str, error: str) -> None:
    require_root()  # the candidate covers /etc/mysql in a private mount namespace
    require_binaries("mariadbd", "unshare")
    staged = tmp_path / "staging/etc/mysql/mariadb.conf.d/60-hakit-main.cnf"
    staged.parent.mkdir(parents=True)
    staged.write_text(f"[mariadbd]\n{option}\n")
    with pytest.raises(StepError, match="on the new options: .*" + error.replace("(", r"\(")):
        _db(tmp_path).validate()


def test_validate_names_the_options_that_need_a_restart(tmp_path: Path) -> None:
    require_root()
    require_binaries("mariadbd", "unshare")
    staged = tmp_path / "staging/etc/mysql/mariadb.conf.d/60-hakit-main.cnf"
    staged.parent.mkdir(parents=True)
    staged.write_text("# only a comment\n[mariadbd]\n")
    assert _db(tmp_path).validate()["restart"] is False
    staged.write_text("[mariadbd]\nback_log = 123\n")
    result = _db(tmp_path).validate()
    assert result["restart"] is True
    assert next(line for line in result["options"] if line.startswith("back-log:")).endswith("-> 123")


def test_db_groups_carry_the_paths_the_steps_use(tmp_path: Path) -> None:
    inv = load_inventory(REPO / "examples/inventory.yaml")
    rendered = render_inventory(inv, source="x")
    tree = {h: {p: f.content for p, f in files.items()} for h, files in rendered.items()}
    out = ansible_inventory(inv, tree, tree_dir=tmp_path)
    group = out["all"]["children"]["hakit_deploy"]["children"]["hakit_db_shop"]["vars"]
    paths = group["hakit_mariadb"]
    assert paths["cnf"].lstrip("/") in tree["db1"]
    assert paths["sysctl"].lstrip("/") in tree["db1"]
    # keepalived watches the maintenance file and records its state where hakit_db reads it.
    keepalived = tree["db1"]["etc/keepalived/keepalived.conf"]
    assert f'file "{paths["maintenance"]}"' in keepalived
    assert paths["vrrp_state"] == "/run/keepalived/hakit/mariadb_shop"
    assert 'notify "/etc/keepalived/scripts/vrrp_notify.sh /run/keepalived/hakit ' in keepalived
    assert "vrrp_instance mariadb_shop {" in keepalived


class _ScriptedDb(Db):
    """A Db whose SQL answers come from a script (the settle loop without a server)."""

    def __init__(self, tmp_path: Path, answers: list[str]) -> None:
        super().__init__({**_db(tmp_path).p, "settle": True})
        self.answers = answers

    def sql(self, query: str, vertical: bool = False, timeout: float = 10) -> str:
        if "gtid_domain_id" in query:
            return "1\n"
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_settled_position_watches_only_the_own_domain(tmp_path: Path) -> None:
    """The peer's replicated writes keep moving domain 2 in this binlog; domain 1 settling is enough."""
    moving = [f"1-11-{own},2-12-{n}" for n, own in enumerate([40, 41, 41, 41, 41, 41, 41, 41, 41, 41], 1)]
    started = time.monotonic()
    assert _ScriptedDb(tmp_path, moving).position() == {"domain": "1", "gtid": "1-11-41"}
    assert time.monotonic() - started < 2  # the timeout is 5 s: it did not wait for domain 2 to stop
