"""``sendopt sql "select …"``: every catalog table that exists as a Spark view ``<layer>_<name>``.

The views read each table's latest version through the lake (either backend), so a query sees what the
jobs wrote. The truth layer is left out: only the world and the evaluation area read it.
"""
from __future__ import annotations

import sys

from sendopt.catalog import open_lake
from sendopt.config import ConfigLoader
from sendopt.errors import SendoptError


def view_name(spec) -> str:
    return f"{spec.layer}_{spec.name}"


def register_views(lake) -> list[str]:
    """Create or replace a temp view per existing table; returns the view names."""
    names = []
    for spec in lake.catalog:
        if spec.layer == "truth" or not lake.exists(spec):
            continue
        lake.read(spec).createOrReplaceTempView(view_name(spec))
        names.append(view_name(spec))
    return names


def query(lake, text: str):
    """The query's DataFrame after :func:`register_views` (an unknown view names the ones there are)."""
    from pyspark.errors import AnalysisException

    views = register_views(lake)
    try:
        return lake.spark.sql(text)
    except AnalysisException as exc:
        first = str(exc).splitlines()[0]
        raise SendoptError(f"sql: {first}\n  views: {', '.join(views) or '(none: the lake is empty)'}") from None


def run_sql(loader: ConfigLoader, text: str, limit: int = 50, fmt: str = "table") -> int:
    from sendopt.spark import get_spark

    config = loader.load()
    lake = open_lake(get_spark(config), config, job="sql")
    df = query(lake, text)
    if fmt == "table":
        df.show(limit, truncate=60)
    else:
        frame = df.limit(limit).toPandas()
        sys.stdout.write(frame.to_csv(index=False) if fmt == "csv" else frame.to_json(orient="records",
                                                                                      date_format="iso") + "\n")
    return 0
