"""Security rules over raw pulumi-aws resources: encryption, public origins, TLS, deletion, secrets."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from hakit.analysis import tokens
from hakit.analysis.keepalived import user_data_text
from hakit.analysis.model import Severity, rule
from hakit.analysis.view import Resource, StackView, is_unknown, num

Hit = Iterator[tuple[Resource, str]]


@rule(
    "SEC001",
    "storage-not-encrypted",
    Severity.HIGH,
    "security",
    "Databases, volumes and file systems encrypt data at rest.",
)
def storage_not_encrypted(view: StackView) -> Hit:
    """RDS/Aurora, EBS and EFS default to unencrypted storage; it cannot be turned on later in place."""
    # EBS encryption by default (per region, in the same stack) covers volumes that do not ask for it.
    ebs_default = {
        r.region for r in view.of_type(tokens.EBS_DEFAULT_ENCRYPTION) if r.get("enabled", True) is not False
    }
    stores = (tokens.RDS_CLUSTER, tokens.RDS_INSTANCE, tokens.EFS_FILE_SYSTEM, tokens.EBS_VOLUME)
    for db in view.of_type(*stores):
        key = "encrypted" if db.type in (tokens.EFS_FILE_SYSTEM, tokens.EBS_VOLUME) else "storageEncrypted"
        if (db.type == tokens.RDS_INSTANCE and db.get("clusterIdentifier")) or (
            db.type == tokens.EBS_VOLUME and db.region in ebs_default
        ):
            continue
        if db.get(key) is not True and not is_unknown(db.get(key)):
            yield db, f"{db.label()} does not set {key}: data at rest is not encrypted"
    for global_cluster in view.of_type(tokens.GLOBAL_CLUSTER):
        if global_cluster.get("sourceDbClusterIdentifier"):
            continue  # inherits the source cluster's encryption
        if global_cluster.get("storageEncrypted") is not True:
            yield global_cluster, f"global database {global_cluster.name} does not set storageEncrypted"
    for instance in view.of_type(tokens.EC2_INSTANCE):
        if instance.region in ebs_default:
            continue
        devices = [instance.get("rootBlockDevice"), *instance.items("ebsBlockDevices")]
        for device in devices:
            if isinstance(device, dict) and device.get("encrypted") is not True:
                name = device.get("deviceName") or "root volume"
                yield instance, f"instance {instance.name}: {name} is not encrypted"
                break
        else:
            if not isinstance(instance.get("rootBlockDevice"), dict):
                yield (
                    instance,
                    f"instance {instance.name}: root volume encryption is not set (root_block_device)",
                )


def is_s3_origin(view: StackView, dist: Resource, origin: Mapping[str, Any]) -> Resource | bool:
    """The bucket behind an origin if it is in the view, True for another S3 domain, False otherwise."""
    domain = origin.get("domainName")
    for bucket in view.referenced(dist, "origins", *tokens.BUCKETS):
        names = {bucket.get("bucketRegionalDomainName"), bucket.get("bucketDomainName")}
        if domain in names or is_unknown(domain):
            return bucket
    if isinstance(origin.get("s3OriginConfig"), dict):
        return True
    return isinstance(domain, str) and ".s3." in domain and domain.endswith(".amazonaws.com")


def bucket_public_reasons(view: StackView, bucket: Resource) -> list[str]:
    """Why a bucket is (or may be) public: ACLs, a weakened public access block, an open policy."""
    reasons = []
    if str(bucket.get("acl", "")).startswith("public-"):
        reasons.append(f"ACL {bucket.get('acl')}")
    for acl in view.referencing(bucket, *tokens.BUCKET_ACLS):
        if str(acl.get("acl", "")).startswith("public-"):
            reasons.append(f"ACL {acl.get('acl')}")
    for block in view.referencing(bucket, tokens.BUCKET_PUBLIC_ACCESS_BLOCK):
        off = [
            key
            for key in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
            if block.get(key) is not True
        ]
        if off:
            reasons.append(f"public access block leaves {', '.join(off)} off")
    for policy in view.referencing(bucket, tokens.BUCKET_POLICY):
        if _policy_is_open(policy.get("policy")):
            reasons.append("bucket policy grants Principal '*' without a condition")
    return reasons


def _policy_is_open(document: Any) -> bool:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return False
    if not isinstance(document, dict):
        return False
    statements = document.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        open_principal = principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*")
        if open_principal and not statement.get("Condition"):
            return True
    return False


@rule(
    "SEC002",
    "s3-origin-public-or-without-oac",
    Severity.HIGH,
    "security",
    "A CloudFront S3 origin uses Origin Access Control and its bucket is not public.",
)
def s3_origin_public_or_without_oac(view: StackView) -> Hit:
    """Without OAC the bucket must be readable by everyone; a public bucket bypasses the CDN (and its WAF)."""
    for dist in view.of_type(tokens.DISTRIBUTION):
        for origin in dist.items("origins"):
            if not isinstance(origin, dict):
                continue
            bucket = is_s3_origin(view, dist, origin)
            if bucket is False:
                continue
            origin_id = origin.get("originId")
            if not origin.get("originAccessControlId"):
                legacy = isinstance(origin.get("s3OriginConfig"), dict) and origin["s3OriginConfig"].get(
                    "originAccessIdentity"
                )
                how = "uses a legacy origin access identity" if legacy else "has no origin access control"
                yield (
                    dist,
                    f"distribution {dist.name}: S3 origin {origin_id} {how} (set origin_access_control_id)",
                )
            if isinstance(bucket, Resource):
                for reason in bucket_public_reasons(view, bucket):
                    yield bucket, f"bucket {bucket.name} behind distribution {dist.name} is public: {reason}"


def _redirects_to_https(listener: Resource) -> bool:
    actions = [a for a in listener.items("defaultActions") if isinstance(a, dict)]
    return bool(actions) and all(
        a.get("type") == "redirect" and str((a.get("redirect") or {}).get("protocol", "")).upper() == "HTTPS"
        for a in actions
    )


@rule(
    "SEC003",
    "listener-without-tls",
    Severity.HIGH,
    "security",
    "Clients reach the service over TLS only (listeners, CloudFront viewers and origins; "
    "bare metal: frontends).",
)
def listener_without_tls(view: StackView) -> Hit:
    """Plain HTTP carries cookies and tokens in the clear; redirects to HTTPS are fine."""
    for listener in view.of_type(*tokens.LISTENERS):
        protocol = str(listener.get("protocol") or "HTTP").upper()
        if protocol in ("HTTP", "TCP", "UDP", "TCP_UDP") and not _redirects_to_https(listener):
            if protocol != "HTTP" and listener.get("alpnPolicy"):
                continue
            yield (
                listener,
                f"listener {listener.name} serves {protocol} on port {num(listener.get('port'))} without TLS",
            )
    for dist in view.of_type(tokens.DISTRIBUTION):
        behaviors = [dist.get("defaultCacheBehavior"), *dist.items("orderedCacheBehaviors")]
        for behavior in behaviors:
            if isinstance(behavior, dict) and behavior.get("viewerProtocolPolicy") == "allow-all":
                yield (
                    dist,
                    f"distribution {dist.name} allows plain HTTP viewers (viewer_protocol_policy allow-all)",
                )
                break
        for origin in dist.items("origins"):
            custom = origin.get("customOriginConfig") if isinstance(origin, dict) else None
            if isinstance(custom, dict) and custom.get("originProtocolPolicy") == "http-only":
                yield (
                    dist,
                    f"distribution {dist.name}: origin {origin.get('originId')} is reached over plain HTTP",
                )


_MODERN_ELB_POLICY = re.compile(r"TLS13-1-2|TLS-1-2|FS-1-2|PQ-TLS-1-2|TLS13-1-3")
_OLD_CLOUDFRONT = {"SSLv3", "TLSv1", "TLSv1_2016", "TLSv1.1_2016"}


@rule(
    "SEC004",
    "old-tls-policy",
    Severity.MEDIUM,
    "security",
    "TLS listeners allow TLS 1.2 and newer only (ELB security policy, CloudFront minimum protocol).",
)
def old_tls_policy(view: StackView) -> Hit:
    """TLS 1.0/1.1 are deprecated (RFC 8996); unset policies fall back to the provider's older default."""
    for listener in view.of_type(*tokens.LISTENERS):
        if str(listener.get("protocol") or "").upper() not in ("HTTPS", "TLS"):
            continue
        policy = listener.get("sslPolicy")
        if is_unknown(policy):
            continue
        if not policy:
            yield listener, f"listener {listener.name} sets no ssl_policy (the default allows TLS 1.0/1.1)"
        elif not _MODERN_ELB_POLICY.search(str(policy)):
            yield listener, f"listener {listener.name} uses {policy}, which allows TLS older than 1.2"
    for dist in view.of_type(tokens.DISTRIBUTION):
        certificate = dist.get("viewerCertificate")
        if not isinstance(certificate, dict) or certificate.get("cloudfrontDefaultCertificate"):
            continue
        minimum = certificate.get("minimumProtocolVersion")
        if not minimum or minimum in _OLD_CLOUDFRONT:
            yield (
                dist,
                f"distribution {dist.name}: minimum protocol {minimum or 'unset (TLSv1)'} is below TLS 1.2",
            )


@rule(
    "SEC005",
    "database-deletion-protection-off",
    Severity.MEDIUM,
    "security",
    "Databases and global tables turn deletion protection on.",
)
def database_deletion_protection_off(view: StackView) -> Hit:
    """One mistaken `pulumi destroy` or replacement deletes the data."""
    for db in view.of_type(tokens.RDS_CLUSTER, tokens.RDS_INSTANCE, tokens.GLOBAL_CLUSTER):
        if db.type == tokens.RDS_INSTANCE and db.get("clusterIdentifier"):
            continue
        if db.get("deletionProtection") is not True and not is_unknown(db.get("deletionProtection")):
            yield db, f"{db.label()} has deletion_protection off"
    for table in view.of_type(tokens.DYNAMODB_TABLE):
        if table.get("deletionProtectionEnabled") is not True:
            yield table, f"DynamoDB table {table.name} has deletion_protection_enabled off"
    for dsql in view.of_type(tokens.DSQL_CLUSTER):
        if dsql.get("deletionProtectionEnabled") is not True:
            yield dsql, f"DSQL cluster {dsql.name} has deletion_protection_enabled off"


_SECRET_KEY = re.compile(
    r"(password|passwd|secret|token|privatekey|apikey|authkey|credential)", re.IGNORECASE
)
_NOT_SECRET_KEY = re.compile(
    r"(id|ids|arn|arns|name|names|length|version|type|enabled|manage\w*|kms\w*|rotation\w*|policy|ttl|tokens|"
    r"reset|required|count|path|prefix|expiration|duration|source|location|wo|kind)$",
    re.IGNORECASE,
)
_AUTH_PASS = re.compile(r"^\s*auth_pass\s+\S+", re.MULTILINE)


def _plain_secret_paths(resource: Resource, value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _plain_secret_paths(resource, child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _plain_secret_paths(resource, child, f"{path}.{index}")
    elif isinstance(value, str) and value and not is_unknown(value):
        key = path.rsplit(".", 1)[-1]
        looks_secret = _SECRET_KEY.search(key.replace("_", "")) and not _NOT_SECRET_KEY.search(key)
        if looks_secret and resource.is_secret(path) is False:
            yield path


@rule(
    "SEC006",
    "password-not-secret",
    Severity.HIGH,
    "security",
    "Password-like inputs are Pulumi secrets (pulumi.Output.secret / pulumi_random), "
    "never plain text in state.",
    scope="resource",
)
def password_not_secret(view: StackView) -> Hit:
    """A plain password input lands in the state file and `pulumi preview` diffs in clear text."""
    for resource in view:
        if resource.secret_paths is None:
            continue  # this source cannot tell secrets apart (stack-level policy props)
        for path in _plain_secret_paths(resource, dict(resource.props), ""):
            yield resource, f"{resource.label()}: input {path} looks like a secret but is plain text"
        plain_user_data = not resource.is_secret("userData") and not resource.is_secret("userDataBase64")
        if (
            resource.type == tokens.EC2_INSTANCE
            and plain_user_data
            and _AUTH_PASS.search(user_data_text(resource))
        ):
            yield (
                resource,
                f"instance {resource.name}: user data holds a keepalived auth_pass in plain text",
            )
