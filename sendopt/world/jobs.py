"""The world's jobs: ``generate-world`` and ``simulate-outcomes``.

Each is a function of the runner's context (``ctx.spark``, ``ctx.config``,
``ctx.lake``, ``ctx.run_id``, ``ctx.run_date``, ``ctx.log``) and writes only
through the lake, one atomic commit per table.
"""
from __future__ import annotations

import time

from sendopt.lake import quality
from sendopt.runner import JobContext
from sendopt.world.generate import world_tables
from sendopt.world.model import World, world_from
from sendopt.world.simulate import promo_plan_campaigns, promo_plan_rows, simulate_day


def write_world(lake, world: World, log=None) -> dict[str, tuple[int, float]]:
    """Generate and write every world table, one atomic overwrite each; ``{table: (rows, seconds)}``."""
    written = {}
    for table, df in world_tables(lake.spark, world).items():
        started = time.perf_counter()
        result = lake.write(df, table, mode="overwrite")
        written[table] = (result.rows or 0, time.perf_counter() - started)
        if log:
            log.info("wrote %s: %s rows in %.1fs", table, *written[table])
    return written


def run_generate_world(ctx: JobContext) -> None:
    """Write every raw, reference and truth table of the world (overwriting an earlier world)."""
    world = world_from(ctx.config)
    cfg = world.config
    ctx.log.info("generating world: seed=%s users=%s days=%s from %s markets=%s", cfg.seed, cfg.users, cfg.days,
                 cfg.start_date, list(zip(world.markets.regions, world.markets.brands, strict=True)))
    written = write_world(ctx.lake, world, ctx.log)
    ctx.summary["message"] = f"{len(written)} tables, {sum(r for r, _ in written.values())} rows"


def run_simulate_outcomes(ctx: JobContext) -> None:
    """Append the run date's outcomes of the day's decisions (idempotent: replaces that date's partitions)."""
    world = world_from(ctx.config)
    quality.require_tables(ctx.lake, ["raw.consents", "raw.email_sends", "raw.push_notifications"])
    frames = simulate_day(ctx.lake, world, ctx.run_date)
    rows = {}
    plans = promo_plan_rows(ctx.lake, ctx.run_date)
    if plans is not None:  # the plan designs starting today join the campaign log (upsert: idempotent)
        result = ctx.lake.merge(promo_plan_campaigns(world, plans, ctx.run_date), "raw.promo_campaigns")
        rows["raw.promo_campaigns"] = result.rows
    for table, df in frames.items():
        part = ctx.lake.spec(table).partition_by[0]
        if part == "week_start" and world.day_of(ctx.run_date) % 7:
            continue  # weekly assignments are recorded on the first day of a world-week
        result = ctx.lake.write(df, table, mode="replace", where={part: [ctx.run_date]})
        rows[table] = result.rows
    ctx.log.info("simulated %s: %s", ctx.run_date, rows)
    ctx.summary["message"] = f"simulated {ctx.run_date}: {sum(r or 0 for r in rows.values())} rows"

