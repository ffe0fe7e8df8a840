"""Backtests and A/B experiments of decision policies (docs/lifecycle.md)."""
from sendopt.lake.spec import RUN_COLUMNS, TableSpec, col, market_columns

_MARKET = market_columns()
_RUN = RUN_COLUMNS

AB_ASSIGNMENTS = TableSpec(
    "experiments",
    "ab_assignments",
    description="A/B arm of every assigned customer, one row per experiment and user, written when the user is "
    "first assigned (a stable hash of the experiment salt and the user id; exploration-holdout users are never "
    "assigned). Later runs only add new users.",
    columns=(
        col("experiment", "string", "Experiment id (lifecycle.experiments.name)", nullable=False),
        col("user_id", "string", "Pseudonymous customer id", nullable=False),
        *_MARKET,
        col("arm", "string", "control | treatment", nullable=False),
        col("salt", "string", "Hash salt of the assignment", nullable=False),
        col("treatment_share", "double", "Configured treatment share", unit="probability", nullable=False),
        col("first_assigned_date", "date", "Decision date of the first assignment", nullable=False),
        col("run_id", "string", "Job run that assigned the user", nullable=False),
    ),
    keys=("experiment", "user_id"),
    partition_by=("experiment",),
)

AB_RESULTS = TableSpec(
    "experiments",
    "ab_results",
    description="A/B analysis per experiment, analysis date and market: one row per metric (arm values, "
    "treatment − control difference with its 95 % interval and p-value) plus a sample-ratio-mismatch row; "
    "every row carries the rollout decision and its reasons. Outcomes come from raw tables only.",
    columns=(
        col("experiment", "string", "Experiment id", nullable=False),
        col("analysis_date", "date", "Last outcome date included (the run date)", nullable=False),
        *_MARKET,
        col("window_start", "date", "First outcome date counted (start_date, else first assignment)"),
        col("metric", "string", "unsubscribe_rate | revenue_per_user | purchase_rate | open_rate | "
            "clicks_per_user | emails_per_user | sample_ratio", nullable=False),
        col("control_users", "long", "Users in control"),
        col("treatment_users", "long", "Users in treatment"),
        col("control_value", "double", "Metric in control (sample_ratio: control share)"),
        col("treatment_value", "double", "Metric in treatment (sample_ratio: expected control share)"),
        col("difference", "double", "treatment − control (sample_ratio: chi-square statistic)"),
        col("relative_difference", "double", "difference / control value (delta-method for means)"),
        col("ci_low", "double", "95 % interval of the difference, low end (at 1 − alpha)"),
        col("ci_high", "double", "95 % interval of the difference, high end (at 1 − alpha)"),
        col("p_value", "double", "Two-sided p-value (sample_ratio: chi-square p-value)"),
        col("significant", "boolean", "p_value < alpha (sample_ratio: < srm_alpha, i.e. a mismatch)"),
        col("decision", "string", "rollout | hold | invalid: the rollout rule's verdict", nullable=False),
        col("reasons", "string", "Why, in words", nullable=False),
        *_RUN,
    ),
    keys=("experiment", "analysis_date", "region", "brand", "metric"),
    partition_by=("experiment", "analysis_date", "region", "brand"),
)

BACKTEST_RESULTS = TableSpec(
    "analytics",
    "backtest_results",
    description="Backtest of email policies on the logged exploration holdout of past weeks: per policy the "
    "off-policy value estimates (IPS, SNIPS, doubly robust, with standard errors) of net value and unsubscribe "
    "rate and, on a generated world, the true value; per net-value bin the model's predicted vs the actual "
    "outcome of the logged weeks.",
    columns=(
        col("backtest_date", "date", "Run date of the backtest", nullable=False),
        *_MARKET,
        col("model_name", "string", "Registered model scored", nullable=False),
        col("model_version", "string", "Its version", nullable=False),
        col("scope", "string", "policy (a policy's value) | bin (predicted vs actual in a bin)", nullable=False),
        col("policy", "string", "tiers | optimizer | config_tiers | model_tiers | logged | proposal; bin rows: "
            "logged",
            nullable=False),
        col("bin", "int", "Net-value bin (1 = highest); 0 on policy rows", nullable=False),
        col("weeks", "int", "Decision weeks replayed"),
        col("first_week", "date", "First week replayed"),
        col("last_week", "date", "Last week replayed"),
        col("rows", "long", "Logged exploration user-weeks"),
        col("matched", "long", "Rows whose logged frequency equals the policy's"),
        col("effective_rows", "double", "(Σw)²/Σw² of the importance weights"),
        col("ips", "double", "IPS net value per user-week", unit="currency"),
        col("ips_se", "double", "Its standard error", unit="currency"),
        col("snips", "double", "Self-normalised IPS net value per user-week", unit="currency"),
        col("dr", "double", "Doubly robust net value per user-week", unit="currency"),
        col("dr_se", "double", "Its standard error", unit="currency"),
        col("dm", "double", "Direct method (model only) net value per user-week", unit="currency"),
        col("unsubscribe_rate_dr", "double", "Doubly robust unsubscribe probability per user-week"),
        col("emails_per_user", "double", "Mean weekly frequency of the policy", unit="emails/week"),
        col("predicted_net_value", "double", "Bin rows: model net value at the logged k, mean", unit="currency"),
        col("actual_net_value", "double", "Bin rows: realised reward of the logged weeks, mean", unit="currency"),
        col("predicted_unsubscribe", "double", "Bin rows: model P(unsubscribe) at the logged k, mean"),
        col("actual_unsubscribe", "double", "Bin rows: realised unsubscribe rate"),
        col("predicted_purchase", "double", "Bin rows: model P(purchase) at the logged k, mean"),
        col("actual_purchase", "double", "Bin rows: realised purchase-week rate"),
        col("true_net_value", "double", "Generated worlds: true expected net value per user-week",
            unit="currency"),
        col("true_unsubscribe_rate", "double", "Generated worlds: true unsubscribe probability per user-week"),
        *_RUN,
    ),
    keys=("backtest_date", "region", "brand", "scope", "policy", "bin"),
    partition_by=("backtest_date", "region", "brand"),
)

TABLES = [AB_ASSIGNMENTS, AB_RESULTS, BACKTEST_RESULTS]
