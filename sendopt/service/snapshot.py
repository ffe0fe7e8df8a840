"""The decision snapshot behind ``GET /api/customers/{id}/decisions``: read with delta-rs, never a Spark job.

Every ``decisions.*`` table of the catalog that has a ``user_id`` is a source (a new channel's table shows up
by itself once written). A table partitioned by decision date and market contributes its latest slice per
market; any other its latest row per customer. Each source is held as an Arrow table sorted by user_id
(a lookup is a binary search, no per-row Python objects at load) and reloaded only when its Delta version
changes. The suppression rules of ``service.suppression`` are applied on read.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable

from sendopt.lake.spec import TableSpec
from sendopt.service.config import ServiceConfig, SuppressionRule

log = logging.getLogger("sendopt.service.snapshot")

#: Columns kept out of the response (provenance the caller does not need; nothing here is PII).
HIDDEN = ("config_hash",)
#: Columns reported under "model": which model (and version) decided.
MODEL_COLUMNS = ("model_name", "model_version", "model_versions", "learner")


#: Decision-layer tables that are logs, not a customer's current decision (and grow with every contact).
NOT_DECISIONS = ("decisions.contact_history",)


def decision_sources(catalog) -> list[TableSpec]:
    """The catalog's decision tables keyed by customer."""
    return [s for s in catalog.layer("decisions") if "user_id" in s.column_names and s.full_name not in NOT_DECISIONS]


@dataclass(frozen=True)
class Loaded:
    spec: TableSpec
    version: int
    users: np.ndarray  # sorted user ids (numpy unicode)
    rows: pa.Table  # the same order
    loaded_at: dt.datetime


def _latest_filter(table: DeltaTable, spec: TableSpec):
    """The latest decision_date per market (from the log's partition values: no data is scanned)."""
    parts = set(spec.partition_by)
    market = [c for c in ("region", "brand") if c in parts]
    if "decision_date" not in parts or not market:  # read whole; the latest row per customer is kept
        return None
    actions = pa.table(table.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return None
    frame = actions.select([f"partition.{c}" for c in ("decision_date", *market)]).to_pandas()
    frame.columns = ["decision_date", *market]
    latest = frame.groupby(market).decision_date.max().reset_index()
    expr = None
    for row in latest.itertuples(index=False):
        term = ds.field("decision_date") == pa.scalar(row.decision_date, pa.date32())
        for c in market:
            term = term & (ds.field(c) == getattr(row, c))
        expr = term if expr is None else expr | term
    return expr


def load_source(path: str, spec: TableSpec) -> Loaded | None:
    """Read ``spec``'s latest decisions at ``path`` (None when the table has not been written)."""
    if not DeltaTable.is_deltatable(path):
        return None
    table = DeltaTable(path)
    columns = [c for c in spec.column_names if c not in HIDDEN]
    rows = table.to_pyarrow_dataset().to_table(filter=_latest_filter(table, spec), columns=columns)
    if "decision_date" in rows.column_names:
        rows = rows.sort_by([("user_id", "ascending"), ("decision_date", "descending")])
        if "region" not in spec.partition_by:  # latest row per customer over every date
            rows = _first_per_user(rows)
    else:
        rows = rows.sort_by([("user_id", "ascending")])
    # fixed-width unicode, not an object array: C comparisons in the binary search, and nothing for the
    # garbage collector to walk (an object array of 1M strings made p99 spikes)
    users = rows["user_id"].to_numpy(zero_copy_only=False).astype(str)
    return Loaded(spec, table.version(), users, rows, dt.datetime.now(dt.timezone.utc))


def _first_per_user(rows: pa.Table) -> pa.Table:
    """Rows sorted by user then date descending → the first row of each user."""
    users = rows["user_id"].to_numpy(zero_copy_only=False)
    keep = np.ones(len(users), dtype=bool)
    keep[1:] = users[1:] != users[:-1]
    return rows.filter(pa.array(keep))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


class Suppressions:
    """The rules' id sets; a rule's file is re-read when its modification time changes."""

    def __init__(self, rules: list[SuppressionRule]) -> None:
        self.rules = rules
        self._files: dict[str, tuple[float, frozenset[str]]] = {}

    def _ids(self, rule: SuppressionRule) -> frozenset[str]:
        ids = frozenset(rule.user_ids)
        if rule.user_ids_file:
            try:
                mtime = os.path.getmtime(rule.user_ids_file)
            except OSError:
                log.error("suppression rule %s: cannot read %s; applying its inline ids only",
                          rule.name, rule.user_ids_file)
                return ids
            cached = self._files.get(rule.name)
            if cached is None or cached[0] != mtime:
                with open(rule.user_ids_file, encoding="utf-8") as f:
                    cached = (mtime, frozenset(line.strip() for line in f if line.strip()))
                self._files[rule.name] = cached
            ids |= cached[1]
        return ids

    def rule_for(self, user_id: str, table: str) -> SuppressionRule | None:
        for rule in self.rules:
            if table in rule.channels and user_id in self._ids(rule):
                return rule
        return None


class DecisionSnapshot:
    """Cached latest decisions per source; :meth:`refresh` reloads the tables whose version moved."""

    def __init__(self, lake, config: ServiceConfig) -> None:
        self.lake = lake
        self.config = config
        self.sources = decision_sources(lake.catalog)
        self.loaded: dict[str, Loaded] = {}
        self.suppressions = Suppressions(config.suppression)
        self.refreshed_at: dt.datetime | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> dict[str, int]:
        """Reload every source whose Delta version changed; returns the versions now held."""
        with self._lock:
            current = dict(self.loaded)
            for spec in self.sources:
                path = self.lake.path(spec)
                try:
                    version = DeltaTable(path).version() if DeltaTable.is_deltatable(path) else None
                    if version is None:
                        current.pop(spec.full_name, None)
                    elif spec.full_name not in current or current[spec.full_name].version != version:
                        loaded = load_source(path, spec)
                        if loaded is not None:
                            current[spec.full_name] = loaded
                            log.info("snapshot %s: version %s, %s rows", spec.full_name, loaded.version,
                                     loaded.rows.num_rows)
                except Exception as exc:  # keep serving the last good snapshot of that table
                    log.error("snapshot %s: refresh failed, serving version %s: %s", spec.full_name,
                              current.get(spec.full_name) and current[spec.full_name].version, exc)
            self.loaded = current  # one reference swap: readers see the old or the new set, whole
            self.refreshed_at = dt.datetime.now(dt.timezone.utc)
            return {name: src.version for name, src in current.items()}

    def versions(self) -> dict[str, int]:
        return {name: src.version for name, src in self.loaded.items()}

    def lookup(self, user_id: str) -> list[dict] | None:
        """The customer's decisions across sources, suppression applied; None when no source knows them."""
        out = []
        for _name, src in self.loaded.items():
            lo = int(np.searchsorted(src.users, user_id, side="left"))
            hi = int(np.searchsorted(src.users, user_id, side="right"))
            if lo == hi or src.users[lo] != user_id:  # the key is cut to the array's width when compared
                continue
            for row in src.rows.slice(lo, hi - lo).to_pylist():
                out.append(self._render(src, row))
        return out or None

    def _render(self, src: Loaded, row: dict) -> dict:
        row = {k: _jsonable(v) for k, v in row.items()}
        model = {k: row.pop(k) for k in MODEL_COLUMNS if k in row}
        entry = {"table": src.spec.full_name, "table_version": src.version,
                 "decision_date": row.get("decision_date"), "model": model}
        rule = self.suppressions.rule_for(row["user_id"], src.spec.name)
        if rule is not None:
            keep = {k: row[k] for k in ("user_id", "decision_date", "region", "brand") if k in row}
            entry.update(decision=keep, suppressed={"rule": rule.name, "reason": rule.reason})
        else:
            entry.update(decision=row, suppressed=None)
        return entry

    # ------------------------------------------------------------ background refresh
    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.config.snapshot_refresh_s):
                self.refresh()

        self.refresh()
        self._thread = threading.Thread(target=loop, name="decision-snapshot", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
