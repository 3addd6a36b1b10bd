"""FailoverCdn under the mock harness: origin group, OAC-locked S3, viewer TLS, errors, WAF, rejections."""

import gc
import json
import logging
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from hakit.components.cdn import CdnBucketPolicy, FailoverCdn, FailoverCdnArgs
from hakit.testing import ResourceGraph, synth

DIST = "aws:cloudfront/distribution:Distribution"
OAC = "aws:cloudfront/originAccessControl:OriginAccessControl"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
CERT_USE1 = "arn:aws:acm:us-east-1:123456789012:certificate/www"


def _args(**extra: Any) -> FailoverCdnArgs:
    args: dict[str, Any] = {
        "primary": {"domain_name": "origin-use1.example.com"},
        "secondary": {"s3_bucket": "degraded-site", "s3_bucket_region": "eu-west-1"},
        "aliases": ["www.example.com"],
        "certificate_arn": CERT_USE1,
    }
    args.update(extra)
    return args  # type: ignore[return-value]


def _program() -> None:
    cdn = FailoverCdn(
        "www",
        _args(
            waf={"rate_limit": 1000},
            logging={"bucket": "logs.s3.amazonaws.com"},
            write_path_patterns=["/api/*"],
            tags={"team": "web"},
        ),
    )
    pulumi.export("domain_name", cdn.domain_name)
    pulumi.export("hosted_zone_id", cdn.hosted_zone_id)
    pulumi.export("web_acl_arn", cdn.web_acl_arn)


@pytest.fixture(scope="module")
def graph() -> ResourceGraph:
    return synth(_program, config={"aws:region": "eu-central-1"})


def test_resource_types_and_counts(graph: ResourceGraph) -> None:
    assert graph.count_by_type() == {
        DIST: 1,
        OAC: 1,
        POLICY: 1,
        PAB: 1,
        "aws:wafv2/webAcl:WebAcl": 1,
    }
    component = graph.one("hakit:cdn:FailoverCdn")
    assert all(graph.parent_of(n) is component for n in graph.resources)


def test_origin_group_members_and_failover(graph: ResourceGraph) -> None:
    dist = graph.one(DIST)
    (group,) = dist.input("origin_groups")
    assert group["originId"] == "failover"
    assert [m["originId"] for m in group["members"]] == ["primary", "secondary"]
    assert group["failoverCriteria"]["statusCodes"] == [500, 502, 503, 504]
    origins = {o["originId"]: o for o in dist.input("origins")}
    primary, secondary = origins["primary"], origins["secondary"]
    assert primary["domainName"] == "origin-use1.example.com"
    # Failing over takes attempts x timeout: 2 x 3 s, not CloudFront's default 3 x 10 s.
    assert (primary["connectionAttempts"], primary["connectionTimeout"]) == (2, 3)
    assert primary["customOriginConfig"]["originProtocolPolicy"] == "https-only"
    assert primary["customOriginConfig"]["originSslProtocols"] == ["TLSv1.2"]
    assert secondary["domainName"] == "degraded-site.s3.eu-west-1.amazonaws.com"
    assert secondary["originAccessControlId"] == graph.one(OAC).id
    assert "customOriginConfig" not in secondary and "s3OriginConfig" not in secondary
    assert dist.input("default_cache_behavior.target_origin_id") == "failover"


def test_viewer_side_secure_defaults(graph: ResourceGraph) -> None:
    dist = graph.one(DIST)
    behavior = dist.input("default_cache_behavior")
    assert behavior["viewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["allowedMethods"] == ["GET", "HEAD", "OPTIONS"]  # what an origin group can serve
    assert behavior["compress"] is True
    assert behavior["cachePolicyId"] == "4cc15a8a-d715-48a4-82b8-cc0b614638fe"
    assert behavior["responseHeadersPolicyId"] == "67f7725c-6f97-4210-82d7-5512b31e9d03"
    assert dist.input("viewer_certificate") == {
        "acmCertificateArn": CERT_USE1,
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    assert dist.input("http_version") == "http2and3"
    assert dist.input("is_ipv6_enabled") is True
    assert dist.input("aliases") == ["www.example.com"]
    assert dist.input("logging_config") == {
        "bucket": "logs.s3.amazonaws.com",
        "prefix": "www/",
        "includeCookies": False,
    }


def test_degraded_page_comes_from_the_bucket(graph: ResourceGraph) -> None:
    dist = graph.one(DIST)
    responses = dist.input("custom_error_responses")
    assert [r["errorCode"] for r in responses] == [500, 502, 503, 504]
    assert {(r["responseCode"], r["responsePagePath"], r["errorCachingMinTtl"]) for r in responses} == {
        (503, "/degraded.html", 10)
    }
    behaviors = {b["pathPattern"]: b for b in dist.input("ordered_cache_behaviors")}
    assert behaviors["/degraded.html"]["targetOriginId"] == "secondary"
    api = behaviors["/api/*"]
    assert api["targetOriginId"] == "primary"
    assert "POST" in api["allowedMethods"]
    assert api["cachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled


def test_bucket_admits_only_this_distribution(graph: ResourceGraph) -> None:
    dist = graph.one(DIST)
    block = graph.one(PAB)
    assert block.input("bucket") == "degraded-site"
    assert all(
        block.input(k) is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls")
    )
    assert block.input("restrict_public_buckets") is True
    policy = graph.one(POLICY)
    assert policy.input("bucket") == "degraded-site"
    deny, statement = json.loads(policy.input("policy"))["Statement"]
    assert deny == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::degraded-site", "arn:aws:s3:::degraded-site/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == "arn:aws:s3:::degraded-site/*"
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceArn": [dist.output("arn")]}}
    assert policy.depends_on(block) and policy.depends_on(dist)
    assert (block.region, policy.region) == ("eu-west-1", "eu-west-1")
    oac = graph.one(OAC)
    assert (oac.input("signing_behavior"), oac.input("signing_protocol")) == ("always", "sigv4")
    assert oac.input("origin_access_control_origin_type") == "s3"


def test_two_distributions_share_a_bucket_through_one_policy() -> None:
    """Each FailoverCdn leaves the shared bucket alone; one CdnBucketPolicy admits both, denies non-TLS."""

    def program() -> None:
        shared = {"s3_bucket": "degraded-site", "s3_bucket_region": "eu-west-1", "bucket_policy": "external"}
        www = FailoverCdn("www", _args(secondary=dict(shared)))
        shop = FailoverCdn("shop", _args(secondary=dict(shared)))
        CdnBucketPolicy(
            "degraded-site",
            {"bucket": "degraded-site", "region": "eu-west-1", "distribution_arns": [www.arn, shop.arn]},
        )

    graph = synth(program)
    counts = graph.count_by_type()
    assert (counts[POLICY], counts[PAB], counts[DIST]) == (1, 1, 2)
    policy = graph.one(POLICY)
    assert graph.get(policy.parent or "").type == "hakit:cdn:CdnBucketPolicy"
    assert policy.region == "eu-west-1"
    deny, read = json.loads(policy.input("policy"))["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    arns = sorted(d.output("arn") for d in graph.by_type(DIST))
    assert sorted(read["Condition"]["StringEquals"]["AWS:SourceArn"]) == arns and len(set(arns)) == 2


def test_two_managed_policies_for_one_bucket_are_refused() -> None:
    def program() -> None:
        FailoverCdn("www", _args())
        FailoverCdn("shop", _args())

    with pytest.raises(
        ValueError, match="bucket 'degraded-site' already has its policy managed by FailoverCdn 'www'"
    ):
        synth(program)
    synth(lambda: FailoverCdn("www", _args()))  # the claim does not outlive its program


@pytest.mark.parametrize(("region", "partition"), [("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn")])
def test_bucket_arns_take_the_provider_partition(region: str, partition: str) -> None:
    def program() -> None:
        provider = aws.Provider("gov", region=region)
        secondary = {"s3_bucket": "degraded-site", "s3_bucket_region": region}
        FailoverCdn("www", _args(secondary=secondary), opts=pulumi.ResourceOptions(provider=provider))

    graph = synth(program)
    deny, read = json.loads(graph.one(POLICY).input("policy"))["Statement"]
    assert deny["Resource"] == [
        f"arn:{partition}:s3:::degraded-site",
        f"arn:{partition}:s3:::degraded-site/*",
    ]
    assert read["Resource"] == f"arn:{partition}:s3:::degraded-site/*"
    origins = {o["originId"]: o for o in graph.one(DIST).input("origins")}
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    assert origins["secondary"]["domainName"] == f"degraded-site.s3.{region}.{suffix}"


def test_waf_is_cloudfront_scoped_in_us_east_1(graph: ResourceGraph) -> None:
    acl = graph.one("aws:wafv2/webAcl:WebAcl")
    assert acl.input("scope") == "CLOUDFRONT"
    assert acl.region == "us-east-1"  # although the stack's region is eu-central-1
    assert graph.one(DIST).input("web_acl_id") == acl.output("arn")
    assert graph.stack_outputs["web_acl_arn"] == acl.output("arn")


def test_outputs(graph: ResourceGraph) -> None:
    assert graph.stack_outputs["hosted_zone_id"] == "Z2FDTNDATAQYW2"
    assert graph.stack_outputs["domain_name"] == graph.one(DIST).output("domain_name")


def test_two_load_balancer_origins_without_s3() -> None:
    args = _args(
        secondary={"domain_name": "origin-euw1.example.com", "connection_attempts": 1, "read_timeout": 10},
        failover_status_codes=[502, 503, 504],
        error_responses=[],
    )
    graph = synth(lambda: FailoverCdn("www", args))
    assert graph.count_by_type() == {DIST: 1}
    dist = graph.one(DIST)
    origins = {o["originId"]: o for o in dist.input("origins")}
    assert origins["secondary"]["connectionAttempts"] == 1
    assert origins["secondary"]["customOriginConfig"]["originReadTimeout"] == 10
    assert dist.input("origin_groups.0.failover_criteria.status_codes") == [502, 503, 504]
    assert dist.input("custom_error_responses") == []
    assert dist.input("ordered_cache_behaviors") == []


def test_default_certificate_is_opt_in() -> None:
    graph = synth(
        lambda: FailoverCdn("dev", _args(aliases=[], certificate_arn=None, use_default_certificate=True))
    )
    assert graph.one(DIST).input("viewer_certificate") == {"cloudfrontDefaultCertificate": True}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda a: a.update(certificate_arn="arn:aws:acm:eu-west-1:123456789012:certificate/x"),
            "CloudFront only uses ACM certificates from us-east-1; this one is in eu-west-1",
        ),
        (lambda a: a.update(certificate_arn=None), "aliases need an ACM certificate"),
        (lambda a: a.update(certificate_arn=None, aliases=[]), "or set use_default_certificate: true"),
        (lambda a: a["primary"].update(s3_bucket="b"), "give exactly one of domain_name"),
        (lambda a: a.pop("secondary"), r"secondary: is required"),
        (lambda a: a.update(failover_status_codes=[501]), "failover_status_codes: 501 is not one of"),
        (
            lambda a: a["primary"].update(connection_timeout=11),
            r"connection_timeout: 11 is out of range 1\.\.10",
        ),
        (
            lambda a: a["primary"].update(connection_attempts=4),
            r"connection_attempts: 4 is out of range 1\.\.3",
        ),
        (lambda a: a["secondary"].update(read_timeout=5), "read_timeout: only custom origins take it"),
        (lambda a: a["secondary"].update(s3_bucket_region="Europe"), "'Europe' is not an AWS region name"),
        (
            lambda a: a.update(
                primary=a["secondary"], secondary=a["primary"], write_path_patterns=["/api/*"]
            ),
            "writes go to the primary, which must be a custom origin",
        ),
        (lambda a: a.update(waf={}, web_acl_arn="arn:x"), "waf: conflicts with web_acl_arn"),
        (lambda a: a.update(cache_policy="Fast"), "cache_policy: 'Fast' is neither a managed policy"),
        (lambda a: a["secondary"].update(bucket_policy="merge"), "bucket_policy: 'merge' is not one of"),
        (lambda a: a["primary"].update(bucket_policy="external"), "bucket_policy: only S3 origins take it"),
    ],
)
def test_rejections(change: Any, message: str) -> None:
    args = json.loads(json.dumps(_args()))
    change(args)
    with pytest.raises(ValueError, match=message):
        synth(lambda: FailoverCdn("www", args))


def test_certificate_output_outside_us_east_1_fails_when_known() -> None:
    def program() -> None:
        cert = pulumi.Output.from_input("arn:aws:acm:eu-west-1:123456789012:certificate/late")
        FailoverCdn("www", _args(certificate_arn=cert))

    # The failed registration leaves futures nobody awaits; drop them quietly instead of at interpreter exit.
    quiet = logging.getLogger("asyncio")
    quiet.disabled = True
    try:
        with pytest.raises(Exception, match="only uses ACM certificates from us-east-1"):
            synth(program)
        assert len(synth(lambda: None)) == 0  # nothing of the failed program leaks into the next synth
        gc.collect()
    finally:
        quiet.disabled = False


def test_explicit_provider_and_protect_reach_the_children() -> None:
    def program() -> None:
        provider = aws.Provider("use1", region="us-east-1")
        FailoverCdn("www", _args(waf={}), opts=pulumi.ResourceOptions(provider=provider, protect=True))

    graph = synth(program, config={"aws:region": "ap-southeast-2"})
    provider = graph.one("pulumi:providers:aws")
    children = graph.descendants(graph.one("hakit:cdn:FailoverCdn"))
    assert len(children) == 5
    for child in children:
        assert graph.provider_of(child) is provider, child.short()
        assert child.options.protect, child.short()
    # Bucket resources follow the bucket's region, the CloudFront WAF stays in us-east-1.
    assert {c.type: c.region for c in children if "region" in c.inputs} == {
        PAB: "eu-west-1",
        POLICY: "eu-west-1",
        "aws:wafv2/webAcl:WebAcl": "us-east-1",
    }


def test_schema_is_inferred() -> None:
    from pulumi.provider.experimental.component import ComponentProvider

    schema = json.loads(ComponentProvider([FailoverCdn], "hakit").schema)
    resource = schema["resources"]["hakit:index:FailoverCdn"]
    assert sorted(resource["requiredInputs"]) == ["primary", "secondary"]
    assert {"domainName", "hostedZoneId"} <= set(resource["properties"])
    origin = schema["types"]["hakit:index:FailoverCdnOriginArgs"]["properties"]
    assert "1..10" in origin["connectionTimeout"]["description"]
