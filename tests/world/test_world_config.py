"""The world section of the config: YAML mirrors the model, and bad knobs are refused with a clear message."""
from __future__ import annotations

import iso18245
import pytest

from sendopt.config import load_config
from sendopt.errors import ConfigError
from sendopt.world.config import WorldConfig
from sendopt.world.model import build_world


def test_base_yaml_mirrors_the_model_defaults():
    assert load_config("local").world == WorldConfig()


def test_every_configured_mcc_is_a_real_code():
    codes = {m.mcc for m in iso18245.get_all_mccs()}
    cards = WorldConfig().cards
    assert set(cards.mcc_weights) <= codes
    assert set(cards.mcc_typical_amount) <= codes


def test_planted_pair_must_use_known_mccs():
    with pytest.raises(ConfigError, match="planted pair"):
        load_config("local", overrides=["world.cards.planted_pairs=[{mcc1: '7832', mcc2: '9999', strength: 0.3}]"])


def test_markets_need_behaviour_for_their_region_and_brand():
    with pytest.raises(ValueError, match="mars"):
        build_world(WorldConfig(), [("mars", "alpha")])


def test_market_shares_follow_region_and_brand_weights():
    world = build_world(WorldConfig(), [("north", "alpha"), ("south", "alpha"), ("south", "beta")])
    assert world.markets.weights.sum() == pytest.approx(1.0)
    assert world.markets.weights[1] > world.markets.weights[0] > world.markets.weights[2]
