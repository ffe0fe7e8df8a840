"""Robustness sweep: the email pipeline on N worlds drawn from ranges of the world's behavioural knobs.

Each world is a fresh lake: ``generate-world → validate-raw → build-features → ensure-models →
decide-email → evaluate-email`` (the demo's email path, one Spark session for the whole sweep), then
every policy's true share of the oracle per market is read from ``analytics.email_policy_evaluation``
and, where it exists, the safe-improvement choice from ``analytics.email_policy_choice``. The draws
are reproducible: world ``i`` of ``--seed s`` always gets the same knobs (``RANGES`` below, documented
in docs/benchmarks.md). The tuning question is the method's, never the world's:

    nice -n 10 .venv/bin/python -m benchmarks robustness --worlds 6 --users 1500 --root /tmp/sweep

Prints one line per world and market, the min / median share of the oracle per policy, and every
(world, market) where a model policy trails a baseline.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import time

from sendopt.config import ConfigLoader
from sendopt.registry import JOBS
from sendopt.spark import get_spark

#: knob → (low, high) drawn uniformly (ints: inclusive choice). The default world sits inside every range.
RANGES: dict[str, tuple] = {
    "world.traits.email_uplift_mean": (0.6, 1.2),
    "world.traits.saturation_mean": (1.0, 3.0),
    "world.traits.fatigue_slope_mean": (0.18, 0.45),
    "world.email.fatigue_memory": (0.1, 0.6),
    "world.traits.unsubscribe_logit": (-6.4, -5.6),
    "world.traits.purchase_logit": (-2.9, -2.3),
    "world.regions.north.purchase_shift": (-0.1, 0.3),
    "world.regions.south.unsubscribe_shift": (0.0, 0.4),
    "world.brands.beta.purchase_shift": (0.0, 0.4),
    "world.brands.beta.unsubscribe_shift": (0.1, 0.5),
    "world.brands.beta.weight": (0.4, 0.9),
    "world.exploration_share": (0.15, 0.35),
}
INT_RANGES: dict[str, tuple[int, int]] = {
    "world.seed": (1, 10_000),
    "world.brands.alpha.email_fixed_frequency": (2, 4),
    "world.brands.beta.email_fixed_frequency": (1, 3),
}
#: Settings of every sweep world that do not touch email behaviour (they keep the run small).
SMALL = ["world.days=63", "world.promos.campaigns=5", "world.cards.tx_per_day=0.1", "world.push.per_day=0.04",
         "email.training.weeks=5", "email.training.num_boost_round=80"]
WORLD_STEPS = ("generate-world", "validate-raw", "build-features")
METHOD_STEPS = ("ensure-models", "decide-email", "evaluate-email")
MODEL = ("published", "tiers", "optimizer")
BASELINES = ("three_per_week", "daily", "random", "best_fixed", "incumbent")


def draw(seed: int, index: int) -> dict[str, object]:
    """The knobs of world ``index`` of the sweep ``seed`` (same arguments → same world)."""
    rng = random.Random(f"{seed}:{index}")
    knobs: dict[str, object] = {k: round(rng.uniform(lo, hi), 3) for k, (lo, hi) in RANGES.items()}
    knobs.update({k: rng.randint(lo, hi) for k, (lo, hi) in INT_RANGES.items()})
    return knobs


def results(spark, loader) -> tuple[list, dict]:
    """The evaluation rows (policies × markets) and the choice rows per market of the lake's run."""
    from sendopt.catalog import open_lake

    lake = open_lake(spark, loader.load())
    rows = lake.read("analytics.email_policy_evaluation").collect()  # policies × markets rows
    choice: dict = {}
    if lake.exists("analytics.email_policy_choice"):
        for r in lake.read("analytics.email_policy_choice").collect():  # options × markets rows
            choice.setdefault((r.region, r.brand), {})[r.option] = r
    return rows, choice


def with_incumbent(by: dict, options: dict) -> dict:
    """Add the incumbent's true value (its everyone-k row; the sweep's worlds are first runs) to ``by``."""
    inc = options.get("incumbent")
    if inc is not None and inc.kind == "fixed" and f"everyone_{inc.emails_fixed}" in by:
        by["incumbent"] = by[f"everyone_{inc.emails_fixed}"]
    return by


def choice_at(options: dict, z: float, prefer: str = "candidate") -> str | None:
    """The option the gate would have chosen at confidence ``z`` (and ``email.publish.safety.prefer``) from the
    same estimates (the choice table's paired differences and checks), by ``safety.preferred``'s rule. None
    when the run made no estimated choice."""
    from sendopt.channels.email.safety import is_safe, preferred

    if "candidate" not in options or options["candidate"].diff_se is None:
        return None
    passes = {n: n != "incumbent" and is_safe(r.diff_vs_incumbent, r.diff_se, z) and not r.checks_failed
              for n, r in options.items()}
    return preferred(passes, {n: r.diff_vs_incumbent for n, r in options.items()}, prefer)


class Tally:
    """Shares of the oracle per policy over world-markets, and where a model policy trails a baseline.

    ``what_if_z``: also the true share of what the gate would have chosen at each of these z from the same
    estimates (the unexplored policy's share: the candidate's ``tiers`` or ``optimizer``, everyone-k, the
    incumbent), beside the actual choice's (``z <actual>``): how the gate's confidence trades the good
    candidates it lets through against the bad ones."""

    def __init__(self, name: str, what_if_z: tuple[tuple[float, str], ...] = (), policy: str = "tiers") -> None:
        self.name, self.shares, self.trailing = name, {}, []
        self.what_if_z, self.policy = what_if_z, policy
        # (z, prefer) → (world, market, option, share, Δinc)
        self.what_if: dict[tuple[float, str], list] = {zp: [] for zp in what_if_z}

    def add(self, i: int | str, rows: list, choice: dict) -> None:
        for market in sorted({(r.region, r.brand) for r in rows}):
            options = choice.get(market, {})
            by = with_incumbent({r.policy: r for r in rows if (r.region, r.brand) == market}, options)
            for p, r in by.items():
                self.shares.setdefault(p, []).append(r.share_of_oracle)
            c = next((o for o in options.values() if o.chosen), None)
            print(f"  [{self.name}] {market[0]}/{market[1]}: " + "  ".join(
                f"{p} {100 * by[p].share_of_oracle:.1f}% ({by[p].emails_per_user:.2f})"
                for p in (*MODEL, *BASELINES, "oracle") if p in by)
                + (f"\n    chose {c.option}: {c.reason}" if c is not None else ""), flush=True)
            best = max((p for p in BASELINES if p in by and p != "incumbent"), key=lambda p: by[p].net_value_per_user)
            for p in MODEL:
                if p in by and by[p].net_value_per_user < by[best].net_value_per_user:
                    self.trailing.append((i, market, p, by[p].share_of_oracle, best, by[best].share_of_oracle))
            if "incumbent" in by and by["published"].net_value_per_user < by["incumbent"].net_value_per_user:
                self.trailing.append((i, market, "published", by["published"].share_of_oracle, "incumbent",
                                      by["incumbent"].share_of_oracle))
            for z, prefer in self.what_if_z:
                name = choice_at(options, z, prefer)
                row = by.get({"candidate": self.policy}.get(name, name)) if name is not None else None
                if row is not None and "incumbent" in by:
                    self.what_if[(z, prefer)].append((i, market, name, row.share_of_oracle,
                                            row.share_of_oracle - by["incumbent"].share_of_oracle))

    def report(self) -> None:
        print(f"\n[{self.name}] share of the oracle over {len(self.shares.get('oracle', []))} world-markets:")
        print(f"  {'policy':16} {'min':>7} {'median':>7} {'max':>7}")
        for p in (*MODEL, *BASELINES):
            if p in self.shares:
                v = self.shares[p]
                print(f"  {p:16} {100 * min(v):>6.1f}% {100 * statistics.median(v):>6.1f}% {100 * max(v):>6.1f}%")
        print(f"[{self.name}] world-markets where a model policy trails the best baseline (or published trails "
              "the incumbent):" if self.trailing else f"[{self.name}] no world-market where a model policy trails")
        for i, market, p, s, b, sb in self.trailing:
            print(f"  world {i} {market[0]}/{market[1]}: {p} {100 * s:.1f}% < {b} {100 * sb:.1f}%")
        if self.what_if_z:
            print(f"[{self.name}] what the gate would choose at other z (same estimates; true share of the oracle "
                  f"without exploration; Δ = minus the incumbent's):")
            for (z, prefer), got in self.what_if.items():
                if got:
                    v = [g[3] for g in got]
                    print(f"  z {z:<5} prefer {prefer:9} min {100 * min(v):5.1f}%  median {100 * statistics.median(v):5.1f}%  "
                          f"mean {100 * statistics.mean(v):5.1f}%  below the incumbent "
                          f"{sum(g[4] < 0 for g in got)} (worst {100 * min(g[4] for g in got):+.1f} points):  "
                          + ", ".join(f"{g[0]} {g[1][0]}/{g[1][1]} {g[2]} {100 * g[3]:.1f}%" for g in got))


def candidate_policy(base: ConfigLoader, settings: list[str]) -> str:
    """The evaluation row that stands for the candidate under a variant's ``--set``/``--compare`` settings."""
    email = ConfigLoader("local", [], [*base.overrides, *settings], None).load().email
    return "optimizer" if email.policy == "optimizer" else "tiers"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks robustness")
    parser.add_argument("--worlds", type=int, default=6, help="number of worlds drawn")
    parser.add_argument("--users", type=int, default=1500, help="users per world (over the 3 markets)")
    parser.add_argument("--seed", type=int, default=1, help="sweep seed: world i of seed s is always the same")
    parser.add_argument("--first", type=int, default=0, help="index of the first world (resume a sweep)")
    parser.add_argument("--root", default="/tmp/sendopt-robustness", help="lakes live under <root>/world_<i>")
    parser.add_argument("--default-world", action="store_true", help="run the default world (no knob drawn, "
                        "lake under <root>/world_default) instead of drawn ones: the reference the sweep departs from")
    parser.add_argument("--keep", action="store_true", help="keep each world's lake")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept world's lake (and its trained models, "
                        "per variant name) instead of generating it again; implies --keep")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="method settings")
    parser.add_argument("--compare", action="append", default=[], metavar="KEY=VALUE",
                        help="also run the method with these settings on the same generated worlds (own MLflow "
                        "store), e.g. the previous defaults; reported side by side as 'compare'")
    parser.add_argument("--what-if-z", default="", metavar="Z,Z,…",
                        help="also report what the gate would choose at each of these z, from the same estimates")
    parser.add_argument("--what-if-prefer", default="candidate", metavar="RULE,RULE",
                        help="the email.publish.safety.prefer rules the what-if z applies (candidate, best)")
    args = parser.parse_args(argv)
    base = ConfigLoader("local", [], [f"lake.root={args.root}", "spark.master=local[2]",
                                      "spark.shuffle_partitions=4", "spark.conf.spark.ui.enabled=false"], None)
    spark = get_spark(base.load())
    variants = [("method", args.set)] + ([("compare", args.compare)] if args.compare else [])
    what_if_z = tuple((float(z), p) for z in args.what_if_z.split(",") if z for p in args.what_if_prefer.split(","))
    tallies = {name: Tally(name, what_if_z, candidate_policy(base, settings)) for name, settings in variants}
    t_all = time.perf_counter()
    worlds = ["default"] if args.default_world else list(range(args.first, args.first + args.worlds))
    print(f"sweep seed {args.seed}: worlds {worlds} × {args.users} users; method settings {args.set}; "
          f"compare {args.compare}; load avg {os.getloadavg()[0]:.1f}", flush=True)
    from sendopt.runner import run_job

    for i in worlds:
        knobs = {} if i == "default" else draw(args.seed, i)
        root = os.path.join(args.root, f"world_{i}")
        reuse = args.reuse and os.path.isdir(os.path.join(root, "features"))
        if not reuse:
            shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        world = [f"lake.root={root}", f"world.users={args.users}",
                 "world.users_per_partition=1000", "spark.master=local[2]", "spark.shuffle_partitions=4", *SMALL,
                 *[f"{k}={v}" for k, v in knobs.items()]]
        for step in () if reuse else WORLD_STEPS:
            run_job(JOBS[step], ConfigLoader("local", [], world, None), spark=spark)
        print(f"world {i} ({'reused' if reuse else f'{time.perf_counter() - t0:.0f}s to generate and build features'}"
              f") knobs {knobs}", flush=True)
        for name, settings in variants:
            t1 = time.perf_counter()
            loader = ConfigLoader("local", [], [*world, f"mlflow.tracking_uri=sqlite:///{root}/_mlflow_{name}.db",
                                                *settings], None)
            for step in METHOD_STEPS:
                run_job(JOBS[step], loader, spark=spark)
            print(f" [{name}] {time.perf_counter() - t1:.0f}s", flush=True)
            tallies[name].add(i, *results(spark, loader))
        if not (args.keep or args.reuse):
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{time.perf_counter() - t_all:.0f}s in all; load avg {os.getloadavg()[0]:.1f}")
    for tally in tallies.values():
        tally.report()
    return 0
