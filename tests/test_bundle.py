"""The Databricks bundle runs what runs here: the same wheel, the same entry points, the pinned jars."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from sendopt.registry import PIPELINES

REPO = Path(__file__).resolve().parent.parent


def _pinned(artifact: str) -> str:
    pom = (REPO / "jars" / "pom.xml").read_text()
    return re.search(rf"<{artifact}\.version>([^<]+)</{artifact}\.version>", pom).group(1)


def test_daily_bundle_job_is_the_daily_pipeline_on_the_wheel_and_pinned_jars():
    bundle = yaml.safe_load((REPO / "databricks.yml").read_text())
    tasks = bundle["resources"]["jobs"]["sendopt_daily"]["tasks"]
    jobs = [t["spark_python_task"]["python_file"].removeprefix("./jobs/").removesuffix(".py") for t in tasks]
    daily = [j.replace("-", "_") for j in PIPELINES["daily"]]
    assert [j for j in jobs if j != "lake_maintenance"] == daily
    order = {key: i for i, key in enumerate(t["task_key"] for t in tasks)}
    for i, task in enumerate(tasks):
        assert (REPO / task["spark_python_task"]["python_file"]).is_file()
        assert {"whl": "./dist/*.whl"} in task["libraries"]
        assert task["spark_python_task"]["parameters"][:2] == ["--env", "databricks"]
        assert all(order[d["task_key"]] < i for d in task.get("depends_on", []))
    maven = [lib["maven"]["coordinates"] for t in tasks for lib in t["libraries"] if "maven" in lib]
    assert maven and set(maven) == {f"com.microsoft.azure:synapseml-lightgbm_2.12:{_pinned('synapseml')}"}
    assert bundle["artifacts"]["sendopt_wheel"]["build"].startswith("python -m pip wheel")
