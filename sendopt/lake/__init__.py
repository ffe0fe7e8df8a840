"""The lake engine: table specs, one read/write API over two Delta backends, quality rules, maintenance.

It knows no domain: each domain declares its own tables and ``sendopt.catalog`` assembles them.
"""
from sendopt.lake.commit import WriteResult
from sendopt.lake.lake import Lake
from sendopt.lake.spec import LAYERS, Catalog, Column, TableSpec, col

__all__ = ["LAYERS", "Catalog", "Column", "Lake", "TableSpec", "WriteResult", "col"]
