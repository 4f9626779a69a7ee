"""An AWS resource's tags as AWS will hold them: its provider's ``default_tags``, then its own ``tags``.

The program tags AWS resources through the AWS provider's ``default_tags``
(the resource's own ``tags`` add to them, and win on a shared key, as in AWS's
``tags_all``). A rule that read only a resource's ``tags`` input would find the
platform's tags missing on every resource; these read both. The Analyzer
hands a provider's inputs over as the engine keeps them: structured values
as JSON text, which is read here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from model_platform_policy.values import get, json_document, known, mapping


def provider_default_tags(provider: Any) -> Mapping[str, Any]:
    """``defaultTags.tags`` of an AWS provider resource (a PolicyProviderResource or None); empty when it sets none."""
    if provider is None or not str(getattr(provider, "resource_type", "")).startswith("pulumi:providers:aws"):
        return {}
    default_tags = mapping(json_document(known(lambda: get(provider.props, "defaultTags"))))
    return mapping(json_document(get(default_tags, "tags")))


def effective_tags(props: Mapping[str, Any], provider: Optional[Any]) -> Mapping[str, Any]:
    """The tags AWS gives the resource: the provider's default tags overlaid with its own ``tags``."""
    return {**provider_default_tags(provider), **mapping(get(props, "tags"))}
