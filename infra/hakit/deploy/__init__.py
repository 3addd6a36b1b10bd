"""Delivery of rendered trees to hosts on ansible-core: inventory, rollout order, the shipped playbook."""

from pathlib import Path

PLAYBOOK_DIR = Path(__file__).parent / "playbook"
"""The playbook (package data): site.yml, node.yml, library/hakit_node.py, filter_plugins/."""
