"""The feature registry: every customer feature once, with a description, in model-input order.

Windowed features are declared as *measures* (what to count or sum, from which
table) and expanded over the configured windows, so ``orders_7d``,
``orders_28d`` and ``orders_91d`` share one definition. ``customer.py``
computes exactly the registry's columns (a test holds the two together).
"""
from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from sendopt.strict import Strict


class FeaturesConfig(Strict):
    """The ``features:`` config section."""

    windows: tuple[int, ...] = Field((7, 28, 91), min_length=1)
    categories: tuple[str, ...] = (
        "fashion", "electronics", "home", "beauty", "sports", "toys", "grocery", "books", "pets", "garden",
    )
    devices: tuple[str, ...] = ("ios", "android", "web")
    genders: tuple[str, ...] = ("female", "male", "other")
    correlation_threshold: float = Field(0.98, gt=0, le=1)
    min_importance_share: float = Field(0.002, ge=0, lt=1)

    @property
    def lookback(self) -> int:
        return max(self.windows)


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    categorical: bool = False


@dataclass(frozen=True)
class Measure:
    """A per-event quantity summed over each window (``value`` is a SQL expression)."""

    source: str  # catalog table
    name: str
    value: str
    description: str


MEASURES: tuple[Measure, ...] = (
    Measure("raw.orders", "orders", "1", "orders placed"),
    Measure("raw.orders", "revenue", "amount", "order value (currency)"),
    Measure("raw.orders", "email_orders", "cast(attributed_send_id is not null as int)", "orders attributed to an email"),
    Measure("raw.email_sends", "sends", "1", "marketing emails received"),
    Measure("raw.email_events", "opens", "cast(event_type = 'open' as int)", "email opens"),
    Measure("raw.email_events", "clicks", "cast(event_type = 'click' as int)", "email clicks"),
    Measure("raw.web_events", "page_views", "cast(event_type = 'page_view' as int)", "web/app page views"),
    Measure("raw.web_events", "add_to_carts", "cast(event_type = 'add_to_cart' as int)", "add-to-cart events"),
    Measure("raw.push_notifications", "pushes", "1", "push notifications received"),
    Measure("raw.push_notifications", "push_opens", "cast(opened_at < _snapshot_ts as int)", "push notifications opened"),
    Measure("raw.push_notifications", "push_clicks", "cast(clicked_at < _snapshot_ts as int)",
            "push notifications clicked"),
    Measure("raw.card_transactions", "card_txns", "1", "card transactions"),
    Measure("raw.card_transactions", "card_spend", "amount", "card spend (currency)"),
)

#: Days since the last event of a kind (null when none in the lookback). ``value`` is the SQL
#: date of the event; ``_snapshot_ts`` guards against opens/clicks that happened after the snapshot.
RECENCY: tuple[Measure, ...] = (
    Measure("raw.orders", "days_since_order", "event_date", "days since the last order"),
    Measure("raw.email_sends", "days_since_send", "event_date", "days since the last marketing email"),
    Measure("raw.email_events", "days_since_open", "if(event_type = 'open', event_date, null)",
            "days since the last email open"),
    Measure("raw.email_events", "days_since_click", "if(event_type = 'click', event_date, null)",
            "days since the last email click"),
    Measure("raw.web_events", "days_since_visit", "event_date", "days since the last web/app event"),
    Measure("raw.web_events", "days_since_add_to_cart", "if(event_type = 'add_to_cart', event_date, null)",
            "days since the last add-to-cart"),
    Measure("raw.push_notifications", "days_since_push_open",
            "if(opened_at < _snapshot_ts, to_date(opened_at), null)", "days since the last push open"),
    Measure("raw.card_transactions", "days_since_card_txn", "event_date", "days since the last card transaction"),
)

#: Ratios over each window: (name, numerator measure, denominator measure, description).
RATIOS: tuple[tuple[str, str, str, str], ...] = (
    ("open_rate", "opens", "sends", "email opens per email received"),
    ("click_rate", "clicks", "sends", "email clicks per email received"),
    ("aov", "revenue", "orders", "average order value"),
    ("push_open_rate", "push_opens", "pushes", "push opens per push received"),
    ("cart_to_order", "orders", "add_to_carts", "orders per add-to-cart (inverse of cart abandonment)"),
)


def feature_list(config: FeaturesConfig) -> list[Feature]:
    """All features in model-input order."""
    feats = [
        Feature("tenure_days", "days since signup at the snapshot"),
        Feature("age", "age in years at the snapshot (from birth year)"),
        Feature("device_code", f"main device, coded {dict(enumerate(config.devices))}", categorical=True),
        Feature("gender_code", f"gender, coded {dict(enumerate(config.genders))}", categorical=True),
    ]
    for w in config.windows:
        feats += [Feature(f"{m.name}_{w}d", f"{m.description} in the {w} days before the snapshot") for m in MEASURES]
        feats += [Feature(f"{r}_{w}d", f"{d} in the {w} days before the snapshot") for r, _, _, d in RATIOS]
    feats += [Feature(m.name, f"{m.description} (null: none in the lookback)") for m in RECENCY]
    lookback = config.lookback
    feats += [
        Feature(f"views_{c}_{lookback}d", f"page views in category {c} in the {lookback} days before the snapshot")
        for c in config.categories
    ]
    feats += [
        Feature(f"distinct_categories_{lookback}d", "distinct product categories ordered"),
        Feature(f"distinct_mcc_{lookback}d", "distinct merchant categories paid at by card"),
        Feature(f"sessions_{lookback}d", "distinct browsing sessions"),
        Feature("preferred_hour", "most frequent hour of web activity (UTC), null without activity"),
        Feature("preferred_dow", "most frequent weekday of web activity (1 = Sunday)", categorical=True),
        Feature("mobile_share", "share of web events from ios/android devices"),
        Feature("email_consent", "email consent at the snapshot (1/0)"),
        Feature("push_consent", "push consent at the snapshot (1/0)"),
    ]
    return feats


def feature_names(config: FeaturesConfig) -> list[str]:
    return [f.name for f in feature_list(config)]
