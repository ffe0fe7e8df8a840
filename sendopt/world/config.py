"""Typed configuration of the synthetic world (the ``world:`` section of the YAML).

Every behavioural knob of the generator lives here with its default, and is
mirrored in ``conf/base.yaml`` so an analyst can see and override it. Markets
themselves (which region/brand pairs exist) come from the root ``markets:``
list; this section only says how customers in each region and brand behave.
"""
from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from sendopt.strict import Strict


class RegionBehaviour(Strict):
    """How customers of one region differ (added to logits / multiplied into rates)."""

    weight: float = Field(1.0, gt=0, description="relative number of customers")
    purchase_shift: float = Field(0.0, description="added to the weekly purchase logit")
    unsubscribe_shift: float = Field(0.0, description="added to the weekly unsubscribe logit")
    spend_shift: float = Field(0.0, description="added to the log of order amounts")
    centre_lat: float = 0.0
    centre_lon: float = 0.0
    ios_share: float = Field(0.5, ge=0, le=1)
    currency: str = "EUR"


class BrandBehaviour(Strict):
    """How customers of one brand differ."""

    weight: float = Field(1.0, gt=0)
    purchase_shift: float = 0.0
    unsubscribe_shift: float = 0.0
    spend_shift: float = 0.0
    email_fixed_frequency: int = Field(3, ge=0, le=7, description="emails/week of the historical fixed policy")


class BehaviourShift(Strict):
    """A change of email behaviour from a date on — the drift scenario of the lifecycle monitors.

    In world-weeks starting on or after ``date`` the weekly unsubscribe logit of a user-week with
    emails gains ``unsubscribe_logit_delta`` and the fatigue slope is multiplied by ``fatigue_multiplier``.
    """

    date: dt.date
    unsubscribe_logit_delta: float = 0.0
    fatigue_multiplier: float = Field(1.0, ge=0)


class Holiday(Strict):
    """A demand bump: purchase intensity × (1 + lift) from ``days_before`` to ``days_after`` the date."""

    date: dt.date
    lift: float = Field(0.5, ge=0)
    days_before: int = Field(3, ge=0)
    days_after: int = Field(0, ge=0)


class TraitsConfig(Strict):
    """Latent traits: population means / spreads (logit scale unless stated)."""

    purchase_logit: float = -2.6
    purchase_sd: float = 0.8
    email_uplift_mean: float = 0.9
    email_uplift_sd: float = 0.5
    saturation_mean: float = 2.0
    unsubscribe_logit: float = -6.0
    unsubscribe_sd: float = 0.6
    fatigue_slope_mean: float = 0.28
    fatigue_slope_sd: float = 0.4
    engagement_corr: float = Field(0.5, ge=-1, le=1, description="corr(email engagement, purchase propensity)")
    open_logit: float = -1.2
    open_sd: float = 0.9
    click_logit: float = -1.8
    spend_log_mu: float = 3.7
    spend_log_sd: float = 0.35
    spend_log_sigma: float = 0.7
    mean_active_days: float = Field(150.0, gt=0, description="mean remaining active life before decay starts")
    dormant_share: float = Field(0.15, ge=0, le=1, description="existing users already decaying at the start")
    decay_days: float = Field(21.0, gt=0, description="e-folding time of engagement once decay starts")
    activity_floor: float = Field(0.03, ge=0, le=1)
    signup_age_mean_days: float = Field(400.0, gt=0, description="existing users: mean days since signup")
    signup_age_max_days: int = Field(5 * 365, ge=1, description="existing users: at most this many days")
    age_min: int = Field(18, ge=0, description="youngest customer (years)")
    age_max: int = Field(90, ge=1, description="oldest customer (years)")
    age_mean_excess: float = Field(17.0, gt=0, description="mean years above age_min (exponential)")
    age_purchase_slope: float = Field(0.01, description="purchase logit lost per year above age_pivot")
    age_pivot: int = Field(40, description="the age with no age effect")
    preferred_hour_mean: float = Field(12.0, ge=0, le=23, description="mean preferred contact hour")
    preferred_hour_sd: float = Field(3.5, ge=0)
    preferred_hour_range: tuple[int, int] = Field((7, 22), description="preferred hours are clipped to this")


class EmailConfig(Strict):
    opt_in_share: float = Field(0.9, ge=0, le=1, description="users giving email consent at signup")
    fatigue_memory: float = Field(0.3, ge=0, le=1, description="weight of last week's sends in the fatigue load")
    extra_orders_mean: float = Field(0.3, ge=0, description="Poisson mean of extra orders in a purchase week")
    send_hour: int = Field(9, ge=0, le=23)
    exploration_max_frequency: int = Field(7, ge=1, le=7)


class WebConfig(Strict):
    sessions_per_day: float = Field(0.08, gt=0)
    events_per_session: float = Field(3.0, gt=0)
    add_to_cart_rate: float = Field(0.12, ge=0, le=1)
    favourite_share: float = Field(0.6, ge=0, le=1, description="share of browsing in the favourite category")
    session_hour_mean: float = Field(20.0, ge=0, le=23.5, description="mean start hour of a web session")
    session_hour_sd: float = Field(3.5, ge=0)


class PushConfig(Strict):
    opt_in_share: float = Field(0.6, ge=0, le=1)
    opt_out_share: float = Field(0.1, ge=0, le=1, description="share of opted-in users opting out in the window")
    per_day: float = Field(0.12, ge=0, le=1, description="historical policy: send probability per user-day")
    hours: tuple[int, int] = (8, 21)
    open_logit: float = -2.0
    hour_match_bonus: float = 0.8
    fatigue_per_push: float = 0.25
    click_given_open: float = Field(0.3, ge=0, le=1, description="P(click | open) of an irrelevant store at 0 km")
    strategies: tuple[str, ...] = ("mcc_affinity", "online_to_offline", "generic")
    relevance_days: int = Field(3, ge=1, le=14, description="look-back of the interests that make a store relevant")
    pair_click_bonus: float = Field(
        1.2, description="click|open logit gain when the store's MCC is a planted follow-up of an MCC paid at in "
        "the previous relevance_days days")
    category_click_bonus: float = Field(
        0.9, description="click|open logit gain when the store's category was browsed online in the previous "
        "relevance_days days")
    distance_click_per_10km: float = Field(0.3, ge=0, description="click|open logit loss per 10 km from home")
    distance_cap_km: float = Field(40.0, gt=0, description="distance beyond which the loss stops growing")
    mcc_categories: dict[str, str] = Field(
        default_factory=lambda: {
            "5691": "fashion", "5661": "fashion", "5311": "fashion", "5732": "electronics", "5200": "home",
            "5251": "garden", "5977": "beauty", "7230": "beauty", "5945": "toys", "5411": "grocery",
            "5499": "grocery", "5942": "books", "0742": "pets", "5995": "pets",
        },
        description="product category (world.categories) a store of the MCC sells; unlisted MCCs sell none",
    )


class PlantedPair(Strict):
    """After a payment at ``mcc1`` the customer pays at ``mcc2`` within ``window_days`` with prob ``strength``."""

    mcc1: str = Field(pattern=r"^\d{4}$")
    mcc2: str = Field(pattern=r"^\d{4}$")
    window_days: int = Field(3, ge=1, le=14)
    strength: float = Field(ge=0, le=1)


class CardsConfig(Strict):
    holder_share: float = Field(0.7, ge=0, le=1)
    tx_per_day: float = Field(0.3, gt=0)
    loyalty: float = Field(0.7, ge=0, le=1, description="prob. of paying at one's usual merchant of an MCC")
    mcc_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "5411": 20, "5812": 10, "5814": 8, "5541": 7, "5912": 4, "5311": 3, "5691": 3, "5732": 2,
            "5942": 1.5, "5813": 4, "4121": 3, "4111": 6, "7832": 1.5, "5661": 1.5, "5995": 1.5,
            "5999": 3, "7230": 2, "5200": 1.5, "5251": 1.5, "5462": 3, "5499": 4, "5977": 1.5,
            "5921": 2, "5945": 1, "5441": 1.5, "0742": 0.8,
        },
    )
    mcc_typical_amount: dict[str, float] = Field(
        default_factory=lambda: {"5411": 45, "5812": 35, "5814": 12, "5541": 55, "5732": 180, "5311": 70,
                                 "5691": 80, "4121": 22, "4111": 4, "5200": 90, "5251": 40},
        description="median amount by MCC; others use default_amount",
    )
    default_amount: float = 30.0
    amount_sigma: float = 0.8
    planted_pairs: tuple[PlantedPair, ...] = (
        PlantedPair(mcc1="7832", mcc2="5813", window_days=1, strength=0.5),
        PlantedPair(mcc1="5995", mcc2="0742", window_days=3, strength=0.35),
        PlantedPair(mcc1="5661", mcc2="5691", window_days=3, strength=0.25),
        PlantedPair(mcc1="5251", mcc2="5200", window_days=5, strength=0.15),
        PlantedPair(mcc1="4121", mcc2="5812", window_days=2, strength=0.08),
        PlantedPair(mcc1="5942", mcc2="5945", window_days=7, strength=0.04),
    )


class MerchantsConfig(Strict):
    count: int = Field(400, ge=1)
    stores_mean: float = Field(3.0, gt=0)
    store_spread_deg: float = Field(0.4, gt=0, description="sd of store/home coordinates around the region centre")


class PromoConfig(Strict):
    campaigns: int = Field(60, ge=0)
    lead_days: int = Field(14, ge=0, description="campaigns start at least this many days after the window starts "
                           "and before it ends (history before, room after)")
    min_length_days: int = Field(6, ge=0, description="a campaign runs this many days plus a uniform extra")
    extra_length_days: int = Field(15, ge=1, description="the extra is uniform in [0, this)")
    discount_pcts: tuple[int, ...] = (5, 10, 15, 20, 30)
    voucher_values: tuple[float, ...] = (0.0, 5.0, 10.0)
    min_spends: tuple[float, ...] = (0.0, 20.0, 40.0)
    segments: tuple[str, ...] = ("all", "new", "active", "churned")
    offer_probabilities: tuple[float, ...] = Field(
        (0.2, 0.3, 0.5), description="a campaign offers the promo to each eligible customer with one of these "
        "probabilities (drawn per campaign, logged); the others are the control group")
    active_days: int = Field(30, ge=1, description="a user is 'active' for a merchant with a payment this recent")
    near_share: float = Field(0.7, ge=0, le=1, description="an order whose basket is at least this share of the "
                              "minimum spend can use the promo (topped up to it); further below it cannot")
    max_strength: float = Field(1.0, gt=0, description="cap of the offer strength pct/100 + voucher/median basket")
    redeem_logit: float = Field(-1.5, description="subsidy: logit that a usable order that would have happened "
                                "anyway is paid with the promo, before sensitivity and strength")
    redeem_sensitivity_coef: float = Field(2.0, description="subsidy logit per unit of sensitivity")
    redeem_strength_coef: float = Field(4.0, description="subsidy logit per unit of offer strength")
    lift_max: dict[str, float] = Field(
        default_factory=lambda: {"new": 1.2, "active": 0.12, "churned": 0.8},
        description="incremental orders per expected payment at the merchant's MCC, at full response and "
        "sensitivity 1, per segment")
    lift_midpoint: dict[str, float] = Field(
        default_factory=lambda: {"new": 0.3, "active": 0.1, "churned": 0.15},
        description="offer strength at half the segment's response (new customers need strong first-order "
        "offers, churned a medium reactivation offer)")
    lift_steepness: float = Field(12.0, gt=0, description="slope of the logistic response in the offer strength")
    sensitivity_region_shift: dict[str, float] = Field(
        default_factory=lambda: {"north": -0.4, "south": 0.4},
        description="added to the logit of a customer's discount sensitivity by region (the cold-start prior)")
    sensitivity_device_shift: dict[str, float] = Field(
        default_factory=lambda: {"ios": -0.3, "android": 0.3, "web": 0.0},
        description="added to the logit of a customer's discount sensitivity by device")

    @model_validator(mode="after")
    def _check(self) -> PromoConfig:
        for name in ("lift_max", "lift_midpoint"):
            if set(getattr(self, name)) != {"new", "active", "churned"}:
                raise ValueError(f"world.promos.{name} needs exactly the segments new, active, churned")
        if not self.offer_probabilities or not all(0 < p <= 1 for p in self.offer_probabilities):
            raise ValueError("world.promos.offer_probabilities must be probabilities in (0, 1]")
        bad = set(self.sensitivity_device_shift) - {"ios", "android", "web"}
        if bad:
            raise ValueError(f"world.promos.sensitivity_device_shift: unknown devices {sorted(bad)}")
        return self


class CouponConfig(Strict):
    levels: tuple[float, ...] = (0.0, 5.0, 10.0, 20.0)
    type_shares: dict[str, float] = Field(
        default_factory=lambda: {"sure_thing": 0.2, "persuadable": 0.35, "lost_cause": 0.35, "sleeping_dog": 0.1}
    )
    base_convert: dict[str, float] = Field(
        default_factory=lambda: {"sure_thing": 0.6, "persuadable": 0.06, "lost_cause": 0.02, "sleeping_dog": 0.35}
    )
    max_convert: dict[str, float] = Field(
        default_factory=lambda: {"sure_thing": 0.65, "persuadable": 0.55, "lost_cause": 0.03, "sleeping_dog": 0.15}
    )
    value_log_mu: float = 4.0
    value_log_sigma: float = 0.8
    acquisition_shares: dict[str, float] = Field(
        default_factory=lambda: {"organic": 0.3, "paid_social": 0.25, "search": 0.2, "referral": 0.1,
                                 "affiliate": 0.15},
        description="acquisition channel of a signup (observable in raw.signup_sessions)")
    observable_strength: float = Field(
        2.5, ge=0, description="how strongly type, threshold and value follow the signup observables "
        "(0: independent of everything the lake records, as before)")
    observational_days: int = Field(
        60, ge=0, description="days before the window whose signups got coupons by the business rule "
        "(raw.coupon_observational, no logged propensity)")
    observational_noise: float = Field(
        0.1, ge=0, le=1, description="share of observational signups whose level was drawn uniformly instead "
        "of by the rule (unlogged)")


class WorldConfig(Strict):
    seed: int = 7
    users: int = Field(5_000, ge=10)
    days: int = Field(90, ge=7)
    start_date: dt.date = dt.date(2026, 1, 1)
    exploration_share: float = Field(0.25, ge=0.0, le=1.0)
    users_per_partition: int = Field(50_000, ge=100, description="Spark partitions of the generator")
    new_user_share: float = Field(0.15, ge=0, le=1, description="users who sign up inside the window")
    regions: dict[str, RegionBehaviour] = Field(
        default_factory=lambda: {
            "north": RegionBehaviour(weight=1.0, purchase_shift=0.1, unsubscribe_shift=-0.2, spend_shift=0.15,
                                     centre_lat=59.33, centre_lon=18.07, ios_share=0.6, currency="SEK"),
            "south": RegionBehaviour(weight=1.5, purchase_shift=-0.1, unsubscribe_shift=0.2, spend_shift=-0.1,
                                     centre_lat=41.39, centre_lon=2.17, ios_share=0.4, currency="EUR"),
        }
    )
    brands: dict[str, BrandBehaviour] = Field(
        default_factory=lambda: {
            "alpha": BrandBehaviour(weight=1.0, email_fixed_frequency=3),
            "beta": BrandBehaviour(weight=0.6, purchase_shift=0.25, unsubscribe_shift=0.3, spend_shift=0.3,
                                   email_fixed_frequency=2),
        }
    )
    dow_factors: tuple[float, ...] = Field((0.95, 0.9, 0.9, 0.95, 1.05, 1.2, 1.05), min_length=7, max_length=7)
    holidays: tuple[Holiday, ...] = (
        Holiday(date=dt.date(2026, 2, 14), lift=0.6, days_before=4),
        Holiday(date=dt.date(2026, 4, 5), lift=0.5, days_before=5, days_after=1),
        Holiday(date=dt.date(2026, 11, 27), lift=1.5, days_before=1, days_after=3),
        Holiday(date=dt.date(2026, 12, 24), lift=1.0, days_before=14),
    )
    categories: tuple[str, ...] = (
        "fashion", "electronics", "home", "beauty", "sports", "toys", "grocery", "books", "pets", "garden",
    )
    traits: TraitsConfig = TraitsConfig()
    email: EmailConfig = EmailConfig()
    web: WebConfig = WebConfig()
    push: PushConfig = PushConfig()
    cards: CardsConfig = CardsConfig()
    merchants: MerchantsConfig = MerchantsConfig()
    promos: PromoConfig = PromoConfig()
    coupons: CouponConfig = CouponConfig()
    shift: BehaviourShift | None = Field(None, description="behaviour shift at a date (drift)")

    @model_validator(mode="after")
    def _check(self) -> WorldConfig:
        known = set(self.cards.mcc_weights)
        for pair in self.cards.planted_pairs:
            missing = {pair.mcc1, pair.mcc2} - known
            if missing:
                raise ValueError(f"planted pair {pair.mcc1}->{pair.mcc2}: {sorted(missing)} not in cards.mcc_weights")
        if abs(sum(self.coupons.type_shares.values()) - 1.0) > 1e-6:
            raise ValueError("coupons.type_shares must sum to 1")
        if abs(sum(self.coupons.acquisition_shares.values()) - 1.0) > 1e-6:
            raise ValueError("coupons.acquisition_shares must sum to 1")
        if self.push.hours[0] > self.push.hours[1]:
            raise ValueError("push.hours must be (first, last)")
        bad = {m: c for m, c in self.push.mcc_categories.items() if m not in known or c not in self.categories}
        if bad:
            raise ValueError(f"push.mcc_categories: unknown MCC or category in {bad}")
        return self
