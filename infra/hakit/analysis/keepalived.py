"""Find keepalived VRRP settings inside EC2 user data (cloud-init or a script embedding keepalived.conf)."""

from __future__ import annotations

import base64
import binascii
import gzip
import re
from dataclasses import dataclass
from typing import Any

from hakit.analysis import tokens
from hakit.analysis.view import Resource, StackView, is_unknown

_INSTANCE_RE = re.compile(r"vrrp_instance\s+(\S+)\s*\{")
_SETTING_RE = {
    "vrid": re.compile(r"^\s*virtual_router_id\s+(\d+)", re.MULTILINE),
    "priority": re.compile(r"^\s*priority\s+(\d+)", re.MULTILINE),
    "advert_int": re.compile(r"^\s*advert_int\s+([\d.]+)", re.MULTILINE),
    "version": re.compile(r"^\s*vrrp_version\s+(\d)", re.MULTILINE),
    "instance_version": re.compile(r"^\s*version\s+(\d)", re.MULTILINE),
}


@dataclass(frozen=True)
class VrrpNode:
    """One EC2 instance's membership in a VRRP instance."""

    instance: Resource
    vrrp_name: str
    vrid: int
    priority: int
    advert_int: float
    version: int


def user_data_text(instance: Resource) -> str:
    """The instance's user data as text; cloud-config `write_files` contents are appended decoded."""
    text = _decode(instance.get("userData")) or _decode_b64(instance.get("userDataBase64"))
    files = _cloud_config_files(text)
    # The decoded files replace the document: keepalived.conf must be seen once, not twice.
    return "\n".join(files) if files else text


def _cloud_config_files(text: str) -> list[str]:
    """Contents of a `#cloud-config` document's write_files (plain, b64 or gz+b64), in order."""
    if not text.lstrip().startswith("#cloud-config"):
        return []
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        document = YAML(typ="safe", pure=True).load(text)
    except YAMLError:
        return []
    files = document.get("write_files") if isinstance(document, dict) else None
    contents: list[str] = []
    for entry in files if isinstance(files, list) else []:
        content = entry.get("content") if isinstance(entry, dict) else None
        if not isinstance(content, str):
            continue
        encoding = str(entry.get("encoding", "")).lower()
        contents.append(_decode_b64(content) if encoding in _B64_ENCODINGS else content)
    return contents


_B64_ENCODINGS = frozenset({"b64", "base64", "gz+b64", "gzip+base64", "gz+base64", "gzip+b64"})


def _decode(value: Any) -> str:
    return value if isinstance(value, str) and not is_unknown(value) else ""


def _decode_b64(value: Any) -> str:
    if not isinstance(value, str) or is_unknown(value):
        return ""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return ""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except OSError:
            return ""
    return raw.decode("utf-8", errors="replace")


def parse_vrrp(text: str) -> list[tuple[str, dict[str, float]]]:
    """(instance name, settings) for each `vrrp_instance` block in a keepalived config text."""
    found: list[tuple[str, dict[str, float]]] = []
    version_match = _SETTING_RE["version"].search(text)
    version = float(version_match.group(1)) if version_match else 2.0  # keepalived's default is VRRPv2
    starts = list(_INSTANCE_RE.finditer(text))
    for position, start in enumerate(starts):
        end = starts[position + 1].start() if position + 1 < len(starts) else len(text)
        body = text[start.end() : end]
        settings: dict[str, float] = {"version": version, "advert_int": 1.0}
        for key in ("vrid", "priority", "advert_int", "instance_version"):
            match = _SETTING_RE[key].search(body)
            if match:
                settings[key] = float(match.group(1))
        settings["version"] = settings.pop("instance_version", version)
        if "vrid" in settings and "priority" in settings:
            found.append((start.group(1), settings))
    return found


def vrrp_groups(view: StackView) -> dict[int, list[VrrpNode]]:
    """EC2 instances running keepalived, grouped by virtual router id."""
    groups: dict[int, list[VrrpNode]] = {}
    for instance in view.of_type(tokens.EC2_INSTANCE):
        for name, settings in dict(parse_vrrp(user_data_text(instance))).items():
            node = VrrpNode(
                instance,
                name,
                int(settings["vrid"]),
                int(settings["priority"]),
                float(settings["advert_int"]),
                int(settings["version"]),
            )
            groups.setdefault(node.vrid, []).append(node)
    return groups


def failure_domain(view: StackView, instance: Resource) -> str | None:
    """The instance's availability zone (its subnet's, else its own), else its subnet id; None if unknown."""
    for subnet in view.referenced(instance, "subnetId", tokens.SUBNET):
        subnet_zone = subnet.get("availabilityZone") or subnet.get("availabilityZoneId")
        if isinstance(subnet_zone, str) and not is_unknown(subnet_zone):
            return subnet_zone
    zone = instance.get("availabilityZone")
    if isinstance(zone, str) and not is_unknown(zone):
        return zone
    subnet_id = instance.get("subnetId")
    if isinstance(subnet_id, str) and not is_unknown(subnet_id):
        return f"subnet {subnet_id}"
    return None


def master_down_seconds(advert_int: float, backup_priority: int, version: int) -> float:
    """RFC 3768/5798 Master_Down_Interval: 3 x advert + (256 - priority) / 256 (v3: x advert)."""
    skew = (256 - backup_priority) / 256 * (advert_int if version == 3 else 1.0)
    return 3 * advert_int + skew


def eip_group(view: StackView, eip: Resource) -> list[VrrpNode]:
    """The VRRP group that moves an Elastic IP: its allocation id appears in the nodes' user data
    (the notify hook's settings), else the only group in the EIP's region when it has the only EIP."""
    groups = list(vrrp_groups(view).values())
    allocation = eip.get("allocationId")
    if isinstance(allocation, str) and not is_unknown(allocation):
        for nodes in groups:
            if any(allocation in user_data_text(n.instance) for n in nodes):
                return nodes
    same_region = [nodes for nodes in groups if nodes[0].instance.region == eip.region]
    eips_here = [e for e in view.of_type(tokens.EIP) if e.region == eip.region]
    return same_region[0] if len(same_region) == 1 and len(eips_here) == 1 else []
