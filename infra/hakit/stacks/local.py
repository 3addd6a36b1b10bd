"""`target: local`: the Docker lab stack."""

from __future__ import annotations

from typing import Any

from hakit.components.local import LocalLab, LocalLabArgs
from hakit.spec.stack import StackConfig


def local_lab_args(config: StackConfig, stack: str) -> LocalLabArgs:
    """LocalLab arguments from the validated stack config."""
    assert config.local is not None  # StackConfig.rules: target local needs hakit:local
    lab = config.local
    return LocalLabArgs(
        network_name=lab.network,
        subnet=str(lab.subnet),
        vip=str(lab.vip),
        backends=lab.backends,
        http_port=lab.http_port,
        vrid=lab.vrid,
        health_path="/",
        backend_image=lab.images.backend,
        haproxy_image=lab.images.haproxy,
        keepalived_image=lab.images.keepalived,
        source=f"Pulumi.{stack}.yaml",
    )


def build_local(config: StackConfig, stack: str) -> dict[str, Any]:
    """Register the lab; return its outputs for export."""
    lab = LocalLab(config.service.name, local_lab_args(config, stack))
    return {"vip": lab.vip, "urls": lab.urls, "entryUrl": lab.urls[0], "network": lab.network_name}
