"""A new channel is one folder plus its config section: a toy channel, written to a temporary folder here,
gets its config validated, its table in the catalog, its job in the CLI and the daily pipeline, and publishes
through the shared guardrails (checks, fallback, kill switch, ledger status) without touching sendopt."""
from __future__ import annotations

import sys
import textwrap

import pytest

from sendopt.catalog import catalog_for, open_lake
from sendopt.channels import channels, register
from sendopt.cli import main
from sendopt.config import load_config
from sendopt.errors import ConfigError
from sendopt.registry import jobs, pipelines

FILES = {
    "__init__.py": '''
        from pydantic import Field

        from sendopt.channels.seam import DecisionChannel, JobDef
        from sendopt.strict import Strict


        class ToyPublish(Strict):
            enabled: bool = True


        class ToyConfig(Strict):
            share: float = Field(0.5, ge=0, le=1)
            max_share: float = Field(0.9, ge=0, le=1)
            publish: ToyPublish = ToyPublish()


        CHANNEL = DecisionChannel(
            name="toy", config={"toy": ToyConfig}, tables="toy_channel.tables",
            jobs=(JobDef("decide-toy", "toy_channel.jobs:run_decide_toy", "offer a toy", per_market=True),),
            daily={"decide": ("decide-toy",)}, demo={"decide": ("decide-toy",)},
        )
    ''',
    "tables.py": '''
        from sendopt.lake.spec import RUN_COLUMNS, TableSpec, col, market_columns

        TOY_OFFERS = TableSpec(
            "decisions", "toy_offers", description="Toy offers",
            columns=(col("user_id", "string", "user", nullable=False),
                     col("decision_date", "date", "day", nullable=False), *market_columns(),
                     col("offered", "boolean", "offered?", nullable=False), *RUN_COLUMNS),
            keys=("user_id", "decision_date"), partition_by=("decision_date",),
        )
        TABLES = [TOY_OFFERS]
    ''',
    "jobs.py": '''
        from pyspark.sql import functions as F

        from sendopt.channels.primitives import uniform_hash
        from sendopt.channels.publish import CheckReport, Proposal, publish_with_guardrails
        from toy_channel.tables import TOY_OFFERS


        def run_decide_toy(ctx):
            cfg = ctx.config.toy
            users = ctx.spark.range(40).select(F.format_string("u%03d", "id").alias("user_id"))

            def propose():
                offered = users.withColumn("offered", uniform_hash(F.col("user_id"), "toy", "offer") < cfg.share)
                share = cfg.share  # what the checks look at
                failures = [] if share <= cfg.max_share else [f"share {share} > max_share {cfg.max_share}"]
                return Proposal(offered, CheckReport(not failures, {"share": share}, failures))

            def to_rows(df, fell_back):
                return df.select("user_id", F.lit(ctx.run_date).alias("decision_date"),
                                 F.lit(ctx.region).alias("region"), F.lit(ctx.brand).alias("brand"), "offered",
                                 F.lit(ctx.run_id).alias("run_id"), F.lit(ctx.config.config_hash).alias("config_hash"))

            publish_with_guardrails(
                ctx, channel="toy", enabled=cfg.publish.enabled, table=TOY_OFFERS,
                where={"decision_date": ctx.run_date}, propose=propose,
                fallback=lambda: users.withColumn("offered", F.lit(False)), fallback_name="no offers",
                to_rows=to_rows)
    ''',
}


@pytest.fixture
def toy(tmp_path):
    folder = tmp_path / "plugins" / "toy_channel"
    folder.mkdir(parents=True)
    for name, text in FILES.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    sys.path.insert(0, str(folder.parent))
    try:
        from toy_channel import CHANNEL

        with register(CHANNEL):
            yield tmp_path
    finally:
        sys.path.remove(str(folder.parent))
        for module in [m for m in sys.modules if m.startswith("toy_channel")]:
            del sys.modules[module]


def test_a_toy_channel_is_found_everywhere_from_its_declaration(toy):
    assert "toy" in {c.name for c in channels()}
    assert jobs()["decide-toy"].per_market
    daily = pipelines()["daily"]
    assert daily.index("decide-push") < daily.index("decide-toy") < daily.index("evaluate-email")
    config = load_config("local", overrides=[f"lake.root={toy / 'lake'}", "toy.share=0.3"])
    assert config.toy.share == 0.3 and config.toy.publish.enabled
    assert "decisions.toy_offers" in catalog_for(config)
    with pytest.raises(ConfigError, match="toy.shares: unknown key"):
        load_config("local", overrides=[f"lake.root={toy / 'lake'}", "toy.shares=0.3"])


def test_a_toy_channel_publishes_through_the_shared_guardrails(toy, spark):
    root = toy / "lake"
    (toy / "toy.yaml").write_text("toy:\n  share: 0.5\n")
    args = ["--conf", str(toy / "toy.yaml"), "--set", f"lake.root={root}", "--date", "2026-03-01",
            "--region", "north", "--brand", "alpha"]
    lake = open_lake(spark, load_config("local", [toy / "toy.yaml"], [f"lake.root={root}"]))

    assert main(["decide-toy", *args]) == 0
    offered = {r.offered for r in lake.read("decisions.toy_offers").collect()}
    assert offered == {True, False}
    version = lake.version("decisions.toy_offers")

    assert main(["decide-toy", *args, "--set", "toy.share=0.95"]) == 0  # fails the channel's check
    assert {r.offered for r in lake.read("decisions.toy_offers").collect()} == {False}
    assert lake.read("decisions.toy_offers").count() == 40  # the day's slice was replaced, not appended

    assert main(["decide-toy", *args, "--set", "toy.publish.enabled=false"]) == 0
    assert lake.version("decisions.toy_offers") == version + 1  # the kill switch wrote nothing

    ledger = lake.read("ops.job_runs").where("job = 'decide-toy'").orderBy("started_at").collect()
    assert [r.status for r in ledger] == ["succeeded", "succeeded_with_fallback", "stopped_by_kill_switch"]
    assert "share 0.95 > max_share 0.9" in ledger[1].message
    assert ledger[2].message == "toy.publish.enabled=false"


def test_no_toy_channel_outside_its_registration():
    assert "toy" not in {c.name for c in channels()}
    assert "decide-toy" not in jobs()
