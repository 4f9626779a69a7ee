"""The one key layout of the bundle store.

Training writes it, serving reads it, ``modelctl release``/``promote`` check
it; nothing else spells these keys::

    <model>/<version>/bundle.zip
    <model>/<version>/bundle.zip.sha256
    <model>/<version>/samples.json     (sample inputs with their predictions)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.config import MODEL_NAME

BUNDLE_FILE = "bundle.zip"
DIGEST_FILE = "bundle.zip.sha256"
SAMPLES_FILE = "samples.json"

#: A version is one key segment: no '/', no '.'/'..', nothing IAM reads as a wildcard.
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$")


@dataclass(frozen=True)
class BundleKeys:
    """S3 keys of one model version."""

    model: str
    version: str

    def __post_init__(self) -> None:
        if not _VERSION.fullmatch(self.version or ""):
            raise ValueError(f"invalid version {self.version!r}")
        model_prefix(self.model)

    @property
    def prefix(self) -> str:
        """Folder of this version, ending with '/'."""
        return f"{model_prefix(self.model)}{self.version}/"

    @property
    def bundle(self) -> str:
        return self.prefix + BUNDLE_FILE

    @property
    def digest(self) -> str:
        return self.prefix + DIGEST_FILE

    @property
    def samples(self) -> str:
        return self.prefix + SAMPLES_FILE

    def uri(self, bucket: str, key: str | None = None) -> str:
        """``s3://`` URI of ``key`` (default: the bundle) in ``bucket``."""
        return f"s3://{bucket}/{key or self.bundle}"


def model_prefix(model: str) -> str:
    """Key prefix holding every version of ``model`` (IAM scopes on it).

    The trailing '/' keeps ``days/`` from covering ``days-to-sell/``; the DNS-label
    rule keeps '*' and '?' (IAM wildcards) out of the ARNs built from it.
    """
    if not re.fullmatch(MODEL_NAME, model or ""):
        raise ValueError(f"invalid model name {model!r}: must be a DNS label")
    return f"{model}/"


def bundle_keys(model: str, version: str) -> BundleKeys:
    """The keys of ``model`` at ``version``; raises ValueError for names that are not one key segment."""
    return BundleKeys(model, version)


def parse_digest_file(text: str) -> str:
    """The hex digest in a ``.sha256`` file (``sha256sum`` format or bare)."""
    token = text.strip().split()[0] if text.strip() else ""
    if len(token) != 64 or any(c not in "0123456789abcdef" for c in token.lower()):
        raise ValueError("not a sha256 digest file")
    return token.lower()
