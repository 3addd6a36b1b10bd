"""S3 side of backups: key layout, streaming multipart upload, manifests, listing, retention and pruning.

Key layout: `<prefix><host>/<database>/<stamp>.<ext>` for the dump and `<same>.manifest.json` beside it,
where stamp is UTC `YYYYmmddTHHMMSS.mmmZ` (sorts by time). S3 takes an object's metadata when a multipart
upload is *created*, before the stream's size and sha256 are known, so the dump object carries what is known
up front (host, database, engine, start time, manifest key) and a small manifest object written after the
upload completes carries size and sha256, both in its JSON body and in its own metadata. Copying the dump
onto itself to rewrite metadata was rejected: under Object Lock the copy is a second locked version (twice
the storage for the whole retention), and objects over 5 GiB would need a multipart copy. A dump without a
manifest is an incomplete backup: never restored, and pruned once a newer complete backup exists.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hakit.errors import HakitError
from hakit.spec.backup import BackupTarget, Retention

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MANIFEST_SUFFIX = ".manifest.json"
PARTS_PER_STEP = 1000
_STAMP_FORMAT = "%Y%m%dT%H%M%S"
_KEY_NAME = re.compile(r"^(?P<stamp>\d{8}T\d{6}\.\d{3}Z)\.(?P<rest>.+)$")


def make_client(target: BackupTarget) -> S3Client:
    """An S3 client with bounded retries and timeouts, so an unreachable endpoint fails in seconds."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=120,
        s3={"addressing_style": "path"} if target.endpoint_url else None,
    )
    return boto3.client("s3", region_name=target.region, endpoint_url=target.endpoint_url, config=config)


@contextmanager
def s3_errors(target: BackupTarget, doing: str) -> Iterator[None]:
    """Turn botocore failures into one-line HakitErrors naming the bucket and the step."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as err:
        error = err.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", "")
        raise HakitError(f"s3://{target.bucket}: {doing}: {code}: {message}".rstrip(": ")) from err
    except BotoCoreError as err:
        raise HakitError(f"s3://{target.bucket}: {doing}: {err}") from err


def make_stamp(now: datetime) -> str:
    """The sortable UTC timestamp used in keys."""
    now = now.astimezone(UTC)
    return f"{now.strftime(_STAMP_FORMAT)}.{now.microsecond // 1000:03d}Z"


def parse_stamp(stamp: str) -> datetime:
    """Inverse of make_stamp."""
    whole, millis = stamp.rstrip("Z").split(".")
    return datetime.strptime(whole, _STAMP_FORMAT).replace(tzinfo=UTC, microsecond=int(millis) * 1000)


def job_prefix(target: BackupTarget, host: str, database: str) -> str:
    """The folder holding one database's backups."""
    return f"{target.prefix}{host}/{database}/"


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


def write_manifest(s3: S3Client, target: BackupTarget, manifest: dict[str, Any], now: datetime) -> str:
    """Store the manifest beside the dump: JSON body plus sha256/size in the object's metadata."""
    key = manifest["key"] + MANIFEST_SUFFIX
    with s3_errors(target, f"write manifest {key}"):
        s3.put_object(
            Bucket=target.bucket,
            Key=key,
            Body=json.dumps(manifest, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
            Metadata={
                "sha256": manifest["sha256"],
                "size": str(manifest["size"]),
                "data-key": manifest["key"],
            },
            **_encryption_args(target),
            **_lock_args(target, now),
        )
    return key


def read_manifest(s3: S3Client, target: BackupTarget, key: str) -> dict[str, Any]:
    """Load a manifest object."""
    with s3_errors(target, f"read manifest {key}"):
        body = s3.get_object(Bucket=target.bucket, Key=key)["Body"].read()
    manifest: dict[str, Any] = json.loads(body)
    return manifest


@dataclass
class StoredBackup:
    """One backup as found in the bucket: its dump and/or manifest object."""

    stamp: str
    data_key: str | None = None
    manifest_key: str | None = None
    size: int = 0

    @property
    def complete(self) -> bool:
        """Both the dump and its manifest exist."""
        return self.data_key is not None and self.manifest_key is not None

    @property
    def taken_at(self) -> datetime:
        """When the backup started."""
        return parse_stamp(self.stamp)

    def object_keys(self) -> list[str]:
        """Its object keys, dump first (a dump without manifest is harmless, as it is never restored)."""
        return [k for k in (self.data_key, self.manifest_key) if k is not None]


def list_backups(s3: S3Client, target: BackupTarget, prefix: str) -> list[StoredBackup]:
    """Every backup under a job's prefix, oldest first."""
    found: dict[str, StoredBackup] = {}
    with s3_errors(target, f"list {prefix}"):
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=target.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                match = _KEY_NAME.match(obj["Key"][len(prefix) :])
                if match is None:
                    continue
                backup = found.setdefault(match["stamp"], StoredBackup(match["stamp"]))
                if match["rest"].endswith(MANIFEST_SUFFIX):
                    backup.manifest_key = obj["Key"]
                else:
                    backup.data_key = obj["Key"]
                    backup.size = obj["Size"]
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
    """What pruning did: deleted keys, keys kept because Object Lock protects them, and kept backups."""

    deleted: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def _lock_until(head: dict[str, Any], now: datetime) -> str | None:
    """Why an object may not be deleted now (retention date or legal hold), or None."""
    if head.get("ObjectLockLegalHoldStatus") == "ON":
        return "legal hold"
    until = head.get("ObjectLockRetainUntilDate")
    if until is not None and until > now:
        return f"retained until {until.isoformat()}"
    return None


def prune(
    s3: S3Client,
    target: BackupTarget,
    prefix: str,
    retention: Retention,
    now: datetime,
    dry_run: bool = False,
) -> PruneResult:
    """Delete backups retention no longer keeps; never a locked object, never the newest complete backup."""
    result = PruneResult()
    backups = list_backups(s3, target, prefix)
    complete = [b for b in backups if b.complete]
    if not complete:
        return result  # nothing proven restorable: delete nothing
    keep = select_keep([b.taken_at for b in complete], retention)
    newest = complete[-1].taken_at
    doomed: list[StoredBackup] = []
    for backup in backups:
        if backup.complete and backup.taken_at in keep:
            result.kept.append(backup.stamp)
        elif backup.complete or backup.taken_at < newest:
            doomed.append(backup)  # expired, or an incomplete leftover older than the newest good backup
    for backup in doomed:
        heads: dict[str, dict[str, Any]] = {}
        for key in backup.object_keys():
            with s3_errors(target, f"inspect {key}"):
                heads[key] = dict(s3.head_object(Bucket=target.bucket, Key=key))
        # A backup goes whole or not at all: a locked manifest keeps its dump restorable (and vice versa).
        reasons = {
            key: reason for key, head in heads.items() if (reason := _lock_until(head, now)) is not None
        }
        if reasons:
            result.locked += [f"{key} ({reasons.get(key, 'kept with its locked sibling')})" for key in heads]
            continue
        for key, head in heads.items():
            if not dry_run:
                args: dict[str, Any] = {"Bucket": target.bucket, "Key": key}
                if head.get("VersionId") and head["VersionId"] != "null":
                    args["VersionId"] = head["VersionId"]  # versioned bucket: remove the version, not hide it
                with s3_errors(target, f"delete {key}"):
                    s3.delete_object(**args)
            result.deleted.append(key)
    return result
