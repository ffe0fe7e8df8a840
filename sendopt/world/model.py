"""The world's fixed structure, derived once from the config and shipped to every task.

``World`` holds what does not grow with users: the markets and their
behaviour, the calendar (seasonality per day), the MCC list and the merchant /
store layout as small numpy lookups. Generators are pure functions of
``(World, user indices)``, so a ``World`` is all an executor needs.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from sendopt.world.config import WorldConfig
from sendopt.world.rng import Rng

#: Upper bound on stores per merchant (store ids are ``merchant_id * STORE_SLOTS + j``).
STORE_SLOTS = 1000


@dataclass(frozen=True)
class Markets:
    regions: tuple[str, ...]
    brands: tuple[str, ...]
    weights: np.ndarray  # share of users per market
    purchase_shift: np.ndarray
    unsubscribe_shift: np.ndarray
    spend_shift: np.ndarray
    fixed_frequency: np.ndarray
    centre_lat: np.ndarray
    centre_lon: np.ndarray
    ios_share: np.ndarray
    currency: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.regions)


@dataclass(frozen=True)
class World:
    config: WorldConfig
    markets: Markets
    mccs: tuple[str, ...]
    mcc_weights: np.ndarray
    mcc_median_amount: np.ndarray
    merchant_region: np.ndarray  # region index into ``region_names`` per merchant
    merchant_mcc: np.ndarray  # index into ``mccs`` per merchant
    merchant_stores: np.ndarray  # number of stores per merchant
    region_names: tuple[str, ...]
    pair_src: np.ndarray = field(repr=False)  # planted pairs as mcc indices
    pair_dst: np.ndarray = field(repr=False)
    pair_window: np.ndarray = field(repr=False)
    pair_strength: np.ndarray = field(repr=False)

    @property
    def rng(self) -> Rng:
        return Rng(self.config.seed)

    @property
    def n_weeks(self) -> int:
        return -(-self.config.days // 7)

    def date_of(self, day: int) -> dt.date:
        return self.config.start_date + dt.timedelta(days=int(day))

    def day_of(self, date: dt.date) -> int:
        return (date - self.config.start_date).days

    # ------------------------------------------------------------------ calendar
    def season(self, day) -> np.ndarray:
        """Demand multiplier of a day index: weekday pattern × (1 + holiday lifts)."""
        day = np.asarray(day)
        dow = (self.config.start_date.weekday() + day) % 7
        factor = np.asarray(self.config.dow_factors)[dow]
        bump = np.zeros(day.shape)
        for h in self.config.holidays:
            hd = self.day_of(h.date)
            bump = bump + h.lift * ((day >= hd - h.days_before) & (day <= hd + h.days_after))
        return factor * (1.0 + bump)

    def week_season(self, week) -> np.ndarray:
        """Mean daily demand multiplier over a week (weeks start on ``start_date``)."""
        week = np.asarray(week)
        return self.season(week[..., None] * 7 + np.arange(7)).mean(axis=-1)

    # ------------------------------------------------------------------ merchants
    def merchants_for(self, region: np.ndarray, mcc: np.ndarray, pick: np.ndarray) -> np.ndarray:
        """The merchant a payment lands at: the ``pick``-th (mod count) merchant of (region, mcc)."""
        table, counts = self._merchant_table
        n = counts[region, mcc]
        return table[region, mcc, (pick % np.maximum(n, 1))]

    @property
    def _merchant_table(self) -> tuple[np.ndarray, np.ndarray]:
        cached = self.__dict__.get("_mt")
        if cached is None:
            n_r, n_m = len(self.region_names), len(self.mccs)
            lists = [[[] for _ in range(n_m)] for _ in range(n_r)]
            for m, (r, c) in enumerate(zip(self.merchant_region, self.merchant_mcc, strict=False)):
                lists[r][c].append(m)
            for r in range(n_r):  # a region without a merchant of an MCC borrows another region's
                for c in range(n_m):
                    if not lists[r][c]:
                        lists[r][c] = [m for rr in range(n_r) for m in lists[rr][c]] or [0]
            width = max(len(x) for row in lists for x in row)
            table = np.zeros((n_r, n_m, width), dtype=np.int64)
            counts = np.zeros((n_r, n_m), dtype=np.int64)
            for r in range(n_r):
                for c in range(n_m):
                    table[r, c, : len(lists[r][c])] = lists[r][c]
                    counts[r, c] = len(lists[r][c])
            cached = (table, counts)
            object.__setattr__(self, "_mt", cached)
        return cached


def build_world(config: WorldConfig, markets: list[tuple[str, str]]) -> World:
    """Derive the world's structure from the config and the configured (region, brand) markets."""
    regions_used = tuple(dict.fromkeys(r for r, _ in markets))
    missing = [r for r in regions_used if r not in config.regions] + [
        b for _, b in markets if b not in config.brands
    ]
    if missing:
        raise ValueError(f"world.regions/world.brands have no behaviour for {sorted(set(missing))}")
    rb = [(config.regions[r], config.brands[b]) for r, b in markets]
    weights = np.array([r.weight * b.weight for r, b in rb])
    mk = Markets(
        regions=tuple(r for r, _ in markets),
        brands=tuple(b for _, b in markets),
        weights=weights / weights.sum(),
        purchase_shift=np.array([r.purchase_shift + b.purchase_shift for r, b in rb]),
        unsubscribe_shift=np.array([r.unsubscribe_shift + b.unsubscribe_shift for r, b in rb]),
        spend_shift=np.array([r.spend_shift + b.spend_shift for r, b in rb]),
        fixed_frequency=np.array([b.email_fixed_frequency for _, b in rb]),
        centre_lat=np.array([r.centre_lat for r, _ in rb]),
        centre_lon=np.array([r.centre_lon for r, _ in rb]),
        ios_share=np.array([r.ios_share for r, _ in rb]),
        currency=tuple(r.currency for r, _ in rb),
    )
    cards = config.cards
    mccs = tuple(cards.mcc_weights)
    mcc_w = np.array([cards.mcc_weights[m] for m in mccs], dtype=float)
    amounts = np.array([cards.mcc_typical_amount.get(m, cards.default_amount) for m in mccs])

    rng = Rng(config.seed)
    n = config.merchants.count
    m_idx = np.arange(n)
    n_r, n_m = len(regions_used), len(mccs)
    covered = m_idx < n_r * n_m  # the first merchants cover every (region, MCC) pair once
    region = np.where(covered, m_idx % n_r, rng.integers("merchant.region", n_r, m_idx))
    mcc = np.where(covered, (m_idx // n_r) % n_m, rng.choice("merchant.mcc", mcc_w, m_idx))
    stores = np.minimum(1 + rng.poisson("merchant.stores", config.merchants.stores_mean - 1, m_idx), STORE_SLOTS)
    index = {m: i for i, m in enumerate(mccs)}
    pairs = config.cards.planted_pairs
    return World(
        config=config,
        markets=mk,
        mccs=mccs,
        mcc_weights=mcc_w / mcc_w.sum(),
        mcc_median_amount=amounts,
        merchant_region=region,
        merchant_mcc=mcc,
        merchant_stores=stores,
        region_names=regions_used,
        pair_src=np.array([index[p.mcc1] for p in pairs], dtype=np.int64),
        pair_dst=np.array([index[p.mcc2] for p in pairs], dtype=np.int64),
        pair_window=np.array([p.window_days for p in pairs], dtype=np.int64),
        pair_strength=np.array([p.strength for p in pairs]),
    )


def world_from(config) -> World:
    """``World`` for a root ``SendoptConfig`` (its ``world`` section and ``markets`` list)."""
    return build_world(config.world, [(m.region, m.brand) for m in config.markets])
