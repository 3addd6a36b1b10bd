"""Check rendered configs with the real daemons: `haproxy -c`, `keepalived -t`, `nginx -t`.

Each distinct config bundle (the config plus the files next to it: error pages, scripts) is checked
once (hash dedupe), in parallel, inside a sandbox directory (`hakit.render.sandbox`); keepalived and
nginx run in throwaway network namespaces (`hakit.render.netns`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hakit.errors import HakitError
from hakit.render.netns import NetnsPool, inside_netns, keepalived_interfaces
from hakit.render.resolve import unresolved_notes
from hakit.render.sandbox import TIMEOUT_S, StandInCertificate, find_binary, materialize
from hakit.render.tree import HostFiles, RenderedFile, RenderedTree
from hakit.render.writer import MARKER, scan_tree, tree_lock

DAEMONS: dict[str, tuple[str, str]] = {
    "haproxy": ("etc/haproxy/haproxy.cfg", "etc/haproxy/"),
    "keepalived": ("etc/keepalived/keepalived.conf", "etc/keepalived/"),
    "nginx": ("etc/nginx/nginx.conf", "etc/nginx/"),
}
"""daemon -> (its config file, the directory whose files travel with it)."""

NEEDS_NETNS = frozenset({"keepalived", "nginx"})


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


def worker_count(jobs: int | None, runs: int) -> int:
    """Parallel daemon runs: `jobs`, else one per CPU (the checks are CPU-bound), never more than runs."""
    return max(1, min(jobs or os.cpu_count() or 2, runs or 1))


def _scratch_dir() -> str | None:
    """Sandboxes on tmpfs when there is one: they are written, checked once and deleted."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def daemon_command(daemon: str, config: Path, sandbox: Path) -> list[str]:
    """The check command of `daemon` for `config` materialized in `sandbox`."""
    binary = find_binary(daemon) or daemon
    if daemon == "haproxy":
        return [binary, "-c", "-f", str(config)]
    if daemon == "keepalived":
        return [binary, "-t", "-l", "-n", "-f", str(config)]
    return [binary, "-t", "-q", "-p", f"{sandbox}/", "-c", str(config)]


def _run(
    job: _Job, root: str, workdir: Path, cert: StandInCertificate, pool: NetnsPool | None
) -> ValidationResult:
    sandbox = Path(tempfile.mkdtemp(prefix=f"{job.daemon}-", dir=workdir))
    config_path = DAEMONS[job.daemon][0]
    try:
        config, notes = materialize(job.bundle, config_path, root, sandbox, cert)
        command = daemon_command(job.daemon, config, sandbox)
        if job.daemon in NEEDS_NETNS:
            assert pool is not None
            with pool.lease() as netns, inside_netns(netns):
                done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
        else:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
        output = (done.stdout + done.stderr).replace(str(sandbox) + "/", "")
        # haproxy -c says "Configuration file is valid" (and warnings) on success: keep failures only.
        lines = [line.strip() for line in output.splitlines() if line.strip() and "[NOTICE]" not in line]
        message = "" if done.returncode == 0 else " | ".join(lines)
        if done.returncode == 0 and job.daemon == "haproxy":
            notes += unresolved_notes(config.read_text(encoding="utf-8"))
        return ValidationResult(
            job.host, config_path, job.daemon, done.returncode == 0, message, notes=tuple(notes)
        )
    except subprocess.TimeoutExpired:
        return ValidationResult(
            job.host, config_path, job.daemon, False, f"{job.daemon} took over {TIMEOUT_S}s"
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
    workers = worker_count(jobs, len(to_run))
    interfaces: set[str] = set()
    for job in to_run:
        if job.daemon == "keepalived":
            interfaces |= keepalived_interfaces(dict(job.bundle)[DAEMONS["keepalived"][0]].content)
    pool_size = min(workers, sum(job.daemon in NEEDS_NETNS for job in to_run))
    verdicts: dict[int, ValidationResult] = {}
    workdir = Path(tempfile.mkdtemp(prefix="hakit-validate-", dir=_scratch_dir()))
    try:
        cert = StandInCertificate(workdir)
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
def _maybe_pool(size: int, interfaces: set[str]) -> Iterator[NetnsPool | None]:
    if size == 0:
        yield None
        return
    with NetnsPool(size, interfaces) as pool:
        yield pool


def read_tree(out_dir: str | Path) -> RenderedTree:
    """Load a tree written by `write_tree` back from disk (for `hakit validate OUT`).

    Links and special files are refused (exit 2, one line each), never followed or opened: a link to
    /etc/passwd in OUT must not be read, copied into a sandbox or printed.
    """
    out = Path(out_dir)
    with tree_lock(out, shared=True):
        found, refused = scan_tree(out)
    if refused:
        raise HakitError(
            [
                f"{out}/{path}: {why}; `hakit render` writes none: refusing it"
                for path, why in sorted(refused.items())
            ],
            exit_code=2,
        )
    tree: RenderedTree = {}
    for relative in sorted(found):
        host, _, path = relative.partition("/")
        if not path or host.startswith("."):
            continue  # the marker and other top-level files
        disk = found[relative]
        content = disk.content.decode("utf-8", errors="replace")
        tree.setdefault(host, {})[path] = RenderedFile(content, disk.mode, secret=disk.mode == 0o600)
    return tree


def is_output_tree(out_dir: str | Path) -> bool:
    """True when `out_dir` was written by `hakit render`."""
    marker = Path(out_dir) / MARKER
    return marker.is_file() and not marker.is_symlink()
