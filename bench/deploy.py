"""Deploy benchmark: `hakit deploy` against a plain hand-written playbook on labs of 2, 4 and 8 nodes (root).

Each lab is a HAProxy + keepalived cluster whose nodes are SSH hosts (real sshd, real daemons). For each
size, the same kind of change (a server weight) is pushed twice: once by `hakit deploy` (pre-flight, one node
at a time, staging + validation on the host, atomic swap, reload, health gate, VIP and probe checks) and
once by the playbook most people write (copy with `validate:` + a reload handler, every node at once).
The ratio is the price of the safety steps. Requests through the VIP are counted during both pushes.
Usage: `python bench/deploy.py [--sizes 2,4,8]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hakit.deploy.runner import ansible_playbook, write_config
from hakit.lab.load import LoadConfig
from hakit.lab.runtime import Lab
from hakit.lab.sshd import LabSsh, create_deploy_lab
from hakit.spec.inventory import load_inventory
from rich.console import Console
from rich.table import Table

HAKIT = str(Path(sys.executable).parent / "hakit")

PLAIN_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: haproxy.cfg
      ansible.builtin.copy:
        src: "{{ tree }}/{{ inventory_hostname }}/etc/haproxy/haproxy.cfg"
        dest: /etc/haproxy/haproxy.cfg
        mode: preserve
        validate: haproxy -c -f %s
      notify: reload haproxy
    - name: keepalived.conf
      ansible.builtin.copy:
        src: "{{ tree }}/{{ inventory_hostname }}/etc/keepalived/keepalived.conf"
        dest: /etc/keepalived/keepalived.conf
        mode: preserve
        validate: keepalived -t -f %s
      notify: reload keepalived
  handlers:
    - name: reload haproxy
      ansible.builtin.shell: "{{ hakit_reload.haproxy }}"
    - name: reload keepalived
      ansible.builtin.shell: "{{ hakit_reload.keepalived }}"
"""


def inventory_text(nodes: int, weight: int) -> str:
    """A lab cluster of `nodes` HAProxy nodes (priorities 200, 190, ...) with two web servers."""
    hosts = "".join(
        f"  lb{i}:\n    interfaces:\n      eth0: {{address: 198.18.0.{i + 1}/24}}\n"
        for i in range(1, nodes + 1)
    )
    members = "".join(f"      lb{i}: {{priority: {210 - 10 * i}}}\n" for i in range(1, nodes + 1))
    return (
        "version: 1\nhosts:\n" + hosts + "load_balancers:\n  web:\n    nodes:\n" + members + "    vrrp:\n"
        "      advert_int: 0.1\n"
        "      track_proxy: {interval: 1s, timeout: 1s, fall: 2, rise: 2}\n"
        "      instances:\n        vi_web: {interface: eth0, vrid: 51, vips: [198.18.0.100/24]}\n"
        "    proxy:\n      kind: haproxy\n"
        "      frontends:\n        www: {addresses: [198.18.0.100], port: 80, backend: app}\n"
        "      backends:\n        app:\n          servers:\n"
        f"            web1: {{address: 198.18.0.201, port: 8080, weight: {weight}}}\n"
        "            web2: {address: 198.18.0.202, port: 8080}\n"
        "          health_check: {path: /healthz, interval: 200ms, timeout: 200ms, fall: 2, rise: 2}\n"
        "      timeouts: {connect: 200ms, server: 1s, http_keep_alive: 5s}\n"
        # HAProxy needs 2 descriptors per connection; the hard limit here is 20000.
        "      max_connections: 4000\n"
    )


def hakit_push(lab: Lab, ssh: LabSsh, inventory: Path) -> float:
    """Seconds `hakit deploy` takes to push `inventory` to every node."""
    argv = ["ip", "netns", "exec", lab.client_ns, HAKIT, "deploy", str(inventory), "--yes", "--json"]
    argv += ["-i", str(ssh.write_overlay()), "--forks", "10"]
    began = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    elapsed = time.monotonic() - began
    if result.returncode != 0:
        raise SystemExit(f"hakit deploy failed: {result.stderr.strip().splitlines()[-1:]}")
    return elapsed


def plain_push(lab: Lab, ssh: LabSsh, inventory: Path, workdir: Path) -> float:
    """Seconds the hand-written playbook takes for the same copy + reload (rendered with `hakit render`)."""
    tree = workdir / "plain-tree"
    subprocess.run(
        [HAKIT, "render", str(inventory), "-o", str(tree), "--validate=no"], check=True, capture_output=True
    )
    inv = workdir / "plain-inventory.json"
    hosts = {n.name: {"ansible_host": n.interfaces[0].addresses[0].split("/")[0]} for n in lab.plan.nodes}
    inv.write_text(
        json.dumps(
            {
                "all": {
                    "hosts": hosts,
                    "vars": {"ansible_user": "root", "ansible_python_interpreter": "/usr/bin/python3"},
                }
            }
        )
    )
    playbook = workdir / "plain.yml"
    playbook.write_text(PLAIN_PLAYBOOK)
    cfg = write_config(workdir, forks=10).read_text().replace("stdout_callback = hakit_events\n", "")
    (workdir / "plain.cfg").write_text(cfg)
    (workdir / "tmp").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(workdir / "plain.cfg")
    argv = [
        "ip",
        "netns",
        "exec",
        lab.client_ns,
        ansible_playbook(),
        "-i",
        str(inv),
        "-i",
        str(ssh.write_overlay()),
    ]
    argv += [str(playbook), "-e", f"tree={tree}"]
    began = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False, env=env)
    elapsed = time.monotonic() - began
    if result.returncode != 0:
        raise SystemExit(f"plain playbook failed: {result.stdout[-2000:]}")
    return elapsed


def measure(nodes: int) -> dict[str, float]:
    """One lab of `nodes` nodes: both pushes under load, with their times and failed requests."""
    base = Path(f"/var/tmp/hakit-bench-deploy-{os.getpid()}")
    base.mkdir(parents=True, exist_ok=True)
    first = base / f"inv-{nodes}.yaml"
    first.write_text(inventory_text(nodes, 100))
    lab, ssh = create_deploy_lab(load_inventory(first), "web", source=str(first))
    try:
        results: dict[str, float] = {}
        for name, weight in (("hakit", 60), ("plain", 30)):
            changed = base / f"inv-{nodes}-{name}.yaml"
            changed.write_text(inventory_text(nodes, weight))
            load_config = LoadConfig(
                lab.plan.vip,
                lab.plan.port,
                keepalive=2,
                keepalive_interval_ms=20,
                new_interval_ms=20,
                max_requests=400_000,
                max_seconds=1800,
            )
            load = lab.start_load(load_config)
            if name == "hakit":
                results[name] = hakit_push(lab, ssh, changed)
            else:
                results[name] = plain_push(lab, ssh, changed, lab.workdir)
            records = load.stop()
            results[f"{name}_failed"] = sum(1 for r in records if r[3] != 200)
            results[f"{name}_sent"] = len(records)
        return results
    finally:
        lab.remove()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    """Run the sizes and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,4,8")
    args = parser.parse_args()
    table = Table(title="hakit deploy vs a plain copy+validate+handler playbook (lab, real sshd)")
    for column in (
        "nodes",
        "hakit s",
        "hakit s/node",
        "plain s",
        "plain s/node",
        "ratio",
        "failed hakit/plain",
    ):
        table.add_column(column, justify="right")
    for size in (int(part) for part in args.sizes.split(",")):
        found = measure(size)
        table.add_row(
            str(size),
            f"{found['hakit']:.1f}",
            f"{found['hakit'] / size:.1f}",
            f"{found['plain']:.1f}",
            f"{found['plain'] / size:.1f}",
            f"{found['hakit'] / found['plain']:.1f}x",
            f"{found['hakit_failed']:.0f}/{found['plain_failed']:.0f}"
            f" of {found['hakit_sent']:.0f}/{found['plain_sent']:.0f}",
        )
    load = os.getloadavg()[0]
    Console().print(table)
    Console().print(f"load average during the run: {load:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
