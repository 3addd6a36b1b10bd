"""Benchmark: render and validate synthetic inventories of 10, 100 and 1000 hosts, against ansible-core.

Prints two tables:
  1. hakit: hosts/s for rendering (from the model, and YAML load + validation + render), and for
     validation with the real daemons with and without hash dedupe;
  2. the same keepalived + proxy configs rendered by ansible-core's `template` module (local
     connection, same Jinja2 templates, same variables) on a few hosts, with the speed ratio and
     whether the output is byte-identical.

Usage: .venv/bin/python bench/render.py [--sizes 10,100,1000] [--ansible-hosts 10]
       [--no-validate] [--no-ansible]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hakit.paths import templates_dir
from hakit.render import render_inventory
from hakit.render.haproxy import haproxy_context
from hakit.render.keepalived import keepalived_context
from hakit.render.nginx import nginx_context
from hakit.render.validate import unavailable_reason, validate_tree
from hakit.spec.inventory import Inventory, load_inventory
from rich.console import Console
from rich.table import Table
from ruamel.yaml import YAML

console = Console(highlight=False)
SOURCE = "bench/synthetic.yaml"


def synthetic_inventory(hosts: int) -> dict[str, Any]:
    """`hosts` load balancers in pairs, alternating HAProxy and nginx, one /24 per pair in 198.18.0.0/15."""
    data: dict[str, Any] = {"version": 1, "hosts": {}, "load_balancers": {}}
    for pair in range(hosts // 2):
        net = f"198.{18 + pair // 256}.{pair % 256}"
        nodes = {}
        for n in (1, 2):
            name = f"lb{pair:04d}{'ab'[n - 1]}"
            data["hosts"][name] = {"interfaces": {"eth0": {"address": f"{net}.{10 + n}/24"}}}
            nodes[name] = {"priority": 200 - 50 * n}
        kind = "haproxy" if pair % 2 == 0 else "nginx"
        data["load_balancers"][f"c{pair:04d}"] = {
            "nodes": nodes,
            "vrrp": {
                "version": 3,
                "advert_int": 0.5,
                "instances": {"VI_1": {"interface": "eth0", "vrid": 51, "vips": [f"{net}.100/24"]}},
            },
            "proxy": {
                "kind": kind,
                "frontends": {
                    "www": {
                        "addresses": [f"{net}.100"],
                        "port": 80,
                        "backend": "app",
                        "rate_limit": {"requests": 100},
                    }
                },
                "backends": {
                    "app": {
                        "servers": {
                            "app1": {"address": f"{net}.21", "port": 8080},
                            "app2": {"address": f"{net}.22", "port": 8080},
                            "sorry": {"address": f"{net}.30", "port": 8080, "backup": True},
                        }
                    }
                },
            },
        }
    return data


def _yaml_text(data: dict[str, Any]) -> str:
    buffer = io.StringIO()
    YAML().dump(data, buffer)
    return buffer.getvalue()


def _best_of(runs: int, action: Any) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def bench_hakit(sizes: list[int], validate: bool, workdir: Path) -> None:
    table = Table(title="hakit: render and validate (hosts/s)", header_style="bold")
    for column in (
        "hosts",
        "render",
        "load+render",
        "configs (distinct)",
        "validate, dedupe",
        "validate, no dedupe",
    ):
        table.add_column(column, justify="right")
    reason = next((r for d in ("haproxy", "keepalived", "nginx") if (r := unavailable_reason(d))), None)
    if validate and reason:
        console.print(f"validation not measured: {reason}")
        validate = False
    for size in sizes:
        data = synthetic_inventory(size)
        path = workdir / f"inventory-{size}.yaml"
        path.write_text(_yaml_text(data), encoding="utf-8")
        inv = Inventory.model_validate(data)
        runs = 5 if size <= 100 else 3
        render_s = _best_of(runs, lambda inv=inv: render_inventory(inv, source=SOURCE))
        full_s = _best_of(runs, lambda path=path: render_inventory(load_inventory(path), source=SOURCE))
        tree = render_inventory(inv, source=SOURCE)
        cells = [str(size), f"{size / render_s:,.0f}", f"{size / full_s:,.0f}"]
        if validate:
            deduped = validate_tree(tree)
            plain = validate_tree(tree, dedupe=False)
            assert deduped.ok and plain.ok, deduped.failures or plain.failures
            cells.append(f"{len(deduped.results)} ({deduped.runs})")
            cells.append(f"{size / deduped.seconds:,.0f}  ({deduped.seconds:.1f}s, {deduped.runs} runs)")
            cells.append(f"{size / plain.seconds:,.0f}  ({plain.seconds:.1f}s, {plain.runs} runs)")
        else:
            cells += ["-", "-", "-"]
        table.add_row(*cells)
        console.print(f"  measured {size} hosts", style="dim")
    console.print(table)


def _ansible_playbook(workdir: Path, inv: Inventory, hosts: list[str]) -> tuple[Path, Path]:
    """An inventory + playbook that renders keepalived.conf and the proxy config with `template`."""
    host_vars = workdir / "host_vars"
    host_vars.mkdir(parents=True, exist_ok=True)
    keepalived_keys: set[str] = set()
    proxy_keys: set[str] = set()
    for cluster_name, cluster in inv.load_balancers.items():
        proxy = cluster.proxy
        builder = haproxy_context if proxy.kind == "haproxy" else nginx_context
        proxy_ctx = builder(proxy, cluster_name, source=SOURCE, root="")
        for node in cluster.nodes:
            if node not in hosts:
                continue
            keep_ctx = keepalived_context(inv, cluster_name, node, source=SOURCE, root="")
            keepalived_keys |= set(keep_ctx)
            proxy_keys |= set(proxy_ctx)
            template = "haproxy/haproxy.cfg.j2" if proxy.kind == "haproxy" else "nginx/nginx.conf.j2"
            target = "etc/haproxy/haproxy.cfg" if proxy.kind == "haproxy" else "etc/nginx/nginx.conf"
            variables = {"k": keep_ctx, "p": proxy_ctx, "proxy_template": template, "proxy_target": target}
            (host_vars / f"{node}.json").write_text(json.dumps(variables), encoding="utf-8")
    inventory = workdir / "hosts.ini"
    python = sys.executable
    inventory.write_text(
        "[lbs]\n"
        + "".join(f"{h} ansible_connection=local ansible_python_interpreter={python}\n" for h in hosts)
    )
    out = workdir / "ansible-out"

    def task(name: str, src: str, dest: str, prefix: str, keys: set[str]) -> dict[str, Any]:
        return {
            "name": name,
            "ansible.builtin.template": {
                "src": src,
                "dest": f"{out}/{{{{ inventory_hostname }}}}/{dest}",
                "lstrip_blocks": True,
                "trim_blocks": True,
                "mode": "0644",
            },
            "vars": {key: f"{{{{ {prefix}.{key} }}}}" for key in sorted(keys)},
        }

    templates = templates_dir()
    playbook = [
        {
            "hosts": "lbs",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "directories",
                    "ansible.builtin.file": {
                        "path": f"{out}/{{{{ inventory_hostname }}}}/{{{{ d }}}}",
                        "state": "directory",
                    },
                    "loop": ["etc/keepalived", "etc/haproxy", "etc/nginx"],
                    "loop_control": {"loop_var": "d"},
                },
                task(
                    "keepalived.conf",
                    f"{templates}/keepalived/keepalived.conf.j2",
                    "etc/keepalived/keepalived.conf",
                    "k",
                    keepalived_keys,
                ),
                task(
                    "proxy config",
                    f"{templates}/{{{{ proxy_template }}}}",
                    "{{ proxy_target }}",
                    "p",
                    proxy_keys,
                ),
            ],
        }
    ]
    book = workdir / "render.yml"
    book.write_text(json.dumps(playbook, indent=1), encoding="utf-8")
    return inventory, book


def bench_ansible(hosts_count: int, workdir: Path) -> None:
    playbook_bin = Path(sys.executable).parent / "ansible-playbook"
    if not playbook_bin.exists():
        console.print("ansible-core is not installed (the `bench` extra): Ansible side skipped")
        return
    inv = Inventory.model_validate(synthetic_inventory(max(hosts_count, 2)))
    hosts = sorted(inv.hosts)[:hosts_count]
    ansible_dir = workdir / "ansible"
    inventory, book = _ansible_playbook(ansible_dir, inv, hosts)
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_LOCAL_TEMP": str(ansible_dir / "tmp"),
            "ANSIBLE_REMOTE_TEMP": str(ansible_dir / "tmp"),
            "ANSIBLE_HOME": str(ansible_dir / "home"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
        }
    )
    started = time.perf_counter()
    done = subprocess.run(
        [str(playbook_bin), "-i", str(inventory), str(book)],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    ansible_s = time.perf_counter() - started
    if done.returncode != 0:
        console.print(f"ansible-playbook failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
        return
    tree = render_inventory(inv, source=SOURCE)
    hakit_s = _best_of(5, lambda: render_inventory(inv, source=SOURCE))
    hakit_rate = len(inv.hosts) / hakit_s
    identical = 0
    compared = 0
    for host in hosts:
        for path in ("etc/keepalived/keepalived.conf", "etc/haproxy/haproxy.cfg", "etc/nginx/nginx.conf"):
            if path in tree[host]:
                compared += 1
                produced = (ansible_dir / "ansible-out" / host / path).read_text(encoding="utf-8")
                identical += produced == tree[host][path].content
    table = Table(
        title="hakit vs ansible-core `template` (same templates and variables)", header_style="bold"
    )
    for column in ("renderer", "hosts", "seconds", "hosts/s", "speed-up", "identical files"):
        table.add_column(column, justify="right")
    ansible_rate = len(hosts) / ansible_s
    table.add_row(
        "ansible-core",
        str(len(hosts)),
        f"{ansible_s:.1f}",
        f"{ansible_rate:.2f}",
        "1x",
        f"{identical}/{compared}",
    )
    table.add_row(
        "hakit",
        str(len(inv.hosts)),
        f"{hakit_s:.4f}",
        f"{hakit_rate:,.0f}",
        f"{hakit_rate / ansible_rate:,.0f}x",
        "-",
    )
    console.print(table)


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,100,1000", help="host counts, comma separated")
    parser.add_argument(
        "--ansible-hosts", type=int, default=10, help="hosts rendered by ansible-core (10-50)"
    )
    parser.add_argument("--no-validate", action="store_true", help="skip the daemon validation columns")
    parser.add_argument("--no-ansible", action="store_true", help="skip the ansible-core comparison")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="hakit-bench-"))
    try:
        console.print(f"CPUs: {os.cpu_count()}; python {sys.version.split()[0]}")
        bench_hakit(sizes, not args.no_validate, workdir)
        if not args.no_ansible:
            bench_ansible(args.ansible_hosts, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
