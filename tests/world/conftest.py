"""One 5,000-user world per test session, generated once and cached in memory."""
from __future__ import annotations

import time

import pytest

from sendopt.config import load_config

WORLD_OVERRIDES = ["world.users=5000", "world.users_per_partition=2500", "world.days=91"]


@pytest.fixture(scope="session")
def world_config(session_config):
    return load_config(
        "local",
        overrides=[f"lake.root={session_config.lake.root}", "spark.master=local[2]",
                   "spark.shuffle_partitions=4", *WORLD_OVERRIDES],
    )


@pytest.fixture(scope="session")
def world(world_config):
    from sendopt.world.model import world_from

    return world_from(world_config)


@pytest.fixture(scope="session")
def world_frames(spark, world):
    """Every table of the test world as a cached DataFrame (materialised once, < 1 minute)."""
    from sendopt.world.generate import world_tables

    started = time.monotonic()
    frames = {name: df.cache() for name, df in world_tables(spark, world).items()}
    for df in frames.values():
        df.count()
    elapsed = time.monotonic() - started
    print(f"\ntest world: {len(frames)} tables generated in {elapsed:.1f}s")
    yield frames
    for df in frames.values():
        df.unpersist()
