"""Check rendered configs with the real daemons: `haproxy -c`, `keepalived -t`, `nginx -t`.

Each distinct config bundle (the config plus the files next to it: error pages, scripts) is checked
once (hash dedupe), in parallel. A bundle is copied into a sandbox directory and the absolute paths
the renderer produced (`<root>/etc/...`, `<root>/run/...`, `<root>/var/...`) are pointed into the
sandbox, so nothing outside it is read or written. keepalived and nginx run inside throwaway network
namespaces: keepalived needs the interfaces its config names (veth links of those names); nginx binds
its listeners, VIPs included (`ip_nonlocal_bind=1` inside the namespace). Missing TLS certificates
are replaced by a throwaway self-signed one (and said so): a build machine never holds the real ones.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hakit.render.tree import HostFiles, RenderedFile, RenderedTree
from hakit.render.writer import MARKER

DAEMONS: dict[str, tuple[str, str]] = {
    "haproxy": ("etc/haproxy/haproxy.cfg", "etc/haproxy/"),
    "keepalived": ("etc/keepalived/keepalived.conf", "etc/keepalived/"),
    "nginx": ("etc/nginx/nginx.conf", "etc/nginx/"),
}
"""daemon -> (its config file, the directory whose files travel with it)."""

NEEDS_NETNS = frozenset({"keepalived", "nginx"})
_TIMEOUT_S = 60
_SBIN_PATH = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"


@dataclass(frozen=True)
class ValidationResult:
    """The verdict on one host's config file."""

    host: str
    path: str
    daemon: str
    ok: bool
    message: str = ""
    skipped: bool = False
    same_as: str | None = None  # the host whose identical bundle was actually run (dedupe)
    notes: tuple[str, ...] = ()


@dataclass
class ValidationReport:
    """All verdicts of a `validate_tree` run."""

    results: list[ValidationResult] = field(default_factory=list)
    runs: int = 0
    seconds: float = 0.0

    @property
    def failures(self) -> list[ValidationResult]:
        """Files a daemon rejected."""
        return [r for r in self.results if not r.ok and not r.skipped]

    @property
    def skipped(self) -> list[ValidationResult]:
        """Files not checked (daemon missing, no privileges for namespaces)."""
        return [r for r in self.results if r.skipped]

    @property
    def ok(self) -> bool:
        """True when no daemon rejected anything (skips are not failures)."""
        return not self.failures


@dataclass(frozen=True)
class _Job:
    daemon: str
    host: str
    bundle: tuple[tuple[str, RenderedFile], ...]
    key: str


def find_binary(name: str) -> str | None:
    """A daemon binary on PATH or in sbin."""
    return shutil.which(name, path=_SBIN_PATH)


def unavailable_reason(daemon: str) -> str | None:
    """Why `daemon` cannot be checked here (None when it can)."""
    if find_binary(daemon) is None:
        return f"{daemon} is not installed"
    if daemon in NEEDS_NETNS:
        if find_binary("ip") is None:
            return "iproute2 (ip) is not installed"
        if os.geteuid() != 0:
            return f"{daemon} is checked inside a network namespace, which needs root"
    return None


def _bundle(files: HostFiles, daemon: str) -> tuple[tuple[str, RenderedFile], ...]:
    prefix = DAEMONS[daemon][1]
    return tuple(sorted((path, rendered) for path, rendered in files.items() if path.startswith(prefix)))


def _key(daemon: str, bundle: Sequence[tuple[str, RenderedFile]]) -> str:
    digest = hashlib.sha256(daemon.encode())
    for path, rendered in bundle:
        digest.update(f"\0{path}\0{rendered.effective_mode:o}\0".encode())
        digest.update(rendered.content.encode())
    return digest.hexdigest()


def _jobs(tree: RenderedTree) -> tuple[list[_Job], list[ValidationResult]]:
    """One job per host config; a daemon directory without its config is an error right away.

    (keepalived -t exits 0 for a missing file, so the check must not rely on the daemon.)
    """
    jobs: list[_Job] = []
    missing: list[ValidationResult] = []
    for host in sorted(tree):
        for daemon, (config, _) in DAEMONS.items():
            bundle = _bundle(tree[host], daemon)
            if config in tree[host]:
                jobs.append(_Job(daemon, host, bundle, _key(daemon, bundle)))
            elif bundle:
                missing.append(
                    ValidationResult(
                        host, config, daemon, False, f"{config} is missing next to {bundle[0][0]}"
                    )
                )
    return jobs, missing


def _path_pattern(root: str) -> re.Pattern[str]:
    prefix = re.escape(root.rstrip("/"))
    return re.compile(r'(?<=[\s"=])' + prefix + r"/(?=(?:etc|run|var)/)")


def sandbox_text(text: str, root: str, sandbox: Path) -> str:
    """Point the config's `<root>/etc|run|var/...` paths into `sandbox`."""
    return _path_pattern(root).sub(lambda _: str(sandbox) + "/", text)


_CERT_RE = re.compile(r"(?:\bcrt|\bssl_certificate(?:_key)?)\s+([^\s;]+)")


class _TestCert:
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
            subprocess.run(command, check=True, capture_output=True, timeout=_TIMEOUT_S)
            partial = self._path.with_suffix(".tmp")
            partial.write_bytes(cert.read_bytes() + key.read_bytes())
            os.chmod(partial, 0o600)
            os.rename(partial, self._path)
        return self._path


def _materialize(job: _Job, root: str, sandbox: Path, cert: _TestCert) -> tuple[Path, list[str]]:
    notes: list[str] = []
    config_path = sandbox / DAEMONS[job.daemon][0]
    for relative, rendered in job.bundle:
        target = sandbox / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        text = sandbox_text(rendered.content, root, sandbox)
        target.write_text(text, encoding="utf-8", newline="")
        os.chmod(target, rendered.effective_mode)
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


def _interfaces(keepalived_conf: str) -> set[str]:
    """Interface names a keepalived config refers to (instances, VIP `dev`, track_interface blocks)."""
    names: set[str] = set()
    in_track = False
    for raw in keepalived_conf.splitlines():
        line = raw.split("!")[0].split("#")[0].strip()
        if in_track:
            if line.startswith("}"):
                in_track = False
            elif line:
                names.add(line.split()[0])
            continue
        words = line.split()
        if words[:1] == ["interface"] and len(words) > 1:
            names.add(words[1])
        elif words[:1] == ["track_interface"]:
            in_track = True
        if "dev" in words[:-1]:
            names.add(words[words.index("dev") + 1])
    return names


class _NetnsPool:
    """Network namespaces for checks: loopback up, nonlocal bind on, veth links with the wanted names."""

    def __init__(self, size: int, interfaces: set[str]) -> None:
        self._names = [f"hakit-v{os.getpid()}-{index}-{os.urandom(2).hex()}" for index in range(size)]
        self._free: queue.Queue[str] = queue.Queue()
        self._interfaces = sorted(interfaces)

    def __enter__(self) -> _NetnsPool:
        ip = find_binary("ip") or "ip"
        try:
            for name in self._names:
                subprocess.run(
                    [ip, "netns", "add", name], check=True, capture_output=True, timeout=_TIMEOUT_S
                )
                # One `ip -batch` per namespace: a process per link would dominate small validations.
                batch = ["link set lo up"]
                for index, interface in enumerate(self._interfaces):
                    peer = f"hkvp{index}"
                    batch += [f"link add {interface} type veth peer name {peer}", f"link set {interface} up"]
                    batch.append(f"link set {peer} up")
                subprocess.run(
                    [ip, "-n", name, "-batch", "-"],
                    input="\n".join(batch) + "\n",
                    text=True,
                    check=True,
                    capture_output=True,
                    timeout=_TIMEOUT_S,
                )
                sysctls = ["net.ipv4.ip_nonlocal_bind=1", "net.ipv6.ip_nonlocal_bind=1"]
                sysctl = [ip, "netns", "exec", name, "sysctl", "-q", "-w", *sysctls]
                subprocess.run(sysctl, check=True, capture_output=True, timeout=_TIMEOUT_S)
                self._free.put(name)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *_: object) -> None:
        ip = find_binary("ip") or "ip"
        for name in self._names:
            if Path("/run/netns", name).exists():
                subprocess.run([ip, "netns", "del", name], capture_output=True, timeout=_TIMEOUT_S)

    @contextmanager
    def lease(self) -> Iterator[str]:
        """Borrow a namespace for one check (one at a time: nginx binds its ports)."""
        name = self._free.get()
        try:
            yield name
        finally:
            self._free.put(name)


def _command(daemon: str, config: Path, sandbox: Path) -> list[str]:
    binary = find_binary(daemon) or daemon
    if daemon == "haproxy":
        return [binary, "-c", "-f", str(config)]
    if daemon == "keepalived":
        return [binary, "-t", "-l", "-n", "-f", str(config)]
    return [binary, "-t", "-q", "-p", f"{sandbox}/", "-c", str(config)]


def _run(job: _Job, root: str, workdir: Path, cert: _TestCert, pool: _NetnsPool | None) -> ValidationResult:
    sandbox = Path(tempfile.mkdtemp(prefix=f"{job.daemon}-", dir=workdir))
    config_path = DAEMONS[job.daemon][0]
    try:
        config, notes = _materialize(job, root, sandbox, cert)
        command = _command(job.daemon, config, sandbox)
        if job.daemon in NEEDS_NETNS:
            assert pool is not None
            with pool.lease() as netns:
                ip = find_binary("ip") or "ip"
                done = subprocess.run(
                    [ip, "netns", "exec", netns, *command], capture_output=True, text=True, timeout=_TIMEOUT_S
                )
        else:
            done = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT_S)
        output = (done.stdout + done.stderr).replace(str(sandbox) + "/", "")
        # haproxy -c says "Configuration file is valid" (and warnings) on success: keep failures only.
        lines = [line.strip() for line in output.splitlines() if line.strip() and "[NOTICE]" not in line]
        message = "" if done.returncode == 0 else " | ".join(lines)
        return ValidationResult(
            job.host, config_path, job.daemon, done.returncode == 0, message, notes=tuple(notes)
        )
    except subprocess.TimeoutExpired:
        return ValidationResult(
            job.host, config_path, job.daemon, False, f"{job.daemon} took over {_TIMEOUT_S}s"
        )
    except (OSError, RuntimeError, subprocess.CalledProcessError) as err:
        return ValidationResult(job.host, config_path, job.daemon, False, f"could not run the check: {err}")
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


def validate_tree(
    tree: RenderedTree,
    *,
    root: str = "",
    jobs: int | None = None,
    dedupe: bool = True,
    daemons: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ValidationReport:
    """Check every config of `tree` (rendered with `root`) with its daemon; one result per host file.

    `dedupe=False` runs a daemon per host even when bundles are identical (benchmark baseline).
    `progress(done, total)` is called after each daemon run.
    """
    started = time.perf_counter()
    wanted = set(daemons) if daemons is not None else set(DAEMONS)
    found, missing = _jobs(tree)
    all_jobs = [job for job in found if job.daemon in wanted]
    report = ValidationReport(results=[result for result in missing if result.daemon in wanted])
    reasons = {daemon: unavailable_reason(daemon) for daemon in {job.daemon for job in all_jobs}}
    runnable: list[_Job] = []
    for job in all_jobs:
        reason = reasons[job.daemon]
        if reason is not None:
            report.results.append(
                ValidationResult(job.host, DAEMONS[job.daemon][0], job.daemon, False, reason, skipped=True)
            )
        else:
            runnable.append(job)
    first_of: dict[str, _Job] = {}
    to_run: list[_Job] = []
    for job in runnable:
        if dedupe and job.key in first_of:
            continue
        first_of.setdefault(job.key, job)
        to_run.append(job)
    workers = max(1, min(jobs or (os.cpu_count() or 2) * 2, len(to_run) or 1))
    interfaces: set[str] = set()
    for job in to_run:
        if job.daemon == "keepalived":
            interfaces |= _interfaces(dict(job.bundle)[DAEMONS["keepalived"][0]].content)
    pool_size = min(workers, sum(job.daemon in NEEDS_NETNS for job in to_run))
    verdicts: dict[int, ValidationResult] = {}
    workdir = Path(tempfile.mkdtemp(prefix="hakit-validate-"))
    try:
        cert = _TestCert(workdir)
        with (
            _maybe_pool(pool_size, interfaces) as pool,
            ThreadPoolExecutor(workers) as executor,
        ):
            futures = {id(job): executor.submit(_run, job, root, workdir, cert, pool) for job in to_run}
            for done_count, job in enumerate(to_run, start=1):
                verdicts[id(job)] = futures[id(job)].result()
                if progress is not None:
                    progress(done_count, len(to_run))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for job in runnable:
        runner = job if id(job) in verdicts else first_of[job.key]
        verdict = verdicts[id(runner)]
        same_as = None if runner is job else runner.host
        report.results.append(
            ValidationResult(
                job.host,
                verdict.path,
                job.daemon,
                verdict.ok,
                verdict.message,
                same_as=same_as,
                notes=verdict.notes,
            )
        )
    report.results.sort(key=lambda r: (r.host, r.path))
    report.runs = len(to_run)
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def _maybe_pool(size: int, interfaces: set[str]) -> Iterator[_NetnsPool | None]:
    if size == 0:
        yield None
        return
    with _NetnsPool(size, interfaces) as pool:
        yield pool


def read_tree(out_dir: str | Path) -> RenderedTree:
    """Load a tree written by `write_tree` back from disk (for `hakit validate OUT`)."""
    out = Path(out_dir)
    tree: RenderedTree = {}
    for host_dir in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files: HostFiles = {}
        for path in sorted(host_dir.rglob("*")):
            if path.is_file():
                mode = path.stat().st_mode & 0o7777
                content = path.read_bytes().decode("utf-8", errors="replace")
                files[path.relative_to(host_dir).as_posix()] = RenderedFile(
                    content, mode, secret=mode == 0o600
                )
        tree[host_dir.name] = files
    return tree


def is_output_tree(out_dir: str | Path) -> bool:
    """True when `out_dir` was written by `hakit render`."""
    return (Path(out_dir) / MARKER).is_file()
