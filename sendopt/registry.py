"""Every job and pipeline by name: the CLI, ``jobs/<job>.py`` and Databricks tasks all resolve jobs here.

Where a job lives (the one rule): its function is ``run_<job name with underscores>`` in the ``jobs.py``
of the package that owns it — ``sendopt/{world,lake,features,lifecycle}/jobs.py`` for the core jobs below,
``sendopt/channels/<channel>/jobs.py`` for a channel's (declared by its ``DecisionChannel``), and
``sendopt/evaluation/jobs.py`` for the truth evaluations (only that package may read truth).
"""
from __future__ import annotations

from sendopt.channels import channels
from sendopt.channels.seam import STAGES, JobDef

CORE_JOBS: tuple[JobDef, ...] = (
    JobDef("generate-world", "sendopt.world.jobs:run_generate_world",
           "generate the synthetic raw lake with planted ground truth"),
    JobDef("validate-raw", "sendopt.lake.jobs:run_validate_raw",
           "validate raw tables; quarantine bad rows with the rule that failed"),
    JobDef("simulate-outcomes", "sendopt.world.jobs:run_simulate_outcomes",
           "play the day's decisions against the world's truth and append outcomes"),
    JobDef("build-features", "sendopt.features.jobs:run_build_features",
           "write the customer feature snapshots the channels need for the run date"),
    JobDef("monitor", "sendopt.lifecycle.jobs:run_monitor",
           "feature/score drift (PSI), matured-outcome AUC and calibration, bin outcomes; retrain trigger "
           "and HTML report", per_market=True),
    JobDef("retrain", "sendopt.lifecycle.jobs:run_retrain",
           "gated retraining: challenger vs champion on a time-later holdout; champion moves only if all "
           "gate rules pass", per_market=True),
    JobDef("retrain-if-triggered", "sendopt.lifecycle.jobs:run_retrain_if_triggered",
           "run `retrain` for a market only if today's monitor recorded a trigger", per_market=True),
    JobDef("report", "sendopt.lifecycle.jobs:run_report",
           "the day's static HTML report per market (tier and push mix, policy values, monitors, plots) under "
           "<lake.root>/_reports/<date>/"),
    JobDef("catalog", "sendopt.lake.jobs:run_catalog",
           "list every catalog table with its path, version and row count"),
    JobDef("lake-maintenance", "sendopt.lake.jobs:run_lake_maintenance",
           "compact, checkpoint and vacuum every existing table"),
)


def jobs() -> dict[str, JobDef]:
    """The core jobs and every channel's, by name."""
    out: dict[str, JobDef] = {}
    for job in (*CORE_JOBS, *(j for c in channels() for j in c.jobs)):
        if job.name in out:
            raise ValueError(f"job {job.name!r} is declared twice")
        out[job.name] = job
    return out


def _channel_jobs(pipeline: str, stages: tuple[str, ...]) -> list[str]:
    """The channels' jobs in a shared pipeline (``daily`` or ``demo``) for ``stages``: stage by stage, channels
    in order within a stage."""
    return [job for stage in stages for c in channels() for job in getattr(c, pipeline).get(stage, ())]


def pipelines() -> dict[str, tuple[str, ...]]:
    """Named sequences of jobs run in one Spark session.

    validate-raw comes first: it records the raw versions that passed, which later jobs then read without
    re-checking. In the production day the monitors run before the channels' models are ensured (a trigger
    retrains before deciding), then every channel decides, then the truth evaluations run.
    """
    out = {
        "daily": ("validate-raw", "build-features", *_channel_jobs("daily", STAGES[:1]), "monitor",
                  "retrain-if-triggered", *_channel_jobs("daily", STAGES[1:]), "report"),
        "demo": ("generate-world", "validate-raw", "build-features", *_channel_jobs("demo", STAGES), "report",
                 "catalog"),
    }
    for channel in channels():
        for name, steps in channel.pipelines.items():
            if name in out:
                raise ValueError(f"pipeline {name!r} is declared twice")
            out[name] = tuple(steps)
    return out


#: The jobs and pipelines of the package's own channels (a registered channel shows in ``jobs()``).
JOBS = jobs()
PIPELINES = pipelines()
