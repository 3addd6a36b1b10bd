"""The streaming uploader against a recording fake S3 client: part sizes, hashing, abort on failure."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from hakit.errors import HakitError
from hakit.ops.backup_store import MultipartUpload
from hakit.spec.backup import BackupTarget


class RecordingS3:
    """Just enough of an S3 client for MultipartUpload; fails part `fail_at` when set."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.parts: list[int] = []
        self.aborted = False
        self.completed: list[dict[str, Any]] = []
        self.fail_at = fail_at

    def create_multipart_upload(self, **_: Any) -> dict[str, str]:
        return {"UploadId": "u1"}

    def upload_part(self, *, PartNumber: int, Body: bytes, **_: Any) -> dict[str, str]:
        if PartNumber == self.fail_at:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="http://s3.invalid")
        self.parts.append(len(Body))
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, *, MultipartUpload: dict[str, Any], **_: Any) -> dict[str, str]:
        self.completed = MultipartUpload["Parts"]
        return {"ETag": '"x-3"'}

    def abort_multipart_upload(self, **_: Any) -> None:
        self.aborted = True


def _upload(s3: RecordingS3) -> MultipartUpload:
    target = BackupTarget(bucket="b-test", part_size_mib=5)
    upload = MultipartUpload(s3, target, "k", metadata={}, now=datetime.now(UTC))  # type: ignore[arg-type]
    upload.begin()
    return upload


def test_parts_grow_every_thousand_parts(monkeypatch: pytest.MonkeyPatch):
    """Part size steps up after each block of parts: a stream of unknown length stays under 10,000 parts."""
    monkeypatch.setattr("hakit.ops.backup_store.PARTS_PER_STEP", 3)
    monkeypatch.setattr(BackupTarget, "part_size", property(lambda self: 10))
    s3 = RecordingS3()
    upload = _upload(s3)
    data = bytes(range(256))
    for start in range(0, len(data), 7):
        upload.write(data[start : start + 7])
    result = upload.complete()
    assert s3.parts == [10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 36]
    assert sum(s3.parts) == result.size == 256
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert [p["PartNumber"] for p in s3.completed] == list(range(1, 12))


def test_a_failed_part_aborts_the_upload():
    """An S3 failure mid-stream raises a one-line error and the caller's abort leaves nothing behind."""
    s3 = RecordingS3(fail_at=2)
    upload = _upload(s3)
    with pytest.raises(HakitError, match=r"^s3://b-test: upload part 2 of k: Could not connect"):
        upload.write(b"x" * (11 * 1024 * 1024))
    assert upload.abort() is None and s3.aborted
