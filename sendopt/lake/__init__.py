"""The lake: catalog of tables, and one read/write API over two Delta backends."""
from sendopt.lake.catalog import CATALOG, LAYERS
from sendopt.lake.commit import WriteResult
from sendopt.lake.lake import Lake
from sendopt.lake.spec import Catalog, Column, TableSpec, col

__all__ = ["CATALOG", "LAYERS", "Catalog", "Column", "Lake", "TableSpec", "WriteResult", "col"]
