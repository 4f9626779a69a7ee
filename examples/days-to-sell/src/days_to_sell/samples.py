"""``samples.json``: hold-out rows with Spark's predictions, the evidence a bundle is checked against.

The input rows are a LeapFrame in MLeap's JSON format (``{"schema": {"fields": [...]}, "rows": [...]}``), so
check_bundle hands the schema straight to MLeap's runtime and serving can POST the same frame to its
``/transform`` endpoint. A bundle reproduces the samples when every prediction is within the tolerance:

    |mleap - spark| <= ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * |spark|

(1e-6 days absolute plus 1e-9 relative: the two runtimes evaluate the same trees on the same doubles, so
any real difference, such as a wrong category index or a missing stage, is many orders of magnitude larger).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from days_to_sell.errors import TaskError

ABSOLUTE_TOLERANCE = 1e-6
RELATIVE_TOLERANCE = 1e-9

#: Spark type name -> MLeap scalar type name (MLeap's JSON format). The pipeline's inputs are strings and
#: doubles (training_frame casts every number to double), which JSON and py4j carry without loss.
MLEAP_TYPES = {"string": "string", "double": "double"}


@dataclass(frozen=True)
class Samples:
    model: str
    version: str
    #: (name, MLeap type) of each input column, in the order of each row's values.
    fields: tuple[tuple[str, str], ...]
    rows: tuple[tuple[Any, ...], ...]
    prediction_column: str
    predictions: tuple[float, ...]

    def leap_frame(self) -> dict[str, Any]:
        return {"schema": self.schema_json(), "rows": [list(r) for r in self.rows]}

    def schema_json(self) -> dict[str, Any]:
        return {"fields": [{"name": n, "type": t} for n, t in self.fields]}

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "leapFrame": self.leap_frame(),
            "predictionColumn": self.prediction_column,
            "predictions": list(self.predictions),
            "tolerance": {"absolute": ABSOLUTE_TOLERANCE, "relative": RELATIVE_TOLERANCE},
        }

    @classmethod
    def from_json(cls, doc: Any, *, source: str) -> "Samples":
        try:
            frame = doc["leapFrame"]
            fields = tuple((str(f["name"]), str(f["type"])) for f in frame["schema"]["fields"])
            rows = tuple(tuple(r) for r in frame["rows"])
            predictions = tuple(float(p) for p in doc["predictions"])
            samples = cls(str(doc["model"]), str(doc["version"]), fields, rows, str(doc["predictionColumn"]), predictions)
        except (KeyError, TypeError, ValueError) as error:
            raise TaskError(f"{source} is not a days-to-sell samples.json ({type(error).__name__}: {error})") from None
        if len(rows) != len(predictions) or any(len(r) != len(fields) for r in rows):
            raise TaskError(f"{source}: rows, fields and predictions do not line up")
        return samples


def mleap_type(spark_type: str) -> str:
    try:
        return MLEAP_TYPES[spark_type]
    except KeyError:
        raise TaskError(f"samples.json carries strings and doubles only, not {spark_type}: cast the column in training_frame") from None


@dataclass(frozen=True)
class Comparison:
    rows: int
    max_abs_error: float
    #: (row, spark prediction, mleap prediction) beyond the tolerance, first ones only.
    mismatches: tuple[tuple[int, float, Optional[float]], ...]
    mismatch_count: int

    @property
    def reproduced(self) -> bool:
        return self.mismatch_count == 0


def within_tolerance(expected: float, actual: float) -> bool:
    return abs(actual - expected) <= ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * abs(expected)


def compare(expected: Sequence[float], actual: Sequence[float], *, keep: int = 5) -> Comparison:
    """How far ``actual`` (MLeap) is from ``expected`` (Spark); a missing or extra prediction is a mismatch."""
    mismatches: list[tuple[int, float, Optional[float]]] = []
    count = 0
    worst = 0.0
    for i, e in enumerate(expected):
        a = actual[i] if i < len(actual) else None
        if a is not None and a == a:  # not NaN
            worst = max(worst, abs(a - e))
        if a is None or not within_tolerance(e, a):
            count += 1
            if len(mismatches) < keep:
                mismatches.append((i, e, a))
    count += max(0, len(actual) - len(expected))
    return Comparison(len(expected), worst, tuple(mismatches), count)
