"""The catalog: every table sendopt reads or writes, declared once in its domain and assembled here.

Declarations live beside the code that owns them — upstream sources (``sendopt.sources.tables``),
the quality engine's quarantine and validation record (``sendopt.lake.quality``), the world's truth
(``sendopt.world.tables``), features, the lifecycle, the run ledger and each channel's own tables
(named by its ``DecisionChannel``). :func:`catalog_for` resolves the tables whose columns follow the
running config (the feature table's windows); :func:`open_lake` is how jobs get a lake over it.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from pyspark.sql import SparkSession

from sendopt import ledger
from sendopt.channels import channels, contacts
from sendopt.features import tables as features
from sendopt.features.registry import FeaturesConfig
from sendopt.lake import quality
from sendopt.lake.lake import Lake
from sendopt.lake.spec import Catalog, TableSpec
from sendopt.lifecycle import tables as lifecycle
from sendopt.service import tables as service
from sendopt.sources import tables as sources
from sendopt.world import tables as world

if TYPE_CHECKING:
    from sendopt.config import SendoptConfig


def _specs(feature_config: FeaturesConfig) -> list[TableSpec]:
    channel_specs = [s for c in channels() for s in c.table_specs()]
    return [*sources.TABLES, *quality.TABLES, *world.TABLES, features.customer_daily(feature_config),
            *channel_specs, *contacts.TABLES, *ledger.TABLES, *lifecycle.TABLES,
            *service.TABLES]


@functools.lru_cache(maxsize=16)
def _catalog(feature_config: FeaturesConfig, channel_names: tuple[str, ...]) -> Catalog:
    """One catalog per (features config, registered channels)."""
    return Catalog(_specs(feature_config))


def catalog_for(config: SendoptConfig) -> Catalog:
    """The catalog under ``config``: the feature table's columns follow ``config.features``."""
    return _catalog(config.features, tuple(c.name for c in channels()))


def open_lake(spark: SparkSession, config: SendoptConfig, run_id: str = "adhoc", job: str = "adhoc") -> Lake:
    """A :class:`~sendopt.lake.Lake` over :func:`catalog_for` ``config`` — what jobs, notebooks and tests use."""
    return Lake(spark, config, catalog_for(config), run_id=run_id, job=job)


#: The catalog under the default config (the data dictionary is rendered from it).
CATALOG = _catalog(FeaturesConfig(), tuple(c.name for c in channels()))
