"""Upstream sources: the raw and reference tables sendopt reads, and the row rules they must pass.

The synthetic world writes these tables; in production upstream systems do. Each raw spec
carries its :class:`~sendopt.lake.spec.RawChecks`: which columns the validation rules of
``sendopt.lake.quality`` look at (event time, user key, amounts, MCC).
"""
from sendopt.lake.spec import RawChecks, TableSpec, col

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
    checks=RawChecks(event_time="signup_date"),
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
    checks=RawChecks(event_time="changed_at", user_key="user_id"),
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
    checks=RawChecks(user_key="user_id"),
)

EMAIL_SENDS = TableSpec(
    "raw",
    "email_sends",
    description="Marketing emails sent, with the logging policy that chose the user's weekly frequency and "
    "its assignment probability (1/8 in a uniform exploration holdout, the logged per-bin probability in a "
    "Thompson-allocated one, 1 under the fixed policy).",
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
    checks=RawChecks(event_time="sent_at", user_key="user_id"),
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
    checks=RawChecks(event_time="event_ts", user_key="user_id"),
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
    checks=RawChecks(event_time="order_ts", user_key="user_id", amounts=("amount",)),
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
    checks=RawChecks(event_time="event_ts", user_key="user_id"),
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
    checks=RawChecks(event_time="sent_at", user_key="user_id"),
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
    checks=RawChecks(event_time="txn_ts", user_key="user_id", amounts=("amount",), mcc="mcc"),
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
    checks=RawChecks(mcc="mcc"),
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
    checks=RawChecks(mcc="mcc"),
)

PROMO_CAMPAIGNS = TableSpec(
    "raw",
    "promo_campaigns",
    description="Merchant promo campaigns: discount, voucher, minimum spend, target segment, dates and the share "
    "of eligible customers offered it; historical campaigns and (source = plan) the designs of published plans.",
    columns=(
        col("campaign_id", "string", "Campaign id", nullable=False),
        col("merchant_id", "long", "Merchant running the campaign", nullable=False),
        _REGION,
        col("start_date", "date", "First day (inclusive)", nullable=False),
        col("end_date", "date", "Last day (inclusive)", nullable=False),
        col("discount_pct", "int", "Percentage discount on the basket (whole percent)", unit="%"),
        col("voucher_value", "double", "Fixed voucher amount off the basket", unit="currency"),
        col("min_spend", "double", "Minimum basket to redeem (0 = none)", unit="currency"),
        col("target_segment", "string", "all | new | active | churned (relative to the merchant) | plan"),
        col("offer_probability", "double", "Share of the eligible customers offered it (random)",
            unit="probability"),
        col("source", "string", "history | plan (played by simulate-outcomes from decisions.promo_assignments)"),
        col("request_id", "string", "Campaign request of a plan (null for history)"),
        col("design_id", "string", "Promo design of a plan (null for history)"),
    ),
    keys=("campaign_id",),
    checks=RawChecks(amounts=("voucher_value", "min_spend")),
)

PROMO_OFFERS = TableSpec(
    "raw",
    "promo_offers",
    description="Every ELIGIBLE customer of a campaign and whether they were offered it (at random with "
    "offer_probability): the offered are the treated, the others the logged control group.",
    columns=(
        col("campaign_id", "string", "Campaign", nullable=False),
        _USER,
        col("segment", "string", "new | active | churned for the merchant when the campaign started (card "
            "payments there before start_date: none, within world.promos.active_days, older)"),
        col("offered", "boolean", "Offered the promo (false: control)", nullable=False),
        col("offer_probability", "double", "Probability of being offered (the logged propensity)",
            unit="probability"),
        col("offered_at", "timestamp", "When the offer was sent (UTC); null when not offered"),
        col("event_date", "date", "The campaign's start date (partition column)", nullable=False),
    ),
    keys=("campaign_id", "user_id"),
    partition_by=("event_date",),
    checks=RawChecks(user_key="user_id"),
)

PROMO_REDEMPTIONS = TableSpec(
    "raw",
    "promo_redemptions",
    description="Orders paid with a promo: basket before discount (topped up to the minimum spend where the "
    "customer did so) and the discount; the card transaction txn_id carries the amount actually paid.",
    columns=(
        col("redemption_id", "string", "Unique redemption id", nullable=False),
        col("campaign_id", "string", "Campaign redeemed", nullable=False),
        _USER,
        col("merchant_id", "long", "Merchant of the campaign", nullable=False),
        col("store_id", "long", "Store where it was redeemed"),
        col("txn_id", "string", "The raw.card_transactions payment (amount = basket − discount)", nullable=False),
        col("redeemed_at", "timestamp", "Redemption time (UTC)", nullable=False),
        col("basket_amount", "double", "Basket value before discount", nullable=False, unit="currency"),
        col("discount_amount", "double", "Discount granted", nullable=False, unit="currency"),
        _EVENT_DATE,
    ),
    keys=("redemption_id",),
    partition_by=("event_date",),
    checks=RawChecks(event_time="redeemed_at", user_key="user_id", amounts=("basket_amount", "discount_amount")),
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
    checks=RawChecks(event_time="assigned_date", user_key="user_id", amounts=("coupon_level", "value_90d")),
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
    checks=RawChecks(event_time="assigned_date", user_key="user_id",
                     amounts=("coupon_level", "value_90d", "coupon_cost")),
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
    checks=RawChecks(event_time="signup_date", user_key="user_id"),
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

RAW_TABLES = [
    CUSTOMERS, CONSENTS, EMAIL_ASSIGNMENTS, EMAIL_SENDS, EMAIL_EVENTS, ORDERS, WEB_EVENTS, PUSH_NOTIFICATIONS, CARD_TRANSACTIONS,
    MERCHANTS, STORES, PROMO_CAMPAIGNS, PROMO_OFFERS, PROMO_REDEMPTIONS, COUPON_ASSIGNMENTS,
    COUPON_OBSERVATIONAL, SIGNUP_SESSIONS,
]
TABLES: list[TableSpec] = [*RAW_TABLES, MCC_CODES]

#: The row rules per raw table, as declared on the specs (the data dictionary lists them).
CHECKS: dict[str, RawChecks] = {s.full_name: s.checks for s in RAW_TABLES if s.checks is not None}
