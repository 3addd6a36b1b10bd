"""Benchmark: whole-process `hakit render` against plain Jinja2, a bad 5 MB inventory, validation against
the daemons' own time, and ansible-core's `template` module.

Prints, from one run on one machine:
  1. whole process, N hosts (median of R runs): plain Jinja2 (PyYAML CSafeLoader load of the same YAML,
     two templates per host, files written) against `hakit render --no-validate` into a fresh and into an
     existing OUT; goal: hakit within 1.5x;
  2. where hakit's time goes in-process (load, render, write);
  3. a ~5 MB inventory with one error: seconds to the one-line report and peak memory; goal: under 2 s;
  4. validation: the daemons' own time for the distinct configs (same parallelism, each daemon started
     directly inside a prepared namespace) against `validate_tree`'s wall time; goal: within 1.2x;
  5. the same keepalived + proxy configs rendered by ansible-core's `template` module on a few hosts.

Processes run with bytecode caching on (as an installed package has it), after one warm-up run.

Usage: .venv/bin/python bench/render.py [--hosts 1000] [--runs 3] [--big-mb 5] [--validate-hosts 100]
       [--ansible-hosts 10] [--no-validate] [--no-ansible] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from hakit.paths import templates_dir
from hakit.render import render_inventory, validate
from hakit.render.haproxy import haproxy_context, peer_addresses
from hakit.render.keepalived import keepalived_context
from hakit.render.netns import NetnsPool, inside_netns, keepalived_interfaces
from hakit.render.nginx import nginx_context
from hakit.render.sandbox import StandInCertificate, materialize
from hakit.render.tree import RenderedTree
from hakit.render.validate import unavailable_reason, validate_tree
from hakit.render.writer import write_tree
from hakit.spec.inventory import Inventory, load_inventory
from rich.console import Console
from rich.table import Table

console = Console(highlight=False)
SOURCE = "bench/synthetic.yaml"
PLAIN_JINJA = Path(__file__).with_name("plain_jinja.py")


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
    return yaml.safe_dump(data, sort_keys=False)


def _env() -> dict[str, str]:
    """The environment of timed processes: bytecode cached, as any installed package has it."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["NO_COLOR"] = "1"
    return env


def _run(command: list[str], *, expect: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=900, check=False)
    if done.returncode != expect:
        raise SystemExit(f"{' '.join(command)}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return done


def _timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _fs_type(path: Path) -> str:
    best = ("?", "")
    with open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if str(path.resolve()).startswith(fields[1]) and len(fields[1]) >= len(best[1]):
                best = (fields[2], fields[1])
    return best[0]


def bench_whole_process(hosts: int, runs: int, workdir: Path) -> None:
    """Whole-process hakit render against plain Jinja2 (same YAML, same host count, same machine)."""
    path = workdir / f"inventory-{hosts}.yaml"
    path.write_text(_yaml_text(synthetic_inventory(hosts)), encoding="utf-8")
    python = sys.executable
    plain_out = workdir / "plain-out"
    fresh_out = workdir / "hakit-fresh"
    replaced_out = workdir / "hakit-replace"
    render = [python, "-m", "hakit", "render", str(path), "--no-validate", "-o"]

    def plain() -> None:
        _run([python, str(PLAIN_JINJA), str(path), str(plain_out)])

    def hakit_fresh() -> None:
        _run([*render, str(fresh_out)])

    def hakit_replace() -> None:
        _run([*render, str(replaced_out)])

    sides: dict[str, tuple[Any, Path | None]] = {
        "plain Jinja2 (CSafeLoader + 2 templates, files written)": (plain, plain_out),
        "hakit render, new OUT": (hakit_fresh, fresh_out),
        "hakit render, replacing OUT": (hakit_replace, None),
        "  python + import hakit.cli": (lambda: _run([python, "-c", "import hakit.cli"]), None),
        "  python + import jinja2, yaml": (lambda: _run([python, "-c", "import jinja2, yaml"]), None),
    }
    samples: dict[str, list[float]] = {name: [] for name in sides}
    # OUT is rendered again and again in real use: the timed replacements find OUT, its spare and their
    # record (the first two replacements of a new OUT check the spare in full; "write (replace OUT)"
    # below is that steady state too).
    for _ in range(2):
        hakit_replace()
    for round_number in range(runs + 1):  # round 0 warms up: bytecode written, page cache warm
        # Interleaved: a load spike from elsewhere on the machine hits every side alike.
        for name, (action, fresh) in sides.items():
            if fresh is not None:
                shutil.rmtree(fresh, ignore_errors=True)
            seconds = _timed(action)
            if round_number:
                samples[name].append(seconds)
    median = {name: statistics.median(values) for name, values in samples.items()}
    table = Table(title=f"whole process, {hosts} hosts (median of {runs})", header_style="bold")
    for column in ("side", "seconds", "hosts/s", "vs plain Jinja2", "goal (<= 1.5x)"):
        table.add_column(column, justify="right")
    base = median[next(iter(sides))]
    for name, seconds in median.items():
        ratio = seconds / base
        goal = ("ok" if ratio <= 1.5 else "OVER") if name.startswith("hakit") else ""
        table.add_row(name, f"{seconds:.2f}", f"{hosts / seconds:,.0f}", f"{ratio:.2f}x", goal)
    console.print(table)
    plain_files = sum(1 for item in plain_out.rglob("*") if item.is_file())
    hakit_files = sum(1 for item in fresh_out.rglob("*") if item.is_file())
    console.print(
        f"  files written: plain {plain_files}, hakit {hakit_files}; {workdir} is on {_fs_type(workdir)}",
        markup=False,
    )
    bench_phases(path, hosts, runs, workdir)


def bench_phases(path: Path, hosts: int, runs: int, workdir: Path) -> None:
    """Where hakit's time goes, in-process (median of `runs`)."""
    inv = load_inventory(path)
    tree = render_inventory(inv, source=SOURCE)
    out = workdir / "phases-out"

    def no_out() -> None:
        for stale in (out, *workdir.glob(f".{out.name}.hakit-*")):
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink(missing_ok=True)

    def replaced() -> None:
        no_out()
        for _ in range(3):  # OUT, then its spare and their record: what repeated renders find
            write_tree(tree, out)

    # name -> (set-up, not timed; action, timed)
    phases: dict[str, tuple[Any, Any]] = {
        "load YAML + validate": (None, lambda: load_inventory(path)),
        "render": (None, lambda: render_inventory(inv, source=SOURCE)),
        "write (new OUT)": (no_out, lambda: write_tree(tree, out)),
        "write (replace OUT)": (replaced, lambda: write_tree(tree, out)),
    }
    files = sum(len(files) for files in tree.values())
    table = Table(title=f"hakit in-process phases, {hosts} hosts, {files} files", header_style="bold")
    cells = []
    for name, (setup, action) in phases.items():
        table.add_column(name, justify="right")
        samples = []
        for _ in range(runs):
            if setup is not None:
                setup()
            gc.disable()  # as `hakit render` runs these phases (see commands/render.py)
            try:
                samples.append(_timed(action))
            finally:
                gc.enable()
        cells.append(f"{statistics.median(samples):.2f}s")
    table.add_row(*cells)
    console.print(table)
    no_out()


def bench_bad_inventory(megabytes: float, runs: int, workdir: Path) -> None:
    """A large inventory with one error: reported in seconds, in bounded memory, as one line."""
    hosts = max(2, int(megabytes * 1_000_000 / 470) // 2 * 2)
    data = synthetic_inventory(hosts)
    clusters = list(data["load_balancers"].values())
    clusters[len(clusters) // 2]["proxy"]["backends"]["app"]["servers"]["app1"]["port"] = 99999
    path = workdir / "big-bad.yaml"
    path.write_text(_yaml_text(data), encoding="utf-8")
    command = [sys.executable, "-m", "hakit", "render", str(path), "-o", str(workdir / "big-out")]
    done = _run(command, expect=2)  # warm-up
    samples = [_timed(lambda: _run(command, expect=2)) for _ in range(runs)]
    seconds = statistics.median(samples)
    # The same file through PyYAML's C loader alone (no lines, no validation), in its own process.
    libyaml = _timed(
        lambda: _run(
            [
                sys.executable,
                "-c",
                "import sys, yaml; yaml.load(open(sys.argv[1]), yaml.CSafeLoader)",
                str(path),
            ]
        )
    )
    # The peak of the hakit process alone, started from a small Python: a child forked from this large
    # benchmark process counts the benchmark's resident memory in its own peak.
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True, check=False); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    measured = _run([sys.executable, "-c", probe, *command])
    peak_mb = int(measured.stdout.split()[-1]) / 1024
    lines = done.stderr.strip().splitlines()
    table = Table(title="inventory with one error", header_style="bold")
    columns = (
        "size",
        "hosts",
        f"seconds (median of {runs})",
        "min-max",
        "peak memory (hakit)",
        "stderr lines",
    )
    for column in (*columns, "goal (< 2 s)"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{path.stat().st_size / 1e6:.1f} MB",
        str(hosts),
        f"{seconds:.2f}",
        f"{min(samples):.2f}-{max(samples):.2f}",
        f"{peak_mb:.0f} MB",
        str(len(lines)),
        "ok" if seconds < 2 else "OVER",
    )
    console.print(table)
    console.print(f"  same file, PyYAML's CSafeLoader alone (no lines, no validation): {libyaml:.2f} s")
    console.print(f"  {lines[0] if lines else '(no message)'}", markup=False)


def bench_validation(hosts: int, workdir: Path) -> None:
    """The daemons' own time for the distinct configs against validate_tree's wall time."""
    reason = next((r for d in ("haproxy", "keepalived", "nginx") if (r := unavailable_reason(d))), None)
    if reason:
        console.print(f"validation not measured: {reason}")
        return
    tree = render_inventory(Inventory.model_validate(synthetic_inventory(hosts)), source=SOURCE)
    validate_tree(tree)  # warm-up: stand-in certificate, page cache
    hakit_s: list[float] = []
    floor: list[float] = []
    for round_number in range(2):  # interleaved: load from elsewhere hits both sides alike
        report = validate_tree(tree)
        assert report.ok, report.failures
        hakit_s.append(report.seconds)
        seconds, runs = daemons_alone(tree, workdir / f"alone-{round_number}")
        floor.append(seconds)
    floor_s, report.seconds = min(floor), min(hakit_s)
    table = Table(title=f"validation, {hosts} hosts, {os.cpu_count()} CPUs", header_style="bold")
    columns = (
        "configs",
        "distinct = runs",
        "daemons alone",
        "hakit validate_tree",
        "ratio",
        "goal (<= 1.2x)",
    )
    for column in columns:
        table.add_column(column, justify="right")
    ratio = report.seconds / floor_s
    table.add_row(
        str(len(report.results)),
        f"{runs} = {report.runs}",
        f"{floor_s:.2f}s",
        f"{report.seconds:.2f}s",
        f"{ratio:.2f}x",
        "ok" if ratio <= 1.2 else "OVER",
    )
    console.print(table)


def daemons_alone(tree: RenderedTree, workdir: Path) -> tuple[float, int]:
    """Each distinct config's daemon started directly, bundles written and namespaces made beforehand,
    with validate_tree's parallelism: the floor for validation. Returns (wall seconds, runs)."""
    jobs, _ = validate._jobs(tree)
    distinct = list({job.key: job for job in jobs}.values())
    interfaces: set[str] = set()
    for job in distinct:
        if job.daemon == "keepalived":
            interfaces |= keepalived_interfaces(dict(job.bundle)[validate.DAEMONS["keepalived"][0]].content)
    base = workdir
    base.mkdir()
    cert = StandInCertificate(base)
    prepared = []
    for index, job in enumerate(distinct):
        sandbox = base / f"{job.daemon}-{index}"
        sandbox.mkdir()
        config, _ = materialize(job.bundle, validate.DAEMONS[job.daemon][0], "", sandbox, cert)
        prepared.append((job.daemon, validate.daemon_command(job.daemon, config, sandbox)))
    workers = validate.worker_count(None, len(prepared))
    pool_size = min(workers, sum(daemon in validate.NEEDS_NETNS for daemon, _ in prepared))
    with NetnsPool(max(pool_size, 1), interfaces) as pool:

        def run(daemon: str, command: list[str]) -> None:
            if daemon in validate.NEEDS_NETNS:
                with pool.lease() as netns, inside_netns(netns):
                    subprocess.run(command, capture_output=True, check=True, timeout=60)
            else:
                subprocess.run(command, capture_output=True, check=True, timeout=60)

        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as executor:
            for future in [executor.submit(run, daemon, command) for daemon, command in prepared]:
                future.result()
        return time.perf_counter() - started, len(prepared)


def _ansible_playbook(workdir: Path, inv: Inventory, hosts: list[str]) -> tuple[Path, Path]:
    """An inventory + playbook that renders keepalived.conf and the proxy config with `template`."""
    host_vars = workdir / "host_vars"
    host_vars.mkdir(parents=True, exist_ok=True)
    keepalived_keys: set[str] = set()
    proxy_keys: set[str] = set()
    for cluster_name, cluster in inv.load_balancers.items():
        proxy = cluster.proxy
        for node in cluster.nodes:
            if node not in hosts:
                continue
            if proxy.kind == "haproxy":  # per node: with peers, haproxy.cfg names its local peer
                peers = peer_addresses(inv, cluster_name)
                proxy_ctx = haproxy_context(
                    proxy, cluster_name, source=SOURCE, root="", peers=peers, local_peer=node
                )
            else:
                proxy_ctx = nginx_context(proxy, cluster_name, source=SOURCE, root="")
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
    hakit_s = min(_timed(lambda: render_inventory(inv, source=SOURCE)) for _ in range(5))
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
    parser.add_argument("--hosts", type=int, default=1000, help="hosts of the whole-process comparison")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (the median is shown)")
    parser.add_argument("--big-mb", type=float, default=5.0, help="size of the inventory with one error")
    parser.add_argument("--validate-hosts", type=int, default=100, help="hosts of the validation comparison")
    parser.add_argument(
        "--ansible-hosts", type=int, default=10, help="hosts rendered by ansible-core (10-50)"
    )
    parser.add_argument("--no-validate", action="store_true", help="skip the validation comparison")
    parser.add_argument("--no-ansible", action="store_true", help="skip the ansible-core comparison")
    parser.add_argument("--workdir", type=Path, default=None, help="where inventories and outputs go")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hakit-bench-", dir=args.workdir))
    try:
        console.print(
            f"CPUs: {os.cpu_count()}; python {sys.version.split()[0]}; load {os.getloadavg()[0]:.1f}"
        )
        bench_whole_process(args.hosts, args.runs, workdir)
        bench_bad_inventory(args.big_mb, args.runs, workdir)
        if not args.no_validate:
            bench_validation(args.validate_hosts, workdir)
        if not args.no_ansible:
            bench_ansible(args.ansible_hosts, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
