"""Reads of small service tables with delta-rs: kept per version, brought up to date incrementally."""
from __future__ import annotations

import threading
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable


class VersionedRead:
    """A delta-rs read of one table, redone only when its version changes.

    One ``DeltaTable`` is kept and brought up to date incrementally (only new commits are read), so a
    check costs the same after ten commits as after ten thousand."""

    def __init__(self, path: str, read) -> None:
        self.path, self.read = path, read
        self.version: int | None = None
        self.value: Any = None
        self._table: DeltaTable | None = None
        self._lock = threading.Lock()

    def table(self) -> DeltaTable | None:
        """The table at its latest version (None while it does not exist)."""
        with self._lock:
            if self._table is None:
                if not DeltaTable.is_deltatable(self.path):
                    return None
                self._table = DeltaTable(self.path)
            else:
                self._table.update_incremental()
            return self._table

    def get(self):
        table = self.table()
        if table is None:
            return None
        with self._lock:
            if table.version() != self.version:
                self.value, self.version = self.read(table), table.version()
            return self.value


def arrow_rows(table: pa.Table) -> list[dict]:
    """Rows as dicts, Arrow maps (read as lists of key/value pairs) back as dicts."""
    maps = [f.name for f in table.schema if pa.types.is_map(f.type)]
    rows = table.to_pylist()
    for row in rows:
        for name in maps:
            if row[name] is not None:
                row[name] = dict(row[name])
    return rows
