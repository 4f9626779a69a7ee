"""The one grammar of a model version, and of what sits beside it in a key: the model name, the bundle digest.

A model version names one folder of the bundle store (``<model>/<version>/``)
and is the value of the pods' ``app.kubernetes.io/version`` label, so it must
be both an S3 key segment that no tool mangles and a valid label value, as
is: 1 to 63 letters, digits, '.', '_' or '-', starting and ending with a
letter or digit. ``1.4.0`` is one; so is a training run's own version,
``2026-12-02-884422123`` (the run's UTC start date and its Databricks run id).
The config, the key layout, ``modelctl release``/``promote`` and the labels
all check versions (and digests) here, and all say the same thing about a bad one.

The module imports nothing but the standard library: the stack delivers it,
byte for byte, beside the training DAG (``infra/documents/dag_package.py``),
whose release step checks versions with these very rules. Part of
``infra.contract``: the program, ``modelctl``, the DAG and the policy pack
agree on these grammars by importing them, never by restating them.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

#: A model name: a DNS label (it names S3 prefixes, Kubernetes objects and Airflow DAGs).
MODEL_NAME = r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"
#: A bundle digest as stack files hold it: sha256, 64 lowercase hex digits.
SHA256_HEX = r"[0-9a-f]{64}"
SHA256 = rf"^{SHA256_HEX}$"
_SHA256 = re.compile(SHA256)
#: A container image pinned by digest: its reference ends with ``@sha256:<64 lowercase hex>``.
IMAGE_DIGEST = re.compile(rf"@sha256:{SHA256_HEX}$")
#: A model version (and a training package version): one S3 key segment, a Kubernetes label value as is.
MODEL_VERSION = r"^[0-9A-Za-z]([0-9A-Za-z._-]{0,61}[0-9A-Za-z])?$"
_MODEL_VERSION = re.compile(MODEL_VERSION)
#: What a version looks like, for messages: a hand-named one and a training run's.
EXAMPLES = "e.g. 1.4.0 or 2026-12-02-884422"
_RULE = "1 to 63 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"


def is_model_version(value: Any) -> bool:
    return isinstance(value, str) and _MODEL_VERSION.fullmatch(value) is not None


def version_message(value: Any, what: str = "model version") -> str:
    """Why ``value`` is not a version; the same words wherever a version is checked."""
    return f"{value!r} is not a {what}: {_RULE} ({EXAMPLES})"


def yaml_typed_message(value: Any, what: str = "model version") -> str:
    """A version YAML read as a number or a date (``version: 1.10`` is the float 1.1): say to quote it."""
    kind = "a date" if isinstance(value, (datetime.date, datetime.datetime)) else "a number"
    return f"{value!r} was read by YAML as {kind}, not text: quote the {what} (write \"1.10\", not 1.10)"


def check_model_version(value: Any, what: str = "model version") -> str:
    """``value`` if it is a version; ValueError with the one message otherwise (a quoting hint for YAML numbers)."""
    if isinstance(value, (int, float, datetime.date)) and not isinstance(value, bool):
        raise ValueError(yaml_typed_message(value, what))
    if not is_model_version(value):
        raise ValueError(version_message(value, what))
    return value


def is_sha256(value: Any) -> bool:
    """Whether ``value`` is a bundle digest as stack files hold it (64 lowercase hex digits)."""
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def digest_message(value: Any) -> str:
    """Why ``value`` is not a bundle digest; the same words wherever a digest is checked."""
    return f"{value!r} is not a sha256 digest (64 lowercase hex digits)"


def check_sha256(value: Any) -> str:
    """``value`` if it is a bundle digest; ValueError with the one message otherwise."""
    if not is_sha256(value):
        raise ValueError(digest_message(value))
    return value
