"""PSI on hand-computed histograms, and the Spark bucket shares that feed it."""
from __future__ import annotations

import math

import pytest

from sendopt.lifecycle.psi import bucket_shares, distribution_psi, frame_psi, psi, status


def test_psi_hand_computed():
    # (0.5-0.25)ln(0.5/0.25) + (0.25-0.25)ln1 + (0.25-0.5)ln(0.25/0.5) = 0.25 ln2 + 0.25 ln2 = 0.5 ln 2
    assert psi([0.25, 0.25, 0.5], [0.5, 0.25, 0.25]) == pytest.approx(0.5 * math.log(2), abs=1e-12)
    assert psi([0.1] * 10, [0.1] * 10) == 0.0


def test_psi_floors_empty_buckets():
    # an empty current bucket costs (eps - 0.5) ln(eps / 0.5), finite
    value = psi([0.5, 0.5], [1.0, 0.0], epsilon=1e-4)
    expected = (1.0 - 0.5) * math.log(1.0 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert value == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="same buckets"):
        psi([0.5, 0.5], [1.0])


def test_status_levels():
    assert [status(v, 0.1, 0.25) for v in (0.05, 0.1, 0.3, math.nan)] == ["ok", "warn", "alert", "unknown"]


def test_bucket_shares_and_frame_psi(spark):
    # x: 1,2,3,4 + a null → edges [2.5]: bucket 0 = {1,2}, bucket 1 = {3,4}; shares of all 5 rows
    df = spark.createDataFrame([(1.0,), (2.0,), (3.0,), (4.0,), (None,)], "x double")
    shares = bucket_shares(df, {"x": [2.5]})["x"]
    assert shares["shares"] == pytest.approx([0.4, 0.4]) and shares["null_share"] == pytest.approx(0.2)
    assert shares["rows"] == 5
    # an edge equal to a value puts the value below it (edges strictly below count): 2.0 → bucket 0
    assert bucket_shares(df, {"x": [2.0]})["x"]["shares"] == pytest.approx([0.4, 0.4])

    reference = {"x": {"edges": [2.5], "shares": [0.5, 0.5], "null_share": 0.0}}
    out = frame_psi(df, reference, epsilon=1e-4)["x"]
    expected = 2 * (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.2 - 1e-4) * math.log(0.2 / 1e-4)
    assert out["psi"] == pytest.approx(expected, rel=1e-9)
    assert distribution_psi(reference["x"], reference["x"]) == 0.0
