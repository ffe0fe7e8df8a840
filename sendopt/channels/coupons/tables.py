"""Catalog tables of the coupon channel: the trial shape, the assignments, the evaluation."""
from sendopt.lake.spec import RUN_COLUMNS, TableSpec, col

COUPON_TRIAL = TableSpec(
    "features",
    "coupon_trial",
    description="One row per customer of a coupon trial in the shape the uplift learners read: arm, level, "
    "assignment probability, outcomes and the pre-treatment features as a map. trial = 'world' (the "
    "generated randomized trial), 'world_observational' or an imported trial's name (import-trial).",
    columns=(
        col("trial", "string", "Trial name (partition)", nullable=False),
        col("user_id", "string", "Customer id", nullable=False),
        col("assigned_date", "date", "When the coupon was granted (null if the trial has no date)"),
        col("arm", "int", "Treatment index: 0 = control, 1.. = levels in ascending order", nullable=False),
        col("level", "double", "Coupon face value of the arm (0 = control)", unit="currency"),
        col("arm_label", "string", "The treatment value as the source spelled it", nullable=False),
        col("propensity", "double", "Logged probability of the arm (null: unknown — observational)",
            unit="probability"),
        col("randomized", "boolean", "Arm drawn at random (a trial), false for observational data", nullable=False),
        col("converted", "int", "Binary outcome (1 = converted)", nullable=False),
        col("value", "double", "Value outcome (gross, e.g. 90-day value); the outcome when none given",
            nullable=False, unit="currency"),
        col("cost", "double", "Coupon cost paid (face value when redeemed)", nullable=False, unit="currency"),
        col("features", "map<string,double>", "Pre-treatment features (numeric; categories as codes)",
            nullable=False),
        col("split", "string", "train | holdout (stable hash of trial and user)", nullable=False),
    ),
    keys=("trial", "user_id"),
    partition_by=("trial",),
)

COUPON_ASSIGNMENTS = TableSpec(
    "decisions",
    "coupon_assignments",
    description="Coupon level assigned to each new customer of the run date (0 = none), with the predicted "
    "incremental value and expected cost that chose it. Re-running a date replaces its slice.",
    columns=(
        col("user_id", "string", "Customer id", nullable=False),
        col("decision_date", "date", "Business date (partition)", nullable=False),
        col("region", "string", "Market region"),
        col("brand", "string", "Brand"),
        col("coupon_level", "double", "Face value assigned (0 = no coupon)", nullable=False, unit="currency"),
        col("arm", "int", "Arm index of the level (0 = none)", nullable=False),
        col("predicted_incremental_value", "double", "Predicted 90-day value gain vs no coupon", unit="currency"),
        col("predicted_cost", "double", "Predicted expected coupon cost (face value × P(redeem))", unit="currency"),
        col("predicted_net_gain", "double", "Predicted incremental value − expected cost", unit="currency"),
        col("reason", "string", "allocated | no_positive_gain | budget | opted_out | no_model (fallback)",
            nullable=False),
        col("lambda", "double", "Budget shadow price of the run (0 without a binding budget)"),
        col("learner", "string", "Meta-learner of the champion (t, s, x, dr)", nullable=False),
        col("model_name", "string", "Registered uplift model"),
        col("model_version", "string", "Registered version used"),
        *RUN_COLUMNS,
    ),
    keys=("user_id", "decision_date"),
    partition_by=("decision_date",),
)

COUPON_EVALUATION = TableSpec(
    "analytics",
    "coupon_evaluation",
    description="evaluate-uplift: per policy (learned, uniform levels, random, predictive-only, none, "
    "oracle) the IPS / DR policy value on the trial holdout (and the true value on generated worlds); "
    "per learner and level the Qini / AUUC / uplift@k with bootstrap intervals; the Q(B) budget path.",
    columns=(
        col("trial", "string", "Trial evaluated (partition)", nullable=False),
        col("evaluated_date", "date", "Run date", nullable=False),
        col("kind", "string", "policy | qini | budget_curve", nullable=False),
        col("name", "string", "Policy, or learner/level for qini, or λ for the budget curve", nullable=False),
        col("metrics", "map<string,double>", "Numbers of the row (names in docs/uplift.md)", nullable=False),
        *RUN_COLUMNS,
    ),
    keys=("trial", "evaluated_date", "kind", "name"),
    partition_by=("trial",),
)

TABLES = [COUPON_TRIAL, COUPON_ASSIGNMENTS, COUPON_EVALUATION]
