"""CloudFront with origin failover: a primary and a secondary origin in an origin group.

Origins are custom (e.g. load balancers in two regions) or S3 buckets (e.g. a static "degraded mode" site),
reached through Origin Access Control with public access blocked and a bucket policy that admits only
this distribution and denies every request without TLS. CloudFront is global: only the S3 bucket policy /
public-access block take a region, and a CloudFront-scoped WAF web ACL always lives in us-east-1.

A bucket has exactly one policy (`s3.BucketPolicy` replaces the whole document), so one resource must own
it. With `bucket_policy: managed` (the default) this component owns it: right when the bucket serves this
distribution only. Distributions sharing a bucket each set `bucket_policy: external` and the caller adds
one `CdnBucketPolicy` for the bucket listing every distribution's ARN; two FailoverCdn managing the same
bucket in one program are refused.
"""

import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Required, TypedDict

import pulumi

from hakit.components._util import (
    arn_region,
    check_choice,
    check_range,
    check_region,
    check_waf,
    child_opts,
    fail,
    merge_tags,
    partition_of,
    rate_limited_web_acl,
    require_plain,
)

TOKEN = "hakit:cdn:FailoverCdn"
POLICY_TOKEN = "hakit:cdn:CdnBucketPolicy"
BUCKET_POLICY_MODES = ("managed", "external")
CERTIFICATE_REGION = "us-east-1"  # CloudFront only accepts ACM certificates (and WAF ACLs) from here
FAILOVER_CODES = (400, 403, 404, 416, 500, 502, 503, 504)  # the codes CloudFront can fail over on
MIN_TLS = "TLSv1.2_2021"
# AWS managed policies (ids are fixed by AWS).
CACHE_POLICIES = {
    "CachingOptimized": "658327ea-f89d-4fab-a63d-7e88639e58f6",
    "CachingDisabled": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
    "UseOriginCacheControlHeaders": "83da9c7e-98b4-4e11-a168-04f0df8e2c65",
    "UseOriginCacheControlHeaders-QueryStrings": "4cc15a8a-d715-48a4-82b8-cc0b614638fe",
}
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # managed origin request policy
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"  # managed response headers policy (HSTS etc.)
READ_METHODS = ["GET", "HEAD", "OPTIONS"]  # origin groups only serve these
ALL_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
ROLES = ("primary", "secondary")
_NO_GEO_RESTRICTION: Any = {"geo_restriction": {"restriction_type": "none"}}


class FailoverCdnOriginArgs(TypedDict, total=False):
    """One origin: custom (give `domain_name`) or S3 (give `s3_bucket`)."""

    domain_name: pulumi.Input[str]
    """Custom origin host name, e.g. a load balancer's `dns_name` (must match its certificate)."""
    s3_bucket: pulumi.Input[str]
    """S3 origin: the bucket name (reached through Origin Access Control)."""
    s3_bucket_region: str
    """S3 origin: the bucket's region; default the component's `region`, else `aws:region`."""
    origin_path: str
    """Path prefix added to requests, e.g. `/site`."""
    connection_attempts: int
    """Connection attempts before failing over, 1..3; default 2."""
    connection_timeout: int
    """Seconds per connection attempt, 1..10; default 3 (2 x 3 s = 6 s to fail over, vs 30 s)."""
    read_timeout: int
    """Custom origins: seconds to wait for a response, 1..180 (over 60 needs a quota increase); default 30."""
    keepalive_timeout: int
    """Custom origins: idle keep-alive seconds, 1..180 (over 60 needs a quota increase); default 5."""
    https_port: int
    """Custom origins: HTTPS port; default 443."""
    custom_headers: dict[str, pulumi.Input[str]]
    """Headers added to origin requests (e.g. a secret the origin checks); pass secrets as secret Outputs."""
    bucket_policy: str
    """S3 origins: `managed` (default: this component owns the bucket's whole policy and public-access block)
    or `external` (the bucket is shared: the caller's `CdnBucketPolicy` owns them; see the module doc)."""


class FailoverCdnErrorResponseArgs(TypedDict, total=False):
    """A custom error response: which origin error becomes which page."""

    error_code: Required[int]
    """The HTTP status from the origin (400..599)."""
    response_code: int
    """Status returned to viewers; default 503 for 5xx, else the error code."""
    page_path: str
    """Page served instead; default `degraded_page_path`."""
    caching_min_ttl: int
    """Seconds CloudFront caches the error; default 10 (short: recover quickly)."""


class FailoverCdnLoggingArgs(TypedDict, total=False):
    """Standard access logs (the bucket needs ACLs enabled for CloudFront log delivery)."""

    bucket: Required[pulumi.Input[str]]
    """Log bucket domain name, e.g. `logs.s3.amazonaws.com`."""
    prefix: str
    """Key prefix; default the component name."""
    include_cookies: bool
    """Log cookies; default false."""


class FailoverCdnWafArgs(TypedDict, total=False):
    """A CloudFront-scoped WAFv2 web ACL (us-east-1): managed rule groups plus a per-IP rate limit."""

    rate_limit: int
    """Requests per IP per evaluation window before blocking, 10..2e9; default 2000."""
    evaluation_window_sec: int
    """Rate window seconds: 60, 120, 300 (default) or 600."""
    managed_rule_groups: list[str]
    """AWS managed rule group names; default ["AWSManagedRulesCommonRuleSet"]."""


class FailoverCdnArgs(TypedDict, total=False):
    """Arguments of `FailoverCdn`."""

    primary: Required[FailoverCdnOriginArgs]
    """The origin that serves normally."""
    secondary: Required[FailoverCdnOriginArgs]
    """The origin CloudFront retries on connection failure, timeout or a failover status code."""
    failover_status_codes: list[int]
    """Primary responses that trigger failover (subset of 400,403,404,416,500,502,503,504); default 5xx."""
    aliases: list[str]
    """Custom host names (need `certificate_arn`)."""
    certificate_arn: pulumi.Input[str]
    """ACM certificate for `aliases`; must be in us-east-1."""
    use_default_certificate: bool
    """Serve only *.cloudfront.net with CloudFront's certificate (no TLS 1.2 minimum); default false."""
    cache_policy: str
    """A managed cache policy name (CachingOptimized, CachingDisabled, UseOriginCacheControlHeaders,
    UseOriginCacheControlHeaders-QueryStrings) or a policy id.
    Default: UseOriginCacheControlHeaders-QueryStrings (the origin decides what is cached)."""
    write_path_patterns: list[str]
    """Path patterns (e.g. `/api/*`) sent to the primary with all methods and no caching (origin groups only
    serve GET/HEAD/OPTIONS); the primary must be a custom origin."""
    degraded_page_path: str
    """The page shown for origin errors; default `/degraded.html` (served from the S3 origin if any)."""
    error_responses: list[FailoverCdnErrorResponseArgs]
    """Custom error responses; default 500/502/503/504 -> `degraded_page_path` with status 503."""
    price_class: str
    """PriceClass_All (default), PriceClass_200 or PriceClass_100."""
    logging: FailoverCdnLoggingArgs
    """Optional standard access logs."""
    waf: FailoverCdnWafArgs
    """Optional WAF web ACL created for this distribution."""
    web_acl_arn: pulumi.Input[str]
    """Or an existing CloudFront-scoped web ACL ARN."""
    region: str
    """Default region of S3 origins' buckets (CloudFront itself is global)."""
    tags: dict[str, str]
    """Extra tags."""


class FailoverCdn(pulumi.ComponentResource):
    """A CloudFront distribution whose default behavior targets a primary/secondary origin group."""

    domain_name: pulumi.Output[str]
    """The distribution's domain name (alias target)."""
    hosted_zone_id: pulumi.Output[str]
    """CloudFront's hosted zone id (alias target)."""
    distribution_id: pulumi.Output[str]
    """The distribution id."""
    arn: pulumi.Output[str]
    """The distribution ARN."""
    origin_access_control_id: pulumi.Output[str | None]
    """The Origin Access Control id (None without S3 origins)."""
    web_acl_arn: pulumi.Output[str | None]
    """The attached web ACL ARN (None without WAF)."""

    def __init__(self, name: str, args: FailoverCdnArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        """Validate `args` (nothing is registered when they are wrong), then build the distribution."""
        import pulumi_aws.cloudfront as cloudfront

        _validate(args)
        super().__init__(TOKEN, name, {}, opts)
        tags = merge_tags(TOKEN, name, args.get("tags"))
        s3_roles = [role for role in ROLES if args[role].get("s3_bucket")]  # type: ignore[literal-required]
        oac = None
        if s3_roles:
            oac = cloudfront.OriginAccessControl(
                f"{name}-oac",
                origin_access_control_origin_type="s3",
                signing_behavior="always",
                signing_protocol="sigv4",
                description=f"hakit {name}: S3 origins only via this distribution",
                opts=child_opts(self),
            )
        web_acl_arn: pulumi.Input[str] | None = args.get("web_acl_arn")
        if args.get("waf") is not None:
            acl = rate_limited_web_acl(
                f"{name}-waf",
                scope="CLOUDFRONT",
                settings=args["waf"],
                parent=self,
                region=CERTIFICATE_REGION,
                tags=tags,
            )
            web_acl_arn = acl.arn

        distribution = cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            comment=f"hakit {name}: primary/secondary origin failover",
            price_class=args.get("price_class", "PriceClass_All"),
            aliases=list(args.get("aliases") or []),
            origins=[_origin(role, args, oac) for role in ROLES],
            origin_groups=[_origin_group(args)],
            default_cache_behavior=_default_behavior(args),
            ordered_cache_behaviors=_ordered_behaviors(args, s3_roles),
            custom_error_responses=_error_responses(args),
            viewer_certificate=_viewer_certificate(args),
            restrictions=_NO_GEO_RESTRICTION,
            logging_config=_logging(name, args.get("logging")),
            web_acl_id=web_acl_arn,
            tags=tags,
            opts=child_opts(self),
        )
        managed = [r for r in s3_roles if args[r].get("bucket_policy", "managed") == "managed"]  # type: ignore[literal-required]
        if managed:
            partition = partition_of(self)
            locked: set[str] = set()
            for role in managed:
                bucket = args[role]["s3_bucket"]  # type: ignore[literal-required]
                if isinstance(bucket, str) and bucket in locked:
                    continue  # primary and secondary in one bucket: still one policy
                if isinstance(bucket, str):
                    locked.add(bucket)
                    _claim_bucket(bucket, name)
                _lock_bucket(
                    self,
                    f"{name}-{role}",
                    bucket,
                    _bucket_region(args[role], args),  # type: ignore[literal-required]
                    [distribution.arn],
                    partition,
                )

        self.domain_name = distribution.domain_name
        self.hosted_zone_id = distribution.hosted_zone_id
        self.distribution_id = distribution.id
        self.arn = distribution.arn
        self.origin_access_control_id = oac.id if oac is not None else pulumi.Output.from_input(None)
        self.web_acl_arn = pulumi.Output.from_input(web_acl_arn)
        self.register_outputs(
            {
                "domain_name": self.domain_name,
                "hosted_zone_id": self.hosted_zone_id,
                "distribution_id": self.distribution_id,
                "arn": self.arn,
                "origin_access_control_id": self.origin_access_control_id,
                "web_acl_arn": self.web_acl_arn,
            }
        )


# ---------------------------------------------------------------- validation (pure)


def _require_us_east_1(arn: str) -> str:
    if arn_region(arn) != CERTIFICATE_REGION:
        fail(
            "FailoverCdnArgs.certificate_arn",
            f"CloudFront only uses ACM certificates from {CERTIFICATE_REGION}; "
            f"this one is in {arn_region(arn) or '?'}",
        )
    return arn


def _validate(args: Mapping[str, Any]) -> None:
    where = "FailoverCdnArgs"
    for role in ROLES:
        origin = args.get(role)
        if not origin:
            fail(f"{where}.{role}", "is required")
        _validate_origin(f"{where}.{role}", origin, args.get("region"))
    codes = list(args.get("failover_status_codes", [500, 502, 503, 504]))
    if not codes:
        fail(f"{where}.failover_status_codes", "needs at least one status code")
    for code in codes:
        check_choice(code, FAILOVER_CODES, f"{where}.failover_status_codes")
    cert = args.get("certificate_arn")
    if isinstance(cert, str):
        _require_us_east_1(cert)
    if args.get("aliases") and not cert:
        fail(f"{where}.certificate_arn", "aliases need an ACM certificate (in us-east-1)")
    if not cert and not args.get("use_default_certificate", False):
        fail(
            f"{where}.certificate_arn",
            f"give a us-east-1 ACM certificate (viewers get {MIN_TLS} minimum) "
            "or set use_default_certificate: true",
        )
    if cert and args.get("use_default_certificate", False):
        fail(f"{where}.use_default_certificate", "conflicts with certificate_arn")
    policy = args.get("cache_policy", "UseOriginCacheControlHeaders-QueryStrings")
    if policy not in CACHE_POLICIES and len(str(policy)) != 36:
        fail(
            f"{where}.cache_policy",
            f"{policy!r} is neither a managed policy name ({', '.join(CACHE_POLICIES)}) nor an id",
        )
    check_choice(
        args.get("price_class", "PriceClass_All"),
        ("PriceClass_All", "PriceClass_200", "PriceClass_100"),
        f"{where}.price_class",
    )
    patterns = args.get("write_path_patterns") or []
    if patterns and not args["primary"].get("domain_name"):
        fail(f"{where}.write_path_patterns", "writes go to the primary, which must be a custom origin")
    page = args.get("degraded_page_path", "/degraded.html")
    if not str(page).startswith("/"):
        fail(f"{where}.degraded_page_path", "must start with '/'")
    for i, response in enumerate(args.get("error_responses") or []):
        at = f"{where}.error_responses[{i}]"
        check_range(response.get("error_code"), 400, 599, f"{at}.error_code")
        check_range(response.get("response_code", 503), 200, 599, f"{at}.response_code")
        check_range(response.get("caching_min_ttl", 10), 0, 31_536_000, f"{at}.caching_min_ttl")
    if args.get("waf") is not None:
        if args.get("web_acl_arn"):
            fail(f"{where}.waf", "conflicts with web_acl_arn (give one)")
        check_waf(args["waf"], f"{where}.waf")
    logging = args.get("logging")
    if logging is not None and not logging.get("bucket"):
        fail(f"{where}.logging.bucket", "is required")


def _validate_origin(at: str, origin: Mapping[str, Any], region: Any) -> None:
    custom, s3 = origin.get("domain_name"), origin.get("s3_bucket")
    if bool(custom) == bool(s3):
        fail(at, "give exactly one of domain_name (custom origin) or s3_bucket (S3 origin)")
    check_range(origin.get("connection_attempts", 2), 1, 3, f"{at}.connection_attempts")
    check_range(origin.get("connection_timeout", 3), 1, 10, f"{at}.connection_timeout")
    if s3:
        require_plain(origin.get("s3_bucket_region"), f"{at}.s3_bucket_region")
        bucket_region = origin.get("s3_bucket_region") or region or pulumi.Config("aws").get("region")
        if not bucket_region:
            fail(f"{at}.s3_bucket_region", "is required (or set the component's region / aws:region)")
        check_region(bucket_region, f"{at}.s3_bucket_region")
        for key in ("read_timeout", "keepalive_timeout", "https_port"):
            if key in origin:
                fail(f"{at}.{key}", "only custom origins take it")
        check_choice(origin.get("bucket_policy", "managed"), BUCKET_POLICY_MODES, f"{at}.bucket_policy")
    else:
        if "bucket_policy" in origin:
            fail(f"{at}.bucket_policy", "only S3 origins take it")
        check_range(origin.get("read_timeout", 30), 1, 180, f"{at}.read_timeout")
        check_range(origin.get("keepalive_timeout", 5), 1, 180, f"{at}.keepalive_timeout")
        check_range(origin.get("https_port", 443), 1, 65535, f"{at}.https_port")


# ---------------------------------------------------------------- resources


def _bucket_region(origin: Mapping[str, Any], args: Mapping[str, Any]) -> str:
    return str(origin.get("s3_bucket_region") or args.get("region") or pulumi.Config("aws").get("region"))


def _origin(role: str, args: Mapping[str, Any], oac: Any) -> Any:
    origin: Mapping[str, Any] = args[role]
    props: dict[str, Any] = {
        "origin_id": role,
        "connection_attempts": origin.get("connection_attempts", 2),
        "connection_timeout": origin.get("connection_timeout", 3),
    }
    if origin.get("origin_path"):
        props["origin_path"] = origin["origin_path"]
    headers = origin.get("custom_headers") or {}
    if headers:
        props["custom_headers"] = [{"name": k, "value": v} for k, v in headers.items()]
    if origin.get("s3_bucket"):
        region = _bucket_region(origin, args)
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"  # China's own domain
        props["domain_name"] = _concat(origin["s3_bucket"], f".s3.{region}.{suffix}")
        props["origin_access_control_id"] = oac.id
        return props
    props["domain_name"] = origin["domain_name"]
    props["custom_origin_config"] = {
        "http_port": 80,
        "https_port": origin.get("https_port", 443),
        "origin_protocol_policy": "https-only",
        "origin_ssl_protocols": ["TLSv1.2"],
        "origin_read_timeout": origin.get("read_timeout", 30),
        "origin_keepalive_timeout": origin.get("keepalive_timeout", 5),
    }
    return props


def _concat(*parts: Any) -> Any:
    """Join strings; an Output only when some part is one (each Output costs the SDK a task)."""
    if all(isinstance(p, str) for p in parts):
        return "".join(parts)
    return pulumi.Output.concat(*parts)


def _origin_group(args: Mapping[str, Any]) -> Any:
    return {
        "origin_id": "failover",
        "failover_criteria": {"status_codes": list(args.get("failover_status_codes", [500, 502, 503, 504]))},
        "members": [{"origin_id": "primary"}, {"origin_id": "secondary"}],
    }


def _cache_policy_id(args: Mapping[str, Any]) -> str:
    policy = str(args.get("cache_policy", "UseOriginCacheControlHeaders-QueryStrings"))
    return CACHE_POLICIES.get(policy, policy)


def _default_behavior(args: Mapping[str, Any]) -> Any:
    behavior: dict[str, Any] = {
        "target_origin_id": "failover",
        "viewer_protocol_policy": "redirect-to-https",
        "allowed_methods": READ_METHODS,
        "cached_methods": ["GET", "HEAD"],
        "compress": True,
        "cache_policy_id": _cache_policy_id(args),
        "response_headers_policy_id": SECURITY_HEADERS,
    }
    if args["primary"].get("domain_name"):
        # A custom primary (an app behind a load balancer) needs the viewer's headers, cookies and query.
        behavior["origin_request_policy_id"] = ALL_VIEWER_EXCEPT_HOST
    return behavior


def _ordered_behaviors(args: Mapping[str, Any], s3_roles: list[str]) -> Any:
    behaviors: list[dict[str, Any]] = []
    page = args.get("degraded_page_path", "/degraded.html")
    if s3_roles and args.get("error_responses", None) != []:
        # The degraded page comes straight from the bucket, so it is there even when the primary is down.
        behaviors.append(
            {
                "path_pattern": page,
                "target_origin_id": s3_roles[-1],
                "viewer_protocol_policy": "redirect-to-https",
                "allowed_methods": ["GET", "HEAD"],
                "cached_methods": ["GET", "HEAD"],
                "compress": True,
                "cache_policy_id": CACHE_POLICIES["CachingOptimized"],
                "response_headers_policy_id": SECURITY_HEADERS,
            }
        )
    for pattern in args.get("write_path_patterns") or []:
        behaviors.append(
            {
                "path_pattern": pattern,
                "target_origin_id": "primary",
                "viewer_protocol_policy": "redirect-to-https",
                "allowed_methods": ALL_METHODS,
                "cached_methods": ["GET", "HEAD"],
                "compress": True,
                "cache_policy_id": CACHE_POLICIES["CachingDisabled"],
                "origin_request_policy_id": ALL_VIEWER_EXCEPT_HOST,
                "response_headers_policy_id": SECURITY_HEADERS,
            }
        )
    return behaviors


def _error_responses(args: Mapping[str, Any]) -> Any:
    page = args.get("degraded_page_path", "/degraded.html")
    given = args.get("error_responses")
    specs = given if given is not None else [{"error_code": code} for code in (500, 502, 503, 504)]
    responses = []
    for spec in specs:
        code = spec["error_code"]
        responses.append(
            {
                "error_code": code,
                "response_code": spec.get("response_code", 503 if code >= 500 else code),
                "response_page_path": spec.get("page_path", page),
                "error_caching_min_ttl": spec.get("caching_min_ttl", 10),
            }
        )
    return responses


def _viewer_certificate(args: Mapping[str, Any]) -> Any:
    cert = args.get("certificate_arn")
    if not cert:
        return {"cloudfront_default_certificate": True}
    return {
        # Plain strings were checked before anything was registered; Outputs are checked once known.
        "acm_certificate_arn": cert
        if isinstance(cert, str)
        else pulumi.Output.from_input(cert).apply(_require_us_east_1),
        "ssl_support_method": "sni-only",
        "minimum_protocol_version": MIN_TLS,
    }


def _logging(name: str, spec: Mapping[str, Any] | None) -> Any:
    if spec is None:
        return None
    return {
        "bucket": spec["bucket"],
        "prefix": spec.get("prefix", f"{name}/"),
        "include_cookies": spec.get("include_cookies", False),
    }


# Buckets whose policy a FailoverCdn owns, per program (keyed by the root stack resource of the run).
_OWNED_BUCKETS: "weakref.WeakKeyDictionary[Any, dict[str, str]]" = weakref.WeakKeyDictionary()


def _claim_bucket(bucket: str, owner: str) -> None:
    """Refuse a second owner of one bucket's policy in this program (the two policies would overwrite)."""
    root = pulumi.runtime.get_root_resource()
    if root is None:
        return
    owners = _OWNED_BUCKETS.setdefault(root, {})
    if owners.setdefault(bucket, owner) != owner:
        fail(
            f"FailoverCdnArgs (FailoverCdn {owner!r}).bucket_policy",
            f"bucket {bucket!r} already has its policy managed by FailoverCdn {owners[bucket]!r}; a bucket "
            "has one policy: set bucket_policy: external on every distribution sharing it and add one "
            "CdnBucketPolicy listing their ARNs",
        )


def bucket_policy_document(
    bucket: pulumi.Input[str], distribution_arns: Sequence[pulumi.Input[str]], partition: pulumi.Input[str]
) -> pulumi.Output[str]:
    """The bucket policy: deny every request without TLS; CloudFront (OAC) reads for these distributions."""
    bucket_arn = pulumi.Output.concat("arn:", partition, ":s3:::", bucket)
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                {
                    "Sid": "CloudFrontReadViaOriginAccessControl",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "s3:GetObject",
                    "Resource": pulumi.Output.concat(bucket_arn, "/*"),
                    # A list in StringEquals matches any of them: one statement serves every distribution.
                    "Condition": {"StringEquals": {"AWS:SourceArn": list(distribution_arns)}},
                },
            ],
        }
    )


def _lock_bucket(
    parent: pulumi.Resource,
    prefix: str,
    bucket: pulumi.Input[str],
    region: str | None,
    distribution_arns: Sequence[pulumi.Input[str]],
    partition: pulumi.Input[str],
) -> None:
    """Block public access, deny non-TLS, and let only these distributions (via OAC) read the bucket."""
    import pulumi_aws.s3 as s3

    block = s3.BucketPublicAccessBlock(
        f"{prefix}-public-access",
        bucket=bucket,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        region=region,  # None: the provider's
        opts=child_opts(parent),
    )
    s3.BucketPolicy(
        f"{prefix}-policy",
        bucket=bucket,
        policy=bucket_policy_document(bucket, distribution_arns, partition),
        # The public-access block first: a policy applied before it could briefly be evaluated without it.
        opts=child_opts(parent, depends_on=[block]),
        region=region,
    )


class CdnBucketPolicyArgs(TypedDict, total=False):
    """Arguments of `CdnBucketPolicy`."""

    bucket: Required[pulumi.Input[str]]
    """The bucket several distributions read through Origin Access Control."""
    distribution_arns: Required[list[pulumi.Input[str]]]
    """Every distribution that may read it (e.g. each FailoverCdn's `arn`)."""
    region: str
    """The bucket's region; default the provider's."""


class CdnBucketPolicy(pulumi.ComponentResource):
    """One policy and public-access block for a bucket distributions share (`bucket_policy: external`)."""

    policy: pulumi.Output[str]
    """The policy document (JSON)."""

    def __init__(
        self, name: str, args: CdnBucketPolicyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """Validate, then write the bucket's policy: TLS only; CloudFront reads for the listed ones."""
        if not args.get("bucket"):
            fail("CdnBucketPolicyArgs.bucket", "is required")
        arns = list(args.get("distribution_arns") or [])
        if not arns:
            fail("CdnBucketPolicyArgs.distribution_arns", "needs at least one distribution ARN")
        region = args.get("region")
        if region is not None:
            check_region(region, "CdnBucketPolicyArgs.region")
        super().__init__(POLICY_TOKEN, name, {}, opts)
        partition = partition_of(self)
        self.policy = bucket_policy_document(args["bucket"], arns, partition)
        _lock_bucket(self, name, args["bucket"], region, arns, partition)
        self.register_outputs({"policy": self.policy})
