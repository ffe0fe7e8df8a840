"""The table catalog: every table sendopt reads or writes, declared once.

A table ``<layer>.<name>`` lives at ``<lake.root>/<layer>/<name>`` (or, on
Databricks with Unity Catalog, ``<catalog>.<schema_prefix><layer>.<name>``).
Declarations live in ``sendopt/lake/tables/<area>.py``; this module assembles
them into :data:`CATALOG`, the only registry jobs use.
"""
from sendopt.channels.coupons import tables as coupon_tables
from sendopt.lake.spec import LAYERS, Catalog, Column, TableSpec, col, spark_type
from sendopt.lake.tables import contacts, email, features, ops, push, world
from sendopt.lake.tables import experiments as experiment_tables
from sendopt.lake.tables import lifecycle as lifecycle_tables

CATALOG = Catalog([*world.TABLES, *features.TABLES, *email.TABLES, *push.TABLES, *contacts.TABLES, *ops.TABLES,
                   *experiment_tables.TABLES, *lifecycle_tables.TABLES, *coupon_tables.TABLES])

__all__ = ["CATALOG", "LAYERS", "Catalog", "Column", "TableSpec", "col", "spark_type"]
