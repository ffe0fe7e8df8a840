"""A whole pipeline (default ``email-daily``) on an existing lake: wall time and driver memory per job.

Runs the pipeline's jobs one after another in one Spark session, exactly as
``sendopt <pipeline>`` does (same runner, ledger and logs), and samples the driver's
peak Python RSS and JVM heap during each job. Point it at a generated lake, e.g.
the 1M-user world:

    .venv/bin/python -m benchmarks daily --lake /tmp/w1m/lake --set email.train_in_daily=always

The load average is printed before and after: on a shared machine the times are upper bounds.
"""
from __future__ import annotations

import argparse
import os

from benchmarks.common import measured
from sendopt.config import ConfigLoader
from sendopt.registry import JOBS, PIPELINES
from sendopt.runner import run_job
from sendopt.spark import get_spark


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks daily")
    parser.add_argument("--lake", required=True, help="lake root holding a generated world")
    parser.add_argument("--pipeline", default="email-daily", choices=sorted(PIPELINES))
    parser.add_argument("--skip", nargs="*", default=[], help="jobs of the pipeline not to run")
    parser.add_argument("--date", help="run date (default: the world's last day)")
    parser.add_argument("--region", help="market-scoped jobs run for this region only (default: every market)")
    parser.add_argument("--brand", help="with --region: this brand only")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    overrides = [f"lake.root={args.lake}", *args.set, *([f"run.date={args.date}"] if args.date else [])]
    loader = ConfigLoader("local", [], overrides, None)
    steps = [s for s in PIPELINES[args.pipeline] if s not in args.skip]
    print(f"pipeline {args.pipeline}: {' → '.join(steps)}; load avg {os.getloadavg()[0]:.1f}", flush=True)
    spark = get_spark(loader.load(None, None))  # started once, before the first measured job
    rows = []
    for name in steps:
        with measured(spark) as out:
            contexts = run_job(JOBS[name], loader, args.region, args.brand, spark=spark)
        rows.append((name, out))
        print(f"  {name}: {out['seconds']:.0f}s py_rss {out['py_rss_mb']:.0f} MB jvm_heap {out['jvm_heap_mb']:.0f} MB"
              f" ({len(contexts)} run(s)); load avg {os.getloadavg()[0]:.1f}", flush=True)
    print(f"\n{'job':<22}{'seconds':>9}{'py_rss_mb':>11}{'jvm_heap_mb':>13}")
    total = 0.0
    for name, out in rows:
        total += out["seconds"]
        print(f"{name:<22}{out['seconds']:>9.0f}{out['py_rss_mb']:>11.0f}{out['jvm_heap_mb']:>13.0f}")
    print(f"{'total':<22}{total:>9.0f}; load avg now {os.getloadavg()[0]:.1f}")
    return 0
