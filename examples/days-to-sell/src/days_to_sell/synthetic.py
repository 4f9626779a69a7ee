"""A deterministic synthetic "days to sell" data set, so the pipeline runs end to end without private data.

Why synthetic: the reference package must run anywhere (CI, a laptop, a fresh workspace) and give the
same rows for the same ``--seed``. The generating function is plausible rather than real: asking price
against the market value dominates, then make/model demand, age and mileage, region and season, with an
electric-car-in-rural-region interaction, and multiplicative noise (sd about 12 %), so a tree ensemble
learns it well but not perfectly. Rows come from numpy's PCG64 generator seeded with ``seed``: the same
``rows`` and ``seed`` give the same data set on every machine, whatever the Spark cluster.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from days_to_sell.features import FEATURE_NAMES, LABEL, SEASONS

#: make -> {model: demand effect on log(days)}; negative sells faster. Popularity weights below.
MODELS: dict[str, dict[str, float]] = {
    "Ford": {"Fiesta": -0.10, "Focus": -0.05, "Kuga": 0.00, "Puma": -0.08},
    "Vauxhall": {"Corsa": -0.05, "Astra": 0.02, "Mokka": 0.05},
    "Volkswagen": {"Polo": -0.08, "Golf": -0.12, "Tiguan": 0.00},
    "BMW": {"1 Series": 0.02, "3 Series": -0.02, "X5": 0.15},
    "Audi": {"A3": -0.05, "A4": 0.00, "Q5": 0.08},
    "Mercedes-Benz": {"A-Class": 0.00, "C-Class": 0.03, "GLC": 0.10},
    "Toyota": {"Yaris": -0.15, "Corolla": -0.12, "RAV4": -0.05},
    "Nissan": {"Micra": 0.05, "Qashqai": -0.06, "Leaf": 0.25},
    "Kia": {"Picanto": 0.00, "Sportage": -0.04, "Niro EV": 0.10},
    "Tesla": {"Model 3": 0.10, "Model Y": 0.05},
    "Peugeot": {"208": 0.02, "3008": 0.06},
    "Land Rover": {"Defender": 0.12, "Range Rover Evoque": 0.18},
}
MAKE_POPULARITY: dict[str, float] = {
    "Ford": 14, "Vauxhall": 11, "Volkswagen": 12, "BMW": 9, "Audi": 8, "Mercedes-Benz": 8,
    "Toyota": 9, "Nissan": 7, "Kia": 7, "Tesla": 3, "Peugeot": 7, "Land Rover": 5,
}  # fmt: skip
ELECTRIC = frozenset({"Leaf", "Niro EV", "Model 3", "Model Y"})

#: region -> (share of adverts, effect on log(days)); rural regions have fewer chargers.
REGIONS: dict[str, tuple[float, float]] = {
    "London": (14, -0.05), "South East": (15, -0.03), "East of England": (10, 0.00), "Midlands": (15, 0.00),
    "North West": (11, 0.02), "North East": (5, 0.06), "Yorkshire": (9, 0.03), "South West": (8, 0.04),
    "Wales": (5, 0.08), "Scotland": (6, 0.07), "Northern Ireland": (2, 0.12),
}  # fmt: skip
RURAL = frozenset({"South West", "Wales", "Scotland", "Northern Ireland"})
SEASON_EFFECT: dict[str, float] = {"winter": 0.12, "spring": -0.10, "summer": -0.03, "autumn": 0.04}

BASE_DAYS = 18.0
NOISE_SD = 0.12


def _choice(rng: np.random.Generator, weights: dict[str, float], size: int) -> np.ndarray:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    return np.array(names, dtype=object)[rng.choice(len(names), size=size, p=p / p.sum())]


def generate(*, rows: int, seed: int) -> pd.DataFrame:
    """``rows`` synthetic adverts (the feature columns, then ``days_to_sell``), the same for the same seed."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    rng = np.random.Generator(np.random.PCG64(seed))
    make = _choice(rng, MAKE_POPULARITY, rows)
    model = np.empty(rows, dtype=object)
    demand = np.empty(rows)
    for name, models in MODELS.items():
        at = np.flatnonzero(make == name)
        picked = rng.choice(len(models), size=at.size)
        model[at] = np.array(list(models), dtype=object)[picked]
        demand[at] = np.array(list(models.values()))[picked]
    region = _choice(rng, {r: share for r, (share, _) in REGIONS.items()}, rows)
    season = np.array(SEASONS, dtype=object)[rng.choice(len(SEASONS), size=rows)]
    age = np.round(np.clip(rng.gamma(shape=2.2, scale=2.5, size=rows), 0.0, 25.0), 1)
    mileage = np.round(np.clip(age * 8_000 * rng.lognormal(0.0, 0.35, rows) + rng.normal(0, 1_500, rows), 0, 300_000))
    price_to_market = np.round(np.clip(rng.normal(1.0, 0.07, rows), 0.75, 1.3), 3)

    log_days = (
        np.log(BASE_DAYS)
        + demand
        + np.array([REGIONS[r][1] for r in region])
        + np.array([SEASON_EFFECT[s] for s in season])
        + np.where([m in ELECTRIC for m in model] & np.isin(region, list(RURAL)), 0.20, 0.0)
        + 2.0 * (price_to_market - 1.0)
        + 1.5 * np.maximum(price_to_market - 1.05, 0.0)  # overpriced adverts stall
        + 0.03 * age
        + 0.002 * (age - 8.0) ** 2
        + 0.25 * mileage / 100_000
        + rng.normal(0.0, NOISE_SD, rows)
    )
    days = np.clip(np.round(np.exp(log_days)), 1.0, 365.0)
    frame = pd.DataFrame(
        {
            "make": make.astype(str),
            "model": model.astype(str),
            "age_years": age.astype(float),
            "mileage": mileage.astype(float),
            "price_to_market": price_to_market.astype(float),
            "region": region.astype(str),
            "season": season.astype(str),
            LABEL.name: days.astype(float),
        }
    )
    return frame[[*FEATURE_NAMES, LABEL.name]]
