"""Gold layer of the email channel: frequency decisions and their evaluation."""
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
        col("policy", "string", "tiers | optimizer | exploration | safe_fallback | ab_control | ab_treatment (A/B arm)", nullable=False),
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

TABLES = [EMAIL_FREQUENCY, EMAIL_POLICY_EVALUATION]
