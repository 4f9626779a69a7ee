"""The stack-file key that fixes a violation on a resource model-platform's program declares.

The pack judges what any program declares, but on the program's own
resources most violations come from one value of the stack file. Such a
violation ends with the key to edit, in full, e.g.
``(stack file: model-platform:databricks.clusterPolicy.autoterminationMinutes)``:
the key of the resource the violation is about, not of a resource like it (a
cluster policy's autotermination is not the discovery cluster's).
tests/test_policies_hints.py trips each hinted rule through a stack file and
checks that setting the named key right clears the violation.

A resource is the program's when it carries the platform's ``project`` tag
(AWS tags, its AWS provider's default tags included; Databricks tags; a cluster
policy's fixed ``custom_tags.project``) or
the ``app.kubernetes.io/part-of`` label; a per-model resource names its model
in its ``model`` tag or ``app.kubernetes.io/name`` label. Anything else gets
no key: the policy's description says what to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Union

from infra.contract.naming import MODEL_TAG, NAME_LABEL, PART_OF_LABEL, PROJECT, PROJECT_TAG
from model_platform_policy import stack_config
from model_platform_policy.default_tags import effective_tags
from model_platform_policy.values import get, json_document, known, mapping

#: What the functions below judge: a resource (``ResourceValidationArgs`` or ``PolicyResource``, whose provider's
#: default tags count), or its bare properties.
Subject = Union[Mapping[str, Any], Any]


def _props(subject: Subject) -> Mapping[str, Any]:
    return subject if isinstance(subject, Mapping) else subject.props


def hint(key: str) -> str:
    """`` (stack file: model-platform:<key>)``: what a violation message ends with."""
    return f" (stack file: {PROJECT}:{key})"


def _tags(subject: Subject) -> Mapping[str, Any]:
    """Tags of an AWS (its provider's default tags included) or Databricks resource, or a Kubernetes object's labels."""
    props, provider = _props(subject), None if isinstance(subject, Mapping) else getattr(subject, "provider", None)
    for read in (
        lambda: effective_tags(props, provider),
        lambda: get(props, "customTags"),
        lambda: get(props, "metadata", "labels"),
    ):
        found = known(read)
        if isinstance(found, Mapping) and found:
            return found
    return {}


def _policy_tag(props: Mapping[str, Any], tag: str) -> Any:
    """The value a Databricks cluster policy definition fixes for ``custom_tags.<tag>``."""
    definition = mapping(json_document(known(lambda: get(props, "definition"))))
    rule = mapping(get(definition, f"custom_tags.{tag}"))
    return get(rule, "value") if get(rule, "type") == "fixed" else None


def is_programs(subject: Subject) -> bool:
    """Whether model-platform's program declared the resource (its tags or labels say so)."""
    tags = _tags(subject)
    return PROJECT in (known(lambda: get(tags, PROJECT_TAG)), known(lambda: get(tags, PART_OF_LABEL))) or (
        _policy_tag(_props(subject), PROJECT_TAG) == PROJECT
    )


def model_of(subject: Subject) -> Optional[str]:
    """The model a resource of the program belongs to, or None."""
    if not is_programs(subject):
        return None
    tags = _tags(subject)
    for name in (known(lambda: get(tags, MODEL_TAG)), known(lambda: get(tags, NAME_LABEL))):
        if isinstance(name, str) and name in stack_config.stack_object("models"):
            return name
    return None


def key_hint(subject: Subject, key: str) -> str:
    """:func:`hint` for ``key`` when the resource is the program's, else nothing."""
    return hint(key) if is_programs(subject) else ""


def model_hint(subject: Subject, key: str) -> str:
    """:func:`hint` for ``models.<its model>.<key>`` when the resource is one of the program's models'."""
    model = model_of(subject)
    return hint(f"models.{model}.{key}") if model else ""
