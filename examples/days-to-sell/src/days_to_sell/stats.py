"""Per-column statistics of a data set (``stats.json``) and the drift measure between two of them.

validate_data computes them for the run's data; export_bundle publishes them next to the bundle; the next
run compares its data with the released version's (``released.json`` -> ``files.stats``). Drift is the
population stability index (PSI) of each feature:

    PSI = sum over bins of (actual - expected) * ln(actual / expected)

over the baseline's decile bins for numeric features (the current data counted in the baseline's bins) and
over the categories for categorical ones; shares below ``PSI_FLOOR`` count as ``PSI_FLOOR`` so that an empty
bin gives a large but finite value. Reading it: below 0.1 no real change, 0.1 to 0.25 a moderate shift,
above 0.25 a major one; the package fails at ``--max-drift`` (default 0.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

from days_to_sell.errors import TaskError

PSI_FLOOR = 1e-4
#: Decile bins: the baseline's 10 %, 20 %, ... 90 % quantiles are the edges.
QUANTILES: tuple[float, ...] = tuple(i / 10 for i in range(1, 10))
#: Categorical columns keep their most frequent values; the rest share one bucket.
MAX_CATEGORIES = 100
OTHER = "__other__"


@dataclass(frozen=True)
class NumericStats:
    """A numeric column: nulls (null or NaN), range, moments, and its shares in decile bins.

    Bins are (-inf, edges[0]], (edges[0], edges[1]], ..., (edges[-1], +inf): one more share than edges.
    """

    nulls: int
    min: Optional[float]
    max: Optional[float]
    mean: Optional[float]
    stddev: Optional[float]
    edges: tuple[float, ...]
    fractions: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "nulls": self.nulls,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "stddev": self.stddev,
            "bins": {"edges": list(self.edges), "fractions": list(self.fractions)},
        }


@dataclass(frozen=True)
class CategoricalStats:
    """A string column: nulls (null or blank), distinct values, and the share of each value."""

    nulls: int
    distinct: int
    frequencies: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "categorical", "nulls": self.nulls, "distinct": self.distinct, "frequencies": dict(self.frequencies)}


ColumnStats = Union[NumericStats, CategoricalStats]


@dataclass(frozen=True)
class DataStats:
    model: str
    version: str
    rows: int
    columns: Mapping[str, ColumnStats]

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "rows": self.rows,
            "columns": {name: stats.to_json() for name, stats in self.columns.items()},
            "psi": {"bins": "deciles", "floor": PSI_FLOOR},
        }

    @classmethod
    def from_json(cls, doc: Any, *, source: str) -> "DataStats":
        """Read ``stats.json``; TaskError naming ``source`` when it is not one."""
        try:
            columns: dict[str, ColumnStats] = {}
            for name, col in doc["columns"].items():
                if col["kind"] == "numeric":
                    columns[name] = NumericStats(
                        nulls=int(col["nulls"]),
                        min=col["min"],
                        max=col["max"],
                        mean=col["mean"],
                        stddev=col["stddev"],
                        edges=tuple(float(e) for e in col["bins"]["edges"]),
                        fractions=tuple(float(f) for f in col["bins"]["fractions"]),
                    )
                else:
                    columns[name] = CategoricalStats(
                        nulls=int(col["nulls"]),
                        distinct=int(col["distinct"]),
                        frequencies={str(k): float(v) for k, v in col["frequencies"].items()},
                    )
            return cls(model=str(doc["model"]), version=str(doc["version"]), rows=int(doc["rows"]), columns=columns)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise TaskError(f"{source} is not a days-to-sell stats.json ({type(error).__name__}: {error})") from None


def bin_index(value: float, edges: Sequence[float]) -> int:
    """The bin of ``value``: the number of edges strictly below it (matches the Spark-side counting)."""
    return sum(1 for e in edges if value > e)


def psi(expected: Sequence[float], actual: Sequence[float], *, floor: float = PSI_FLOOR) -> float:
    """Population stability index of two share vectors over the same bins."""
    if len(expected) != len(actual):
        raise ValueError(f"PSI needs the same bins: {len(expected)} expected shares, {len(actual)} actual")
    total = 0.0
    for e, a in zip(expected, actual):
        e, a = max(e, floor), max(a, floor)
        total += (a - e) * math.log(a / e)
    return total


def categorical_psi(expected: Mapping[str, float], actual: Mapping[str, float], *, floor: float = PSI_FLOOR) -> float:
    """PSI over the union of both sides' categories (a category missing on one side has share 0)."""
    keys = sorted(set(expected) | set(actual))
    return psi([expected.get(k, 0.0) for k in keys], [actual.get(k, 0.0) for k in keys], floor=floor)
