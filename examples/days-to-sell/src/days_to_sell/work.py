"""Where one run keeps its scratch data: ``--work-uri`` (``_work/<model>/<version>/``).

The writer may overwrite anything here (a retried task does), and a lifecycle rule expires it; nothing
here is served. Published objects are copied from it by export_bundle.

    data/                  the data set prepare_data wrote (Parquet)
    stats.json             the statistics validate_data computed and passed
    model/                 the fitted Spark PipelineModel (train)
    metrics.json           hold-out metric and threshold (train; also when the model is refused)
    samples.json           hold-out rows with Spark's predictions (train)
    bundle.zip             the MLeap bundle, serialised once by export_bundle and re-used by its retries
                           (train removes it when it saves a new model)
    durations/<task>.json  wall time of each task that finished
"""

from __future__ import annotations

from dataclasses import dataclass

from days_to_sell.spark_env import spark_path
from days_to_sell.storage import join


@dataclass(frozen=True)
class WorkArea:
    uri: str

    def file(self, name: str) -> str:
        return join(self.uri, name)

    @property
    def data(self) -> str:
        """Spark path of the data set."""
        return spark_path(self.file("data"))

    @property
    def model(self) -> str:
        """Spark path of the fitted PipelineModel."""
        return spark_path(self.file("model"))

    @property
    def stats(self) -> str:
        return self.file("stats.json")

    @property
    def metrics(self) -> str:
        return self.file("metrics.json")

    @property
    def samples(self) -> str:
        return self.file("samples.json")

    @property
    def bundle(self) -> str:
        return self.file("bundle.zip")

    def duration(self, task: str) -> str:
        return self.file(f"durations/{task}.json")
