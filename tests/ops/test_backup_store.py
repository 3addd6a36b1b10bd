"""The streaming uploader against a recording fake S3 client: part sizes, hashing, abort on failure."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
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


KEY = b"0123456789abcdef" * 4


def _manifest_data() -> dict[str, Any]:
    return {
        "format": 2,
        "job": "orders",
        "host": "db1",
        "engine": "postgresql",
        "database": "orders",
        "key": "db1/orders/postgresql/orders/20261207T020000.000Z.pgdump",
        "stamp": "20261207T020000.000Z",
        "version_id": None,
        "compression": "pg_dump custom",
        "started": "2026-12-07T02:00:00+00:00",
        "finished": "2026-12-07T02:01:00+00:00",
        "size": 10,
        "sha256": "0" * 64,
        "parts": 1,
        "part_size": 5242880,
        "etag": "e",
        "encryption": "AES256",
    }


def _signed(data: dict[str, Any], key: bytes = KEY) -> bytes:
    from hakit.ops.backup_manifest import manifest_tag

    return json.dumps({"manifest": data, "hmac_sha256": manifest_tag(key, data)}).encode()


def test_a_signed_manifest_round_trips():
    """sign() then verify() with the same key gives the same manifest."""
    from hakit.ops.backup_manifest import Manifest, sign, verify

    manifest = Manifest.model_validate(_manifest_data())
    assert verify(KEY, sign(KEY, manifest), "m") == manifest


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("sha256"), "m: damaged manifest: sha256: Field required"),
        (lambda d: d.update(size="10"), "m: damaged manifest: size: Input should be a valid integer"),
        (
            lambda d: d.update(size=-1),
            "m: damaged manifest: size: Input should be greater than or equal to 0",
        ),
        (lambda d: d.update(engine="oracle"), "m: damaged manifest: engine: Input should be 'postgresql' or"),
        (
            lambda d: d.update(stamp="x\nforged line"),
            "m: damaged manifest: stamp: String should match pattern",
        ),
        (lambda d: d.update(extra=1), "m: damaged manifest: extra: Extra inputs are not permitted"),
    ],
)
def test_signed_but_malformed_manifest_is_one_line(change: Any, message: str):
    """Missing keys and wrong types are refused by the model, even under a valid signature: one line."""
    from hakit.ops.backup_manifest import verify

    data = _manifest_data()
    change(data)
    with pytest.raises(HakitError) as caught:
        verify(KEY, _signed(data), "m")
    assert len(caught.value.lines) == 1 and caught.value.lines[0].startswith(message), caught.value.lines


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe", "m: damaged manifest: not JSON"),
        (b"[" * 60_000, "m: damaged manifest: not JSON"),
        (b" " * (64 * 1024 + 1), "m: damaged manifest: 65537 bytes (at most 65536)"),
        (b'"text"', "m: damaged manifest: (top level): Input should be a valid dictionary"),
        (b'{"manifest": {}}', "m: damaged manifest: hmac_sha256: Field required"),
        (
            b'{"manifest": [], "hmac_sha256": 5}',
            "m: damaged manifest: manifest: Input should be a valid dict",
        ),
        (b'{"format": 1, "sha256": "00", "size": 1}', "m: unauthenticated manifest: no signature"),
    ],
)
def test_damaged_manifest_bodies(body: bytes, message: str):
    """Bad JSON, deep nesting, oversize, wrong top level, the old unsigned format: one line each."""
    from hakit.ops.backup_manifest import verify

    with pytest.raises(HakitError) as caught:
        verify(KEY, body, "m")
    assert len(caught.value.lines) == 1 and caught.value.lines[0].startswith(message), caught.value.lines


def test_a_manifest_signed_with_another_key_is_refused():
    """The tag covers every field: another job's key (or an edit) does not verify."""
    from hakit.ops.backup_manifest import verify

    with pytest.raises(HakitError, match=r"^m: unauthenticated manifest: signature does not match"):
        verify(KEY, _signed(_manifest_data(), key=b"x" * 32), "m")


def test_keygen_writes_a_private_key_once(tmp_path: Path):
    """`hakit backup keygen`: 0600, 256 random bits in hex, and never over an existing key."""
    from hakit.ops.backup_manifest import load_key, write_new_key

    path = tmp_path / "job.key"
    write_new_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    key = load_key("job", str(path))
    assert len(key) == 64 and bytes.fromhex(key.decode())
    with pytest.raises(HakitError, match=r"already exists \(a new key would orphan the job's backups\)"):
        write_new_key(path)
    assert load_key("job", str(path)) == key
    short = tmp_path / "short.key"
    short.write_text("abc\n")
    with pytest.raises(HakitError, match=r"^backup job: manifest key .*short\.key: 3 bytes, at least 32"):
        load_key("job", str(short))
