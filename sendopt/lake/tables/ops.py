"""Operational tables: the run ledger and the record of validated raw-table versions."""
from sendopt.lake.spec import TableSpec, col

JOB_RUNS = TableSpec(
    "ops",
    "job_runs",
    description="Run ledger: one row per job run (and region/brand) with inputs' versions and outcome.",
    columns=(
        col("run_id", "string", "Identifier of the job run", nullable=False),
        col("run_date", "date", "Business date the run was for", nullable=False),
        col("job", "string", "Job name, e.g. generate-world", nullable=False),
        col("region", "string", "Region; empty for market-independent jobs", nullable=False),
        col("brand", "string", "Brand; empty for market-independent jobs", nullable=False),
        col("status", "string", "succeeded | failed | fallback | killed | skipped", nullable=False),
        col("started_at", "timestamp", "Run start (UTC)", nullable=False),
        col("finished_at", "timestamp", "Run end (UTC)", nullable=False),
        col("seconds", "double", "Wall time", unit="s"),
        col("inputs", "map<string,long>", "Delta version read of every input table"),
        col("outputs", "map<string,long>", "Delta version written of every output table"),
        col("message", "string", "Error or fallback reason; empty on success"),
        col("config_hash", "string", "Hash of the merged configuration", nullable=False),
        col("code_version", "string", "sendopt version and git commit, when known"),
    ),
    keys=("run_id", "region", "brand"),
    partition_by=("run_date",),
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

TABLES = [JOB_RUNS, RAW_VALIDATIONS]
