"""Push channel tables: sequential MCC affinities (analytics) and push decisions (gold)."""
from sendopt.lake.spec import TableSpec, col

MCC_AFFINITY = TableSpec(
    "analytics",
    "mcc_affinity",
    description="Sequential merchant-category affinity: P(a payment at mcc2 within window_days after a payment "
    "at mcc1) against two baselines, with support and a confidence interval. One slice per run_date, region "
    "and window; re-running a date replaces its slice.",
    columns=(
        col("run_date", "date", "Business date the affinities were computed for (partition)", nullable=False),
        col("region", "string", "Region of the transactions (partition)", nullable=False),
        col("window_days", "int", "Follow-up window W: mcc2 counts if paid within (0, W] days after mcc1",
            nullable=False, unit="days"),
        col("mcc1", "string", "Trigger merchant category code", nullable=False),
        col("mcc2", "string", "Follow-up merchant category code", nullable=False),
        col("trigger_count", "long", "mcc1 payments (triggers) in the lookback whose whole W-day window "
            "ends by the run date (later ones are censored)", unit="payments"),
        col("pair_count", "long", "mcc1 triggers followed by an mcc2 payment within W", unit="payments"),
        col("follow_any_count", "long", "mcc1 triggers followed by any payment within W", unit="payments"),
        col("p_mcc2_given_mcc1", "double", "pair_count / trigger_count", unit="probability"),
        col("p_mcc2_naive", "double", "Naive baseline: share of all triggers (any MCC) followed by mcc2 within W",
            unit="probability"),
        col("p_mcc2_refined", "double", "Refined baseline: mcc2 share among triggers that had any follow-up "
            "within W", unit="probability"),
        col("lift_naive", "double", "p_mcc2_given_mcc1 / p_mcc2_naive"),
        col("lift_refined", "double", "(pair_count / follow_any_count) / p_mcc2_refined"),
        col("ci_low", "double", "Lower bound of the Wilson interval of p_mcc2_given_mcc1", unit="probability"),
        col("ci_high", "double", "Upper bound of the Wilson interval of p_mcc2_given_mcc1", unit="probability"),
        col("lift_low", "double", "Conservative lift: ci_low / p_mcc2_naive (rank key)"),
        col("is_supported", "boolean", "pair_count ≥ the configured minimum support"),
        col("computed_at", "timestamp", "When the run computed the slice", nullable=False),
        col("run_id", "string", "Job run that wrote the row", nullable=False),
    ),
    keys=("run_date", "region", "window_days", "mcc1", "mcc2"),
    partition_by=("run_date", "region"),
)

TABLES = [MCC_AFFINITY]
