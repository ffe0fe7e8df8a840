"""Table specs: columns, keys, partitions and layer of a lake table, and a catalog of them.

A table ``<layer>.<name>`` lives at ``<lake.root>/<layer>/<name>`` (or, on
Databricks with Unity Catalog, at ``<catalog>.<schema_prefix><layer>.<name>``).
Each spec carries its columns (type, nullability, description), keys and
partition columns, so schema checks, the data dictionary and path lookups all
come from one place. No job builds a path or a schema by hand.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pyspark.sql import types as T

#: The layers of the lake, in data-flow order. ``truth`` is readable only by the
#: world and the evaluation area (``Lake.read`` refuses other callers).
LAYERS = (
    "raw",
    "reference",
    "quarantine",
    "features",
    "ml",
    "analytics",
    "decisions",
    "monitoring",
    "experiments",
    "ops",
    "truth",
)

_ATOMIC = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "long": T.LongType(),
    "short": T.ShortType(),
    "double": T.DoubleType(),
    "float": T.FloatType(),
    "boolean": T.BooleanType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
}


def spark_type(type_name: str) -> T.DataType:
    """``"long"`` → LongType; ``"array<string>"`` → ArrayType(StringType); ``"map<string,double>"``."""
    name = type_name.strip().lower()
    if name in _ATOMIC:
        return _ATOMIC[name]
    if name.startswith("array<") and name.endswith(">"):
        return T.ArrayType(spark_type(name[6:-1]), containsNull=True)
    if name.startswith("map<") and name.endswith(">"):
        key, value = name[4:-1].split(",", 1)
        return T.MapType(spark_type(key), spark_type(value), valueContainsNull=True)
    raise ValueError(f"unsupported column type {type_name!r}; use one of {sorted(_ATOMIC)} or array<…>/map<…>")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    nullable: bool = True
    unit: str = ""


def col(name: str, type: str, description: str, nullable: bool = True, unit: str = "") -> Column:
    """Shorthand used by the table declarations below."""
    return Column(name, type, description, nullable, unit)


def market_columns(detail: str = "") -> tuple[Column, Column]:
    """``region`` and ``brand`` as every per-market table declares them (``detail``: e.g. "partition")."""
    note = f" ({detail})" if detail else ""
    return (col("region", "string", f"Market region{note}", nullable=False),
            col("brand", "string", f"Brand{note}", nullable=False))


#: Which run wrote a row, and under which configuration.
RUN_COLUMNS = (
    col("run_id", "string", "Job run that wrote the row", nullable=False),
    col("config_hash", "string", "Config hash of that run", nullable=False),
)


@dataclass(frozen=True)
class RawChecks:
    """Which columns the row rules of ``sendopt.lake.quality`` look at, declared on a raw table's spec."""

    event_time: str | None = None  # not after the run date, not before the user's signup
    user_key: str | None = None  # must be a known customer
    amounts: tuple[str, ...] = ()  # must be >= 0
    mcc: str | None = None  # must be in reference.mcc_codes


@dataclass(frozen=True)
class TableSpec:
    layer: str
    name: str
    columns: tuple[Column, ...]
    keys: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    description: str = ""
    properties: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    checks: RawChecks | None = None  # row rules validate-raw applies (raw tables only)

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"table {self.name}: unknown layer {self.layer!r}; layers are {LAYERS}")
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.full_name}: duplicate column names")
        for group, cols in (("keys", self.keys), ("partition_by", self.partition_by)):
            missing = [c for c in cols if c not in names]
            if missing:
                raise ValueError(f"table {self.full_name}: {group} {missing} are not columns")
        for c in self.columns:
            spark_type(c.type)

    @property
    def full_name(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def schema(self) -> T.StructType:
        return T.StructType([T.StructField(c.name, spark_type(c.type), c.nullable) for c in self.columns])

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.full_name} has no column {name!r}")


class Catalog:
    """A set of table specs addressable by ``"<layer>.<name>"``."""

    def __init__(self, specs: Iterable[TableSpec] = ()) -> None:
        self._specs: dict[str, TableSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: TableSpec) -> TableSpec:
        if spec.full_name in self._specs and self._specs[spec.full_name] != spec:
            raise ValueError(f"table {spec.full_name} is declared twice with different specs")
        self._specs[spec.full_name] = spec
        return spec

    def get(self, table: str | TableSpec) -> TableSpec:
        """The catalog's spec of ``table`` — a name, or a spec whose name the catalog knows (the catalog's
        version wins: its columns may follow the running config); an unknown spec is returned as given."""
        if isinstance(table, TableSpec):
            return self._specs.get(table.full_name, table)
        try:
            return self._specs[table]
        except KeyError:
            close = [n for n in self._specs if n.split(".")[-1] == table.split(".")[-1]]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(f"table {table!r} is not in the catalog{hint}") from None

    def __iter__(self) -> Iterator[TableSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: (LAYERS.index(s.layer), s.name)))

    def __contains__(self, table: str) -> bool:
        return table in self._specs

    def layer(self, layer: str) -> list[TableSpec]:
        return [s for s in self if s.layer == layer]

    def extended(self, specs: Iterable[TableSpec]) -> Catalog:
        """A copy with extra specs (tests and benchmarks declare scratch tables this way)."""
        return Catalog([*self._specs.values(), *specs])
