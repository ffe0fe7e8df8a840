"""Every job by name: the CLI, ``jobs/<job>.py`` and Databricks tasks all resolve jobs here."""
from __future__ import annotations

from sendopt.runner import JobDef

JOBS: dict[str, JobDef] = {
    j.name: j
    for j in (
        JobDef("generate-world", "sendopt.world.jobs:run_generate_world",
               "generate the synthetic raw lake with planted ground truth"),
        JobDef("validate-raw", "sendopt.world.jobs:run_validate_raw",
               "validate raw tables; quarantine bad rows with the rule that failed"),
        JobDef("simulate-outcomes", "sendopt.world.jobs:run_simulate_outcomes",
               "play the day's decisions against the world's truth and append outcomes"),
        JobDef("catalog", "sendopt.lake.maintenance:run_catalog",
               "list every catalog table with its path, version and row count"),
        JobDef("lake-maintenance", "sendopt.lake.maintenance:run_lake_maintenance",
               "compact, checkpoint and vacuum every existing table"),
    )
}

#: Pipelines: a name for a sequence of jobs run in one Spark session.
PIPELINES: dict[str, tuple[str, ...]] = {
    "demo": ("generate-world", "validate-raw", "catalog"),
}
