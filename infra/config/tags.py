"""``model-platform:tags``: the organisation's tags, on every AWS resource and (as labels) every Kubernetes object.

Tags become Kubernetes labels ``model-platform/<key>`` too, so keys and
values follow label rules (``infra.contract.naming``), and each model's
``released.json`` (an S3 object, at most 10 tags) carries them beside the
platform's own.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from infra.config.base import Problem, _raise_problems
from infra.config.types import SECURE_KEY_ADVICE, credential_problems
from infra.contract.credentials import credential_value_kind
from infra.contract.naming import LABEL_NAME, LABEL_VALUE, MAX_S3_OBJECT_TAGS, MAX_USER_TAGS, PLATFORM_TAG_KEYS


def check_tags(v: dict[str, str]) -> dict[str, str]:
    """Every problem of a stack's tags: too many, a key or value that is no label, a key the platform sets."""
    problems: list[Problem] = []
    if len(v) > MAX_USER_TAGS:
        problems.append((
            "",
            f"{len(v)} tags are more than {MAX_USER_TAGS}: each model's released.json is an S3 object, which carries "
            f"at most {MAX_S3_OBJECT_TAGS} tags, and the platform sets {len(PLATFORM_TAG_KEYS)} ({', '.join(PLATFORM_TAG_KEYS)})",
        ))
    for key, value in v.items():
        if key.lower().startswith("aws:"):
            problems.append(("", f"{key!r} is not a valid tag key: the 'aws:' prefix is reserved by AWS"))
        elif not LABEL_NAME.fullmatch(key):
            problems.append((
                "",
                f"{key!r} is not a valid tag key: tags are Kubernetes labels too (model-platform/<key>), so a key is "
                "1..63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            ))
        elif key.lower() in PLATFORM_TAG_KEYS:
            problems.append((key, f"is set by the platform on every resource (reserved: {', '.join(PLATFORM_TAG_KEYS)})"))
        if not LABEL_VALUE.fullmatch(value) and not credential_value_kind(value):  # a credential: never echoed
            problems.append((
                key,
                f"{value!r} is not a valid tag value: it is a Kubernetes label value too, so at most 63 letters, digits, "
                "'-', '_' or '.', starting and ending with a letter or digit",
            ))
    problems += credential_problems(v, SECURE_KEY_ADVICE)
    _raise_problems(problems)
    return v


#: A stack's user tags, checked by ``check_tags``.
Tags = Annotated[dict[str, str], AfterValidator(check_tags)]
