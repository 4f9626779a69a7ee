"""Labels and selectors of the serving objects.

Two rules keep rollouts safe and small:

* the model version appears only on pods (the pod template), never on the
  Deployment, Service, HPA or PDB themselves, so a version bump rolls the pods
  and changes nothing else;
* selectors never contain the version (selectors are immutable), and the
  Service selects on the model name only, so a canary's pods join the same
  Service while each Deployment selects only its own track.
"""

from __future__ import annotations

from enum import Enum

from infra.config import StackConfig
from infra.naming import k8s_labels

NAME_LABEL = "app.kubernetes.io/name"
TRACK_LABEL = "model-platform/track"
#: Pod annotations carrying the exact version and digest (a label value cannot hold a sha256).
VERSION_ANNOTATION = "model-platform/model-version"
DIGEST_ANNOTATION = "model-platform/bundle-sha256"


class Track(str, Enum):
    """Which Deployment a pod belongs to: the served version or the candidate."""

    stable = "stable"
    canary = "canary"


def object_labels(cfg: StackConfig, model: str) -> dict[str, str]:
    """Labels of every object but the pods: the recommended labels without the version."""
    return k8s_labels(cfg, model, version=None)


def pod_labels(cfg: StackConfig, model: str, version: str, track: Track) -> dict[str, str]:
    """Labels of one track's pods: the recommended labels, the version included, and the track."""
    labels = k8s_labels(cfg, model, version=version)
    labels[TRACK_LABEL] = track.value
    return labels


def model_selector(model: str) -> dict[str, str]:
    """Every serving pod of ``model``, stable and canary (Service, PDB, NetworkPolicy)."""
    return {NAME_LABEL: model}


def track_selector(model: str, track: Track) -> dict[str, str]:
    """The pods of one Deployment; disjoint between tracks so the two never fight over pods."""
    return {**model_selector(model), TRACK_LABEL: track.value}
