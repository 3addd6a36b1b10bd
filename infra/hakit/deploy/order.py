"""Rollout order (BACKUPs first, VIP holder last) and the exactly-one-holder rule.

The functions live in the playbook's filter plugin (it runs inside Ansible, without hakit installed);
this module is their name inside hakit.
"""

from hakit.deploy.playbook.filter_plugins.hakit_rollout import holder_problems, rollout_order

__all__ = ["holder_problems", "rollout_order"]
