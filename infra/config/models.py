"""``models.<name>``: one model's served release (``version`` + ``bundleSha256``), its training, its serving, its canary.

A release is the version and its bundle's digest together, in the grammars of
``infra.contract.model_version``; ``modelctl release``/``promote`` change both.
"""

from __future__ import annotations

from typing import Optional

from pydantic import Field, model_validator

from infra.config.base import Block, _err
from infra.config.serving import ServingConfig
from infra.config.training import TrainingConfig
from infra.config.types import ModelVersion, Sha256Digest


class CanaryConfig(Block):
    version: ModelVersion = Field(description="Candidate version (a model version, as for the served one).")
    bundle_sha256: Sha256Digest = Field(description="sha256 of the candidate's bundle.zip.")
    replicas: int = Field(1, ge=1, le=100, description="Candidate replicas (traffic share = replicas / all replicas).")


class ModelConfig(Block):
    version: ModelVersion = Field(
        description="The model version this stack serves: a training run's immutable version (<UTC date>-<run id>, "
        "e.g. 2026-12-02-884422123) or any other version name (e.g. 1.4.0): 1 to 63 letters, digits, '.', '_' or "
        "'-', starting and ending with a letter or digit. Its objects live at <model>/<version>/ in the bundle "
        "store and are never overwritten. A release is this and bundleSha256 together: change both with "
        "`modelctl release` (or `promote`), never one alone. Training never reads it.",
    )
    bundle_sha256: Sha256Digest = Field(
        description="sha256 (64 lowercase hex) of <model>/<version>/bundle.zip: the digest of the version above, "
        "as its bundle.zip.sha256 says; the serving pods refuse a bundle with another digest.",
    )
    training: TrainingConfig = Field(description="The Databricks training job.")
    serving: ServingConfig = Field(default_factory=ServingConfig, description="The Kubernetes serving.")
    canary: Optional[CanaryConfig] = Field(None, description="A candidate version served beside the main one.")

    @model_validator(mode="after")
    def _canary(self) -> "ModelConfig":
        if self.canary and self.canary.version == self.version:
            raise _err("canary.version", f"{self.version} is the version already served; promote by deleting the canary block")
        return self
