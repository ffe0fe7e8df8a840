"""Catalog tables of the promo channel: requests in, their status, segments, plans, assignments, evaluation."""
from sendopt.lake.spec import RUN_COLUMNS, TableSpec, col

PROMO_REQUESTS = TableSpec(
    "ops",
    "promo_requests",
    description="Merchant campaign requests as submitted (submit-promo-request, the web service): one row per "
    "request, appended, never updated; the current state is in ops.promo_request_status.",
    columns=(
        col("request_id", "string", "Request id (given, or pr- + 12 hex when generated)", nullable=False),
        col("merchant_id", "long", "Merchant running the campaign (raw.merchants)", nullable=False),
        col("start_date", "date", "First campaign day (inclusive)", nullable=False),
        col("end_date", "date", "Last campaign day (inclusive)", nullable=False),
        col("goal", "string", "net_revenue (incremental GMV − promo cost, plus the optional weights)",
            nullable=False),
        col("weight_orders", "double", "Value credited per incremental order on top of its GMV", nullable=False,
            unit="currency"),
        col("weight_new_customers", "double", "Value credited per expected new customer acquired", nullable=False,
            unit="currency"),
        col("budget", "double", "Total promo budget (discounts paid)", nullable=False, unit="currency"),
        col("max_cps", "double", "Maximum cost per incremental sale (null: no limit)", unit="currency"),
        col("promo_types", "array<string>", "Allowed promo types: percent, voucher", nullable=False),
        col("discount_pct_min", "double", "Smallest discount % allowed (guard rail)", nullable=False, unit="%"),
        col("discount_pct_max", "double", "Largest discount % allowed (guard rail)", nullable=False, unit="%"),
        col("voucher_values", "array<double>", "Voucher values allowed (0 = none)", nullable=False,
            unit="currency"),
        col("min_spend_min", "double", "Smallest minimum spend allowed", nullable=False, unit="currency"),
        col("min_spend_max", "double", "Largest minimum spend allowed", nullable=False, unit="currency"),
        col("segments", "array<string>", "Segments that may receive a promo: new, active, churned",
            nullable=False),
        col("min_coverage", "map<string,double>", "Minimum share of a segment's eligible customers reached",
            nullable=False, unit="share"),
        col("submitted_by", "string", "Who submitted it (operator, service)", nullable=False),
        col("submitted_at", "timestamp", "Submission time (UTC)", nullable=False),
        col("status", "string", "Status at submission: pending (later states: ops.promo_request_status)",
            nullable=False),
        col("idempotency_key", "string", "Client's idempotency key (the web service dedupes on it); null when none"),
    ),
    keys=("request_id",),
)

PROMO_REQUEST_CLAIMS = TableSpec(
    "ops",
    "promo_request_claims",
    description="Which plan-promos run claimed which request attempt (appended): the first commit claiming an "
    "attempt wins it, so two runs started together plan a request once.",
    columns=(
        col("request_id", "string", "Request claimed", nullable=False),
        col("attempt", "int", "1 for the first planning, +1 for every promo.replan", nullable=False),
        col("run_id", "string", "plan-promos run that claimed it", nullable=False),
        col("claimed_at", "timestamp", "Claim time (UTC)", nullable=False),
    ),
    keys=("request_id", "attempt", "run_id"),
)

PROMO_REQUEST_STATUS = TableSpec(
    "ops",
    "promo_request_status",
    description="Status events of campaign requests (appended; the latest per request is its status): planned "
    "or failed with a reason an operator can act on, plus the model and data versions behind the plan.",
    columns=(
        col("request_id", "string", "Request", nullable=False),
        col("attempt", "int", "Planning attempt", nullable=False),
        col("status", "string", "pending | planned | failed", nullable=False),
        col("reason", "string", "Why it failed / what limited the plan (empty when nothing did)", nullable=False),
        col("updated_at", "timestamp", "When (UTC)", nullable=False),
        col("model_versions", "map<string,string>", "Registered response-model versions used"),
        col("data_versions", "map<string,long>", "Delta versions of the raw tables read"),
        *RUN_COLUMNS,
    ),
    keys=("request_id", "attempt", "updated_at"),
)

PROMO_SEGMENTS = TableSpec(
    "analytics",
    "promo_segments",
    description="Each eligible customer of a request with their segment at the merchant as of the campaign "
    "start (new / active / churned from card payments before it) and whether they are a cold start.",
    columns=(
        col("request_id", "string", "Request (partition)", nullable=False),
        col("user_id", "string", "Customer", nullable=False),
        col("merchant_id", "long", "Merchant", nullable=False),
        col("region", "string", "Customer's region", nullable=False),
        col("segment", "string", "new | active | churned", nullable=False),
        col("cold_start", "boolean", "No card payment anywhere in the history window", nullable=False),
        col("days_since_last", "int", "Days since the last payment at the merchant (null: never)", unit="days"),
        col("opted_out", "boolean", "Withdrew both email and push consent (never assigned)", nullable=False),
        *RUN_COLUMNS,
    ),
    keys=("request_id", "user_id"),
    partition_by=("request_id",),
)

PROMO_PLANS = TableSpec(
    "decisions",
    "promo_plans",
    description="Plans per request: the chosen plan (rank 1), the other Pareto-front plans of the tuning "
    "(incremental net revenue vs cost) and one row per segment of the chosen plan, with predicted metrics and "
    "their intervals, coverage and spend per segment and region (fairness). Re-planning replaces the slice.",
    columns=(
        col("request_id", "string", "Request (partition)", nullable=False),
        col("kind", "string", "chosen | pareto | segment | region | candidate (the designer's designs)",
            nullable=False),
        col("plan_rank", "int", "1 = chosen; Pareto plans by predicted net value", nullable=False),
        col("name", "string", "Plan / segment / region name", nullable=False),
        col("designs", "map<string,string>", "Segment → design id (d<pct>_v<voucher>_m<min spend>, none)",
            nullable=False),
        col("reach", "map<string,double>", "Segment → share of its eligible customers reached", nullable=False),
        col("metrics", "map<string,double>", "Predicted metrics (names in docs/promo.md) with _lo/_hi interval "
            "bounds", nullable=False),
        col("params", "map<string,double>", "Tuning parameters of the trial behind it"),
        col("feasible", "boolean", "Within budget (at the configured confidence), CPS limit and coverage",
            nullable=False),
        *RUN_COLUMNS,
    ),
    keys=("request_id", "kind", "plan_rank", "name"),
    partition_by=("request_id",),
)

PROMO_ASSIGNMENTS = TableSpec(
    "decisions",
    "promo_assignments",
    description="The promo each reached customer of a planned request gets (customers without one have no "
    "row; holdout rows are the plan's control group and get nothing). simulate-outcomes plays it against the "
    "world; re-planning a request replaces its slice.",
    columns=(
        col("request_id", "string", "Request (partition)", nullable=False),
        col("user_id", "string", "Customer", nullable=False),
        col("merchant_id", "long", "Merchant", nullable=False),
        col("segment", "string", "new | active | churned", nullable=False),
        col("region", "string", "Customer's region", nullable=False),
        col("design_id", "string", "Design (d<pct>_v<voucher>_m<min spend>)", nullable=False),
        col("discount_pct", "double", "Percentage discount", nullable=False, unit="%"),
        col("voucher_value", "double", "Fixed voucher value", nullable=False, unit="currency"),
        col("min_spend", "double", "Minimum basket to redeem", nullable=False, unit="currency"),
        col("start_date", "date", "First campaign day", nullable=False),
        col("end_date", "date", "Last campaign day", nullable=False),
        col("p_redeem", "double", "Predicted redemptions: the expected number (promo.models.effect usage) or the "
            "probability (t, ipw, dr)", nullable=False, unit="redemptions"),
        col("predicted_incremental_orders", "double", "Predicted incremental orders (with the promo − without)",
            nullable=False, unit="orders"),
        col("predicted_incremental_gmv", "double", "Predicted GMV with − without the promo", nullable=False,
            unit="currency"),
        col("predicted_cost", "double", "Predicted expected discount paid", nullable=False, unit="currency"),
        col("predicted_incremental_value", "double", "Predicted incremental GMV − cost (+ goal weights)",
            nullable=False, unit="currency"),
        col("model_version", "string", "Response-model versions, e.g. order0=3,order1=3,redeem=2,basket=3"),
        col("holdout", "boolean", "Held back as the plan's control group: chosen but NOT offered "
            "(promo.publish.holdout_share, stable hash); promo-report measures the plan's incremental orders "
            "against them", nullable=False),
        col("offer_probability", "double", "P(offered) of a chosen customer: 1 − the holdout share",
            nullable=False, unit="probability"),
        *RUN_COLUMNS,
    ),
    keys=("request_id", "user_id"),
    partition_by=("request_id",),
)

PROMO_EVALUATION = TableSpec(
    "analytics",
    "promo_evaluation",
    description="evaluate-promos: per request and policy (tuned, blanket, best_fixed, segment_rule, oracle) the "
    "TRUE incremental revenue, cost, incremental orders and cost per incremental sale from the world's truth, "
    "next to the plan's prediction.",
    columns=(
        col("request_id", "string", "Request (partition)", nullable=False),
        col("policy", "string", "tuned | blanket | best_fixed | segment_rule | oracle", nullable=False),
        col("description", "string", "The designs of the policy", nullable=False),
        col("metrics", "map<string,double>", "True (and, for tuned, predicted) metrics; names in docs/promo.md",
            nullable=False),
        col("evaluated_date", "date", "Run date", nullable=False),
        *RUN_COLUMNS,
    ),
    keys=("request_id", "policy"),
    partition_by=("request_id",),
)

_REPORT_REQ = col("request_id", "string", "Campaign request (partition)", nullable=False)

PROMO_REPORTS = TableSpec(
    "monitoring",
    "promo_reports",
    description="Archive of promo-report: per request × segment × design after the campaign window, actual "
    "(raw log) vs predicted (the plan) redemption rate, cost, basket and incremental orders (offered vs the "
    "logged control group), and which metrics drifted beyond promo.report's bound.",
    columns=(
        _REPORT_REQ,
        col("segment", "string", "new | active | churned", nullable=False),
        col("design_id", "string", "Design of the plan", nullable=False),
        col("campaign_id", "string", "raw.promo_campaigns id of the design (source = plan)"),
        col("report_date", "date", "Run date of the report", nullable=False),
        col("start_date", "date", "Campaign start", nullable=False),
        col("end_date", "date", "Campaign end (inclusive)", nullable=False),
        col("offered_customers", "long", "Customers offered the design", nullable=False),
        col("control_customers", "long", "Logged control customers of the segment (holdout)", nullable=False),
        col("redemptions", "long", "Orders paid with the promo", nullable=False),
        col("predicted_redemption_rate", "double", "Mean p_redeem of the offered: redemptions per customer "
            "(usage model) or P(redeem)", unit="redemptions"),
        col("actual_redemption_rate", "double", "The same measured: redemptions per offered customer (usage "
            "model) or the share who redeemed at least once", unit="redemptions"),
        col("predicted_cost", "double", "Σ predicted discount cost", unit="currency"),
        col("actual_cost", "double", "Σ discount paid", unit="currency"),
        col("predicted_basket", "double", "Predicted mean basket per redemption (null: the plan gives none)",
            unit="currency"),
        col("actual_basket", "double", "Mean basket (before discount) per redemption", unit="currency"),
        col("predicted_incremental_orders", "double", "Σ predicted incremental orders", unit="orders"),
        col("actual_incremental_orders", "double", "(orders per offered − per control customer at the merchant in "
            "the window) × offered; null without a control group", unit="orders"),
        col("incremental_orders_se", "double", "Standard error of actual_incremental_orders", unit="orders"),
        col("drifted", "array<string>", "Metrics beyond the bound (redemption_rate, cost, basket, "
            "incremental_orders)", nullable=False),
        *RUN_COLUMNS,
    ),
    keys=("request_id", "segment", "design_id"),
    partition_by=("request_id",),
)

PROMO_RETRAIN_TRIGGERS = TableSpec(
    "monitoring",
    "promo_retrain_triggers",
    description="One row per reported campaign request: whether its outcomes drifted from the plan's "
    "predictions enough to retrain the promo response models, with every cause.",
    columns=(
        _REPORT_REQ,
        col("report_date", "date", "Run date of the report", nullable=False),
        col("model_name", "string", "Model family (promo.report.model_name)", nullable=False),
        col("model_version", "string", "Versions behind the plan (the assignments' model_version)"),
        col("triggered", "boolean", "A retrain is due", nullable=False),
        col("causes", "array<string>", "Every drifted cell and metric with actual vs predicted", nullable=False),
        col("metrics", "map<string,double>", "Totals of the request: actual_* and predicted_*"),
        *RUN_COLUMNS,
    ),
    keys=("request_id",),
    partition_by=("request_id",),
)

TABLES = [PROMO_REQUESTS, PROMO_REQUEST_CLAIMS, PROMO_REQUEST_STATUS, PROMO_SEGMENTS, PROMO_PLANS,
          PROMO_ASSIGNMENTS, PROMO_EVALUATION, PROMO_REPORTS, PROMO_RETRAIN_TRIGGERS]
