"""One session-scoped SparkSession for the whole suite; tiny lakes under tmp paths."""
from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from sendopt.catalog import open_lake  # noqa: E402
from sendopt.config import load_config  # noqa: E402

#: Session-scoped fixtures that build a lake (fixture → group): every test using one runs on the same
#: pytest-xdist worker, so each is built once.
SHARED_LAKES = {"tiny_world": "tiny_world", "world_frames": "world", "world": "world",
                "service_env": "service", "quiet_env": "service"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Group tests for ``pytest -n 2 --dist loadgroup`` (``make test``): by the shared lake they use, else by file.

    Module fixtures stay built once per file and session lakes once per suite, while the two workers
    (two Spark sessions) keep both cores busy; without xdist the marks do nothing.
    """
    for item in items:
        names = getattr(item, "fixturenames", ())
        group = next((g for f, g in SHARED_LAKES.items() if f in names), item.nodeid.split("::")[0])
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    """Refuse to run when the groups did not reach the scheduler (an xdist worker whose node ids lack the
    ``@group`` suffix): each worker would then build every shared lake again, doubling the suite's time."""
    if getattr(session.config.option, "loadgroup", False) and session.items \
            and not any("@" in item.nodeid for item in session.items):
        raise pytest.UsageError("pytest-xdist's --dist loadgroup could not tag the node ids with their group "
                                f"(pytest {pytest.__version__}); use the pinned pytest (requirements/constraints.txt)")


@pytest.fixture(scope="session")
def session_config(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    return load_config(
        "local",
        overrides=[
            f"lake.root={root}",
            "spark.master=local[2]",
            "spark.shuffle_partitions=4",
            "spark.driver_memory=2g",
            "spark.conf.spark.ui.enabled=false",
        ],
    )


@pytest.fixture(scope="session")
def spark(session_config):
    """The one session: Delta's and SynapseML's jars (``make jars``) on its classpath from the start.

    Tests that need neither keep their behaviour: conf/local.yaml pins lake.backend=embedded and
    the barrier trainer; the Spark-Delta and SynapseML tests ask for those backends explicitly.
    """
    from sendopt.spark import JAR_GROUPS, get_spark

    session = get_spark(session_config, jars=JAR_GROUPS)
    yield session
    session.stop()


def require_jars(spark, group: str) -> None:
    """Skip (one line naming what is missing) where ``group``'s jars could not be fetched."""
    from sendopt.spark import delta_available, missing_jars_reason, synapseml_available

    available = delta_available(spark) if group == "delta" else synapseml_available(spark)
    if not available:
        pytest.skip(missing_jars_reason(group) or f"{group} jars are in jars/lib but not on the session classpath")


@pytest.fixture
def lake_config(tmp_path):
    """A config whose lake root is a fresh folder for this test."""
    return load_config(
        "local",
        overrides=[f"lake.root={tmp_path / 'lake'}", "spark.master=local[2]", "spark.shuffle_partitions=4"],
    )


@pytest.fixture
def lake(spark, lake_config):
    return open_lake(spark, lake_config)


#: A tiny generated world shared by the feature and channel tests (generated once per session).
TINY_WORLD = [
    "world.users=1500", "world.days=56", "world.users_per_partition=750", "world.exploration_share=0.3",
    "world.promos.campaigns=5", "email.training.weeks=4", "email.training.num_boost_round=60",
]


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory, spark):
    """(CLI args, config) of a lake holding a 1,500-user, 8-week generated world."""
    from sendopt.cli import main

    root = tmp_path_factory.mktemp("tiny_world")
    args = ["--set", f"lake.root={root}", "--set", "spark.master=local[2]", "--set", "spark.shuffle_partitions=4"]
    for item in TINY_WORLD:
        args += ["--set", item]
    assert main(["generate-world", *args]) == 0
    config = load_config("local", overrides=[a for a in args if a != "--set"])
    return args, config
