"""The hakit policy pack: `pulumi preview --policy-pack infra/policy` enforces hakit's rules on any stack.

Needs the `policy` extra in the virtualenv (`make venv` installs every extra). High-severity rules are
mandatory, the others advisory; override per policy with `--policy-pack-config`.
"""

from hakit.analysis.policy import PACK_NAME, build_policies
from pulumi_policy import PolicyPack

PolicyPack(PACK_NAME, build_policies())
