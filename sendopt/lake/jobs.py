"""The lake's own jobs: ``validate-raw`` (the quality rules), ``catalog`` and ``lake-maintenance``."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sendopt.lake import quality
from sendopt.observability import fields

if TYPE_CHECKING:  # the engine knows the job context's shape only
    from sendopt.runner import JobContext


def run_validate_raw(ctx: JobContext) -> None:
    """Quarantine bad raw rows for the run date; stop on a missing table or a schema mismatch."""
    report = quality.quarantine_raw(ctx.lake, ctx.run_id, ctx.run_date)
    bad = {t: {k: n for k, n in c.items() if k != "clean"} for t, c in report.items()}
    bad = {t: c for t, c in bad.items() if c}
    ctx.summary["message"] = f"quarantined {bad}" if bad else "all raw rows passed validation"
    ctx.summary["report"] = report


def run_catalog(ctx: JobContext) -> None:
    """Print every table's layer, name, location and current version."""
    lake = ctx.lake
    lines = [f"{'table':34} {'version':>7}  location"]
    for spec in lake.catalog:
        version = lake.version(spec)
        lines.append(f"{spec.full_name:34} {'-' if version is None else version:>7}  {lake.location(spec)}")
    ctx.summary["tables"] = sum(1 for spec in lake.catalog if lake.exists(spec))
    reports = os.path.join(lake.root, "_reports")
    if "://" not in lake.root and os.path.isdir(reports):  # the daily HTML reports (sendopt report)
        lines += ["", "reports:"] + [f"  {os.path.join(reports, d, 'daily.html')}" for d in sorted(os.listdir(reports))]
    print("\n".join(lines), flush=True)


def run_lake_maintenance(ctx: JobContext) -> None:
    """Compact small files, write a log checkpoint and vacuum unreferenced files (failed writes' too)."""
    lake = ctx.lake
    for spec in lake.catalog:
        if not lake.exists(spec):
            continue
        lake.compact(spec)
        lake.checkpoint(spec)
        removed = lake.vacuum(spec)
        ctx.log.info("%s", fields(stage="maintenance", table=spec.full_name, vacuumed_files=len(removed),
                                  version=lake.version(spec)))
