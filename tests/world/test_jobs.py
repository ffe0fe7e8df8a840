"""The world's jobs through the CLI on a tiny lake: generate, validate, simulate (idempotent)."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from sendopt.catalog import CATALOG, open_lake
from sendopt.cli import main
from sendopt.config import load_config
from sendopt.lake import quality
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
