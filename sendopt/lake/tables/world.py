"""Raw, reference, quarantine and truth tables of the synthetic world (and of real upstreams).

:data:`CHECKS` says, per raw table, which columns the validation rules of
``sendopt.lake.quality`` look at (event time, user key, amounts, MCC).
"""
from dataclasses import dataclass

from sendopt.lake.spec import TableSpec, col


@dataclass(frozen=True)
class RawChecks:
    """Which columns the row rules of ``sendopt.lake.quality`` look at, per raw table."""

    event_time: str | None = None  # not after the run date, not before the user's signup
    user_key: str | None = None  # must be a known customer
    amounts: tuple[str, ...] = ()  # must be >= 0
    mcc: str | None = None  # must be in reference.mcc_codes


_USER = col("user_id", "string", "Pseudonymous customer id (u + 16 hex)", nullable=False)
_REGION = col("region", "string", "Market region, e.g. north", nullable=False)
_BRAND = col("brand", "string", "Brand of the customer's account, e.g. alpha", nullable=False)
_EVENT_DATE = col("event_date", "date", "UTC date of the event (partition column)", nullable=False)

CUSTOMERS = TableSpec(
    "raw",
    "customers",
    description="One row per customer account: market, signup, demographics, device, home location and "
    "consents at signup (later changes are in raw.consents).",
    columns=(
        _USER,
        _REGION,
        _BRAND,
        col("signup_date", "date", "Date the account was created", nullable=False),
        col("birth_year", "int", "Year of birth (self-declared)", unit="year"),
        col("gender", "string", "female | male | other"),
        col("device", "string", "Main device: ios | android | web"),
        col("home_lat", "double", "Approximate home latitude", unit="degrees"),
        col("home_lon", "double", "Approximate home longitude", unit="degrees"),
        col("email_opt_in", "boolean", "Email marketing consent given at signup", nullable=False),
        col("push_opt_in", "boolean", "Push notification consent given at signup", nullable=False),
    ),
    keys=("user_id",),
)

CONSENTS = TableSpec(
    "raw",
    "consents",
    description="Consent changes after signup (email unsubscribes, push opt-outs); the latest row per user and "
    "channel is the current state, raw.customers holds the state at signup.",
    columns=(
        _USER,
        col("channel", "string", "email | push", nullable=False),
        col("consented", "boolean", "Consent after the change", nullable=False),
        col("changed_at", "timestamp", "When the change happened (UTC)", nullable=False),
        col("source", "string", "unsubscribe_link | app_settings"),
        _EVENT_DATE,
    ),
    keys=("user_id", "channel", "changed_at"),
    partition_by=("event_date",),
)

EMAIL_ASSIGNMENTS = TableSpec(
    "raw",
    "email_assignments",
    description="The email logging policy's record: the weekly frequency assigned to every emailable user-week "
    "(including 0 in the exploration holdout) with its assignment probability. Rows are written when the "
    "week starts; sends is the number actually sent in the week (fewer at signup or the end of the window).",
    columns=(
        _USER,
        _REGION,
        _BRAND,
        col("week_start", "date", "First day of the world-week", nullable=False),
        col("policy", "string", "fixed | exploration | decision", nullable=False),
        col("planned_frequency", "int", "Assigned weekly frequency", nullable=False, unit="emails/week"),
        col("assignment_prob", "double", "Probability of that assignment under the policy", unit="probability"),
        col("sends", "int", "Emails sent in the week", unit="emails"),
    ),
    keys=("user_id", "week_start"),
    partition_by=("week_start",),
)

EMAIL_SENDS = TableSpec(
    "raw",
    "email_sends",
    description="Marketing emails sent, with the logging policy that chose the user's weekly frequency and "
    "its assignment probability (1/8 in the exploration holdout, 1 under the fixed policy).",
    columns=(
        col("send_id", "string", "Unique send id", nullable=False),
        _USER,
        _REGION,
        _BRAND,
        col("sent_at", "timestamp", "Send time (UTC)", nullable=False),
        col("week_start", "date", "First day of the world-week (weeks start on world.start_date)", nullable=False),
        col("policy", "string", "fixed | exploration | decision (simulate-outcomes)", nullable=False),
        col("planned_frequency", "int", "Weekly frequency the policy assigned for this week", unit="emails/week"),
        col("assignment_prob", "double", "Probability the policy assigned that frequency", unit="probability"),
        _EVENT_DATE,
    ),
    keys=("send_id",),
    partition_by=("event_date",),
)

EMAIL_EVENTS = TableSpec(
    "raw",
    "email_events",
    description="Engagement with sent emails: open, click, unsubscribe (always after the send).",
    columns=(
        col("event_id", "string", "Unique event id", nullable=False),
        col("send_id", "string", "The email this event belongs to", nullable=False),
        _USER,
        col("event_type", "string", "open | click | unsubscribe", nullable=False),
        col("event_ts", "timestamp", "Event time (UTC)", nullable=False),
        _EVENT_DATE,
    ),
    keys=("event_id",),
    partition_by=("event_date",),
)

ORDERS = TableSpec(
    "raw",
    "orders",
    description="Online orders; attributed_send_id is set when the order followed a click on that email.",
    columns=(
        col("order_id", "string", "Unique order id", nullable=False),
        _USER,
        _REGION,
        _BRAND,
        col("order_ts", "timestamp", "Order time (UTC)", nullable=False),
        col("amount", "double", "Order value incl. tax", nullable=False, unit="currency"),
        col("currency", "string", "ISO 4217 currency code"),
        col("category", "string", "Main product category of the basket"),
        col("attributed_send_id", "string", "Email send credited with the order, null if organic"),
        _EVENT_DATE,
    ),
    keys=("order_id",),
    partition_by=("event_date",),
)

WEB_EVENTS = TableSpec(
    "raw",
    "web_events",
    description="Site/app browsing: page views and add-to-cart by product category, grouped in sessions.",
    columns=(
        col("event_id", "string", "Unique event id", nullable=False),
        _USER,
        col("session_id", "string", "Browsing session", nullable=False),
        col("event_ts", "timestamp", "Event time (UTC)", nullable=False),
        col("event_type", "string", "page_view | add_to_cart", nullable=False),
        col("category", "string", "Product category viewed"),
        col("device", "string", "ios | android | web"),
        _EVENT_DATE,
    ),
    keys=("event_id",),
    partition_by=("event_date",),
)

PUSH_NOTIFICATIONS = TableSpec(
    "raw",
    "push_notifications",
    description="Push notifications sent under the logging policy (strategy, store, send hour) with their "
    "open and click times (null when not opened / clicked).",
    columns=(
        col("push_id", "string", "Unique notification id", nullable=False),
        _USER,
        _REGION,
        _BRAND,
        col("sent_at", "timestamp", "Send time (UTC)", nullable=False),
        col("send_hour", "int", "Hour of day the notification was sent", unit="hour (0-23, UTC)"),
        col("strategy", "string", "mcc_affinity | online_to_offline | generic", nullable=False),
        col("merchant_id", "long", "Promoted merchant"),
        col("store_id", "long", "Promoted store"),
        col("policy", "string", "logging | decision (simulate-outcomes)", nullable=False),
        col("opened_at", "timestamp", "Open time, null if not opened"),
        col("clicked_at", "timestamp", "Click time, null if not clicked"),
        _EVENT_DATE,
    ),
    keys=("push_id",),
    partition_by=("event_date",),
)

CARD_TRANSACTIONS = TableSpec(
    "raw",
    "card_transactions",
    description="Card payments at physical stores: merchant, store, MCC (ISO 18245), amount, place.",
    columns=(
        col("txn_id", "string", "Unique transaction id", nullable=False),
        _USER,
        col("txn_ts", "timestamp", "Authorisation time (UTC)", nullable=False),
        col("merchant_id", "long", "Merchant (raw.merchants)", nullable=False),
        col("store_id", "long", "Store (raw.stores)", nullable=False),
        col("mcc", "string", "Merchant category code (4 digits)", nullable=False),
        col("amount", "double", "Amount paid", nullable=False, unit="currency"),
        col("currency", "string", "ISO 4217 currency code"),
        col("lat", "double", "Store latitude", unit="degrees"),
        col("lon", "double", "Store longitude", unit="degrees"),
        _EVENT_DATE,
    ),
    keys=("txn_id",),
    partition_by=("event_date",),
)

MERCHANTS = TableSpec(
    "raw",
    "merchants",
    description="Merchants accepting card payments, one MCC and home region each.",
    columns=(
        col("merchant_id", "long", "Merchant id", nullable=False),
        col("merchant_name", "string", "Display name"),
        col("mcc", "string", "Merchant category code", nullable=False),
        _REGION,
    ),
    keys=("merchant_id",),
)

STORES = TableSpec(
    "raw",
    "stores",
    description="Physical stores of merchants with location.",
    columns=(
        col("store_id", "long", "Store id (merchant_id × 1000 + n)", nullable=False),
        col("merchant_id", "long", "Owning merchant", nullable=False),
        col("mcc", "string", "Merchant category code", nullable=False),
        _REGION,
        col("lat", "double", "Latitude", unit="degrees"),
        col("lon", "double", "Longitude", unit="degrees"),
    ),
    keys=("store_id",),
)

PROMO_CAMPAIGNS = TableSpec(
    "raw",
    "promo_campaigns",
    description="Merchant promo campaigns: discount, voucher, minimum spend, target segment, dates.",
    columns=(
        col("campaign_id", "string", "Campaign id", nullable=False),
        col("merchant_id", "long", "Merchant running the campaign", nullable=False),
        _REGION,
        col("start_date", "date", "First day (inclusive)", nullable=False),
        col("end_date", "date", "Last day (inclusive)", nullable=False),
        col("discount_pct", "int", "Percentage discount on the basket", unit="%"),
        col("voucher_value", "double", "Fixed voucher amount", unit="currency"),
        col("min_spend", "double", "Minimum basket to redeem", unit="currency"),
        col("target_segment", "string", "all | new | active | churned (relative to the merchant)"),
    ),
    keys=("campaign_id",),
)

PROMO_OFFERS = TableSpec(
    "raw",
    "promo_offers",
    description="Which users were offered which campaign (the exposure log; negatives for redemption models).",
    columns=(
        col("campaign_id", "string", "Campaign offered", nullable=False),
        _USER,
        col("offered_at", "timestamp", "When the offer was shown (UTC)", nullable=False),
        _EVENT_DATE,
    ),
    keys=("campaign_id", "user_id"),
    partition_by=("event_date",),
)

PROMO_REDEMPTIONS = TableSpec(
    "raw",
    "promo_redemptions",
    description="Redeemed promo offers with basket size and discount granted.",
    columns=(
        col("redemption_id", "string", "Unique redemption id", nullable=False),
        col("campaign_id", "string", "Campaign redeemed", nullable=False),
        _USER,
        col("store_id", "long", "Store where it was redeemed"),
        col("redeemed_at", "timestamp", "Redemption time (UTC)", nullable=False),
        col("basket_amount", "double", "Basket value before discount", nullable=False, unit="currency"),
        col("discount_amount", "double", "Discount granted", nullable=False, unit="currency"),
        _EVENT_DATE,
    ),
    keys=("redemption_id",),
    partition_by=("event_date",),
)

COUPON_ASSIGNMENTS = TableSpec(
    "raw",
    "coupon_assignments",
    description="Randomized coupon trial for new users: level assigned uniformly at signup, conversion within "
    "30 days and gross value over 90 days as outcomes.",
    columns=(
        _USER,
        col("assigned_date", "date", "Signup day, when the coupon was granted", nullable=False),
        col("coupon_level", "double", "Coupon value (0 = control)", nullable=False, unit="currency"),
        col("assignment_prob", "double", "Probability of the assigned level", unit="probability"),
        col("converted", "boolean", "Made a first purchase within 30 days", nullable=False),
        col("converted_date", "date", "Date of the first purchase, null if none"),
        col("value_90d", "double", "Gross value in the 90 days after signup", nullable=False, unit="currency"),
        col("coupon_cost", "double", "Face value paid when the converted customer redeemed the coupon (0 if "
            "none)", unit="currency"),
    ),
    keys=("user_id",),
)

COUPON_OBSERVATIONAL = TableSpec(
    "raw",
    "coupon_observational",
    description="Coupons of the period before the trial: levels chosen by a business rule on signup "
    "observables (confounded), no assignment probability logged; same outcomes as the trial.",
    columns=(
        _USER,
        col("assigned_date", "date", "Signup day, when the coupon was granted", nullable=False),
        col("coupon_level", "double", "Coupon value (0 = none)", nullable=False, unit="currency"),
        col("converted", "boolean", "Made a first purchase within 30 days", nullable=False),
        col("converted_date", "date", "Date of the first purchase, null if none"),
        col("value_90d", "double", "Gross value in the 90 days after signup", nullable=False, unit="currency"),
        col("coupon_cost", "double", "Face value paid when redeemed (0 if none)", unit="currency"),
    ),
    keys=("user_id",),
)

SIGNUP_SESSIONS = TableSpec(
    "raw",
    "signup_sessions",
    description="What was recorded at signup and in the first session of customers who signed up in the "
    "coupon periods (before any coupon): acquisition channel, pages viewed, add-to-cart.",
    columns=(
        _USER,
        col("signup_date", "date", "Date the account was created", nullable=False),
        col("acquisition_channel", "string", "organic | paid_social | search | referral | affiliate"),
        col("first_session_pages", "int", "Pages viewed in the first session", unit="pages"),
        col("first_session_add_to_cart", "boolean", "Added something to the cart in the first session"),
    ),
    keys=("user_id",),
)

MCC_CODES = TableSpec(
    "reference",
    "mcc_codes",
    description="Merchant category codes of ISO 18245 (from the iso18245 package); transactions are "
    "validated against it.",
    columns=(
        col("mcc", "string", "4-digit code", nullable=False),
        col("description", "string", "ISO (or network) description"),
        col("range_description", "string", "Description of the ISO range the code belongs to"),
        col("reserved", "boolean", "Code lies in a range reserved for private use"),
    ),
    keys=("mcc",),
)

QUARANTINE_RAW_ROWS = TableSpec(
    "quarantine",
    "raw_rows",
    description="Raw rows that failed validation, with the first rule they failed; raw = clean + quarantined. "
    "No key: every failing copy of a duplicated row is its own row here.",
    columns=(
        col("source_table", "string", "Raw table the row came from, e.g. raw.orders", nullable=False),
        col("rule", "string", "Failed rule: null_key | duplicate_key | negative_amount | future_timestamp | "
            "before_signup | unknown_mcc | unknown_user", nullable=False),
        col("row_key", "string", "Key columns as k=v|k=v (null keys shown as null)"),
        col("row_json", "string", "The whole raw row as JSON", nullable=False),
        col("run_id", "string", "validate-raw run that found it", nullable=False),
        col("detected_at", "timestamp", "When it was found (UTC)", nullable=False),
        col("run_date", "date", "Business date validated (partition column)", nullable=False),
    ),
    partition_by=("run_date", "source_table"),
)

# ------------------------------------------------------------------ truth
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
        col("population", "string", "trial | observational"),
    ),
    keys=("user_id", "coupon_level"),
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

RAW_TABLES = [
    CUSTOMERS, CONSENTS, EMAIL_ASSIGNMENTS, EMAIL_SENDS, EMAIL_EVENTS, ORDERS, WEB_EVENTS, PUSH_NOTIFICATIONS, CARD_TRANSACTIONS,
    MERCHANTS, STORES, PROMO_CAMPAIGNS, PROMO_OFFERS, PROMO_REDEMPTIONS, COUPON_ASSIGNMENTS,
    COUPON_OBSERVATIONAL, SIGNUP_SESSIONS,
]
TRUTH_TABLES = [USER_TRAITS, MCC_PAIRS, COUPON_EFFECTS, RESPONSE_PARAMS]
TABLES: list[TableSpec] = [*RAW_TABLES, MCC_CODES, QUARANTINE_RAW_ROWS, *TRUTH_TABLES]

#: Columns the validation rules check, per raw table (keys come from the specs).
CHECKS: dict[str, RawChecks] = {
    CUSTOMERS.full_name: RawChecks(event_time="signup_date"),
    CONSENTS.full_name: RawChecks(event_time="changed_at", user_key="user_id"),
    EMAIL_ASSIGNMENTS.full_name: RawChecks(user_key="user_id"),  # a week may start before a mid-week signup
    EMAIL_SENDS.full_name: RawChecks(event_time="sent_at", user_key="user_id"),
    EMAIL_EVENTS.full_name: RawChecks(event_time="event_ts", user_key="user_id"),
    ORDERS.full_name: RawChecks(event_time="order_ts", user_key="user_id", amounts=("amount",)),
    WEB_EVENTS.full_name: RawChecks(event_time="event_ts", user_key="user_id"),
    PUSH_NOTIFICATIONS.full_name: RawChecks(event_time="sent_at", user_key="user_id"),
    CARD_TRANSACTIONS.full_name: RawChecks(event_time="txn_ts", user_key="user_id", amounts=("amount",), mcc="mcc"),
    MERCHANTS.full_name: RawChecks(mcc="mcc"),
    STORES.full_name: RawChecks(mcc="mcc"),
    PROMO_CAMPAIGNS.full_name: RawChecks(amounts=("voucher_value", "min_spend")),
    PROMO_OFFERS.full_name: RawChecks(event_time="offered_at", user_key="user_id"),
    PROMO_REDEMPTIONS.full_name: RawChecks(
        event_time="redeemed_at", user_key="user_id", amounts=("basket_amount", "discount_amount")
    ),
    COUPON_ASSIGNMENTS.full_name: RawChecks(
        event_time="assigned_date", user_key="user_id", amounts=("coupon_level", "value_90d")
    ),
    COUPON_OBSERVATIONAL.full_name: RawChecks(
        event_time="assigned_date", user_key="user_id", amounts=("coupon_level", "value_90d", "coupon_cost")
    ),
    SIGNUP_SESSIONS.full_name: RawChecks(event_time="signup_date", user_key="user_id"),
}
