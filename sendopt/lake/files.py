"""Task side of the embedded Delta writer: each Spark task writes its own Parquet files.

``write_files`` runs inside ``mapInArrow``: it splits the task's rows by
partition value, writes Hive-style ``<col>=<value>/part-<write_id>-…parquet``
files with pyarrow, and returns ONE small row per file (relative path, size,
partition values, Delta stats JSON). The driver then commits those rows in a
single Delta transaction, so driver memory grows with the number of files,
never with the number of rows.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import uuid
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: Schema of the per-file rows the tasks return to the driver.
FILE_ROW_SCHEMA = "path string, size long, partition_values string, stats string, num_records long"

_SAFE_PARTITION_VALUE = re.compile(r"^[A-Za-z0-9_.\-: ]*$")
_STRING_STATS_MAX_LEN = 64
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
#: Rows buffered per open file before a row group is written (small Arrow batches would
#: otherwise each become a tiny row group, slow to write and to read back).
ROW_GROUP_ROWS = 128 * 1024


def partition_value_text(value) -> str | None:
    """Delta's text form of a partition value (dates ISO, booleans lower-case, null → None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        raise ValueError("timestamp partition columns are not supported; partition by a date")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    if not _SAFE_PARTITION_VALUE.match(text):
        raise ValueError(f"partition value {text!r} has characters unsafe for a folder name")
    return text


def _ts_text(value: dt.datetime, ceil: bool) -> str:
    """Delta timestamp stats are millisecond precision: floor the min, ceil the max."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    value = value.astimezone(dt.timezone.utc)
    micros = value.microsecond
    millis = micros // 1000
    if ceil and micros % 1000:
        millis += 1
    value = value.replace(microsecond=0) + dt.timedelta(milliseconds=millis)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class _ColumnStats:
    """Running min / max / null count of one column across the batches of one file."""

    def __init__(self, arrow_type: pa.DataType) -> None:
        self.type = arrow_type
        self.nulls = 0
        self.min = None
        self.max = None
        self.usable = not (
            pa.types.is_nested(arrow_type) or pa.types.is_boolean(arrow_type) or pa.types.is_binary(arrow_type)
        )

    def update(self, array: pa.Array) -> None:
        self.nulls += array.null_count
        if not self.usable or array.null_count == len(array):
            return
        if pa.types.is_floating(self.type) and pc.any(pc.is_nan(array)).as_py():
            self.usable = False  # NaN has no place in JSON stats
            return
        mm = pc.min_max(array)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if lo is None:
            return
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)

    def min_max_json(self):
        if not self.usable or self.min is None:
            return None
        lo, hi = self.min, self.max
        if isinstance(lo, str):
            if max(len(lo), len(hi)) > _STRING_STATS_MAX_LEN:
                return None
            return lo, hi
        if isinstance(lo, dt.datetime):
            return _ts_text(lo, ceil=False), _ts_text(hi, ceil=True)
        if isinstance(lo, dt.date):
            return lo.isoformat(), hi.isoformat()
        if isinstance(lo, float) and not (math.isfinite(lo) and math.isfinite(hi)):
            return None
        return lo, hi


class _OpenFile:
    def __init__(self, root: str, rel_path: str, schema: pa.Schema, partition_values: dict) -> None:
        self.rel_path = rel_path
        self.abs_path = os.path.join(root, rel_path)
        os.makedirs(os.path.dirname(self.abs_path), exist_ok=True)
        self.writer = pq.ParquetWriter(self.abs_path, schema, compression="snappy")
        self.partition_values = partition_values
        self.rows = 0
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.stats = {f.name: _ColumnStats(f.type) for f in schema}

    def write(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        self.rows += table.num_rows
        if self.pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        table = pa.concat_tables(self.pending).combine_chunks()
        self.pending, self.pending_rows = [], 0
        self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        for name, stat in self.stats.items():
            for chunk in table.column(name).chunks:
                stat.update(chunk)

    def close(self) -> dict:
        self._flush()
        self.writer.close()
        mins, maxs = {}, {}
        for name, stat in self.stats.items():
            mm = stat.min_max_json()
            if mm is not None:
                mins[name], maxs[name] = mm
        stats = {
            "numRecords": self.rows,
            "minValues": mins,
            "maxValues": maxs,
            "nullCount": {n: s.nulls for n, s in self.stats.items()},
        }
        return {
            "path": self.rel_path,
            "size": os.path.getsize(self.abs_path),
            "partition_values": json.dumps(self.partition_values, sort_keys=True),
            "stats": json.dumps(stats, allow_nan=False, default=str),
            "num_records": self.rows,
        }


def _split_by_partition(table: pa.Table, partition_by: list[str]) -> Iterator[tuple[dict, pa.Table]]:
    if not partition_by:
        yield {}, table
        return
    combos = table.select(partition_by).group_by(partition_by, use_threads=False).aggregate([])
    for combo in combos.to_pylist():
        mask = None
        for name in partition_by:
            value = combo[name]
            column = table.column(name)
            cond = pc.is_null(column) if value is None else pc.fill_null(pc.equal(column, value), False)
            mask = cond if mask is None else pc.and_(mask, cond)
        yield combo, table.filter(mask).drop_columns(partition_by)


def make_file_writer(root: str, write_id: str, partition_by: list[str], target_file_rows: int):
    """Return the ``mapInArrow`` function that writes this task's files under ``root``."""

    def write_files(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        task = uuid.uuid4().hex[:8]
        open_files: dict[tuple, _OpenFile] = {}
        done: list[dict] = []
        seq = 0
        for batch in batches:
            if batch.num_rows == 0:
                continue
            for combo, part in _split_by_partition(pa.Table.from_batches([batch]), partition_by):
                values = {k: partition_value_text(v) for k, v in combo.items()}
                key = tuple(values.get(k) for k in partition_by)
                current = open_files.get(key)
                if current is None or current.rows >= target_file_rows:
                    if current is not None:
                        done.append(current.close())
                    folder = "/".join(f"{k}={HIVE_NULL if v is None else v}" for k, v in values.items())
                    name = f"part-{write_id}-{task}-{seq:05d}.snappy.parquet"
                    seq += 1
                    current = _OpenFile(root, f"{folder}/{name}" if folder else name, part.schema, values)
                    open_files[key] = current
                current.write(part)
        done.extend(f.close() for f in open_files.values())
        if done:
            yield pa.RecordBatch.from_pylist(done, schema=_FILE_ROW_ARROW)

    return write_files


_FILE_ROW_ARROW = pa.schema(
    [
        ("path", pa.string()),
        ("size", pa.int64()),
        ("partition_values", pa.string()),
        ("stats", pa.string()),
        ("num_records", pa.int64()),
    ]
)
