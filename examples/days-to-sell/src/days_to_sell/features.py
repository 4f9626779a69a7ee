"""The data contract of the days-to-sell model: its columns, their types and their valid values.

One place names the features, the label and what ``validate_data`` accepts, so the generator, the
integrity checks, the training pipeline and the samples all agree. A team bringing its own data edits
this module first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Column:
    """One input column (a feature or the label) and the values ``validate_data`` accepts.

    ``minimum``/``maximum`` bound numeric columns (inclusive); ``allowed`` closes a categorical
    column to a fixed set of values (None: any non-empty string, unseen ones are kept by the model).
    """

    name: str
    kind: Kind
    description: str
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    allowed: Optional[tuple[str, ...]] = None


SEASONS = ("winter", "spring", "summer", "autumn")

FEATURES: tuple[Column, ...] = (
    Column("make", "categorical", "manufacturer, e.g. Ford"),
    Column("model", "categorical", "model of the make, e.g. Focus"),
    Column("age_years", "numeric", "age of the vehicle in years", minimum=0.0, maximum=40.0),
    Column("mileage", "numeric", "odometer reading in miles", minimum=0.0, maximum=500_000.0),
    Column(
        "price_to_market",
        "numeric",
        "asking price divided by the market value of comparable vehicles (1.0 = priced at market)",
        minimum=0.3,
        maximum=3.0,
    ),
    Column("region", "categorical", "region of the seller, e.g. Scotland"),
    Column("season", "categorical", "season the advert went live", allowed=SEASONS),
)

LABEL = Column("days_to_sell", "numeric", "days from the advert going live to the sale", minimum=0.0, maximum=730.0)

#: The column the fitted pipeline writes its prediction to (MLeap keeps Spark's column names).
PREDICTION = "prediction"

FEATURE_NAMES: tuple[str, ...] = tuple(c.name for c in FEATURES)
NUMERIC_FEATURES: tuple[str, ...] = tuple(c.name for c in FEATURES if c.kind == "numeric")
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(c.name for c in FEATURES if c.kind == "categorical")
COLUMNS: tuple[Column, ...] = FEATURES + (LABEL,)


def column(name: str) -> Column:
    """The declared column ``name`` (KeyError for a name the contract does not have)."""
    for c in COLUMNS:
        if c.name == name:
            return c
    raise KeyError(name)
