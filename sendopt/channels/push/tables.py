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

PUSH_NOTIFICATIONS = TableSpec(
    "decisions",
    "push_notifications",
    description="Push decisions: at most one notification per user and period, chosen across strategies "
    "(Target → Audience → Filter → Score → Conciliation). One slice per decision_date, region and brand; "
    "re-running a date replaces its slice. simulate-outcomes plays the slice of its date.",
    columns=(
        col("decision_date", "date", "Business date of the decision (partition)", nullable=False),
        col("region", "string", "Market region (partition)", nullable=False),
        col("brand", "string", "Brand (partition)", nullable=False),
        col("user_id", "string", "Customer to notify", nullable=False),
        col("send_date", "date", "Date to send (first day of the period)", nullable=False),
        col("send_hour", "int", "Hour to send", nullable=False, unit="hour (0-23, UTC)"),
        col("send_hour_source", "string", "history | fallback"),
        col("strategy", "string", "Strategy that won the conciliation, e.g. mcc_affinity", nullable=False),
        col("store_id", "long", "Promoted store", nullable=False),
        col("merchant_id", "long", "Promoted merchant", nullable=False),
        col("mcc", "string", "Merchant category of the store"),
        col("distance_km", "double", "Store distance from the user's estimated location", unit="km"),
        col("affinity", "double", "Strategy relevance signal in [0, 1]"),
        col("discount_pct", "double", "Active promo discount at the merchant (0 if none)", unit="%"),
        col("score", "double", "Heuristic score of the pair (weights per strategy)"),
        col("calibrated_score", "double", "P(click | open) of the pair from the click model fitted on the push log "
            "(without one: the strategy's posterior mean click rate × score)", unit="probability"),
        col("strategy_weight", "double", "The user's Thompson draw of the strategy's click rate (after floor)"),
        col("strategies_available", "int", "Strategies that had a candidate for the user"),
        col("reason", "string", "Why the store: trigger MCC → MCC, or browsed category"),
        col("text", "string", "Message text rendered from the strategy's template", nullable=False),
        col("is_exploration", "boolean", "Strategy drawn uniformly (exploration share)", nullable=False),
        col("exploration_prob", "double", "Probability the logged strategy had under the policy",
            unit="probability"),
        col("model_versions", "string", "Scorer and inputs used, e.g. score=heuristic-v1;click=click-logit-v1(b0=…,…);"
            "mcc_affinity:affinity=2026-02-24/w3"),
        col("run_id", "string", "Job run that wrote the row", nullable=False),
        col("config_hash", "string", "Hash of the effective config", nullable=False),
        col("decided_at", "timestamp", "When the decision was made (UTC)", nullable=False),
    ),
    keys=("decision_date", "region", "brand", "user_id"),
    partition_by=("decision_date", "region", "brand"),
)

PUSH_POLICY_EVALUATION = TableSpec(
    "analytics",
    "push_policy_evaluation",
    description="Expected push outcomes under the world's truth: the published (orchestrated) choice vs a "
    "random-strategy and each single-strategy baseline over the same filtered audience (generated worlds).",
    columns=(
        col("decision_date", "date", "Decision date evaluated (partition)", nullable=False),
        col("region", "string", "Market region", nullable=False),
        col("brand", "string", "Brand", nullable=False),
        col("population", "string", "all (users with ≥ 1 candidate) | multi_strategy (≥ 2 strategies: where "
            "the conciliation has a choice)", nullable=False),
        col("policy", "string", "orchestrated | random_strategy | only_<strategy> | oracle_strategy (each user's truly best "
            "strategy: the ceiling)", nullable=False),
        col("eligible_users", "long", "Users of the population (candidates after the filters)", unit="users"),
        col("pushes", "long", "Users the policy notifies", unit="users"),
        col("expected_opens", "double", "Sum of true P(open)", unit="opens"),
        col("expected_clicks", "double", "Sum of true P(click)", unit="clicks"),
        col("clicks_per_eligible_user", "double", "expected_clicks / eligible_users", unit="probability"),
        col("click_rate_per_push", "double", "expected_clicks / pushes", unit="probability"),
        col("lift_vs_random", "double", "clicks_per_eligible_user / that of random_strategy"),
        col("run_id", "string", "Job run that wrote the row", nullable=False),
        col("computed_at", "timestamp", "When it was computed (UTC)", nullable=False),
    ),
    keys=("decision_date", "region", "brand", "population", "policy"),
    partition_by=("decision_date", "region", "brand"),
)

TABLES = [MCC_AFFINITY, PUSH_NOTIFICATIONS, PUSH_POLICY_EVALUATION]
