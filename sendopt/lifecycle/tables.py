"""Model lifecycle tables: the retraining cycles' evaluations, the daily monitors and the A/B experiments."""
from sendopt.lake.spec import RUN_COLUMNS, TableSpec, col, market_columns

_MARKET = market_columns("partition of monitoring tables")
_RUN = RUN_COLUMNS

MODEL_EVALUATIONS = TableSpec(
    "ops",
    "model_evaluations",
    description="One row per model per retraining cycle: the challenger and the champion evaluated on the "
    "same time-later holdout, the gate's decision and reasons, MLflow ids and input data versions.",
    columns=(
        col("cycle_id", "string", "Retraining cycle (the retrain run id)", nullable=False),
        col("run_date", "date", "Business date of the cycle (partition)", nullable=False),
        *_MARKET,
        col("channel", "string", "Channel of the model, e.g. email", nullable=False),
        col("model_name", "string", "Registered model name", nullable=False),
        col("model_version", "string", "Registered version; null when the cycle failed before registering"),
        col("role", "string", "challenger | champion", nullable=False),
        col("decision", "string", "promoted | kept | first_champion | failed", nullable=False),
        col("champion_after", "string", "Champion version after the cycle"),
        col("reasons", "array<string>", "Gate rule results (failed first) or the failure"),
        col("auc", "double", "Macro one-vs-rest AUC on the holdout"),
        col("log_loss", "double", "Log loss on the holdout"),
        col("brier", "double", "Multiclass Brier score on the holdout"),
        col("ece", "double", "Mean expected calibration error on the holdout"),
        col("holdout_rows", "double", "Holdout rows evaluated"),
        col("top_bin_conversion", "double", "Conversion rate of the top predicted-net-value bin"),
        col("bottom_bin_conversion", "double", "Conversion rate of the bottom predicted-net-value bin"),
        col("top_bin_unsubscribe", "double", "Unsubscribe rate of the top predicted-net-value bin"),
        col("bottom_bin_unsubscribe", "double", "Unsubscribe rate of the bottom predicted-net-value bin"),
        col("holdout_from", "date", "First week of the time-later holdout"),
        col("train_rows", "long", "Training rows of the challenger"),
        col("mlflow_run_id", "string", "MLflow run of the version"),
        col("data_versions", "map<string,long>", "Delta version of every input table read by the cycle"),
        *_RUN,
    ),
    keys=("cycle_id", "model_name", "role"),
    partition_by=("run_date",),
)

FEATURE_PSI = TableSpec(
    "monitoring",
    "feature_psi",
    description="Population stability of each model feature at the decision snapshot against the champion's "
    "training reference (decile buckets + null).",
    columns=(
        col("run_date", "date", "Monitor run date (partition)", nullable=False),
        *_MARKET,
        col("model_name", "string", "Champion model", nullable=False),
        col("model_version", "string", "Champion version", nullable=False),
        col("feature", "string", "Feature", nullable=False),
        col("psi", "double", "Population stability index vs the training reference"),
        col("status", "string", "ok | warn | alert", nullable=False),
        col("reference_null_share", "double", "Share of nulls in the reference", unit="share"),
        col("current_null_share", "double", "Share of nulls now", unit="share"),
        col("rows", "long", "Rows in the current snapshot"),
        *_RUN,
    ),
    keys=("run_date", "region", "brand", "feature"),
    partition_by=("run_date", "region", "brand"),
)

SCORE_DRIFT = TableSpec(
    "monitoring",
    "score_drift",
    description="Distribution shift of the published scores against the champion's first published day.",
    columns=(
        col("run_date", "date", "Monitor run date (partition)", nullable=False),
        *_MARKET,
        col("model_version", "string", "Champion version", nullable=False),
        col("score", "string", "Score column of decisions.email_frequency", nullable=False),
        col("reference_date", "date", "Decision date used as reference"),
        col("psi", "double", "Population stability index vs the reference day"),
        col("status", "string", "ok | warn | alert", nullable=False),
        col("reference_mean", "double", "Mean score on the reference day"),
        col("current_mean", "double", "Mean score on the latest decision day"),
        *_RUN,
    ),
    keys=("run_date", "region", "brand", "score"),
    partition_by=("run_date", "region", "brand"),
)

PERFORMANCE = TableSpec(
    "monitoring",
    "performance",
    description="Published predictions against matured outcomes, per outcome week: discrimination, "
    "calibration and calibration-in-the-large. Outcomes come from raw tables, never from truth.",
    columns=(
        col("run_date", "date", "Monitor run date (partition)", nullable=False),
        *_MARKET,
        col("week_start", "date", "Outcome week", nullable=False),
        col("model_version", "string", "Version(s) that made the week's decisions"),
        col("rows", "long", "Labelled user-weeks"),
        col("auc", "double", "Macro one-vs-rest AUC"),
        col("log_loss", "double", "Log loss"),
        col("brier", "double", "Multiclass Brier score"),
        col("ece", "double", "Mean expected calibration error"),
        col("predicted_purchase", "double", "Mean predicted P(purchase)", unit="probability"),
        col("observed_purchase", "double", "Observed purchase rate", unit="share"),
        col("predicted_unsubscribe", "double", "Mean predicted P(unsubscribe)", unit="probability"),
        col("observed_unsubscribe", "double", "Observed unsubscribe rate", unit="share"),
        *_RUN,
    ),
    keys=("run_date", "region", "brand", "week_start"),
    partition_by=("run_date", "region", "brand"),
)

BIN_OUTCOMES = TableSpec(
    "monitoring",
    "bin_outcomes",
    description="Observed conversion and unsubscribe rates of matured decision weeks per net-value bin and "
    "per tier (weekly frequency) — the ordering the tiers rely on.",
    columns=(
        col("run_date", "date", "Monitor run date (partition)", nullable=False),
        *_MARKET,
        col("dimension", "string", "bin | tier", nullable=False),
        col("group_value", "int", "Bin (1 = highest value) or tier frequency (emails/week)", nullable=False),
        col("rows", "long", "Labelled user-weeks"),
        col("conversion_rate", "double", "Observed purchase rate", unit="share"),
        col("unsubscribe_rate", "double", "Observed unsubscribe rate", unit="share"),
        col("predicted_net_value", "double", "Mean predicted net value", unit="currency/week"),
        *_RUN,
    ),
    keys=("run_date", "region", "brand", "dimension", "group_value"),
    partition_by=("run_date", "region", "brand"),
)

RETRAIN_TRIGGERS = TableSpec(
    "monitoring",
    "retrain_triggers",
    description="One row per monitor run and market: whether a retrain is triggered and every cause.",
    columns=(
        col("run_date", "date", "Monitor run date (partition)", nullable=False),
        *_MARKET,
        col("model_name", "string", "Champion model", nullable=False),
        col("model_version", "string", "Champion version"),
        col("triggered", "boolean", "A retrain is due", nullable=False),
        col("causes", "array<string>", "Every threshold breached, with values"),
        col("metrics", "map<string,double>", "The monitored values the thresholds were applied to"),
        col("report_path", "string", "HTML report of the run"),
        *_RUN,
    ),
    keys=("run_date", "region", "brand", "model_name"),
    partition_by=("run_date", "region", "brand"),
)

_EXPERIMENT_MARKET = market_columns()

AB_ASSIGNMENTS = TableSpec(
    "experiments",
    "ab_assignments",
    description="A/B arm of every assigned customer, one row per experiment and user, written when the user is "
    "first assigned (a stable hash of the experiment salt and the user id; exploration-holdout users are never "
    "assigned). Later runs only add new users.",
    columns=(
        col("experiment", "string", "Experiment id (lifecycle.experiments.name)", nullable=False),
        col("user_id", "string", "Pseudonymous customer id", nullable=False),
        *_EXPERIMENT_MARKET,
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
        *_EXPERIMENT_MARKET,
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

TABLES = [AB_ASSIGNMENTS, AB_RESULTS, MODEL_EVALUATIONS, FEATURE_PSI, SCORE_DRIFT, PERFORMANCE, BIN_OUTCOMES, RETRAIN_TRIGGERS]
