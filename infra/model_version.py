"""Moved to ``infra.contract.model_version``; this re-export keeps old imports working until the lead removes it."""

from infra.contract.model_version import (  # noqa: F401
    EXAMPLES,
    IMAGE_DIGEST,
    MODEL_NAME,
    MODEL_VERSION,
    SHA256,
    SHA256_HEX,
    check_model_version,
    check_sha256,
    digest_message,
    is_model_version,
    is_sha256,
    version_message,
    yaml_typed_message,
)
