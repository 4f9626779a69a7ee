"""The policy pack's entry point: ``pulumi preview --policy-pack policies`` runs it.

Constructing ``PolicyPack`` serves Pulumi's Analyzer protocol and blocks; the
rules live in the importable ``model_platform_policy`` package.
"""

from model_platform_policy import DESCRIPTION, PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    description=DESCRIPTION,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
