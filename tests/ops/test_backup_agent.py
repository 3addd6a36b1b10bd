"""`hakit backup` is a host agent: it must run where the Pulumi SDK and pulumi-aws are not installed.

The programs run in a subprocess whose import system refuses `pulumi*` (as on a host that installed only
the agent's dependencies), and report every third-party module they loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from hakit.ops.backup_manifest import write_new_key

# Refuse pulumi* imports, run the CLI, then print the loaded top-level modules as JSON on stderr's last line.
_RUNNER = """
import importlib.abc, json, sys

class NoPulumi(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0].startswith("pulumi"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)  # as on a core-only host
        return None

sys.meta_path.insert(0, NoPulumi())
sys.argv = ["hakit", *sys.argv[1:]]
from hakit.cli import main
try:
    main()
finally:
    print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""


def _agent(*args: str) -> tuple[int, str, list[str], set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, *args], capture_output=True, text=True, check=False, timeout=120
    )
    *errors, modules = proc.stderr.strip().splitlines()
    return proc.returncode, proc.stdout, errors, set(json.loads(modules))


def test_backup_help_loads_no_pulumi():
    """`hakit backup --help` on a host without the Pulumi SDK."""
    code, out, errors, modules = _agent("backup", "--help")
    assert code == 0, errors
    assert "restore" in out
    assert not {m for m in modules if m.startswith("pulumi")}


@pytest.mark.db
def test_backup_list_runs_without_pulumi(moto_s3: str, tmp_path: Path):
    """`hakit backup list` against S3 (moto) with pulumi imports refused: works, and loaded none."""
    bucket = f"agent-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1").create_bucket(Bucket=bucket)
    key = tmp_path / "agent.key"
    write_new_key(key)
    job = {
        "name": "agent",
        "host": "db1",
        "source": {"engine": "postgresql", "database": "shop"},
        "target": {"bucket": bucket, "endpoint_url": moto_s3},
        "credentials": {"manifest_key": str(key)},
    }
    config = tmp_path / "agent.json"
    config.write_text(json.dumps(job))
    code, out, errors, modules = _agent("backup", "list", "--config", str(config))
    assert code == 0, errors
    assert "stamp" in out and errors == []
    assert "boto3" in modules  # it did talk to S3
    assert not {m for m in modules if m.startswith("pulumi")}


def test_a_cloud_command_without_pulumi_says_what_to_install():
    """On a core-only install `hakit plan` is one line naming the `cloud` extra, exit 2, no traceback."""
    project = Path(__file__).resolve().parents[2]
    code, _out, errors, _modules = _agent("plan", "--project-dir", str(project), "--stack", "dev")
    assert code == 2, errors
    assert len(errors) == 1 and errors[0].startswith("this command needs the Pulumi SDK (pulumi"), errors
    assert errors[0].endswith("install hakit[cloud]")
