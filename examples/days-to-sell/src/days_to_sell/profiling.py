"""Spark side of the statistics: one pass for counts and moments, one for quantiles, one for bins, one for categories.

Kept apart from :mod:`days_to_sell.stats` (pure) so the checks and PSI are tested without Spark.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from days_to_sell.features import COLUMNS
from days_to_sell.stats import MAX_CATEGORIES, OTHER, QUANTILES, CategoricalStats, ColumnStats, DataStats, NumericStats


def schema_of(df: Any) -> dict[str, str]:
    """Column name -> Spark type name (``double``, ``string``, ...)."""
    return {f.name: f.dataType.simpleString() for f in df.schema.fields}


def _number(name: str) -> Any:
    """The column as double, null where it is null or NaN."""
    from pyspark.sql import functions as F

    x = F.col(name).cast("double")
    return F.when(x.isNotNull() & ~F.isnan(x), x)


def _text(name: str) -> Any:
    """The column, null where it is null or blank."""
    from pyspark.sql import functions as F

    return F.when(F.trim(F.col(name)) != "", F.col(name))


def fractions_in(df: Any, edges: Mapping[str, Sequence[float]]) -> dict[str, tuple[float, ...]]:
    """Share of each numeric column's non-null values in the bins of ``edges`` (see NumericStats)."""
    from pyspark.sql import functions as F

    if not edges:
        return {}
    aggs = []
    for name, cuts in edges.items():
        x = _number(name)
        aggs.append(F.count(x).alias(f"{name}|n"))
        for i in range(len(cuts) + 1):
            inside = x.isNotNull()
            if i > 0:
                inside = inside & (x > cuts[i - 1])
            if i < len(cuts):
                inside = inside & (x <= cuts[i])
            aggs.append(F.sum(F.when(inside, 1).otherwise(0)).alias(f"{name}|{i}"))
    row = df.agg(*aggs).first().asDict()
    result = {}
    for name, cuts in edges.items():
        n = row[f"{name}|n"]
        result[name] = tuple((row[f"{name}|{i}"] / n) if n else 0.0 for i in range(len(cuts) + 1))
    return result


def _frequencies(df: Any, names: list[str], non_null: dict[str, int]) -> dict[str, dict[str, float]]:
    """Share of each value of each categorical column (its MAX_CATEGORIES most frequent), in one Spark job."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not names:
        return {}
    pairs = F.explode(F.array(*[F.struct(F.lit(n).alias("column"), _text(n).alias("value")) for n in names]))
    rank = F.row_number().over(Window.partitionBy("column").orderBy(F.desc("count"), F.asc("value")))
    rows = (
        df.select(pairs.alias("pair"))
        .select("pair.column", "pair.value")
        .where(F.col("value").isNotNull())
        .groupBy("column", "value")
        .count()
        .withColumn("rank", rank)
        .where(F.col("rank") <= MAX_CATEGORIES + 1)
        .collect()
    )
    result: dict[str, dict[str, float]] = {n: {} for n in names}
    for row in sorted(rows, key=lambda r: (r["column"], r["rank"])):
        if row["rank"] <= MAX_CATEGORIES:
            result[row["column"]][row["value"]] = row["count"] / non_null[row["column"]]
        else:  # more values than MAX_CATEGORIES: the rest share one bucket
            result[row["column"]][OTHER] = max(0.0, 1.0 - sum(result[row["column"]].values()))
    return result


def profile(df: Any, *, model: str, version: str) -> DataStats:
    """Statistics of every declared column present in ``df`` (cache ``df`` first: it is read several times)."""
    from pyspark.sql import functions as F

    present = set(df.columns)
    numeric = [c.name for c in COLUMNS if c.kind == "numeric" and c.name in present]
    categorical = [c.name for c in COLUMNS if c.kind == "categorical" and c.name in present]
    aggs = [F.count(F.lit(1)).alias("|rows")]
    for name in numeric:
        x = _number(name)
        aggs += [
            F.sum(F.when(x.isNull(), 1).otherwise(0)).alias(f"{name}|nulls"),
            F.min(x).alias(f"{name}|min"),
            F.max(x).alias(f"{name}|max"),
            F.avg(x).alias(f"{name}|mean"),
            F.stddev_samp(x).alias(f"{name}|stddev"),
        ]
    for name in categorical:
        t = _text(name)
        aggs += [
            F.sum(F.when(t.isNull(), 1).otherwise(0)).alias(f"{name}|nulls"),
            F.approx_count_distinct(t).alias(f"{name}|distinct"),
        ]
    row = df.agg(*aggs).first().asDict()
    rows = int(row["|rows"])

    quantiles = (
        df.select(*[_number(n).alias(n) for n in numeric]).approxQuantile(numeric, list(QUANTILES), 0.001)
        if numeric
        else []
    )
    edges = {name: tuple(sorted(set(float(q) for q in qs))) for name, qs in zip(numeric, quantiles)}
    shares = fractions_in(df, edges)

    nulls = {name: int(row[f"{name}|nulls"] or 0) for name in numeric + categorical}
    frequencies = _frequencies(df, categorical, {name: rows - nulls[name] for name in categorical})
    columns: dict[str, ColumnStats] = {}
    for name in (c.name for c in COLUMNS if c.name in present):
        if name in edges:
            columns[name] = NumericStats(
                nulls=nulls[name],
                min=row[f"{name}|min"],
                max=row[f"{name}|max"],
                mean=row[f"{name}|mean"],
                stddev=row[f"{name}|stddev"],
                edges=edges[name],
                fractions=shares[name],
            )
        else:
            columns[name] = CategoricalStats(
                nulls=nulls[name], distinct=int(row[f"{name}|distinct"]), frequencies=frequencies[name]
            )
    return DataStats(model=model, version=version, rows=rows, columns=columns)
