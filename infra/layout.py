"""The one key layout of the bundle store.

Training writes it, serving reads it, ``modelctl release``/``promote`` check
it; nothing else spells these keys::

    <model>/<version>/bundle.zip
    <model>/<version>/bundle.zip.sha256
    <model>/<version>/samples.json     (sample inputs with their predictions)
"""

from __future__ import annotations

from dataclasses import dataclass

BUNDLE_FILE = "bundle.zip"
DIGEST_FILE = "bundle.zip.sha256"
SAMPLES_FILE = "samples.json"


@dataclass(frozen=True)
class BundleKeys:
    """S3 keys of one model version."""

    model: str
    version: str

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
    """Key prefix holding every version of ``model`` (IAM scopes on it)."""
    if not model or "/" in model:
        raise ValueError(f"invalid model name {model!r}")
    return f"{model}/"


def bundle_keys(model: str, version: str) -> BundleKeys:
    if not version or "/" in version:
        raise ValueError(f"invalid version {version!r}")
    model_prefix(model)
    return BundleKeys(model, version)


def parse_digest_file(text: str) -> str:
    """The hex digest in a ``.sha256`` file (``sha256sum`` format or bare)."""
    token = text.strip().split()[0] if text.strip() else ""
    if len(token) != 64 or any(c not in "0123456789abcdef" for c in token.lower()):
        raise ValueError("not a sha256 digest file")
    return token.lower()
