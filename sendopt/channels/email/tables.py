"""Tables of the email channel: frequency decisions, their truth evaluation and the policy backtests."""
from sendopt.lake.spec import RUN_COLUMNS, TableSpec, col, market_columns

EMAIL_FREQUENCY = TableSpec(
    "decisions",
    "email_frequency",
    description="Published weekly email frequency per customer, one row per user per decision_date and "
    "market. The sender reads this table; re-running a date replaces that date's slice.",
    columns=(
        col("user_id", "string", "Pseudonymous customer id", nullable=False),
        col("decision_date", "date", "Business date of the decision (partition)", nullable=False),
        *market_columns("partition"),
        col("p_purchase", "double", "Model P(purchase) at emails_per_week", unit="probability"),
        col("p_unsubscribe", "double", "Model P(unsubscribe) at emails_per_week", unit="probability"),
        col("p_no_action", "double", "Model P(no action) at emails_per_week", unit="probability"),
        col("net_value", "double", "Expected net value at emails_per_week", unit="currency/week"),
        col("net_value_ref", "double", "Expected net value at the reference frequency (ranking key)",
            unit="currency/week"),
        col("bin", "int", "Net-value bin at the reference frequency, 1 = highest"),
        col("tier_frequency", "int", "Frequency of the bin's tier", unit="emails/week"),
        col("optimal_frequency", "int", "Frequency with the highest expected net value", unit="emails/week"),
        col("emails_per_week", "int", "Published weekly frequency after exploration and hard rules",
            nullable=False, unit="emails/week"),
        col("policy", "string", "tiers | optimizer (the model's candidate) | incumbent | step_<s> | everyone_<k> (safe "
            "policy improvement chose these instead, analytics.email_policy_choice) | exploration | safe_fallback | "
            "ab_control | ab_treatment (A/B arm)", nullable=False),
        col("is_exploration", "boolean", "In the randomized exploration holdout", nullable=False),
        col("exploration_prob", "double", "Probability of emails_per_week under the policy", unit="probability"),
        col("rule", "string", "Hard rule that capped the frequency, null if none"),
        col("model_name", "string", "Registered model used"),
        col("model_version", "string", "Registered model version used (champion)"),
        *RUN_COLUMNS,
    ),
    keys=("user_id", "decision_date", "region", "brand"),
    partition_by=("decision_date", "region", "brand"),
)

EMAIL_POLICY_EVALUATION = TableSpec(
    "analytics",
    "email_policy_evaluation",
    description="True expected outcome per user-week of each policy on a decision date, computed from the "
    "world's ground truth (only on generated worlds).",
    columns=(
        col("decision_date", "date", "Decision date evaluated", nullable=False),
        *market_columns(),
        col("policy", "string", "Policy evaluated", nullable=False),
        col("users", "long", "Users evaluated"),
        col("net_value_per_user", "double", "True expected net value per user-week", unit="currency"),
        col("revenue_per_user", "double", "True expected revenue per user-week", unit="currency"),
        col("unsubscribe_rate", "double", "True expected unsubscribe probability per user-week"),
        col("emails_per_user", "double", "Mean weekly frequency", unit="emails/week"),
        col("share_of_oracle", "double", "Net value as a share of the oracle policy's"),
        col("run_id", "string", "Job run", nullable=False),
        col("config_hash", "string", "Config hash", nullable=False),
    ),
    keys=("decision_date", "region", "brand", "policy"),
    partition_by=("decision_date", "region", "brand"),
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
        *market_columns(),
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
        *RUN_COLUMNS,
    ),
    keys=("backtest_date", "region", "brand", "scope", "policy", "bin"),
    partition_by=("backtest_date", "region", "brand"),
)

POLICY_CHOICE = TableSpec(
    "analytics",
    "email_policy_choice",
    description="Safe policy improvement of decide-email: per decision date and market, every policy that could "
    "be published (the model's candidate, the incumbent — last published or, on a first run, the historical "
    "frequency — and everyone-k for each k) with its doubly robust value on the replayed exploration holdout, "
    "its paired difference to the incumbent with the lower bound, the gross-change checks, and which one was "
    "chosen and why. Re-running a date replaces that date's rows of the market.",
    columns=(
        col("decision_date", "date", "Business date of the decision (partition)", nullable=False),
        *market_columns("partition"),
        col("option", "string", "candidate | incumbent | step_<s> (each bin at most s emails/week from the incumbent towards the candidate) | everyone_<k>", nullable=False),
        col("kind", "string", "tiers (bin → k map) | fixed (one k for everyone) | optimizer (per-user argmax)",
            nullable=False),
        col("description", "string", "The policy in words, with where it came from", nullable=False),
        col("tier_map", "string", "tiers: JSON bin → emails/week (bin 1 = highest net value)"),
        col("emails_fixed", "int", "fixed: the weekly frequency everyone gets", unit="emails/week"),
        col("rows", "long", "Replayed exploration user-weeks the estimates use"),
        col("matched", "long", "Of those, rows whose logged frequency equals the option's"),
        col("dr", "double", "Doubly robust net value per user-week", unit="currency"),
        col("dr_se", "double", "Its standard error", unit="currency"),
        col("ips", "double", "IPS net value per user-week", unit="currency"),
        col("ips_se", "double", "Its standard error", unit="currency"),
        col("dm", "double", "Direct method (the model's own opinion) per user-week", unit="currency"),
        col("unsubscribe_rate_dr", "double", "Doubly robust unsubscribe probability per user-week"),
        col("emails_per_user", "double", "Mean weekly frequency on the replayed rows", unit="emails/week"),
        col("zero_share", "double", "Share of the replayed rows the option sends 0 emails/week"),
        col("diff_vs_incumbent", "double", "Paired difference to the incumbent on the same rows, by "
            "email.publish.safety.estimator (smoothed: the model's value + its residual smoothed over k; dr: doubly "
            "robust; the reason names it and gives the DR difference too)", unit="currency"),
        col("diff_se", "double", "Its standard error", unit="currency"),
        col("lower_bound", "double", "Incumbent's value + difference − z·diff_se (email.publish.safety.z)",
            unit="currency"),
        col("safe", "boolean", "lower_bound > the incumbent's value (null for the incumbent or without estimates)"),
        col("checks_failed", "string", "Gross-change checks the option fails against the incumbent, null if none"),
        col("chosen", "boolean", "The option decide-email chose", nullable=False),
        col("reason", "string", "Chosen row: why it was chosen (and why the candidate was not)"),
        col("published_as", "string", "Chosen row: chosen (its decisions were written) | safe_fallback (a "
            "structural sanity check failed and the safe policy was written instead)"),
        col("model_name", "string", "Registered model scored"),
        col("model_version", "string", "Its version"),
        *RUN_COLUMNS,
    ),
    keys=("decision_date", "region", "brand", "option"),
    partition_by=("decision_date", "region", "brand"),
)

TABLES = [EMAIL_FREQUENCY, EMAIL_POLICY_EVALUATION, BACKTEST_RESULTS, POLICY_CHOICE]
