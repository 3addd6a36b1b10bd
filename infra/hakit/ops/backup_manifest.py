"""Backup manifests: what a finished upload recorded, signed with the job's key (HMAC-SHA256).

The manifest object holds `{"manifest": {...}, "hmac_sha256": HEX}` where the tag covers a domain string and
the canonical JSON (sorted keys, no spaces) of `manifest`. The key is the job's own (`credentials.
manifest_key`, handed to the unit by `LoadCredential=`), so S3 write access alone cannot make a manifest
that restore, list or prune accept. The dump object itself carries a tag over (job, key, stamp) in its
metadata, fixed when the upload is created, so an unfinished dump of this job can be told from a planted one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hakit.errors import HakitError

FORMAT: Literal[2] = 2
MAX_MANIFEST_BYTES = 64 * 1024
MIN_KEY_BYTES = 32
CREDENTIAL_NAME = "manifest-key"
_MANIFEST_DOMAIN = b"hakit-backup-manifest-v2\n"
_OBJECT_DOMAIN = b"hakit-backup-object-v2\n"

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Manifest(BaseModel):
    """What one finished backup recorded (the signed part of the manifest object)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    format: Literal[2]
    job: str = Field(min_length=1, max_length=64)
    host: str = Field(min_length=1, max_length=255)
    engine: Literal["postgresql", "mariadb"]
    database: str = Field(min_length=1, max_length=64)
    key: str = Field(min_length=1, max_length=1024)
    stamp: str = Field(pattern=r"^\d{8}T\d{6}\.\d{3}Z$")
    version_id: str | None = Field(max_length=1024)
    compression: Literal["gzip", "pg_dump custom"]
    started: str = Field(max_length=64)
    finished: str = Field(max_length=64)
    size: int = Field(ge=0)
    sha256: Sha256Hex
    parts: int = Field(ge=1)
    part_size: int = Field(ge=1)
    etag: str = Field(max_length=1024)
    encryption: str = Field(max_length=32)


class _Envelope(BaseModel):
    """The manifest object's outer shape: the manifest fields and their tag."""

    model_config = ConfigDict(extra="forbid", strict=True)

    manifest: dict[str, Any]
    hmac_sha256: Sha256Hex


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def manifest_tag(key: bytes, data: dict[str, Any]) -> str:
    """The HMAC-SHA256 tag of a manifest's fields."""
    return hmac.new(key, _MANIFEST_DOMAIN + _canonical(data), hashlib.sha256).hexdigest()


def object_tag(key: bytes, job: str, object_key: str) -> str:
    """The tag a dump object carries in its metadata: this job wrote this key."""
    message = _OBJECT_DOMAIN + _canonical({"job": job, "key": object_key})
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def object_tag_ok(key: bytes, job: str, object_key: str, tag: str | None) -> bool:
    """Whether a dump object's metadata tag shows this job wrote it."""
    return tag is not None and hmac.compare_digest(object_tag(key, job, object_key), tag)


def sign(key: bytes, manifest: Manifest) -> bytes:
    """The manifest object's body."""
    data = manifest.model_dump()
    envelope = {"manifest": data, "hmac_sha256": manifest_tag(key, data)}
    return json.dumps(envelope, indent=2, sort_keys=True).encode()


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"{where}: {first['msg']}"


def verify(key: bytes, body: bytes, where: str) -> Manifest:
    """Parse and authenticate a manifest object; any damage or a wrong tag is one HakitError line."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise HakitError(f"{where}: damaged manifest: {len(body)} bytes (at most {MAX_MANIFEST_BYTES})")
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise HakitError(f"{where}: damaged manifest: not JSON ({err})") from None
    if isinstance(raw, dict) and "hmac_sha256" not in raw and "sha256" in raw:
        raise HakitError(f"{where}: unauthenticated manifest: no signature (an unsigned format-1 manifest)")
    try:
        envelope = _Envelope.model_validate(raw)
    except ValidationError as err:
        raise HakitError(f"{where}: damaged manifest: {_first_error(err)}") from None
    if not hmac.compare_digest(manifest_tag(key, envelope.manifest), envelope.hmac_sha256):
        raise HakitError(f"{where}: unauthenticated manifest: signature does not match this job's key")
    try:
        return Manifest.model_validate(envelope.manifest)
    except ValidationError as err:
        raise HakitError(f"{where}: damaged manifest: {_first_error(err)}") from None


def load_key(job: str, path: str) -> bytes:
    """The job's signing key: `$CREDENTIALS_DIRECTORY/manifest-key` under systemd, else the file at `path`."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    candidate = Path(directory) / CREDENTIAL_NAME if directory else Path(path)
    if directory and not candidate.exists():
        candidate = Path(path)
    try:
        key = candidate.read_bytes()[:4096].strip()
    except OSError as err:
        raise HakitError(
            f"backup {job}: manifest key {candidate}: {err.strerror}; create it with `hakit backup keygen`"
        ) from None
    if len(key) < MIN_KEY_BYTES:
        raise HakitError(
            f"backup {job}: manifest key {candidate}: {len(key)} bytes, at least {MIN_KEY_BYTES} needed"
        )
    return key


def write_new_key(path: Path) -> None:
    """Create a 0600 key file with 256 random bits (hex); refuse to overwrite an existing key."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise HakitError(f"{path}: already exists (a new key would orphan the job's backups)") from None
    except OSError as err:
        raise HakitError(f"{path}: {err.strerror}") from None
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
