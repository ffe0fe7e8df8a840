"""Raw, reference, quarantine and truth tables of the synthetic world (and of real upstreams)."""
from sendopt.lake.spec import TableSpec, col  # noqa: F401

TABLES: list[TableSpec] = []
