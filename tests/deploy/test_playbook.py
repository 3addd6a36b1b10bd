"""The shipped playbook parses with ansible-core; the event fold and the secret mask of the runner."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from hakit.commands.deploy import secret_values
from hakit.deploy import PLAYBOOK_DIR
from hakit.deploy.runner import Progress, ansible_playbook, masked
from hakit.spec.inventory import load_inventory

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory.yaml"


def test_shipped_playbook_passes_ansible_syntax_check(tmp_path: Path) -> None:
    for name in ("site.yml", "node.yml", "library/hakit_node.py", "filter_plugins/hakit_rollout.py"):
        assert (PLAYBOOK_DIR / name).is_file(), name
    inventory = tmp_path / "inv.json"
    inventory.write_text(json.dumps({"all": {"children": {"hakit_deploy": {"hosts": {"a": {}}}}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_LOCAL_TEMP"] = str(tmp_path)
    proc = subprocess.run(
        [ansible_playbook(), "--syntax-check", "-i", str(inventory), str(PLAYBOOK_DIR / "site.yml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_progress_names_the_failed_step_once() -> None:
    progress = Progress()
    events = [
        {"event": "start", "host": "lb2", "task": "validate"},
        {"event": "result", "status": "failed", "host": "lb2", "task": "validate", "msg": "haproxy -c: x"},
        {"event": "result", "status": "ok", "host": "lb2", "task": "rollback", "changed": False},
        {"event": "result", "status": "failed", "host": "lb2", "task": "failed", "msg": "lb2: validate: x\n"},
    ]
    for event in events:
        progress.apply(event)
    assert progress.hosts["lb2"].steps == {"validate": "failed", "rollback": "ok"}
    assert progress.failure == "lb2: validate: x"
    unreachable = Progress()
    unreachable.apply(
        {"event": "result", "status": "unreachable", "host": "lb1", "task": "preflight", "msg": "no"}
    )
    assert unreachable.failure == "lb1: preflight: no"


def test_every_inventory_secret_is_masked(tmp_path: Path) -> None:
    stats = "stats: {address: 127.0.0.1, port: 8404"
    text = EXAMPLE.read_text().replace(stats, stats + ", user: a, password: S3cr-et1", 1)
    (tmp_path / "inv.yaml").write_text(text)
    secrets = secret_values(load_inventory(tmp_path / "inv.yaml"))
    assert secrets == ["S3cr-et1"]
    line = " ".join(f"x{secret}y" for secret in secrets)
    cleaned = masked(line, secrets)
    assert not any(secret in cleaned for secret in secrets)


def test_ssh_connection_sharing_is_private_to_the_run(tmp_path: Path) -> None:
    """Labs reuse addresses in other namespaces: a shared ControlPath sent commands to the wrong one."""
    from hakit.deploy.runner import write_config

    text = write_config(tmp_path, forks=5).read_text()
    assert f"control_path_dir = {tmp_path / 'cp'}" in text
    assert "pipelining = True" in text and "ControlPersist" in text


def test_every_progress_column_is_a_task_of_the_shipped_playbook() -> None:
    """A renamed task would leave its column empty forever: the columns are checked against the YAML."""
    import yaml
    from hakit.deploy import PLAYBOOK_DIR
    from hakit.deploy.runner import STEPS

    def names(tasks: list[dict[str, object]]) -> set[str]:
        found = set()
        for task in tasks:
            found.add(str(task.get("name")))
            for key in ("block", "rescue", "always", "tasks"):
                found |= names(task.get(key, []))  # type: ignore[arg-type]
        return found

    tasks: set[str] = set()
    for path in PLAYBOOK_DIR.glob("*.yml"):
        tasks |= names(yaml.safe_load(path.read_text()))
    assert set(STEPS) <= tasks, set(STEPS) - tasks


def test_mariadb_columns_appear_only_when_a_database_node_reaches_them() -> None:
    from hakit.commands.deploy import progress_table

    progress = Progress()
    progress.apply({"event": "result", "status": "ok", "host": "lb1", "task": "reload", "changed": True})
    assert "restart" not in [c.header for c in progress_table(progress).columns]
    for task in ("drain", "restart"):
        progress.apply({"event": "result", "status": "ok", "host": "db1", "task": task, "changed": True})
    headers = [c.header for c in progress_table(progress).columns]
    assert headers.index("reload") < headers.index("drain") < headers.index("restart") < headers.index("gate")
    assert progress.hosts["db1"].steps == {"drain": "changed", "restart": "changed"}


def test_push_plays_order_nodes_whatever_order_their_facts_came_back_in() -> None:
    """A fresh pair goes highest priority first, a running one BACKUPs first and the holder last."""
    from hakit.deploy.playbook.filter_plugins.hakit_rollout import hakit_push_plays

    vrrp = {"hakit_vrrp": {"VI_1": ["10.0.0.100"]}}
    fresh = {
        "lb2": {**vrrp, "pre": {"holds": {"VI_1": False}}},
        "lb1": {**vrrp, "pre": {"holds": {"VI_1": False}}},
    }
    groups = {"hakit_lb_web": ["lb2", "lb1"], "hakit_deploy": ["lb2", "lb1"], "all": ["lb1", "lb2"]}
    assert hakit_push_plays(fresh, groups, "pre", ["lb1", "lb2"]) == [
        {"host": "lb1", "play": "hakit_fresh"},
        {"host": "lb2", "play": "hakit_fresh"},
    ]
    running = {**fresh, "lb1": {**vrrp, "pre": {"holds": {"VI_1": True}}}}
    assert hakit_push_plays(running, groups, "pre", ["lb1", "lb2"]) == [
        {"host": "lb2", "play": "hakit_first"},
        {"host": "lb1", "play": "hakit_last"},
    ]
    assert hakit_push_plays(running, groups, "pre", ["lb1"])[0] == {"host": "lb2", "play": "hakit_skip"}
