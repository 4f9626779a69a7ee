"""The data-integrity checks of validate_data, as plain functions over a schema and statistics.

Each returns the problems it finds (none: the check passed), so validate_data reports every problem of a
data set at once. A problem names its check and column; validate_data prints them to stderr and exits 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from days_to_sell.features import COLUMNS, FEATURES, Column
from days_to_sell.stats import OTHER, CategoricalStats, DataStats, NumericStats, categorical_psi, psi

NUMERIC_TYPES = re.compile(r"^(double|float|int|bigint|smallint|tinyint|decimal\(\d+,\d+\))$")


@dataclass(frozen=True)
class Problem:
    check: str  # schema, min-rows, nulls, range, drift
    column: Optional[str]
    message: str

    def __str__(self) -> str:
        where = f" {self.column}" if self.column else ""
        return f"{self.check}{where}: {self.message}"


def check_schema(schema: Mapping[str, str]) -> list[Problem]:
    """Every feature and the label present, numbers as numbers and categories as strings.

    ``schema`` maps column names to Spark type names (``DataType.simpleString()``); extra columns are fine.
    """
    problems = []
    for col in COLUMNS:
        actual = schema.get(col.name)
        expected = "a number" if col.kind == "numeric" else "a string"
        if actual is None:
            problems.append(Problem("schema", col.name, f"missing column ({col.description}; {expected})"))
        elif col.kind == "numeric" and not NUMERIC_TYPES.match(actual):
            problems.append(Problem("schema", col.name, f"is {actual}, expected {expected}"))
        elif col.kind == "categorical" and actual != "string":
            problems.append(Problem("schema", col.name, f"is {actual}, expected {expected}"))
    return problems


def check_rows(rows: int, *, min_rows: int) -> list[Problem]:
    if rows < min_rows:
        return [Problem("min-rows", None, f"{rows} rows, fewer than --min-rows={min_rows}")]
    return []


def check_nulls(stats: DataStats) -> list[Problem]:
    """No nulls anywhere: NaN counts as null for numbers, a blank string for categories."""
    problems = []
    for col in COLUMNS:
        s = stats.columns.get(col.name)
        if s is not None and s.nulls:
            what = "null or NaN" if isinstance(s, NumericStats) else "null or blank"
            problems.append(Problem("nulls", col.name, f"{s.nulls} of {stats.rows} rows are {what} (none allowed)"))
    return problems


def _range_problem(col: Column, s: NumericStats) -> Optional[Problem]:
    low = -float("inf") if col.minimum is None else col.minimum
    high = float("inf") if col.maximum is None else col.maximum
    if s.min is None or s.max is None or (low <= s.min and s.max <= high):
        return None
    return Problem("range", col.name, f"values from {s.min:g} to {s.max:g}, outside the valid range [{low:g}, {high:g}]")


def check_ranges(stats: DataStats) -> list[Problem]:
    """Numbers within their declared range, closed categories (e.g. season) within their values."""
    problems = []
    for col in COLUMNS:
        s = stats.columns.get(col.name)
        if isinstance(s, NumericStats):
            problem = _range_problem(col, s)
            if problem:
                problems.append(problem)
        elif isinstance(s, CategoricalStats) and col.allowed is not None:
            unexpected = sorted(v for v in s.frequencies if v not in col.allowed)
            if unexpected:
                shown = ", ".join("(more values)" if v == OTHER else repr(v) for v in unexpected[:10])
                problems.append(Problem("range", col.name, f"unexpected values {shown}; allowed: {', '.join(col.allowed)}"))
    return problems


def feature_drift(
    *, baseline: DataStats, current: DataStats, current_in_baseline_bins: Mapping[str, Sequence[float]]
) -> dict[str, float]:
    """PSI of every feature both sides describe (numeric: the current data counted in the baseline's bins)."""
    drift: dict[str, float] = {}
    for col in FEATURES:
        before, now = baseline.columns.get(col.name), current.columns.get(col.name)
        if isinstance(before, NumericStats) and col.name in current_in_baseline_bins:
            drift[col.name] = psi(before.fractions, current_in_baseline_bins[col.name])
        elif isinstance(before, CategoricalStats) and isinstance(now, CategoricalStats):
            drift[col.name] = categorical_psi(before.frequencies, now.frequencies)
    return drift


def check_drift(drift: Mapping[str, float], *, max_drift: float, baseline_version: str) -> list[Problem]:
    return [
        Problem(
            "drift",
            name,
            f"PSI {value:.3f} against released version {baseline_version} exceeds --max-drift={max_drift:g}",
        )
        for name, value in drift.items()
        if value > max_drift
    ]
