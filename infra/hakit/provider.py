"""The hakit component provider: every public component, consumable from TypeScript, Go, YAML, C# ...

Other Pulumi programs add it with `pulumi package add <path to this repository>` (PulumiPlugin.yaml at
the top level names this file as the entry point); Pulumi infers the schema from the components' typed
Args and output annotations.

The schema names every component `hakit:index:<Name>`, while the Python classes register themselves as
`hakit:<module>:<Name>`. The provider therefore hosts thin subclasses that register with the schema token,
so a component constructed for another language carries exactly the type its SDK asked for.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pulumi

PACKAGE = "hakit"
VERSION = metadata.version("hakit")  # the schema's version follows the installed distribution


def components() -> list[type[pulumi.ComponentResource]]:
    """Every public hakit component (imported lazily: the provider pays for pulumi_aws only when it runs)."""
    from hakit.components.backup import AwsBackup
    from hakit.components.cdn import CdnBucketPolicy, FailoverCdn
    from hakit.components.compute import ComputeTier
    from hakit.components.database import GlobalDatabase
    from hakit.components.dns import FailoverDns
    from hakit.components.fis import FaultDrills
    from hakit.components.keepalived_pair import KeepalivedPair
    from hakit.components.loadbalancer import LoadBalancer
    from hakit.components.local import LocalLab

    return [
        FailoverDns,
        LoadBalancer,
        FailoverCdn,
        CdnBucketPolicy,
        GlobalDatabase,
        AwsBackup,
        KeepalivedPair,
        LocalLab,
        ComputeTier,
        FaultDrills,
    ]


class _SchemaToken(pulumi.ComponentResource):
    """Sits after the component class in the MRO: replaces its module token with the schema token."""

    def __init__(
        self, t: str, name: str, props: Any = None, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{PACKAGE}:index:{type(self).__name__}", name, props, opts)


def hosted_components() -> list[type[pulumi.ComponentResource]]:
    """The public components as the provider hosts them (same name, args, outputs; schema type token)."""
    return [
        type(
            component.__name__,
            (component, _SchemaToken),
            {"__doc__": component.__doc__, "__module__": component.__module__},
        )
        for component in components()
    ]


def schema() -> dict[str, Any]:
    """The package schema Pulumi infers from the components, as a JSON document (in-process, no engine)."""
    from pulumi.provider.experimental.component import ComponentProvider

    provider = ComponentProvider(hosted_components(), PACKAGE, version=VERSION)
    document: dict[str, Any] = json.loads(provider.schema or "{}")
    return document


def main() -> None:
    """Serve the components to the Pulumi engine (called by the plugin host with the engine address)."""
    from pulumi.provider.experimental import component_provider_host

    component_provider_host(hosted_components(), PACKAGE, version=VERSION)


if __name__ == "__main__":
    # Started as a script (PulumiPlugin.yaml `main`), Python puts this package's own folder first on
    # sys.path, where `testing`, `spec`, ... would shadow same-named top-level modules: drop it.
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]
    main()
