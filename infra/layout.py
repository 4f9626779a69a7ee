"""Moved to ``infra.contract.layout``; this re-export keeps old imports working until the lead removes it."""

from infra.contract.layout import *  # noqa: F401,F403
from infra.contract.layout import (  # noqa: F401 - names used by modules not yet moved to infra.contract
    BUNDLE_FILE,
    DIGEST_FILE,
    METRICS_FILE,
    RELEASED_FILE,
    RUN_VERSION,
    SAMPLES_FILE,
    STATS_FILE,
    WORK_PREFIX,
    BundleKeys,
    bundle_uri,
    s3_uri,
    bundle_keys,
    model_prefix,
    parse_digest_file,
    released_document,
    released_key,
    run_keys,
    run_version,
    work_prefix,
)
