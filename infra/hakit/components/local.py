"""The Docker lab: `pulumi up` on the local engine, no cloud account.

A bridge network, backend containers, two HAProxy containers running the config hakit renders for bare
metal, and a keepalived container per HAProxy (sharing its network namespace, NET_ADMIN) that holds the
VIP on the lab network with unicast VRRP. HTTP is published on 127.0.0.1.
"""

from ipaddress import IPv4Address, IPv4Network
from typing import Any, TypedDict

import pulumi
import pulumi_docker as docker
from pydantic import ValidationError

from hakit.render import render_cluster
from hakit.render.tree import HostFiles
from hakit.spec.inventory import Inventory
from hakit.spec.stack import LocalImagesSpec, LocalLabSpec

CLUSTER = "lab"
PROXY_NODES = ("lb-a", "lb-b")
PRIORITIES = {"lb-a": 150, "lb-b": 100}
INSTANCE = "VI_LAB"
BACKEND_PORT = 80


class LocalLabArgs(TypedDict, total=False):
    """Arguments of LocalLab: plain values (the configs are rendered up front), each with a lab default."""

    network_name: str
    """Docker network name (default hakit-lab)."""
    subnet: str
    """IPv4 subnet of the lab network (default 172.30.57.0/24)."""
    vip: str
    """Address keepalived holds on the lab network (default 172.30.57.100)."""
    backends: int
    """Number of backend containers (default 2)."""
    http_port: int
    """First published HTTP port on 127.0.0.1; the second HAProxy gets the next one (default 8080)."""
    vrid: int
    """VRRP virtual router id (default 57)."""
    health_path: str
    """HTTP path HAProxy checks on the backends (default /)."""
    backend_image: str
    """Backend image answering HTTP on port 80."""
    haproxy_image: str
    """HAProxy image (the rendered config is uploaded to /etc/haproxy)."""
    keepalived_image: str
    """Image with keepalived and bash on PATH."""
    source: str
    """Named in the header of every generated file (default: local lab)."""


def _plain(value: Any, where: str) -> Any:
    if isinstance(value, pulumi.Output):
        raise ValueError(f"LocalLabArgs.{where}: must be a plain value (the lab config is rendered up front)")
    return value


def lab_spec(args: LocalLabArgs) -> LocalLabSpec:
    """Validate the arguments into the lab model; problems raise ValueError naming the argument."""
    images = {
        key: _plain(args[f"{key}_image"], f"{key}_image")  # type: ignore[literal-required]
        for key in ("backend", "haproxy", "keepalived")
        if f"{key}_image" in args
    }
    data = {
        field: _plain(args[arg], arg)  # type: ignore[literal-required]
        for arg, field in (
            ("network_name", "network"),
            ("subnet", "subnet"),
            ("vip", "vip"),
            ("backends", "backends"),
            ("http_port", "http_port"),
            ("vrid", "vrid"),
        )
        if arg in args
    }
    try:
        return LocalLabSpec.model_validate({**data, "images": LocalImagesSpec.model_validate(images)})
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(args)"
        raise ValueError(f"LocalLabArgs.{where}: {first['msg']}") from None


def lab_inventory(spec: LocalLabSpec, health_path: str = "/") -> Inventory:
    """The bare-metal inventory describing the lab: the same model, the same renderer as real hosts."""
    addresses = spec.assigned_addresses()
    prefix = spec.subnet.prefixlen
    hosts = {
        node: {"interfaces": {"eth0": {"address": f"{addresses[node]}/{prefix}"}}} for node in PROXY_NODES
    }
    servers = {
        name: {"address": str(address), "port": BACKEND_PORT}
        for name, address in addresses.items()
        if name.startswith("app-")
    }
    cluster = {
        "nodes": {node: {"priority": PRIORITIES[node]} for node in PROXY_NODES},
        "vrrp": {
            "version": 3,
            "advert_int": 1,
            "unicast": True,  # Docker bridges pass multicast, clouds do not: test what production runs
            "instances": {
                INSTANCE: {"interface": "eth0", "vrid": spec.vrid, "vips": [f"{spec.vip}/{prefix}"]}
            },
        },
        "proxy": {
            "kind": "haproxy",
            "chroot": False,  # the container is the jail
            "frontends": {"www": {"addresses": ["*"], "port": 80, "backend": "app"}},
            "backends": {
                "app": {
                    "balance": "roundrobin",
                    "health_check": {"path": health_path, "interval": "1s", "fall": 2, "rise": 2},
                    "servers": servers,
                    "allow_single_server": len(servers) == 1,  # a one-backend lab is a choice, not a mistake
                }
            },
        },
    }
    try:
        return Inventory.model_validate({"hosts": hosts, "load_balancers": {CLUSTER: cluster}})
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"LocalLabArgs: the lab's inventory is invalid at {where}: {first['msg']}") from None


def lab_files(spec: LocalLabSpec, *, source: str, health_path: str = "/") -> dict[str, HostFiles]:
    """Rendered files per proxy node (haproxy.cfg, keepalived.conf, scripts)."""
    return render_cluster(lab_inventory(spec, health_path), CLUSTER, source=source)


def _uploads(files: HostFiles, prefix: str) -> list[docker.ContainerUploadArgs]:
    return [
        docker.ContainerUploadArgs(
            file="/" + path, content=rendered.content, executable=bool(rendered.effective_mode & 0o111)
        )
        for path, rendered in sorted(files.items())
        if path.startswith(prefix)
    ]


class LocalLab(pulumi.ComponentResource):
    """keepalived + HAProxy pair with backends on the local Docker engine (the cloud-free `pulumi up`)."""

    vip: pulumi.Output[str]
    """The address keepalived holds on the lab network."""
    urls: pulumi.Output[list[str]]
    """HTTP endpoints published on 127.0.0.1 (one per HAProxy node)."""
    network_name: pulumi.Output[str]
    """Name of the Docker network."""

    def __init__(self, name: str, args: LocalLabArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        spec = lab_spec(args)
        health_path = str(_plain(args.get("health_path", "/"), "health_path"))
        files = lab_files(
            spec, source=str(_plain(args.get("source", "local lab"), "source")), health_path=health_path
        )
        super().__init__("hakit:local:LocalLab", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = [docker.ContainerLabelArgs(label="hakit.lab", value=name)]

        network = docker.Network(
            f"{name}-net",
            name=spec.network,
            driver="bridge",
            ipam_configs=[
                docker.NetworkIpamConfigArgs(subnet=str(spec.subnet), gateway=str(_gateway(spec.subnet)))
            ],
            labels=[docker.NetworkLabelArgs(label="hakit.lab", value=name)],
            opts=child,
        )
        images = {
            role: docker.RemoteImage(f"{name}-{role}-image", name=image, keep_locally=True, opts=child)
            for role, image in spec.images.model_dump().items()
        }
        addresses = spec.assigned_addresses()
        for host, address in addresses.items():
            if not host.startswith("app-"):
                continue
            docker.Container(
                f"{name}-{host}",
                name=f"{spec.network}-{host}",
                image=images["backend"].image_id,
                hostname=host,
                networks_advanced=[
                    docker.ContainerNetworksAdvancedArgs(name=network.id, ipv4_address=str(address))
                ],
                restart="unless-stopped",
                labels=labels,
                opts=child,
            )
        urls: list[str] = []
        for index, node in enumerate(PROXY_NODES):
            http_port = spec.http_port + index
            urls.append(f"http://127.0.0.1:{http_port}/")
            proxy = docker.Container(
                f"{name}-{node}-haproxy",
                name=f"{spec.network}-{node}-haproxy",
                image=images["haproxy"].image_id,
                hostname=node,
                user="root",  # binds :80 and writes /run/haproxy/admin.sock
                command=["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"],
                networks_advanced=[
                    docker.ContainerNetworksAdvancedArgs(name=network.id, ipv4_address=str(addresses[node]))
                ],
                ports=[docker.ContainerPortArgs(internal=80, external=http_port, ip="127.0.0.1")],
                uploads=[
                    *_uploads(files[node], "etc/haproxy/"),
                    docker.ContainerUploadArgs(file="/run/haproxy/.keep", content=""),
                ],
                restart="unless-stopped",
                labels=labels,
                opts=child,
            )
            docker.Container(
                f"{name}-{node}-keepalived",
                name=f"{spec.network}-{node}-keepalived",
                image=images["keepalived"].image_id,
                # Same network namespace as HAProxy: the VIP lands on its eth0 and the track script
                # reaches HAProxy's health port on 127.0.0.1.
                network_mode=proxy.id.apply(lambda container_id: f"container:{container_id}"),
                capabilities=docker.ContainerCapabilitiesArgs(adds=["NET_ADMIN", "NET_BROADCAST", "NET_RAW"]),
                entrypoints=["keepalived"],
                command=[
                    "--dont-fork",
                    "--log-console",
                    "--log-detail",
                    "--vrrp",
                    "-f",
                    "/etc/keepalived/keepalived.conf",
                ],
                uploads=_uploads(files[node], "etc/keepalived/"),
                restart="unless-stopped",
                labels=labels,
                opts=child,
            )
        self.vip = pulumi.Output.from_input(str(spec.vip))
        self.urls = pulumi.Output.from_input(urls)
        self.network_name = network.name
        self.register_outputs({"vip": self.vip, "urls": self.urls, "network_name": self.network_name})


def _gateway(subnet: IPv4Network) -> IPv4Address:
    return subnet.network_address + 1
