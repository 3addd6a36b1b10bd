"""Sandboxes for daemon checks: a bundle of rendered files whose absolute paths point into a temp dir.

The renderer writes every path it owns as `<root>/etc|run|var/...`; a check rewrites those to the
sandbox so that nothing outside it is read or written (nginx -t opens its logs, haproxy -c loads its
error files). TLS certificates are not part of a tree: a missing one is stood in for by a throwaway
self-signed certificate inside the sandbox, never created at its real place.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from hakit.errors import HakitError
from hakit.render.tree import RenderedFile
from hakit.render.writer import write_file

TIMEOUT_S = 60
"""Upper bound for any helper process (openssl, ip, the daemons)."""

PACKAGES = {
    "haproxy": "haproxy",
    "keepalived": "keepalived",
    "nginx": "nginx",
    "ip": "iproute2",
    "sysctl": "procps",
    "unshare": "util-linux",
    "openssl": "openssl",
}
"""Binary -> the Debian package that provides it (for the error message)."""


def find_binary(name: str) -> str | None:
    """A binary on PATH or in /usr/sbin:/sbin (cron's PATH is `/usr/bin:/bin`; daemons live in sbin)."""
    return shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin")


def require_binary(name: str) -> str:
    """The absolute path of a helper binary, or a one-line error naming the package to install."""
    found = find_binary(name)
    if found is None:
        raise HakitError(
            f"{name} not found on PATH or in /usr/sbin:/sbin (install the {PACKAGES.get(name, name)} package)"
        )
    return found


def _path_pattern(root: str) -> re.Pattern[str]:
    prefix = re.escape(root.rstrip("/"))
    return re.compile(r'(?<=[\s"=])' + prefix + r"/(?=(?:etc|run|var)/)")


def sandbox_text(text: str, root: str, sandbox: Path) -> str:
    """Point the config's `<root>/etc|run|var/...` paths into `sandbox`."""
    return _path_pattern(root).sub(lambda _: str(sandbox) + "/", text)


_CERT_RE = re.compile(
    r"(?:\bcrt|\bca-file|\bssl_certificate(?:_key)?|\bssl_client_certificate|\bproxy_ssl_trusted_certificate)"
    r"\s+([^\s;]+)"
)
"""Certificates, keys and CA files a config names (a self-signed stand-in is also a valid CA file)."""


class StandInCertificate:
    """A throwaway self-signed certificate + key (one PEM) made on first use."""

    def __init__(self, directory: Path) -> None:
        self._path = directory / "hakit-test-cert.pem"
        self._lock = threading.Lock()  # checks run in threads: make the certificate once

    def path(self) -> Path:
        """The PEM (certificate + key), created on first use."""
        with self._lock:
            return self._make()

    def _make(self) -> Path:
        if not self._path.exists():
            openssl = find_binary("openssl")
            if openssl is None:
                raise RuntimeError("openssl is needed to stand in for missing TLS certificates")
            key, cert = self._path.with_suffix(".key"), self._path.with_suffix(".crt")
            command = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
            command += ["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=hakit"]
            subprocess.run(command, check=True, capture_output=True, timeout=TIMEOUT_S)
            partial = self._path.with_suffix(".tmp")
            partial.write_bytes(cert.read_bytes() + key.read_bytes())
            os.chmod(partial, 0o600)
            os.rename(partial, self._path)
        return self._path


def materialize(
    bundle: Sequence[tuple[str, RenderedFile]],
    config: str,
    root: str,
    sandbox: Path,
    cert: StandInCertificate,
) -> tuple[Path, list[str]]:
    """Write `bundle` into `sandbox` with its paths pointed there; return the config path and notes."""
    notes: list[str] = []
    config_path = sandbox / config
    for relative, rendered in bundle:
        target = sandbox / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        write_file(target, sandbox_text(rendered.content, root, sandbox), rendered.effective_mode)
    config_text = config_path.read_text(encoding="utf-8")
    # Directories the daemon expects (sockets, logs, temp paths, chroot).
    for token in re.findall(re.escape(str(sandbox)) + r"/[^\s\";]*", config_text):
        path = Path(token)
        (path if token.endswith("/") else path.parent).mkdir(parents=True, exist_ok=True)
    for token in sorted(set(_CERT_RE.findall(config_text))):
        original = token.replace(str(sandbox), root.rstrip("/"))
        path = Path(token)
        if not token.startswith(f"{sandbox}/"):
            # A certificate outside the rendered paths: never touch the real one, use a sandbox copy.
            path = sandbox / "_external" / token.lstrip("/")
            config_text = re.sub(rf"(?<=\s){re.escape(token)}(?=[\s;]|$)", str(path), config_text)
            config_path.write_text(config_text, encoding="utf-8", newline="")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cert.path(), path)
            notes.append(f"{original} is not in the tree: checked with a throwaway self-signed certificate")
    (sandbox / "var/lib/haproxy").mkdir(parents=True, exist_ok=True)
    return config_path, notes
