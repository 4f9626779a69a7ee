"""The ``--name=value`` parameters every task accepts, as the Databricks job passes them.

Every task of the job receives the same named parameters: the platform's (model, version and the URIs
of the S3 layout) and the stack's ``training.parameters`` (the user parameters below). So each task
parses all of them, ignores the ones it does not use, and refuses anything else: a misspelt parameter in a
stack file fails the first task instead of silently falling back to a default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from days_to_sell.errors import ParameterError

#: Set by the platform on every task (the stack refuses them in training.parameters).
PLATFORM_PARAMETERS: tuple[str, ...] = (
    "model",
    "version",
    "work-uri",
    "bundle-uri",
    "samples-uri",
    "metrics-uri",
    "stats-uri",
    "digest-uri",
    "released-uri",
)

VERSION = re.compile(r"^[0-9A-Za-z]([0-9A-Za-z._-]{0,61}[0-9A-Za-z])?$")


def check_version(value: str) -> str:
    """``value`` if it is a model version (one S3 key segment, a Kubernetes label value), else ParameterError."""
    if not VERSION.fullmatch(value):
        raise ParameterError(
            f"{value} is not a model version: 1 to 63 letters, digits, '.', '_' or '-', starting and ending "
            "with a letter or digit (e.g. 1.4.0 or 2026-12-02-884422)"
        )
    return value


@dataclass(frozen=True)
class UserParameter:
    """A parameter the stack may set in ``training.parameters``; every one has a default."""

    name: str
    default: str
    help: str
    convert: Callable[[str, str], object]


def _integer(low: int, high: int) -> Callable[[str, str], object]:
    def convert(name: str, text: str) -> object:
        try:
            value = int(text)
        except ValueError:
            raise ParameterError(f"--{name}={text}: not a whole number") from None
        if not low <= value <= high:
            raise ParameterError(f"--{name}={text}: must be between {low} and {high}")
        return value

    return convert


def _number(low: float, high: float) -> Callable[[str, str], object]:
    def convert(name: str, text: str) -> object:
        try:
            value = float(text)
        except ValueError:
            raise ParameterError(f"--{name}={text}: not a number") from None
        if not low < value < high:  # also refuses nan
            raise ParameterError(f"--{name}={text}: must be greater than {low} and less than {high}")
        return value

    return convert


def _text(name: str, text: str) -> object:
    if not text.strip():
        raise ParameterError(f"--{name}= is empty")
    return text.strip()


USER_PARAMETERS: tuple[UserParameter, ...] = (
    UserParameter(
        "data-source",
        "synthetic",
        "`synthetic` (a seeded synthetic data set of --rows rows), a table name (e.g. `main.pricing.adverts`) "
        "or a Spark-readable path (Parquet, or Delta on Databricks)",
        _text,
    ),
    UserParameter("rows", "30000", "rows of the synthetic data set (ignored for other sources)", _integer(1, 10_000_000)),
    UserParameter("seed", "42", "seed of the synthetic data, the hold-out split and the estimator", _integer(0, 2**31 - 1)),
    UserParameter("min-rows", "1000", "validate_data fails with fewer rows", _integer(1, 10**12)),
    UserParameter(
        "max-drift",
        "0.2",
        "validate_data fails when a feature's PSI against the released version's stats.json exceeds it",
        _number(0.0, 100.0),
    ),
    UserParameter("max-rmse", "8.0", "train fails when the hold-out RMSE (days) exceeds it", _number(0.0, 1e9)),
    UserParameter("holdout-fraction", "0.2", "share of rows held out for the metric and the samples", _number(0.0, 0.9)),
    UserParameter("trees", "50", "trees of the random forest", _integer(1, 1000)),
    UserParameter("max-depth", "8", "maximum depth of each tree", _integer(1, 30)),
    UserParameter("sample-rows", "200", "hold-out rows written to samples.json", _integer(1, 5000)),
)

KNOWN: tuple[str, ...] = PLATFORM_PARAMETERS + tuple(p.name for p in USER_PARAMETERS)


@dataclass(frozen=True)
class TaskParameters:
    """Every parameter of a task, converted and checked."""

    model: str
    version: str
    work_uri: str
    bundle_uri: str
    samples_uri: str
    metrics_uri: str
    stats_uri: str
    digest_uri: str
    released_uri: str
    data_source: str
    rows: int
    seed: int
    min_rows: int
    max_drift: float
    max_rmse: float
    holdout_fraction: float
    trees: int
    max_depth: int
    sample_rows: int


_PUBLISHED = ("bundle-uri", "samples-uri", "metrics-uri", "stats-uri", "digest-uri", "released-uri")


def _split(argv: Sequence[str]) -> dict[str, str]:
    given: dict[str, str] = {}
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg:
            raise ParameterError(f"{arg!r}: parameters are passed as --name=value (Databricks named_parameters)")
        name, _, value = arg[2:].partition("=")
        if name in given:
            raise ParameterError(f"--{name} is given twice")
        given[name] = value
    return given


def _unknown(names: Iterable[str]) -> str:
    return ", ".join(f"--{n}" for n in sorted(names))


def parse_parameters(argv: Sequence[str]) -> TaskParameters:
    """The task's parameters from ``--name=value`` arguments; ParameterError names what is wrong."""
    given = _split(argv)
    unknown = set(given) - set(KNOWN)
    if unknown:
        raise ParameterError(
            f"unknown parameter {_unknown(unknown)}: this package accepts {_unknown(KNOWN)} "
            "(see examples/days-to-sell/README.md)"
        )
    missing = [n for n in PLATFORM_PARAMETERS if not given.get(n, "").strip()]
    if missing:
        raise ParameterError(f"missing platform parameter {_unknown(missing)}: the training job passes them to every task")
    for name in _PUBLISHED:
        if not given[name].startswith("s3://") or len(given[name]) <= len("s3://"):
            raise ParameterError(f"--{name}={given[name]}: must be an s3:// URI")
    values: dict[str, object] = {n.replace("-", "_"): given[n].strip() for n in PLATFORM_PARAMETERS}
    check_version(str(values["version"]))
    for p in USER_PARAMETERS:
        values[p.name.replace("-", "_")] = p.convert(p.name, given.get(p.name, p.default))
    return TaskParameters(**values)  # type: ignore[arg-type]
