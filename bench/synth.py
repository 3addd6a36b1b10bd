"""Synth cost of hakit components against the same pulumi_aws resources registered directly (the SDK floor).

Run: `.venv/bin/python bench/synth.py [--sizes 10 100 500] [--repeats 5]`

For each size N the program is a mix of LoadBalancer (8 resources), FailoverDns (2 records + k checks) and
FailoverCdn (4 resources) summing to exactly N custom resources; the raw program registers the same types
with the same inputs and output wiring, without components. Both run under the same mock harness
(`hakit.testing.synth`), alternately, and the median of the repeats is reported; CPU time is the main
figure (other processes on the machine do not inflate it), wall time is shown too. Then the import time
of the component modules in a fresh interpreter is compared with `import pulumi`, and `hakit plan --stack
ENV` is split into its phases (CLI import, Pulumi SDK import, components import, synth with the pulumi_aws
submodules it imports on first use, the same synth again with them loaded, the printed summary) in a fresh
interpreter, next to the whole command's wall time.
"""

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pulumi
from hakit.testing import ResourceGraph, synth

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/bench"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
Unit = tuple[str, int]  # (kind, number of health checks for dns)


def plan(size: int) -> list[Unit]:
    """Units whose resources add up to exactly `size` (16 per lb+dns+cdn service, then a remainder)."""
    units: list[Unit] = []
    left = size
    while left >= 16:
        units += [("lb", 0), ("dns", 2), ("cdn", 0)]
        left -= 16
    if left >= 8:
        units.append(("lb", 0))
        left -= 8
    if left >= 2:
        units.append(("dns", left - 2))
        left = 0
    if left:
        raise SystemExit(f"size {size}: cannot be made of 2-, 4- and 8-resource units")
    return units


# ---------------------------------------------------------------- through hakit components


def hakit_program(units: list[Unit]) -> Callable[[], None]:
    """The benchmark program written with hakit components."""

    def program() -> None:
        from hakit.components.cdn import FailoverCdn
        from hakit.components.dns import FailoverDns
        from hakit.components.loadbalancer import LoadBalancer

        for i, (kind, checks) in enumerate(units):
            if kind == "lb":
                LoadBalancer(
                    f"lb{i}",
                    {
                        "vpc_id": "vpc-1",
                        "subnet_ids": ["subnet-a", "subnet-b"],
                        "certificate_arn": CERT,
                        "target_security_group_ids": ["sg-app"],
                        "region": "us-east-1",
                    },
                )
            elif kind == "dns":
                FailoverDns(f"dns{i}", _dns_args(i, checks))
            else:
                FailoverCdn(
                    f"cdn{i}",
                    {
                        "primary": {"domain_name": f"origin{i}.example.com"},
                        "secondary": {"s3_bucket": f"degraded{i}", "s3_bucket_region": "eu-west-1"},
                        "aliases": [f"www{i}.example.com"],
                        "certificate_arn": CERT,
                    },
                )

    return program


def _dns_args(i: int, checks: int) -> Any:
    names = [f"c{j}" for j in range(checks)]
    alias = {"name": f"lb{i}.elb.amazonaws.com", "zone_id": "Z35SXDOTRQ7X7K"}
    return {
        "zone_id": "Z0BENCH",
        "name": f"app{i}.example.com",
        "health_checks": {
            n: {"type": "HTTPS", "fqdn": f"{n}.example.com", "path": "/healthz"} for n in names
        },
        "records": [
            {"role": "PRIMARY", "alias": alias, **({"health_check": names[0]} if names else {})},
            {"role": "SECONDARY", "alias": {**alias, "name": f"b{i}.elb.amazonaws.com"}},
        ],
    }


# ---------------------------------------------------------------- the same resources, registered directly


def raw_program(units: list[Unit], *, wrapped: bool = False) -> Callable[[], None]:
    """The same resources with pulumi_aws directly (same inputs, same output wiring, no components).

    `wrapped` puts each unit's resources under a bare ComponentResource (no outputs, no validation): the
    cost any component pays in the SDK, the floor for a component library.
    """

    def program() -> None:
        for i, (kind, checks) in enumerate(units):
            opts = None
            if wrapped:
                unit = pulumi.ComponentResource(f"bench:raw:{kind}", f"{kind}{i}", {})
                unit.register_outputs({})
                opts = pulumi.ResourceOptions(parent=unit)
            if kind == "lb":
                _raw_lb(f"lb{i}", opts)
            elif kind == "dns":
                _raw_dns(f"dns{i}", i, checks, opts)
            else:
                _raw_cdn(f"cdn{i}", i, opts)

    return program


def wrapped_program(units: list[Unit]) -> Callable[[], None]:
    """`raw_program` with each unit inside a bare component."""
    return raw_program(units, wrapped=True)


def _raw_lb(name: str, opts: pulumi.ResourceOptions | None) -> None:
    import pulumi_aws.ec2 as ec2
    import pulumi_aws.lb as lb
    import pulumi_aws.vpc as vpc

    tags = {"hakit:component": "raw", "hakit:name": name}
    sg = ec2.SecurityGroup(
        f"{name}-sg",
        vpc_id="vpc-1",
        description="lb",
        revoke_rules_on_delete=True,
        tags=tags,
        region="us-east-1",
        opts=opts,
    )
    for port in (80, 443):
        vpc.SecurityGroupIngressRule(
            f"{name}-in-{port}",
            security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            cidr_ipv4="0.0.0.0/0",
            description="in",
            region="us-east-1",
            opts=opts,
        )
    vpc.SecurityGroupEgressRule(
        f"{name}-out",
        security_group_id=sg.id,
        ip_protocol="tcp",
        from_port=80,
        to_port=80,
        referenced_security_group_id="sg-app",
        description="out",
        region="us-east-1",
        opts=opts,
    )
    balancer = lb.LoadBalancer(
        f"{name}-lb",
        load_balancer_type="application",
        internal=False,
        ip_address_type="ipv4",
        subnets=["subnet-a", "subnet-b"],
        security_groups=[sg.id],
        enable_deletion_protection=True,
        enable_zonal_shift=True,
        drop_invalid_header_fields=True,
        desync_mitigation_mode="defensive",
        idle_timeout=60,
        enable_http2=True,
        enable_waf_fail_open=False,
        tags=tags,
        region="us-east-1",
        opts=opts,
    )
    group = lb.TargetGroup(
        f"{name}-tg",
        vpc_id="vpc-1",
        port=80,
        protocol="HTTP",
        target_type="ip",
        deregistration_delay=30,
        health_check={
            "enabled": True,
            "protocol": "HTTP",
            "port": "traffic-port",
            "interval": 10,
            "timeout": 5,
            "healthy_threshold": 3,
            "unhealthy_threshold": 2,
            "path": "/healthz",
            "matcher": "200-399",
        },
        load_balancing_cross_zone_enabled="true",
        target_group_health={
            "dns_failover": {"minimum_healthy_targets_count": "1"},
            "unhealthy_state_routing": {"minimum_healthy_targets_count": 1},
        },
        protocol_version="HTTP1",
        slow_start=0,
        load_balancing_algorithm_type="weighted_random",
        load_balancing_anomaly_mitigation="on",
        tags=tags,
        region="us-east-1",
        opts=opts,
    )
    lb.Listener(
        f"{name}-http",
        load_balancer_arn=balancer.arn,
        port=80,
        protocol="HTTP",
        default_actions=[
            {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}}
        ],
        tags=tags,
        region="us-east-1",
        opts=opts,
    )
    lb.Listener(
        f"{name}-https",
        load_balancer_arn=balancer.arn,
        port=443,
        protocol="HTTPS",
        ssl_policy=TLS_POLICY,
        certificate_arn=CERT,
        default_actions=[{"type": "forward", "target_group_arn": group.arn}],
        tags=tags,
        region="us-east-1",
        opts=opts,
    )


def _raw_dns(name: str, i: int, checks: int, opts: pulumi.ResourceOptions | None) -> None:
    import pulumi_aws.route53 as route53

    created = [
        route53.HealthCheck(
            f"{name}-hc-c{j}",
            type="HTTPS",
            fqdn=f"c{j}.example.com",
            port=443,
            resource_path="/healthz",
            request_interval=10,
            failure_threshold=3,
            enable_sni=True,
            measure_latency=False,
            invert_healthcheck=False,
            tags={"Name": f"{name}-c{j}"},
            opts=opts,
        )
        for j in range(checks)
    ]
    for role, target in (("PRIMARY", f"lb{i}"), ("SECONDARY", f"b{i}")):
        extra: dict[str, Any] = {"health_check_id": created[0].id} if created and role == "PRIMARY" else {}
        route53.Record(
            f"{name}-{role.lower()}",
            zone_id="Z0BENCH",
            name=f"app{i}.example.com",
            type="A",
            set_identifier=role.lower(),
            failover_routing_policies=[{"type": role}],
            aliases=[
                {
                    "name": f"{target}.elb.amazonaws.com",
                    "zone_id": "Z35SXDOTRQ7X7K",
                    "evaluate_target_health": True,
                }
            ],
            **extra,
            opts=opts,
        )


def _raw_cdn(name: str, i: int, opts: pulumi.ResourceOptions | None) -> None:
    import pulumi_aws.cloudfront as cloudfront
    import pulumi_aws.s3 as s3

    oac = cloudfront.OriginAccessControl(
        f"{name}-oac",
        origin_access_control_origin_type="s3",
        signing_behavior="always",
        signing_protocol="sigv4",
        opts=opts,
    )
    behavior: Any = {
        "target_origin_id": "failover",
        "viewer_protocol_policy": "redirect-to-https",
        "allowed_methods": ["GET", "HEAD", "OPTIONS"],
        "cached_methods": ["GET", "HEAD"],
        "compress": True,
        "cache_policy_id": "4cc15a8a-d715-48a4-82b8-cc0b614638fe",
        "origin_request_policy_id": "b689b0a8-53d0-40ab-baf2-68738e2966ac",
        "response_headers_policy_id": "67f7725c-6f97-4210-82d7-5512b31e9d03",
    }
    distribution = cloudfront.Distribution(
        f"{name}-cdn",
        enabled=True,
        is_ipv6_enabled=True,
        http_version="http2and3",
        price_class="PriceClass_All",
        aliases=[f"www{i}.example.com"],
        origins=[
            {
                "origin_id": "primary",
                "domain_name": f"origin{i}.example.com",
                "connection_attempts": 2,
                "connection_timeout": 3,
                "custom_origin_config": {
                    "http_port": 80,
                    "https_port": 443,
                    "origin_protocol_policy": "https-only",
                    "origin_ssl_protocols": ["TLSv1.2"],
                    "origin_read_timeout": 30,
                    "origin_keepalive_timeout": 5,
                },
            },
            {
                "origin_id": "secondary",
                "domain_name": f"degraded{i}.s3.eu-west-1.amazonaws.com",
                "connection_attempts": 2,
                "connection_timeout": 3,
                "origin_access_control_id": oac.id,
            },
        ],
        origin_groups=[
            {
                "origin_id": "failover",
                "failover_criteria": {"status_codes": [500, 502, 503, 504]},
                "members": [{"origin_id": "primary"}, {"origin_id": "secondary"}],
            }
        ],
        default_cache_behavior=behavior,
        custom_error_responses=[
            {
                "error_code": c,
                "response_code": 503,
                "response_page_path": "/degraded.html",
                "error_caching_min_ttl": 10,
            }
            for c in (500, 502, 503, 504)
        ],
        viewer_certificate={
            "acm_certificate_arn": CERT,
            "ssl_support_method": "sni-only",
            "minimum_protocol_version": "TLSv1.2_2021",
        },
        restrictions={"geo_restriction": {"restriction_type": "none"}},
        opts=opts,
    )
    block = s3.BucketPublicAccessBlock(
        f"{name}-pab",
        bucket=f"degraded{i}",
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        region="eu-west-1",
        opts=opts,
    )
    s3.BucketPolicy(
        f"{name}-policy",
        bucket=f"degraded{i}",
        policy=pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudfront.amazonaws.com"},
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::degraded{i}/*",
                        "Condition": {"StringEquals": {"AWS:SourceArn": distribution.arn}},
                    }
                ],
            }
        ),
        region="eu-west-1",
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[block])),
    )


# ---------------------------------------------------------------- measurement


def timed_synth(program: Callable[[], None]) -> tuple[float, float, ResourceGraph]:
    """(cpu seconds, wall seconds, graph) of one synth, without garbage collection inside the timing.

    The previous synth's graph is garbage; a collection landing in one side's timing would dominate it.
    """
    gc.collect()
    gc.disable()
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        graph = synth(program, config={"aws:region": "us-east-1"})
        return time.process_time() - cpu, time.perf_counter() - wall, graph
    finally:
        gc.enable()


def bench_synth(sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    """Median CPU/wall time per size for both programs, run alternately."""
    rows = []
    # Warm-up: load every pulumi_aws module both programs touch, outside the measurements.
    for make in (hakit_program, raw_program, wrapped_program):
        synth(make(plan(16)))
    for size in sizes:
        units = plan(size)
        samples: dict[str, list[tuple[float, float]]] = {"hakit": [], "raw": [], "wrapped": []}
        counts: dict[str, dict[str, int]] = {}
        for _ in range(repeats):
            for label, make in (("hakit", hakit_program), ("raw", raw_program), ("wrapped", wrapped_program)):
                cpu, wall, graph = timed_synth(make(units))
                samples[label].append((cpu, wall))
                counts[label] = graph.count_by_type()
        if not counts["hakit"] == counts["raw"] == counts["wrapped"]:
            raise SystemExit(f"size {size}: programs differ:\n{counts}")
        resources = sum(counts["hakit"].values())
        row: dict[str, Any] = {"size": size, "resources": resources, "components": len(units)}
        for label in ("hakit", "raw", "wrapped"):
            row[f"{label}_cpu"] = statistics.median(s[0] for s in samples[label])
            row[f"{label}_wall"] = statistics.median(s[1] for s in samples[label])
        rows.append(row)
    return rows


IMPORT_SNIPPET = (
    "import time\n"
    "c, w = time.process_time(), time.perf_counter()\n"
    "{stmt}\n"
    "print(time.process_time() - c, time.perf_counter() - w)\n"
)
HAKIT_IMPORT = "import hakit.components.dns, hakit.components.loadbalancer, hakit.components.cdn"


def bench_import(repeats: int) -> dict[str, tuple[float, float]]:
    """Median (cpu, wall) seconds of each import statement in a fresh interpreter, alternating."""
    results: dict[str, list[tuple[float, float]]] = {"import pulumi": [], HAKIT_IMPORT: []}
    for _ in range(repeats):
        for stmt in results:
            out = subprocess.run(
                [sys.executable, "-c", IMPORT_SNIPPET.format(stmt=stmt)],
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            ).stdout.split()
            results[stmt].append((float(out[0]), float(out[1])))
    return {
        k: (statistics.median(v[0] for v in vs), statistics.median(v[1] for v in vs))
        for k, vs in results.items()
    }


PLAN_PHASES = """
import json, sys, time
marks = [("start", time.perf_counter(), time.process_time())]
def mark(name):
    marks.append((name, time.perf_counter(), time.process_time()))
import hakit.cli
mark("CLI import")
import pulumi, pulumi.runtime.mocks
mark("Pulumi SDK import")
import hakit.stacks.service, hakit.stacks.program, hakit.testing
mark("components import")
from hakit.stacks.program import synth_stack
graph = synth_stack(sys.argv[1])
mark("synth (+ lazy pulumi_aws imports)")
graph = synth_stack(sys.argv[1])
mark("synth again (modules loaded)")
from hakit.stacks.plan import render_text, summarize
text = render_text(summarize(graph))
mark("summary")
print(json.dumps({"resources": len(graph.resources), "phases": [
    (name, w - pw, c - pc) for (name, w, c), (_, pw, pc) in zip(marks[1:], marks)]}))
"""


def bench_plan(stacks: list[str], repeats: int) -> list[dict[str, Any]]:
    """Per stack: median wall of `hakit plan --stack ENV`, and its phases timed inside a fresh interpreter."""
    rows = []
    for stack in stacks:
        walls, phase_runs = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "hakit.cli", "plan", "--stack", stack],
                capture_output=True,
                check=True,
                timeout=300,
            )
            walls.append(time.perf_counter() - start)
            out = subprocess.run(
                [sys.executable, "-c", PLAN_PHASES, stack],
                capture_output=True,
                text=True,
                check=True,
                timeout=300,
            ).stdout
            phase_runs.append(json.loads(out.splitlines()[-1]))
        names = [name for name, _w, _c in phase_runs[0]["phases"]]
        phases = {
            name: (
                statistics.median(run["phases"][i][1] for run in phase_runs),
                statistics.median(run["phases"][i][2] for run in phase_runs),
            )
            for i, name in enumerate(names)
        }
        rows.append(
            {
                "stack": stack,
                "resources": phase_runs[0]["resources"],
                "wall": statistics.median(walls),
                "phases": phases,
            }
        )
    return rows


def main() -> None:
    """Run the benchmarks and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON too")
    parser.add_argument("--stacks", nargs="*", default=["dev", "prod"], help="stacks to split")
    options = parser.parse_args()

    rows = bench_synth(options.sizes, options.repeats)
    print(f"Synth under hakit.testing mocks (median of {options.repeats}; CPU time, wall in parentheses)\n")
    print(
        "| resources | components | hakit components | raw pulumi_aws (floor) | raw in bare components "
        "| hakit / raw | hakit / bare | goal hakit / raw <= 1.1x |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        n = row["resources"]
        ratio = row["hakit_cpu"] / row["raw_cpu"]
        print(
            f"| {n} | {row['components']} "
            f"| {n / row['hakit_cpu']:.0f} res/s ({n / row['hakit_wall']:.0f}) "
            f"| {n / row['raw_cpu']:.0f} res/s ({n / row['raw_wall']:.0f}) "
            f"| {n / row['wrapped_cpu']:.0f} res/s ({n / row['wrapped_wall']:.0f}) "
            f"| {ratio:.2f}x ({row['hakit_wall'] / row['raw_wall']:.2f}x) "
            f"| {row['hakit_cpu'] / row['wrapped_cpu']:.2f}x "
            f"| {'ok' if ratio <= 1.1 else 'missed'} |"
        )
    imports = bench_import(options.repeats)
    base_cpu, base_wall = imports["import pulumi"]
    ours_cpu, ours_wall = imports[HAKIT_IMPORT]
    print(f"\nImport in a fresh interpreter (median of {options.repeats})\n")
    print("| statement | CPU s | wall s |")
    print("|---|---:|---:|")
    print(f"| `import pulumi` | {base_cpu:.3f} | {base_wall:.3f} |")
    print(f"| `{HAKIT_IMPORT}` | {ours_cpu:.3f} | {ours_wall:.3f} |")
    ratio = ours_cpu / base_cpu
    print(f"| ratio | {ratio:.2f}x | {ours_wall / base_wall:.2f}x |")
    print(f"\nimport goal <= 1.3x: {'ok' if ratio <= 1.3 else 'MISSED'}")
    plans = bench_plan(options.stacks, max(1, options.repeats // 2))
    load = os.getloadavg()[0]
    print(f"\n`hakit plan --stack ENV`: where the time goes (fresh interpreter, median; load {load:.1f})\n")
    if plans:
        names = list(plans[0]["phases"])
        print("| stack | resources | whole command wall s | " + " | ".join(f"{n} s" for n in names) + " |")
        print("|---|---:|---:|" + "---:|" * len(names))
        for row in plans:
            cells = " | ".join(f"{row['phases'][n][0]:.2f} ({row['phases'][n][1]:.2f} CPU)" for n in names)
            print(f"| {row['stack']} | {row['resources']} | {row['wall']:.2f} | {cells} |")
    if options.json:
        print(json.dumps({"synth": rows, "import": imports, "plan": plans}, indent=2))


if __name__ == "__main__":
    main()
