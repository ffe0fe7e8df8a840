"""``world.shift``: weeks starting on or after its date get the extra unsubscribe logit, earlier ones none."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sendopt.world import truth
from sendopt.world.config import BehaviourShift, WorldConfig
from sendopt.world.model import build_world


def test_shift_adds_delta_and_scales_fatigue_from_its_date():
    tr = {"purchase_logit": np.array([-2.0]), "email_uplift": np.array([0.5]), "saturation": np.array([2.0]),
          "unsubscribe_logit": np.array([-6.0]), "fatigue_slope": np.array([0.3])}
    shift = BehaviourShift(date=dt.date(2026, 1, 15), unsubscribe_logit_delta=0.5, fatigue_multiplier=2.0)
    plain = build_world(WorldConfig(), [("north", "alpha")])
    shifted = build_world(WorldConfig(shift=shift), [("north", "alpha")])
    k, k_prev = 3.0, 2.0
    load = 0.3 * (k + WorldConfig().email.fatigue_memory * k_prev)

    def logit_ratio(world, day):
        p_buy, p_unsub = truth.email_probabilities(truth.NP, world, tr, k, k_prev, 0.0, 1.0, day)
        return float(np.log(p_unsub / (1 - p_buy - p_unsub))[0])  # unsubscribe logit vs no action

    before, after = 7.0, 14.0  # the shift date is day 14
    assert logit_ratio(shifted, before) == pytest.approx(logit_ratio(plain, before))
    assert logit_ratio(plain, after) == pytest.approx(-6.0 + load)
    assert logit_ratio(shifted, after) == pytest.approx(-6.0 + load + 0.5 + (2.0 - 1.0) * load)
    # without emails there is no unsubscribe, shift or not
    assert truth.email_probabilities(truth.NP, shifted, tr, 0.0, k_prev, 0.0, 1.0, after)[1][0] == 0.0
