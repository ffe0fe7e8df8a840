"""``./spark-submit.sh`` runs a job locally against the jars from ``make jars``, writing through Spark's Delta."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from sendopt.spark import missing_jars_reason

REPO = Path(__file__).resolve().parent.parent


def test_spark_submit_runs_a_job_on_spark_delta(tmp_path):
    reason = missing_jars_reason("delta")
    if reason:
        pytest.skip(reason)
    root = tmp_path / "lake"
    env = {**os.environ, "PYTHON": sys.executable, "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.pop("SPARK_SUBMIT_ARGS", None)
    env["SPARK_SUBMIT"] = str(Path(sys.executable).parent / "spark-submit")
    sets = [f"lake.root={root}", "lake.backend=spark_delta", "world.users=200", "world.days=14",
            "world.promos.campaigns=2", "spark.shuffle_partitions=2", "spark.master=local[2]",
            "spark.driver_memory=1g"]
    cmd = ["./spark-submit.sh", "generate-world", *[x for s in sets for x in ("--set", s)]]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "job=generate-world status=succeeded" in done.stderr + done.stdout
    history = DeltaTable(str(root / "raw" / "customers")).history(1)[0]
    assert "Delta-Lake/3.3" in history["engineInfo"]  # written by Spark's Delta, not delta-rs
    assert DeltaTable(str(root / "raw" / "customers")).to_pyarrow_table().num_rows == 200
