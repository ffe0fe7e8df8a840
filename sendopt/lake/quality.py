"""Validation of raw tables against the catalog, and quarantine of the rows that fail.

Raw tables may come from the world or from real upstream systems, so nothing
downstream trusts them as they are. Decision (made once): validation is its
own step, ``validate-raw``, run before anything reads raw data. It applies
the rules below to every raw table and writes each failing row, with the
first rule it failed, to ``quarantine.raw_rows`` (that run date's slice is
replaced, so a re-run is idempotent). Jobs read raw data through
:func:`read_clean`, which applies the *same* rules and keeps the rows that
pass — so for every table, raw = clean + quarantined, and no row is dropped
without a recorded reason.

Validating costs a shuffle per rule family (duplicate keys, unknown users) over
the whole table, so it should run once per table version, not in every job:
``validate-raw`` records each version it checked in ``ops.raw_validations``,
and :func:`read_clean` reads a version that passed with no failed row as it
is. Any other version (appended since, or with quarantined rows) is validated
on read as before.

Schema is checked first and is not a row rule: a missing table, a missing or
retyped column stops the job with a message naming the table and columns;
a new upstream column is a warning and is ignored.

Row rules, in the order they are tried (a row is reported under the first);
the columns each rule looks at are declared with the tables
(``checks=RawChecks(...)`` on each raw table's spec, e.g. ``sendopt.sources.tables``):

``null_key``          a key column (catalog ``keys``) is null
``duplicate_key``     a second (or later) row with the same key; the first copy stays clean
``negative_amount``   a column listed in the table's ``amounts`` is < 0
``future_timestamp``  the ``event_time`` column is after the end of the run date
``unknown_user``      ``user_key`` is not a (clean) customer
``before_signup``     ``event_time`` is before the customer's signup date
``unknown_mcc``       the ``mcc`` column is not in ``reference.mcc_codes``
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from sendopt.errors import TableNotFoundError
from sendopt.lake.schema import check_stored_schema
from sendopt.lake.spec import RawChecks, TableSpec, col

log = logging.getLogger(__name__)

CUSTOMERS = "raw.customers"
MCC_CODES = "reference.mcc_codes"
RULES = (
    "null_key",
    "duplicate_key",
    "negative_amount",
    "future_timestamp",
    "unknown_user",
    "before_signup",
    "unknown_mcc",
)
_RULE = "__rule"

# ------------------------------------------------------------------ the quality engine's own tables
QUARANTINE_RAW_ROWS = TableSpec(
    "quarantine",
    "raw_rows",
    description="Raw rows that failed validation, with the first rule they failed; raw = clean + quarantined. "
    "No key: every failing copy of a duplicated row is its own row here.",
    columns=(
        col("source_table", "string", "Raw table the row came from, e.g. raw.orders", nullable=False),
        col("rule", "string", "Failed rule: null_key | duplicate_key | negative_amount | future_timestamp | "
            "before_signup | unknown_mcc | unknown_user", nullable=False),
        col("row_key", "string", "Key columns as k=v|k=v (null keys shown as null)"),
        col("row_json", "string", "The whole raw row as JSON", nullable=False),
        col("run_id", "string", "validate-raw run that found it", nullable=False),
        col("detected_at", "timestamp", "When it was found (UTC)", nullable=False),
        col("run_date", "date", "Business date validated (partition column)", nullable=False),
    ),
    partition_by=("run_date", "source_table"),
)


RAW_VALIDATIONS = TableSpec(
    "ops",
    "raw_validations",
    description="One row per raw table and validate-raw run: the exact versions validated and how many rows "
    "failed. A version that passed with no failed row is read as-is by later jobs (rules not re-applied).",
    columns=(
        col("source_table", "string", "Raw table validated, e.g. raw.orders", nullable=False),
        col("table_version", "long", "Delta version of the raw table that was validated", nullable=False),
        col("customers_version", "long", "Version of raw.customers the user rules checked against"),
        col("mcc_codes_version", "long", "Version of reference.mcc_codes the MCC rule checked against"),
        col("rows", "long", "Rows in that version", nullable=False),
        col("flagged", "long", "Rows quarantined (any rule)", nullable=False),
        col("run_id", "string", "validate-raw run", nullable=False),
        col("validated_at", "timestamp", "When (UTC)", nullable=False),
        col("run_date", "date", "Business date validated: its end bounds the future_timestamp rule (partition)",
            nullable=False),
    ),
    keys=("run_date", "source_table", "table_version"),
    partition_by=("run_date", "source_table"),
)

TABLES = [QUARANTINE_RAW_ROWS, RAW_VALIDATIONS]
QUARANTINE = QUARANTINE_RAW_ROWS.full_name
VALIDATIONS = RAW_VALIDATIONS.full_name


@dataclass
class Validation:
    """A raw table split by the rules: ``clean`` rows in catalog shape, ``quarantined`` in quarantine shape."""

    spec: TableSpec
    flagged: DataFrame  # the raw rows plus the failed rule (null when clean)

    @property
    def table(self) -> str:
        return self.spec.full_name

    @property
    def clean(self) -> DataFrame:
        return self.flagged.where(F.col(_RULE).isNull()).select(*self.spec.column_names)

    def quarantined(self, run_id: str, run_date: dt.date, detected_at: dt.datetime) -> DataFrame:
        spec = self.spec
        row_key = F.concat_ws(
            "|", *[F.concat(F.lit(f"{k}="), F.coalesce(F.col(k).cast("string"), F.lit("null"))) for k in spec.keys]
        )
        return self.flagged.where(F.col(_RULE).isNotNull()).select(
            F.lit(spec.full_name).alias("source_table"),
            F.col(_RULE).alias("rule"),
            row_key.alias("row_key"),
            F.to_json(F.struct(*[F.col(c) for c in spec.column_names])).alias("row_json"),
            F.lit(run_id).alias("run_id"),
            F.lit(detected_at).cast("timestamp").alias("detected_at"),
            F.lit(run_date).cast("date").alias("run_date"),
        )

    def counts(self) -> dict[str, int]:
        """Rows per outcome: ``{"clean": n, "<rule>": m, ...}`` (one pass over the table)."""
        rows = self.flagged.groupBy(F.coalesce(F.col(_RULE), F.lit("clean"))).count().collect()
        return {r[0]: r[1] for r in rows}


def conform_schema(spec: TableSpec, df: DataFrame, where: str = "input") -> DataFrame:
    """Check ``df`` against the catalog: missing/retyped columns raise, extra columns warn and are dropped."""
    check_stored_schema(spec, df.schema, where)
    return df.select(*spec.column_names)


def _end_of(run_date: dt.date) -> Column:
    return F.lit(dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())).cast("timestamp")


def _first_failure(checks: list[tuple[str, Column]]) -> Column:
    return F.coalesce(*[F.when(bad, F.lit(rule)) for rule, bad in checks], F.lit(None).cast("string"))


def validate(
    spec: TableSpec,
    df: DataFrame,
    run_date: dt.date,
    customers: DataFrame | None = None,
    mcc_codes: DataFrame | None = None,
) -> Validation:
    """Apply ``spec``'s rules to ``df``; ``customers`` = clean customers (user_id, signup_date)."""
    df = conform_schema(spec, df)
    checks_of = spec.checks or RawChecks()
    keys = list(spec.keys)
    checks: list[tuple[str, Column]] = []
    if keys:
        null_key = F.lit(False)
        for k in keys:
            null_key = null_key | F.col(k).isNull()
        checks.append(("null_key", null_key))
        order = F.xxhash64(*[F.col(c) for c in spec.column_names])
        df = df.withColumn("__dup", F.row_number().over(Window.partitionBy(*keys).orderBy(order)) > 1)
        checks.append(("duplicate_key", F.col("__dup")))
    amounts = list(checks_of.amounts)
    if amounts:
        negative = F.lit(False)
        for a in amounts:
            negative = negative | (F.col(a) < 0)
        checks.append(("negative_amount", negative))
    event_time = checks_of.event_time
    if event_time:
        checks.append(("future_timestamp", F.col(event_time).cast("timestamp") >= _end_of(run_date)))
    user_key = checks_of.user_key
    if user_key and customers is not None:
        known = customers.select(
            F.col("user_id").alias("__user"), F.col("signup_date").alias("__signup"), F.lit(True).alias("__known")
        )
        df = df.join(known, F.col(user_key) == F.col("__user"), "left")
        checks.append(("unknown_user", F.col(user_key).isNotNull() & F.col("__known").isNull()))
        if event_time:
            checks.append(("before_signup", F.to_date(F.col(event_time)) < F.col("__signup")))
    mcc = checks_of.mcc
    if mcc and mcc_codes is not None:
        codes = F.broadcast(mcc_codes.select(F.col("mcc").alias("__mcc"), F.lit(True).alias("__mcc_ok")))
        df = df.join(codes, F.col(mcc) == F.col("__mcc"), "left")
        checks.append(("unknown_mcc", F.col("__mcc_ok").isNull()))
    flagged = df.withColumn(_RULE, _first_failure(checks)).select(*spec.column_names, _RULE)
    return Validation(spec, flagged)


def raw_tables(lake) -> list[str]:
    """The lake's raw tables in validation order (customers first: the others are checked against them)."""
    names = [s.full_name for s in lake.catalog.layer("raw")]
    return [CUSTOMERS, *[n for n in names if n != CUSTOMERS]]


class _References:
    """Clean customers and MCC codes, read and validated once per run, shared by every table."""

    def __init__(self, lake, run_date: dt.date) -> None:
        self.lake, self.run_date = lake, run_date
        self._customers: DataFrame | None = None
        self._codes: DataFrame | None = None

    def customers(self) -> DataFrame:
        if self._customers is None:
            clean = validate(self.lake.spec(CUSTOMERS), self.lake.read(CUSTOMERS), self.run_date).clean
            self._customers = clean.select("user_id", "signup_date").cache()
        return self._customers

    def codes(self) -> DataFrame:
        if self._codes is None:
            self._codes = self.lake.read(MCC_CODES).select("mcc").cache()
        return self._codes

    def validate(self, table: str) -> Validation:
        spec = self.lake.spec(table)
        checks = spec.checks or RawChecks()
        return validate(
            spec,
            self.lake.read(table),
            self.run_date,
            self.customers() if checks.user_key else None,
            self.codes() if checks.mcc else None,
        )


def _reference_versions(lake) -> dict[str, int | None]:
    return {name: lake.version(name) for name in (CUSTOMERS, MCC_CODES)}


#: Delta operations that rewrite files but never rows: a version after one of them holds the validated rows.
_SAME_ROWS = frozenset({"OPTIMIZE"})


def _rows_unchanged(lake, table: str, since: int, current: int) -> bool:
    """True when every commit of ``table`` after version ``since`` up to ``current`` is a compaction."""
    if since == current:
        return True
    operations = {h.get("version"): h.get("operation") for h in lake.history(table, limit=current - since)}
    return all(operations.get(v) in _SAME_ROWS for v in range(since + 1, current + 1))


def passed_version(lake, table: str, run_date: dt.date) -> int | None:
    """The latest version of ``table`` if ``validate-raw`` passed it with no failed row, against the current
    customers and MCC codes, for a run date no later than ``run_date`` (later dates only widen the
    future-timestamp bound); else None. Versions that only compacted files since count as the same."""
    if not lake.exists(VALIDATIONS):
        return None
    version, refs = lake.version(table), _reference_versions(lake)
    passes = (
        lake.read(VALIDATIONS)
        .where((F.col("source_table") == table) & (F.col("table_version") <= version)
               & (F.col("run_date") <= F.lit(run_date)) & (F.col("flagged") == 0))
        .select("table_version", "customers_version", "mcc_codes_version")
        .collect()  # one row per validate-raw run of this table: a handful
    )
    for r in sorted(passes, key=lambda r: r.table_version, reverse=True):
        same = [(table, r.table_version, version), (CUSTOMERS, r.customers_version, refs[CUSTOMERS]),
                (MCC_CODES, r.mcc_codes_version, refs[MCC_CODES])]
        if all(then == now or (then is not None and now is not None and _rows_unchanged(lake, t, then, now))
               for t, then, now in same):
            return version
    return None


def read_clean(lake, table: str, run_date: dt.date) -> DataFrame:
    """The rows of raw ``table`` that pass validation — what every job should read."""
    return _clean_rows(lake, table, run_date, _References(lake, run_date))


def _clean_rows(lake, table: str, run_date: dt.date, refs: _References) -> DataFrame:
    version = passed_version(lake, table, run_date)
    if version is not None:
        log.info("stage=read-clean table=%s version=%s rules=skipped (validate-raw passed this version)",
                 table, version)
        return conform_schema(lake.spec(table), lake.read(table, version=version))
    return refs.validate(table).clean


def _record_validations(lake, run_id: str, run_date: dt.date, tables: list[str], report: dict[str, dict],
                        refs: dict[str, int | None], validated_at: dt.datetime) -> None:
    rows = [
        (t, lake.inputs[t], refs[CUSTOMERS], refs[MCC_CODES], sum(report[t].values()),
         sum(n for rule, n in report[t].items() if rule != "clean"), run_id, validated_at, run_date)
        for t in tables
    ]  # one row per raw table
    records = lake.spark.createDataFrame(rows, RAW_VALIDATIONS.schema)
    lake.write(records, RAW_VALIDATIONS, mode="replace", where={"run_date": [run_date], "source_table": tables})


class CleanReader:
    """Called with a raw table name: :func:`read_clean` for several tables of one run. A version ``validate-raw``
    passed is read as it is; otherwise the rules run, with clean customers and MCC codes validated once and
    shared by every table's checks. Each table's plan is built once. ``release()`` unpersists the shared
    references when the run is done with them."""

    def __init__(self, lake, run_date: dt.date) -> None:
        self._lake, self._run_date = lake, run_date
        self._refs = _References(lake, run_date)
        self._clean: dict[str, DataFrame] = {}

    def __call__(self, table: str) -> DataFrame:
        if table not in self._clean:
            self._clean[table] = _clean_rows(self._lake, table, self._run_date, self._refs)
        return self._clean[table]

    def release(self) -> None:
        for df in (self._refs._customers, self._refs._codes):
            if df is not None:
                df.unpersist()


def read_clean_many(lake, run_date: dt.date) -> CleanReader:
    """A :class:`CleanReader`: the validated rows of any raw table, with shared validation references."""
    return CleanReader(lake, run_date)


def require_tables(lake, tables: list[str]) -> None:
    """Stop with one message naming every missing table."""
    missing = [t for t in tables if not lake.exists(t)]
    if missing:
        raise TableNotFoundError(
            f"missing input tables {missing} under {lake.root}; run `sendopt generate-world` "
            "(or load the upstream extracts) first"
        )


def quarantine_raw(lake, run_id: str, run_date: dt.date, tables: list[str] | None = None) -> dict[str, dict]:
    """Validate ``tables`` (default: every raw table) and write their bad rows to the quarantine.

    One commit replaces the run date's quarantine slice of every validated table; the rules run
    once (in that write) and the report is read back from the quarantine and the raw row counts.
    Returns ``{table: {"clean": n, rule: m, ...}}``. Missing tables and schema problems raise
    before anything is written.
    """
    tables = tables or raw_tables(lake)
    require_tables(lake, [*tables, MCC_CODES])
    ref_versions = _reference_versions(lake)
    refs = _References(lake, run_date)
    validations = [refs.validate(t) for t in tables]  # every schema is checked here, before any write
    detected_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    quarantined = validations[0].quarantined(run_id, run_date, detected_at)
    for v in validations[1:]:
        quarantined = quarantined.unionByName(v.quarantined(run_id, run_date, detected_at))
    lake.write(quarantined, QUARANTINE, mode="replace", where={"run_date": [run_date], "source_table": tables})

    found = (
        lake.read(QUARANTINE).where(F.col("run_date") == F.lit(run_date))
        .groupBy("source_table", "rule").count().collect()
    )
    report: dict[str, dict] = {t: {} for t in tables}
    for row in found:
        if row["source_table"] in report:
            report[row["source_table"]][row["rule"]] = row["count"]
    for table in tables:
        bad = report[table]
        report[table] = {"clean": lake.read(table, version=lake.inputs[table]).count() - sum(bad.values()), **bad}
        level = logging.WARNING if bad else logging.INFO
        log.log(level, "validated %s: %d clean, quarantined %s", table, report[table]["clean"], bad or "none")
    _record_validations(lake, run_id, run_date, tables, report, ref_versions, detected_at)
    return report
