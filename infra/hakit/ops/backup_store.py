"""S3 side of backups: key layout, streaming multipart upload, manifests, listing, retention and pruning.

Key layout: `<prefix><host>/<database>/<engine>/<job>/<stamp>.<ext>` for the dump and `<same>.manifest.json`
beside it, where stamp is UTC `YYYYmmddTHHMMSS.mmmZ` (sorts by time); one folder per job, so jobs never
list, restore or prune each other's objects. S3 takes an object's metadata when a multipart upload is
*created*, before the stream's size and sha256 are known, so the dump object carries what is known up front
(and a tag of the job's key over its own key) and a small signed manifest written after the upload
completes carries size, sha256 and the dump's VersionId (see backup_manifest). Copying the dump onto itself
to rewrite metadata was rejected: under Object Lock the copy is a second locked version, and objects over
5 GiB would need a multipart copy. Listing reads object *versions*: an overwrite or a delete marker hides
nothing, and restore fetches exactly the version the manifest names.
"""

from __future__ import annotations

import configparser
import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hakit.errors import HakitError
from hakit.ops.backup_manifest import Manifest, object_tag_ok, verify
from hakit.spec.backup import BackupTarget, Retention

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MANIFEST_SUFFIX = ".manifest.json"
PARTS_PER_STEP = 1000
_STAMP_FORMAT = "%Y%m%dT%H%M%S"
_KEY_NAME = re.compile(r"(?P<stamp>\d{8}T\d{6}\.\d{3}Z)\.(?P<rest>[^/]+)")
# A backup stamped later than now + this is refused (clocks of the job host and the restoring host differ).
CLOCK_SKEW = timedelta(minutes=5)
MAX_MANIFEST_READ = 64 * 1024 + 1  # one byte over the limit, so verify() can say "too big"


def _static_credentials(path: Path) -> dict[str, str]:
    """Keys from an AWS shared-credentials file's [default] profile (a LoadCredential= file)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError, configparser.Error) as err:
        raise HakitError(f"{path}: unreadable AWS credentials file ({err})") from None
    section = parser["default"] if parser.has_section("default") else None
    names = {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"}
    found = {name: section[name] for name in names if section is not None and section.get(name)}
    if {"aws_access_key_id", "aws_secret_access_key"} - found.keys():
        raise HakitError(f"{path}: [default] needs aws_access_key_id and aws_secret_access_key")
    return found


def make_client(target: BackupTarget, credentials: Path | None = None) -> S3Client:
    """An S3 client with bounded retries and timeouts, so an unreachable endpoint fails in seconds.

    `credentials` is an AWS shared-credentials file (the unit's `aws` credential); without it boto3's usual
    chain applies (an instance role on EC2).
    """
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=120,
        s3={"addressing_style": "path"} if target.endpoint_url else None,
    )
    keys = _static_credentials(credentials) if credentials is not None else {}
    session = boto3.session.Session(**keys)  # type: ignore[arg-type]
    return session.client("s3", region_name=target.region, endpoint_url=target.endpoint_url, config=config)


@contextmanager
def s3_errors(target: BackupTarget, doing: str) -> Iterator[None]:
    """Turn botocore failures into one-line HakitErrors naming the bucket and the step."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    try:
        yield
    except ClientError as err:
        error = err.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", "")
        raise HakitError(f"s3://{target.bucket}: {doing}: {code}: {message}".rstrip(": ")) from err
    except (BotoCoreError, ResponseParserError) as err:
        raise HakitError(f"s3://{target.bucket}: {doing}: {err}") from err


def make_stamp(now: datetime) -> str:
    """The sortable UTC timestamp used in keys."""
    now = now.astimezone(UTC)
    return f"{now.strftime(_STAMP_FORMAT)}.{now.microsecond // 1000:03d}Z"


def parse_stamp(stamp: str) -> datetime:
    """Inverse of make_stamp."""
    whole, millis = stamp.rstrip("Z").split(".")
    return datetime.strptime(whole, _STAMP_FORMAT).replace(tzinfo=UTC, microsecond=int(millis) * 1000)


def _encryption_args(target: BackupTarget) -> dict[str, Any]:
    args: dict[str, Any] = {"ServerSideEncryption": target.encryption.algorithm}
    if target.encryption.kms_key_id:
        args["SSEKMSKeyId"] = target.encryption.kms_key_id
    return args


def _lock_args(target: BackupTarget, now: datetime) -> dict[str, Any]:
    if target.object_lock is None:
        return {}
    return {
        "ObjectLockMode": target.object_lock.mode,
        "ObjectLockRetainUntilDate": now + timedelta(days=target.object_lock.days),
    }


@dataclass
class UploadResult:
    """A completed upload: what S3 stored and what we streamed."""

    key: str
    size: int
    sha256: str
    parts: int
    etag: str
    version_id: str | None


@dataclass
class MultipartUpload:
    """Stream bytes into one S3 object in fixed-size parts, hashing as they pass; no temp file."""

    s3: S3Client
    target: BackupTarget
    key: str
    metadata: dict[str, str]
    now: datetime
    on_part: Callable[[int, int], None] | None = None
    upload_id: str | None = None
    _buffer: bytearray = field(default_factory=bytearray)
    _parts: list[dict[str, Any]] = field(default_factory=list)
    _sha: Any = field(default_factory=hashlib.sha256)
    _size: int = 0

    def begin(self) -> None:
        """Create the multipart upload (encryption, lock retention and metadata are fixed here)."""
        with s3_errors(self.target, f"start upload of {self.key}"):
            response = self.s3.create_multipart_upload(
                Bucket=self.target.bucket,
                Key=self.key,
                Metadata=self.metadata,
                ContentType="application/octet-stream",
                **_encryption_args(self.target),
                **_lock_args(self.target, self.now),
            )
        self.upload_id = response["UploadId"]

    def write(self, chunk: bytes) -> None:
        """Add bytes; full parts go to S3 as soon as they are complete."""
        self._sha.update(chunk)
        self._size += len(chunk)
        self._buffer += chunk
        while len(self._buffer) >= (size := self.next_part_size()):
            self._send(bytes(self._buffer[:size]))
            del self._buffer[:size]

    def next_part_size(self) -> int:
        """Size of the next part: the configured size, one step larger after every 1,000 parts.

        S3 allows 10,000 parts per upload; growing the size keeps long streams (of unknown length) inside
        that limit: with 64 MiB parts an upload can reach 3.4 TiB instead of 625 GiB.
        """
        return self.target.part_size * (1 + len(self._parts) // PARTS_PER_STEP)

    def _send(self, body: bytes) -> None:
        assert self.upload_id is not None, "begin() first"
        number = len(self._parts) + 1
        with s3_errors(self.target, f"upload part {number} of {self.key}"):
            response = self.s3.upload_part(
                Bucket=self.target.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
            )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        if self.on_part is not None:
            self.on_part(number, self._size)

    def complete(self) -> UploadResult:
        """Send the last part and complete the upload."""
        if self._buffer or not self._parts:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        with s3_errors(self.target, f"complete upload of {self.key}"):
            response = self.s3.complete_multipart_upload(
                Bucket=self.target.bucket,
                Key=self.key,
                UploadId=self.upload_id or "",
                MultipartUpload={"Parts": self._parts},  # type: ignore[typeddict-item]
            )
        self.upload_id = None
        return UploadResult(
            key=self.key,
            size=self._size,
            sha256=self._sha.hexdigest(),
            parts=len(self._parts),
            etag=response.get("ETag", "").strip('"'),
            version_id=response.get("VersionId"),
        )

    def abort(self) -> str | None:
        """Abort an unfinished upload so no partial object or stray parts remain; return a problem, if any."""
        if self.upload_id is None:
            return None
        try:
            self.s3.abort_multipart_upload(Bucket=self.target.bucket, Key=self.key, UploadId=self.upload_id)
        except Exception as err:  # the original failure matters more; report this one beside it
            return (
                f"could not abort upload {self.upload_id} of {self.key} ({err}); "
                "the next run aborts it (or a bucket AbortIncompleteMultipartUpload rule)"
            )
        self.upload_id = None
        return None


def abort_stale_uploads(s3: S3Client, target: BackupTarget, prefix: str, older_than: datetime) -> list[str]:
    """Abort multipart uploads under `prefix` started before `older_than` (left by a killed job)."""
    aborted: list[str] = []
    with s3_errors(target, "list unfinished uploads"):
        response = s3.list_multipart_uploads(Bucket=target.bucket, Prefix=prefix)
        for upload in response.get("Uploads", []):
            if upload["Initiated"] < older_than:
                s3.abort_multipart_upload(
                    Bucket=target.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                aborted.append(upload["Key"])
    return aborted


@dataclass(frozen=True)
class JobStore:
    """One job's folder in its bucket, and the key that authenticates what the job wrote there."""

    s3: S3Client
    target: BackupTarget
    prefix: str
    job: str
    key: bytes

    def where(self, key: str) -> str:
        """An object's URL for messages."""
        return f"s3://{self.target.bucket}/{key}"


def _version_args(version_id: str | None) -> dict[str, Any]:
    """Address one version; an unversioned bucket's objects have the version id "null" (or none)."""
    return {"VersionId": version_id} if version_id and version_id != "null" else {}


def write_manifest(store: JobStore, body: bytes, manifest: Manifest, now: datetime) -> tuple[str, str | None]:
    """Store the signed manifest beside the dump; return its key and version id."""
    key = manifest.key + MANIFEST_SUFFIX
    target = store.target
    with s3_errors(target, f"write manifest {key}"):
        response = store.s3.put_object(
            Bucket=target.bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            Metadata={"sha256": manifest.sha256, "size": str(manifest.size), "data-key": manifest.key},
            **_encryption_args(target),
            **_lock_args(target, now),
        )
    return key, response.get("VersionId")


def bucket_protection_warning(s3: S3Client, target: BackupTarget) -> str | None:
    """A warning when the bucket keeps no old versions (Object Lock needs versioning: one check for both)."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    try:
        status = s3.get_bucket_versioning(Bucket=target.bucket).get("Status")
    except (BotoCoreError, ClientError, ResponseParserError) as err:
        return f"warning: s3://{target.bucket}: could not read the versioning status ({err})"
    if status == "Enabled":
        return None
    return (
        f"warning: s3://{target.bucket} has neither versioning nor Object Lock: "
        "anyone with the hosts' PutObject/DeleteObject can overwrite or delete backups for good"
    )


@dataclass(frozen=True)
class ObjectVersion:
    """One stored version of an object (a delete marker is not one)."""

    key: str
    version_id: str
    size: int
    latest: bool


BackupState = Literal["complete", "incomplete", "unauthenticated", "future", "dump missing"]


@dataclass
class StoredBackup:
    """One backup as found in the bucket: the versions of its dump and manifest, and what checking found."""

    stamp: str
    dumps: list[ObjectVersion] = field(default_factory=list)  # newest first
    manifests: list[ObjectVersion] = field(default_factory=list)  # newest first
    manifest: Manifest | None = None
    manifest_version: ObjectVersion | None = None
    problem: str | None = None  # why the backup is not usable

    @property
    def state(self) -> BackupState:
        """complete: an authenticated manifest whose dump version exists; else why not."""
        if self.problem is not None and self.problem.startswith("future"):
            return "future"
        if self.manifest is not None:
            return "complete" if self.dump is not None else "dump missing"
        if self.manifests:
            return "unauthenticated"
        return "incomplete"

    @property
    def complete(self) -> bool:
        """Restorable: authenticated, not in the future, its recorded dump version present."""
        return self.state == "complete"

    @property
    def dump(self) -> ObjectVersion | None:
        """The dump version to use: the one the manifest records, else the newest stored version."""
        if self.manifest is not None:
            key, wanted = self.manifest.key, self.manifest.version_id or "null"
            return next((v for v in self.dumps if v.key == key and v.version_id == wanted), None)
        return self.dumps[0] if self.dumps else None

    @property
    def data_key(self) -> str | None:
        """The dump's key."""
        version = self.dump or (self.dumps[0] if self.dumps else None)
        return version.key if version else None

    @property
    def manifest_key(self) -> str | None:
        """The manifest's key."""
        return self.manifests[0].key if self.manifests else None

    @property
    def size(self) -> int:
        """Bytes of the dump version in use."""
        return self.dump.size if self.dump else 0

    @property
    def taken_at(self) -> datetime:
        """When the backup started."""
        return parse_stamp(self.stamp)


def _versions(store: JobStore) -> dict[str, StoredBackup]:
    found: dict[str, StoredBackup] = {}
    target, prefix = store.target, store.prefix
    with s3_errors(target, f"list {prefix}"):
        paginator = store.s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=target.bucket, Prefix=prefix):
            for obj in page.get("Versions", []):
                match = _KEY_NAME.fullmatch(obj["Key"][len(prefix) :])
                if match is None:
                    continue
                version = ObjectVersion(
                    obj["Key"], obj.get("VersionId") or "null", obj.get("Size", 0), obj.get("IsLatest", True)
                )
                backup = found.setdefault(match["stamp"], StoredBackup(match["stamp"]))
                if match["rest"].endswith(MANIFEST_SUFFIX):
                    backup.manifests.append(version)
                else:
                    backup.dumps.append(version)
    for backup in found.values():
        # S3 lists the versions of a key newest first; the latest marker settles ties across pages.
        backup.dumps.sort(key=lambda v: not v.latest)
        backup.manifests.sort(key=lambda v: not v.latest)
    return found


def _authenticate(store: JobStore, backup: StoredBackup) -> None:
    """Find the newest manifest version that this job's key signed for exactly this dump key."""
    problems: list[str] = []
    for version in backup.manifests:
        with s3_errors(store.target, f"read manifest {version.key}"):
            response = store.s3.get_object(
                Bucket=store.target.bucket, Key=version.key, **_version_args(version.version_id)
            )
            body = response["Body"].read(MAX_MANIFEST_READ)
        try:
            manifest = verify(store.key, body, store.where(version.key))
        except HakitError as err:
            problems.append(err.lines[0])
            continue
        expected_key = version.key[: -len(MANIFEST_SUFFIX)]
        if manifest.job != store.job or manifest.key != expected_key or manifest.stamp != backup.stamp:
            problems.append(
                f"{store.where(version.key)}: unauthenticated manifest: signed for job {manifest.job!r} "
                f"key {manifest.key!r}, found at another place"
            )
            continue
        backup.manifest, backup.manifest_version = manifest, version
        if backup.dump is None:
            backup.problem = f"{store.where(expected_key)}: the version the manifest records is gone"
        return
    if problems:
        backup.problem = problems[0]


def list_backups(store: JobStore, now: datetime) -> list[StoredBackup]:
    """Every backup in the job's folder, oldest first, each authenticated (or marked why not)."""
    found = _versions(store)
    latest_allowed = now + CLOCK_SKEW
    for stamp, backup in found.items():
        if parse_stamp(stamp) > latest_allowed:
            backup.problem = f"future stamp {stamp}: later than now + {int(CLOCK_SKEW.total_seconds())} s"
            continue
        if backup.manifests:
            _authenticate(store, backup)
    return [found[stamp] for stamp in sorted(found)]


def select_keep(taken: list[datetime], retention: Retention) -> set[datetime]:
    """What retention keeps: newest of each of the last `daily` days and `weekly` ISO weeks, and newest."""
    keep: set[datetime] = set()
    days: set[date] = set()
    weeks: set[tuple[int, int]] = set()
    for moment in sorted(taken, reverse=True):
        day = moment.date()
        week = moment.isocalendar()[:2]
        if day not in days and len(days) < retention.daily:
            days.add(day)
            keep.add(moment)
        if week not in weeks and len(weeks) < retention.weekly:
            weeks.add(week)
            keep.add(moment)
    if taken:
        keep.add(max(taken))
    return keep


@dataclass
class PruneResult:
    """What pruning did: deleted keys, locked ones kept, kept backups, and what is not this job's."""

    deleted: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)


def _lock_until(head: dict[str, Any], now: datetime) -> str | None:
    """Why an object may not be deleted now (retention date or legal hold), or None."""
    if head.get("ObjectLockLegalHoldStatus") == "ON":
        return "legal hold"
    until = head.get("ObjectLockRetainUntilDate")
    if until is not None and until > now:
        return f"retained until {until.isoformat()}"
    return None


def _ours(store: JobStore, backup: StoredBackup) -> list[ObjectVersion] | None:
    """The versions of a doomed backup this job provably wrote, or None when it cannot tell (left alone)."""
    if backup.manifest is not None and backup.manifest_version is not None:
        return [v for v in (backup.dump, backup.manifest_version) if v is not None]
    if backup.manifests or not backup.dumps:
        return None  # a manifest that does not authenticate: not ours to judge
    dump = backup.dumps[0]
    with s3_errors(store.target, f"inspect {dump.key}"):
        head = store.s3.head_object(
            Bucket=store.target.bucket, Key=dump.key, **_version_args(dump.version_id)
        )
    tag = head.get("Metadata", {}).get("auth")
    return [dump] if object_tag_ok(store.key, store.job, dump.key, tag) else None


def prune(store: JobStore, retention: Retention, now: datetime, dry_run: bool = False) -> PruneResult:
    """Delete what retention drops, by version: only this job's authenticated objects, never locked ones."""
    result = PruneResult()
    backups = list_backups(store, now)
    complete = [b for b in backups if b.complete]
    if not complete:
        return result  # nothing proven restorable: delete nothing
    keep = select_keep([b.taken_at for b in complete], retention)
    newest = complete[-1].taken_at
    for backup in backups:
        if backup.complete and backup.taken_at in keep:
            result.kept.append(backup.stamp)
            continue
        if backup.state == "future" or (not backup.complete and backup.taken_at >= newest):
            if backup.state != "incomplete":
                result.foreign.append(f"{backup.stamp} ({backup.problem})")
            continue  # maybe a run still uploading; or not ours
        versions = _ours(store, backup)
        if versions is None:
            result.foreign.append(f"{backup.stamp} ({backup.problem or 'not written by this job'})")
            continue
        _delete_whole(store, versions, now, dry_run, result)
    return result


def _delete_whole(
    store: JobStore, versions: list[ObjectVersion], now: datetime, dry_run: bool, result: PruneResult
) -> None:
    """Delete a backup's versions, or none when any is locked (a manifest without its dump is useless)."""
    bucket = store.target.bucket
    reasons: dict[str, str] = {}
    for version in versions:
        with s3_errors(store.target, f"inspect {version.key}"):
            head = store.s3.head_object(Bucket=bucket, Key=version.key, **_version_args(version.version_id))
        if (reason := _lock_until(dict(head), now)) is not None:
            reasons[version.key] = reason
    if reasons:
        result.locked += [f"{v.key} ({reasons.get(v.key, 'kept with its locked sibling')})" for v in versions]
        return
    for version in versions:
        if not dry_run:
            with s3_errors(store.target, f"delete {version.key}"):
                # By version: the data is removed, not hidden behind a delete marker.
                store.s3.delete_object(Bucket=bucket, Key=version.key, **_version_args(version.version_id))
        result.deleted.append(version.key)
