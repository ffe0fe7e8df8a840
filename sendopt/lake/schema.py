"""Schema checks of DataFrames and stored tables against the catalog."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import types as T

from sendopt.errors import SchemaMismatchError
from sendopt.lake.spec import TableSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchemaDiff:
    missing: list[str]
    extra: list[str]
    retyped: list[str]  # "col: expected long, got string"

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.retyped)

    def describe(self, include_extra: bool = True) -> str:
        parts = []
        if self.missing:
            parts.append(f"missing columns {self.missing}")
        if self.extra and include_extra:
            parts.append(f"columns not in the catalog {self.extra}")
        if self.retyped:
            parts.append(f"retyped [{'; '.join(self.retyped)}]")
        return ", ".join(parts)


def _plain(data_type: T.DataType) -> str:
    return data_type.simpleString()


def diff_schema(expected: T.StructType, actual: T.StructType) -> SchemaDiff:
    exp = {f.name: f.dataType for f in expected.fields}
    act = {f.name: f.dataType for f in actual.fields}
    retyped = [
        f"{name}: expected {_plain(exp[name])}, got {_plain(act[name])}"
        for name in exp
        if name in act and _plain(exp[name]) != _plain(act[name])
    ]
    return SchemaDiff(
        missing=[n for n in exp if n not in act],
        extra=[n for n in act if n not in exp],
        retyped=retyped,
    )


def check_write_schema(spec: TableSpec, actual: T.StructType) -> None:
    """A write must match the catalog exactly (column order aside)."""
    diff = diff_schema(spec.schema, actual)
    if diff.ok:
        return
    raise SchemaMismatchError(
        f"cannot write {spec.full_name}: DataFrame does not match the catalog: {diff.describe()}"
    )


def check_stored_schema(spec: TableSpec, stored: T.StructType, where: str) -> list[str]:
    """A stored table may have extra upstream columns (warning, dropped on read); missing or
    retyped columns are errors. Returns the extra column names."""
    diff = diff_schema(spec.schema, stored)
    if diff.missing or diff.retyped:
        raise SchemaMismatchError(
            f"table {spec.full_name} at {where} has drifted: {diff.describe(include_extra=False)}"
        )
    if diff.extra:
        log.warning(
            "table %s at %s has new upstream columns %s; ignoring them (add them to the catalog to use them)",
            spec.full_name,
            where,
            diff.extra,
        )
    return diff.extra
