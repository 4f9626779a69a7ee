"""Names, tags and labels: how the platform marks what it declares, from plain values only.

Part of ``infra.contract``. The program puts these tags and labels on every
resource, and the policy pack recognises the program's resources (and asks
for the same keys) by them: both import the keys from here. Logical names
never depend on list positions, so adding or removing a model touches only
that model's resources. Functions take plain values (the environment name,
the stack's tags), never the typed stack config, so the policy pack can
import them without pydantic or the Pulumi SDK.
"""

from __future__ import annotations

import re
from typing import Mapping, Optional

#: The Pulumi project, the namespace of its config keys and the ``project`` tag of every resource.
PROJECT = "model-platform"
#: The ``managed-by`` tag and ``app.kubernetes.io/managed-by`` label of every resource.
MANAGED_BY = "pulumi"
#: The stacks' environments (``model-platform:environment``); prod turns on the production requirements.
ENVIRONMENTS = ("dev", "staging", "prod")
PROD = "prod"

# --------------------------------------------------------------------------- AWS tags (and Databricks custom_tags)

PROJECT_TAG = "project"
ENVIRONMENT_TAG = "environment"
MANAGED_BY_TAG = "managed-by"
#: The tag naming the model a per-model resource belongs to.
MODEL_TAG = "model"
#: Tags every resource of every stack carries.
STACK_TAG_KEYS = (PROJECT_TAG, ENVIRONMENT_TAG, MANAGED_BY_TAG)
#: Tag keys the platform sets itself (``aws_tags``); a user tag must not override them.
PLATFORM_TAG_KEYS = (*STACK_TAG_KEYS, MODEL_TAG)
#: Tags an S3 object carries at most; each model's ``released.json`` is one, with the platform's tags on it.
MAX_S3_OBJECT_TAGS = 10
#: User tags a stack may set (``model-platform:tags``): what the platform's leave of an S3 object's ten.
MAX_USER_TAGS = MAX_S3_OBJECT_TAGS - len(PLATFORM_TAG_KEYS)

# --------------------------------------------------------------------------- Kubernetes labels

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
VERSION_LABEL = "app.kubernetes.io/version"
#: Prefix of the platform's own labels; a stack's tags become labels ``model-platform/<key>``.
LABEL_PREFIX = f"{PROJECT}/"
ENVIRONMENT_LABEL = f"{LABEL_PREFIX}environment"
#: The serving track of a pod (``stable`` or ``canary``): each Deployment selects only its own.
TRACK_LABEL = f"{LABEL_PREFIX}track"
STABLE_TRACK = "stable"
#: The track of a candidate version's pods: fixed replicas, no HPA (its traffic share is its replica share).
CANARY_TRACK = "canary"
#: Labels every Kubernetes object and pod template carries, whatever it belongs to.
REQUIRED_LABELS = (PART_OF_LABEL, MANAGED_BY_LABEL, ENVIRONMENT_LABEL)
#: A label name (the part after ``model-platform/``): tags become Kubernetes labels as well as AWS tags.
LABEL_NAME = re.compile(r"[A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?")
#: A label value: empty, or a label name's characters and length.
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?)?")

#: Suffix of a model's canary Deployment name (``<model>-canary``).
CANARY_SUFFIX = "-canary"
#: The ServiceAccount annotation through which EKS gives a pod an IAM role (IRSA): the serving pods' only
#: route to AWS credentials, so the policy pack recognises the platform's own ServiceAccounts by it.
IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"


def stack_prefix(environment: str) -> str:
    """Prefix of physical names shared by the whole stack, e.g. ``model-platform-staging``."""
    return f"{PROJECT}-{environment}"


def physical_name(*parts: str, environment: str) -> str:
    """A physical (cloud-side) name unique per stack, e.g. ``model-platform-prod-days-to-sell-reader``."""
    return "-".join((stack_prefix(environment), *parts))


def training_role_name(*, environment: str) -> str:
    """The training clusters' IAM role (and instance profile): fixed, so the bucket policy can name its ARN
    without depending on the role (which depends on the bucket's writer policy)."""
    return physical_name("training", environment=environment)


def service_account_name(model: str) -> str:
    """The serving ServiceAccount of ``model``; the IRSA trust policy binds to exactly this."""
    return f"{model}-serving"


def aws_tags(*, environment: str, tags: Mapping[str, str], model: Optional[str] = None) -> dict[str, str]:
    """Tags on every AWS resource (and Databricks custom_tags): the stack's ``tags``, then the platform's.

    The platform's keys are ``PLATFORM_TAG_KEYS``, which the config refuses as user tags.
    """
    platform = {PROJECT_TAG: PROJECT, ENVIRONMENT_TAG: environment, MANAGED_BY_TAG: MANAGED_BY}
    if model:
        platform[MODEL_TAG] = model
    return {**tags, **platform}


def required_labels(*, environment: str) -> dict[str, str]:
    """The ``REQUIRED_LABELS`` with their values: what every Kubernetes object of the stack carries."""
    return {PART_OF_LABEL: PROJECT, MANAGED_BY_LABEL: MANAGED_BY, ENVIRONMENT_LABEL: environment}


def k8s_labels(
    *, environment: str, tags: Mapping[str, str], model: str, version: Optional[str], component: str = "serving"
) -> dict[str, str]:
    """Kubernetes recommended labels; ``version`` is None for objects that belong to no one version."""
    labels = {
        NAME_LABEL: model,
        INSTANCE_LABEL: f"{model}-{environment}",
        COMPONENT_LABEL: component,
        **required_labels(environment=environment),
    }
    if version is not None:
        labels[VERSION_LABEL] = label_value(version)
    tag_labels = {f"{LABEL_PREFIX}{k}": label_value(v) for k, v in tags.items()}
    labels.update({k: v for k, v in tag_labels.items() if k not in labels})  # the platform's own labels win
    return labels


def label_value(text: str) -> str:
    """``text`` made a valid label value (at most 63 of ``[-A-Za-z0-9_.]``, alphanumeric ends).

    Model versions and tags are valid label values already (the config checks
    them); this only guards against text that reaches a label some other way.
    """
    value = re.sub(r"[^-A-Za-z0-9_.]", "_", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)


def stack_environment(stack: str) -> Optional[str]:
    """The environment a stack's name binds it to, or None when the name names none.

    A stack named ``prod``, ``staging`` or ``dev``, or ``<that>-<anything>``
    (``prod-eu``), is that environment; any other name mentioning ``prod``
    (``production``, ``eu-prod``) is held to prod. A stack file cannot declare
    a weaker environment than its name: the config refuses it, and the policy
    pack's level comes from this too (``modelctl check``).
    """
    for environment in ENVIRONMENTS:
        if stack == environment or stack.startswith(f"{environment}-"):
            return environment
    return PROD if PROD in stack.lower() else None


#: How a stack file's name gives its stack: ``Pulumi.<stack>.yaml`` (a ``@<revision>`` after it allowed).
STACK_FILE_NAME = re.compile(r"(?:^|[/\\])Pulumi\.([^/\\]+?)\.ya?ml(?:@[^/\\]*)?$")


def stack_of_file(name: str) -> Optional[str]:
    """The stack a stack file (or its label, ``stacks/Pulumi.prod.yaml@HEAD``) belongs to, or None."""
    found = STACK_FILE_NAME.search(name)
    return found.group(1) if found else None
