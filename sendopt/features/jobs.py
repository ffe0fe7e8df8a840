"""``build-features``: write the customer feature snapshots the day's channels need."""
from __future__ import annotations

from sendopt.channels import channels
from sendopt.channels.seam import resolve
from sendopt.features.snapshots import SnapshotNeeds, build_snapshots, existing_snapshots
from sendopt.runner import JobContext


def snapshot_needs(ctx: JobContext) -> SnapshotNeeds:
    """The union of what every channel with a ``feature_snapshots`` hook asks for on ``ctx.run_date``."""
    needs = SnapshotNeeds()
    for channel in channels():
        if channel.feature_snapshots:
            asked = resolve(channel.feature_snapshots)(ctx)
            needs.rebuild += [s for s in asked.rebuild if s not in needs.rebuild]
            needs.if_missing += [s for s in asked.if_missing if s not in needs.if_missing]
    return needs


def run_build_features(ctx: JobContext) -> None:
    """Snapshots the channels rebuild every run are replaced (idempotent); the others are built when missing."""
    needs = snapshot_needs(ctx)
    have = existing_snapshots(ctx.lake)
    missing = [s for s in needs.if_missing if s not in have and s not in needs.rebuild]
    built = build_snapshots(ctx, [*needs.rebuild, *missing], replace_existing=True)
    ctx.summary["message"] = f"snapshots built: {[str(s) for s in built]}"
