"""The policy pack runs the same rules: graphs from the harness go through pulumi-policy's real analyzer."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

import pytest
from analysis_programs import CASES, Program, dns_pair, secret_program
from google.protobuf import json_format, struct_pb2
from hakit.analysis import RULES, analyze, from_graph
from hakit.analysis.policy import PACK_NAME, WAIVED_POLICY, build_policies
from hakit.testing import ResourceGraph, synth
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationPolicy,
)
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy
from pulumi_policy.secret import Secret

POLICIES = build_policies()


def _plain_json(value: Any) -> Any:
    """Assets/archives have their own wire signatures; the rules never read them, so a marker will do."""
    if isinstance(value, dict):
        return {k: _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    return value if value is None or isinstance(value, (str, int, float, bool)) else type(value).__name__


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(_plain_json(value), struct_pb2.Struct())


def stack_request(graph: ResourceGraph, overrides: dict[tuple[str, str], Any] | None = None) -> Any:
    """An AnalyzeStackRequest as the engine sends it: each resource's state, provider, parent, deps."""
    resources = []
    for node in graph:
        props = dict(node.outputs)
        for (name, key), value in (overrides or {}).items():
            if name == node.name:
                props[key] = value
        provider = graph.provider_of(node)
        resources.append(
            analyzer_pb2.AnalyzerResource(
                type=node.type,
                properties=_struct(props),
                urn=node.urn,
                name=node.name,
                options=analyzer_pb2.AnalyzerResourceOptions(protect=node.options.protect),
                provider=analyzer_pb2.AnalyzerProviderResource(
                    type=provider.type,
                    properties=_struct(provider.inputs),
                    urn=provider.urn,
                    name=provider.name,
                )
                if provider is not None
                else None,
                parent=node.parent or "",
                dependencies=list(node.dependencies),
                propertyDependencies={
                    key: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(urns))
                    for key, urns in node.property_dependencies.items()
                },
            )
        )
    return analyzer_pb2.AnalyzeStackRequest(resources=resources)


def servicer() -> _PolicyAnalyzerServicer:
    """The analyzer pulumi-policy serves to the engine, in-process."""
    return _PolicyAnalyzerServicer(PACK_NAME, "0.0.1", POLICIES, EnforcementLevel.ADVISORY)


def violations(diagnostics: Iterable[Any], rule_id: str) -> set[str]:
    """URNs reported by the policy of `rule_id`."""
    prefix = rule_id.lower() + "-"
    return {d.urn for d in diagnostics if d.policyName.startswith(prefix)}


@cache
def graph_of(program: Program) -> ResourceGraph:
    return synth(program, config={"aws:region": "us-east-1"})


def test_pack_has_one_policy_per_cloud_rule() -> None:
    names = {p.name for p in POLICIES}
    assert names == {f"{r.id.lower()}-{r.name}" for r in RULES.values() if r.check is not None} | {
        WAIVED_POLICY
    }
    kinds = {p.name.split("-")[0]: type(p) for p in POLICIES}
    assert kinds["sec006"] is ResourceValidationPolicy
    assert kinds["ha001"] is StackValidationPolicy
    high = next(p for p in POLICIES if p.name.startswith("ha001"))
    assert high.enforcement_level is EnforcementLevel.MANDATORY


STACK_RULES = sorted(r for r in CASES if RULES[r].scope == "stack")


@pytest.mark.parametrize("rule_id", STACK_RULES)
def test_stack_policy_reports_what_the_report_finds(rule_id: str) -> None:
    bad, good = CASES[rule_id]
    graph = graph_of(bad)
    response = servicer().AnalyzeStack(stack_request(graph), None)
    expected = {f.resource for f in analyze(from_graph(graph)) if f.rule_id == rule_id}
    assert expected
    assert violations(response.diagnostics, rule_id) == expected
    diagnostic = next(d for d in response.diagnostics if d.policyName.startswith(rule_id.lower()))
    assert f"[{rule_id}]" in diagnostic.message
    clean = servicer().AnalyzeStack(stack_request(graph_of(good)), None)
    assert violations(clean.diagnostics, rule_id) == set()


def test_preview_unknowns_do_not_break_or_trip_rules() -> None:
    # During preview the health check id, ALB DNS names and ARNs are unknown: the rules must still run.
    graph = graph_of(dns_pair)
    overrides = {
        ("primary", "healthCheckId"): UNKNOWN_STRING_VALUE,
        ("east", "arn"): UNKNOWN_STRING_VALUE,
        ("east", "dnsName"): UNKNOWN_STRING_VALUE,
    }
    response = servicer().AnalyzeStack(stack_request(graph, overrides), None)
    assert not [d.message for d in response.diagnostics if "can't run policy" in d.message]
    assert violations(response.diagnostics, "HA001") == set()
    assert violations(response.diagnostics, "HA002") == set()


def _resource_args(props: dict[str, Any], type_: str, name: str) -> ResourceValidationArgs:
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    urn = f"urn:pulumi:test::project::{type_}::{name}"
    return ResourceValidationArgs(type_, unknown_checking_proxy(props), urn, name, options, None)


def test_resource_policy_flags_plain_password_when_secrets_are_visible() -> None:
    policy = next(p for p in POLICIES if p.name.startswith("sec006"))
    node = graph_of(lambda: secret_program(False)).one("aws:lambda/function:Function")
    reported: list[str] = []
    # Secret wrappers as pulumi-policy deserializes them when it keeps secrets (one field is secret here).
    props = dict(node.inputs) | {"kmsKeyArn": Secret("arn:aws:kms:us-east-1:123456789012:key/1")}
    policy.validate(
        _resource_args(props, node.type, node.name), lambda message, urn=None: reported.append(message)
    )
    assert reported == [
        "[SEC006] Function api: input environment.variables.DB_PASSWORD looks like a secret but is plain text"
    ]
    secret_env = {"variables": {"DB_PASSWORD": Secret("correct-horse"), "DB_HOST": "db"}}
    reported.clear()
    policy.validate(
        _resource_args(props | {"environment": secret_env}, node.type, node.name),
        lambda message, urn=None: reported.append(message),
    )
    assert reported == []


def test_resource_policy_stays_silent_when_secretness_is_unknown() -> None:
    # pulumi-policy's Analyze drops secret markers: no wrapper anywhere means "cannot tell", never a guess.
    node = graph_of(lambda: secret_program(False)).one("aws:lambda/function:Function")
    response = servicer().Analyze(
        analyzer_pb2.AnalyzeRequest(
            type=node.type, properties=_struct(node.inputs), urn=node.urn, name=node.name
        ),
        None,
    )
    assert violations(response.diagnostics, "SEC006") == set()


def test_pack_accepts_the_projects_prod_stack() -> None:
    from analysis_programs import stack_graph

    response = servicer().AnalyzeStack(stack_request(stack_graph("prod")), None)
    assert [(d.policyName, d.message) for d in response.diagnostics] == []


def test_pack_program_serves_an_analyzer_port() -> None:
    # What the engine does with `--policy-pack infra/policy`: run __main__.py, read the gRPC port it prints.
    import select
    import subprocess
    import sys

    from analysis_programs import REPO

    process = subprocess.Popen(
        [sys.executable, str(REPO / "infra" / "policy" / "__main__.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)  # bounded: never hang the suite
        assert ready, "the policy pack printed no port within 30 s"
        line = process.stdout.readline().decode().strip()
        assert line.isdigit() and 0 < int(line) < 65536, process.stderr.read() if process.stderr else line
    finally:
        process.kill()
        process.wait(timeout=10)
