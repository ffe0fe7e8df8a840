"""The world's jobs through the CLI on a tiny lake: generate, validate, simulate (idempotent)."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from sendopt.catalog import CATALOG, open_lake
from sendopt.cli import main
from sendopt.config import load_config
from sendopt.errors import SendoptError
from sendopt.lake import quality
from sendopt.world.generate import lake_world
from sendopt.world.model import world_from
from sendopt.world.simulate import simulate_day


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, spark):
    root = tmp_path_factory.mktemp("tiny_lake")
    args = ["--set", f"lake.root={root}", "--set", "world.users=600", "--set", "world.days=21",
            "--set", "world.users_per_partition=300", "--set", "world.promos.campaigns=5"]
    assert main(["generate-world", *args]) == 0
    config = load_config("local", overrides=[a for a in args if a != "--set"])
    return args, config


def test_generate_world_writes_every_world_table(tiny, spark):
    _, config = tiny
    lake = open_lake(spark, config)
    world_tables = [s.full_name for s in CATALOG if s.layer in ("raw", "reference", "truth")]
    assert all(lake.exists(t) for t in world_tables)
    assert lake.read("raw.customers").count() == 600
    assert lake.read("raw.orders").agg(F.max("event_date")).first()[0] <= dt.date(2026, 1, 21)


def test_a_lake_is_judged_only_against_the_world_that_generated_it(tiny, spark):
    args, config = tiny
    lake = open_lake(spark, config)
    assert lake_world(lake, config).config.seed == config.world.seed
    other = load_config("local", overrides=[a for a in args if a != "--set"] + ["world.seed=11"])
    with pytest.raises(SendoptError, match=r"world\.seed=7 \(this run: 11\)"):
        lake_world(lake, other)


def test_validate_raw_quarantines_nothing_in_a_generated_world(tiny, spark):
    args, config = tiny
    assert main(["validate-raw", *args, "--date", "2026-01-21"]) == 0
    lake = open_lake(spark, config)
    assert lake.read("quarantine.raw_rows").count() == 0
    assert quality.read_clean(lake, "raw.orders", dt.date(2026, 1, 21)).count() == lake.read("raw.orders").count()


def test_read_clean_trusts_only_a_version_validate_raw_passed(tiny, spark):
    args, config = tiny
    lake = open_lake(spark, config)
    run_date = dt.date(2026, 1, 21)
    assert main(["validate-raw", *args, "--date", str(run_date)]) == 0
    assert quality.passed_version(lake, "raw.orders", run_date) == lake.version("raw.orders")
    # an earlier run date has a stricter future-timestamp bound than the one validated
    assert quality.passed_version(lake, "raw.orders", run_date - dt.timedelta(days=1)) is None
    validated = lake.version("raw.orders")
    lake.compact("raw.orders")  # rewrites files, not rows: still the validated rows
    assert lake.version("raw.orders") > validated
    assert quality.passed_version(lake, "raw.orders", run_date) == lake.version("raw.orders")
    before = lake.read("raw.orders").count()
    lake.write(lake.read("raw.orders").limit(1), "raw.orders", mode="append")  # a duplicate key, unvalidated
    assert quality.passed_version(lake, "raw.orders", run_date) is None
    assert quality.read_clean(lake, "raw.orders", run_date).count() == before  # the rules ran again


def test_validate_raw_stops_on_a_missing_table(tmp_path, capsys):
    assert main(["validate-raw", "--set", f"lake.root={tmp_path}"]) != 0
    assert "raw.customers" in capsys.readouterr().err


def test_simulate_outcomes_is_idempotent_per_date(tiny, spark):
    args, config = tiny
    lake = open_lake(spark, config)
    before = lake.read("raw.card_transactions").count()
    for _ in range(2):
        assert main(["simulate-outcomes", *args, "--date", "2026-01-22"]) == 0
    day = {t: lake.read(t).where(F.col("event_date") == "2026-01-22").count()
           for t in ("raw.card_transactions", "raw.email_sends", "raw.web_events")}
    assert all(n > 0 for n in day.values()), day
    assert lake.read("raw.card_transactions").count() == before + day["raw.card_transactions"]


def test_simulation_plays_the_decided_email_frequency(tiny, spark):
    _, config = tiny
    lake = open_lake(spark, config)
    spec = CATALOG.get("decisions.email_frequency")
    world = world_from(config)
    run_date = dt.date(2026, 1, 22)  # a world-week start (day 21)
    sends = {}
    for k in (0, 7):
        given = {"decision_date": F.lit(run_date), "emails_per_week": F.lit(k), "policy": F.lit("tiers"),
                 "is_exploration": F.lit(False), "run_id": F.lit("test"), "config_hash": F.lit("test")}
        df = lake.read("raw.customers").select(*[
            (given[c.name] if c.name in given else F.col(c.name) if c.name in ("user_id", "region", "brand")
             else F.lit(None)).cast(spec.schema[c.name].dataType).alias(c.name) for c in spec.columns])
        lake.write(df, "decisions.email_frequency", mode="overwrite")
        frames = simulate_day(lake, world, run_date)
        sends[k] = frames["raw.email_sends"].count()
        policies = {r[0] for r in frames["raw.email_assignments"].select("policy").distinct().collect()}
        assert policies <= {"decision"}
    assert sends[0] == 0
    assert sends[7] > 300


def test_simulate_outcomes_plays_published_promos_idempotently(tiny, spark):
    """Published promo assignments (a hand-made decisions.promo_assignments of the promo contract's shape) are
    played on their dates: offers and the holdout logged on the start date, redemptions paid at the price in the
    card log, the plan's campaign row merged once; re-running a date changes nothing."""
    import logging

    from sendopt.catalog import catalog_for
    from sendopt.channels.promo import report
    from sendopt.channels.promo.tables import PROMO_REPORTS, PROMO_RETRAIN_TRIGGERS
    from sendopt.lake import Catalog, Lake, TableSpec, col
    from sendopt.runner import JobContext
    from sendopt.world.jobs import run_simulate_outcomes
    from sendopt.world.simulate import PROMO_DECISIONS

    _, config = tiny
    report_specs = [PROMO_REPORTS, PROMO_RETRAIN_TRIGGERS]
    report_tables = [t.full_name for t in report_specs]
    # the promo contract's shape with the optional holdout (the channel's own declaration may lack it)
    types = {"merchant_id": "long", "discount_pct": "double", "voucher_value": "double", "min_spend": "double",
             "start_date": "date", "end_date": "date", "holdout": "boolean", "offer_probability": "double",
             "p_redeem": "double", "predicted_incremental_orders": "double", "predicted_cost": "double"}
    names = ("request_id", "user_id", "merchant_id", "segment", "design_id", "discount_pct", "voucher_value",
             "min_spend", "start_date", "end_date", "holdout", "offer_probability", "p_redeem",
             "predicted_incremental_orders", "predicted_cost", "model_version")
    catalog = Catalog([*(s for s in catalog_for(config) if s.full_name not in (PROMO_DECISIONS, *report_tables)),
                       TableSpec("decisions", "promo_assignments",
                                 tuple(col(n, types.get(n, "string"), n) for n in names)), *report_specs])
    lake = Lake(spark, config, catalog, run_id="t", job="simulate-outcomes")
    world = world_from(config)
    start = dt.date(2026, 1, 22)
    tx = lake.read("raw.card_transactions")
    merchant = (tx.where(F.col("mcc") == "5411").groupBy("merchant_id").count()  # a busy grocery
                .orderBy(F.desc("count"), "merchant_id").first()["merchant_id"])
    region = world.region_names[world.merchant_region[merchant]]
    spec = catalog.get(PROMO_DECISIONS)
    given = {"request_id": F.lit("r1"), "merchant_id": F.lit(merchant), "design_id": F.lit("d30v10"),
             "discount_pct": F.lit(30.0), "voucher_value": F.lit(10.0), "min_spend": F.lit(0.0),
             "start_date": F.lit(start), "end_date": F.lit(start), "segment": F.lit("new"),
             "holdout": F.xxhash64("user_id") % 4 == 0, "offer_probability": F.lit(0.5), "p_redeem": F.lit(0.1),
             "predicted_incremental_orders": F.lit(0.05), "predicted_cost": F.lit(1.0), "model_version": F.lit("v1")}
    plans = lake.read("raw.customers").where(F.col("region") == region).select(*[
        (given[c.name] if c.name in given else F.col(c.name) if c.name == "user_id" else F.lit(None))
        .cast(spec.schema[c.name].dataType).alias(c.name) for c in spec.columns])
    lake.write(plans, PROMO_DECISIONS, mode="overwrite")
    ctx = lambda d, job="simulate-outcomes": JobContext(job=job, spark=spark, config=config, lake=lake, run_id="t",  # noqa: E731
                               run_date=d, log=logging.getLogger("test"), loader=None)
    counts = []
    for _ in range(2):
        run_simulate_outcomes(ctx(start))
        counts.append({t: lake.read(t).where(F.col("event_date") == start).count()
                       for t in ("raw.card_transactions", "raw.promo_offers", "raw.promo_redemptions")})
    assert counts[0] == counts[1]
    offers = lake.read("raw.promo_offers").where(F.col("event_date") == start)
    n_plan, n_holdout = plans.count(), plans.where("holdout").count()
    assert offers.count() == n_plan and offers.where(~F.col("offered")).count() == n_holdout > 0
    red = lake.read("raw.promo_redemptions").where(F.col("event_date") == start)
    assert red.count() > 0
    assert red.join(plans.where("holdout"), "user_id").count() == 0
    paid = red.join(lake.read("raw.card_transactions").select("txn_id", "amount"), "txn_id")
    assert paid.where(F.abs(F.col("amount") - F.col("basket_amount") + F.col("discount_amount")) > 0.011).count() == 0
    assert paid.count() == red.count()
    campaign = lake.read("raw.promo_campaigns").where(F.col("source") == "plan").collect()
    assert len(campaign) == 1 and campaign[0]["request_id"] == "r1" and campaign[0]["discount_pct"] == 30
    assert {r[0] for r in red.select("campaign_id").distinct().collect()} == {campaign[0]["campaign_id"]}

    # after the window, promo-report compares the log with the plan's predictions
    report.run_promo_report(ctx(start + dt.timedelta(days=1), "promo-report"))
    cells = lake.read("monitoring.promo_reports").collect()
    assert len(cells) == 1 and cells[0]["campaign_id"] == campaign[0]["campaign_id"]
    assert (cells[0]["offered_customers"], cells[0]["control_customers"]) == (n_plan - n_holdout, n_holdout)
    assert cells[0]["redemptions"] == red.count() and cells[0]["actual_incremental_orders"] is not None
    assert [r["request_id"] for r in lake.read("monitoring.promo_retrain_triggers").collect()] == ["r1"]
