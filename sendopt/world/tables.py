"""Truth tables of the synthetic world: read only by ``sendopt.world`` and ``sendopt.evaluation``."""
from sendopt.lake.spec import TableSpec, col

_USER = col("user_id", "string", "Pseudonymous customer id (u + 16 hex)", nullable=False)
_REGION = col("region", "string", "Market region, e.g. north", nullable=False)
_BRAND = col("brand", "string", "Brand of the customer's account, e.g. alpha", nullable=False)

USER_TRAITS = TableSpec(
    "truth",
    "user_traits",
    description="Latent traits of every user as used by the generator (ground truth; world/evaluation only).",
    columns=(
        _USER,
        col("user_index", "long", "Generator index of the user", nullable=False),
        _REGION,
        _BRAND,
        col("exploration", "boolean", "In the randomized email exploration holdout"),
        col("signup_day", "int", "Signup as a day offset from world.start_date", unit="days"),
        col("purchase_logit", "double", "Weekly purchase logit without emails (incl. market shift)", unit="logit"),
        col("email_uplift", "double", "Max purchase-logit gain from emails", unit="logit"),
        col("saturation", "double", "Frequency scale of diminishing returns: gain·(1−e^(−k/saturation))",
            unit="emails/week"),
        col("unsubscribe_logit", "double", "Weekly unsubscribe logit at zero load", unit="logit"),
        col("fatigue_slope", "double", "Unsubscribe logit added per email of weekly load", unit="logit/email"),
        col("open_prob", "double", "P(open) of an email while active", unit="probability"),
        col("click_prob", "double", "P(click | open)", unit="probability"),
        col("spend_log_mu", "double", "Log-mean of order amounts", unit="log currency"),
        col("decay_start", "double", "Day offset when engagement starts to decay into inactivity", unit="days"),
        col("favourite_category", "string", "Most browsed/bought product category"),
        col("web_rate", "double", "Browsing sessions per day while active", unit="sessions/day"),
        col("card_holder", "boolean", "Has a payment card"),
        col("card_rate", "double", "Background card payments per day", unit="payments/day"),
        col("push_logit", "double", "Push open logit before hour match and fatigue", unit="logit"),
        col("preferred_hour", "int", "Hour with the best push response", unit="hour"),
        col("discount_sensitivity", "double", "Promo discount sensitivity in [0,1]"),
        col("coupon_type", "string", "sure_thing | persuadable | lost_cause | sleeping_dog"),
        col("coupon_threshold", "double", "Coupon level at which a persuadable is half-way converted",
            unit="currency"),
        col("value_log_mu", "double", "Log-mean of the 90-day value of a converted new user", unit="log currency"),
    ),
    keys=("user_id",),
)

MCC_PAIRS = TableSpec(
    "truth",
    "mcc_pairs",
    description="Planted sequential MCC affinities: after MCC1, a payment at MCC2 within window_days with "
    "probability strength (on top of background traffic).",
    columns=(
        col("mcc1", "string", "Trigger MCC", nullable=False),
        col("mcc2", "string", "Follow-up MCC", nullable=False),
        col("window_days", "int", "Follow-up happens 1..window_days days later", unit="days"),
        col("strength", "double", "Probability of a planted follow-up per MCC1 payment", unit="probability"),
    ),
    keys=("mcc1", "mcc2"),
)

COUPON_EFFECTS = TableSpec(
    "truth",
    "coupon_effects",
    description="True conversion probability, expected 90-day value and expected coupon cost per trial "
    "(and observational) customer and coupon level, and the effects versus no coupon.",
    columns=(
        _USER,
        col("coupon_level", "double", "Coupon value", nullable=False, unit="currency"),
        col("p_convert", "double", "True P(convert within 30 days)", unit="probability"),
        col("expected_value_90d", "double", "p_convert × expected gross value", unit="currency"),
        col("effect_convert", "double", "p_convert − p_convert at level 0", unit="probability"),
        col("effect_value_90d", "double", "expected_value_90d − that at level 0", unit="currency"),
        col("expected_cost", "double", "p_convert × coupon_level (face value paid on redemption)",
            unit="currency"),
        col("net_effect", "double", "effect_value_90d − expected_cost: the net gain of the level vs none",
            unit="currency"),
        col("net_effect_given_x", "double", "E[net_effect | signup observables]: the best a model of the "
            "observables can know (type, threshold and the value's purchase latent integrated out)",
            unit="currency"),
        col("expected_cost_given_x", "double", "E[expected_cost | signup observables]", unit="currency"),
        col("population", "string", "trial | observational"),
    ),
    keys=("user_id", "coupon_level"),
)

_OUTCOMES = (
    col("orders_without", "double", "Expected orders at the merchant in the window without the promo",
        unit="orders"),
    col("gmv_without", "double", "Expected basket value (before discount) of those orders", unit="currency"),
    col("orders_with", "double", "Expected orders at the merchant in the window when offered the promo",
        unit="orders"),
    col("gmv_with", "double", "Expected basket value (before discount) of those orders", unit="currency"),
    col("expected_cost", "double", "Expected discount paid by the merchant", unit="currency"),
    col("expected_redemptions", "double", "Expected orders paid with the promo", unit="orders"),
    col("subsidised_redemptions", "double", "Expected redemptions on orders that would have happened anyway",
        unit="orders"),
)

PROMO_EFFECTS = TableSpec(
    "truth",
    "promo_effects",
    description="Exact expected outcomes of every historical campaign's eligible customers with and without "
    "the promo (sendopt.world.promos.promo_outcomes): incremental orders = orders_with − orders_without.",
    columns=(
        col("campaign_id", "string", "Campaign", nullable=False),
        _USER,
        col("merchant_id", "long", "Merchant of the campaign", nullable=False),
        col("segment", "string", "new | active | churned (the world's segment at the start)"),
        col("offered", "boolean", "Offered in the historical log"),
        *_OUTCOMES,
    ),
    keys=("campaign_id", "user_id"),
)

RESPONSE_PARAMS = TableSpec(
    "truth",
    "response_params",
    description="Parameters of the true response functions (flattened world config), for audit.",
    columns=(
        col("param", "string", "Dotted config path, e.g. traits.fatigue_slope_mean", nullable=False),
        col("value", "string", "Value as JSON", nullable=False),
    ),
    keys=("param",),
)

TRUTH_TABLES = [USER_TRAITS, MCC_PAIRS, COUPON_EFFECTS, PROMO_EFFECTS, RESPONSE_PARAMS]
TABLES: list[TableSpec] = list(TRUTH_TABLES)
