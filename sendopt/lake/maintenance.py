"""Jobs over the whole catalog: list tables; compact, checkpoint and vacuum them."""
from __future__ import annotations

from sendopt.observability import fields


def run_catalog(ctx) -> None:
    """Print every table's layer, name, location and current version."""
    lake = ctx.lake
    lines = [f"{'table':34} {'version':>7}  location"]
    for spec in lake.catalog:
        version = lake.version(spec)
        lines.append(f"{spec.full_name:34} {'-' if version is None else version:>7}  {lake.location(spec)}")
    ctx.summary["tables"] = sum(1 for spec in lake.catalog if lake.exists(spec))
    print("\n".join(lines), flush=True)


def run_lake_maintenance(ctx) -> None:
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
