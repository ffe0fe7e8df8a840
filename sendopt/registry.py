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
        JobDef("build-features", "sendopt.features.jobs:run_build_features",
               "write the customer feature snapshots for the run date (and missing training snapshots)"),
        JobDef("train", "sendopt.channels.email.training:run_train_email",
               "train, evaluate and register the email response model per market", per_market=True),
        JobDef("ensure-models", "sendopt.channels.email.jobs:run_train_email_if_needed",
               "train a market's email model only if it has no champion (email.train_in_daily)", per_market=True),
        JobDef("decide-email", "sendopt.channels.email.jobs:run_decide_email",
               "score, bin, tier and publish weekly email frequencies per market", per_market=True),
        JobDef("backtest", "sendopt.lifecycle.backtest:run_backtest",
               "value email policies on past weeks' exploration holdout (IPS/SNIPS/DR); predicted vs actual "
               "per bin", per_market=True),
        JobDef("calibrate-tiers", "sendopt.lifecycle.backtest:run_calibrate_tiers",
               "backtest + Optuna search of the bin->tier thresholds; writes a YAML proposal for review",
               per_market=True),
        JobDef("backtest-truth", "sendopt.evaluation.backtest_truth:run_backtest_truth",
               "calibrate-tiers plus every policy's true value (generated worlds)", per_market=True),
        JobDef("ab-assign", "sendopt.lifecycle.experiments:run_ab_assign",
               "record A/B arms (stable hash; exploration holdout excluded) of the decision snapshot's users",
               per_market=True),
        JobDef("ab-analyze", "sendopt.lifecycle.ab_analysis:run_ab_analyze",
               "A/B per-arm outcomes, tests, sample-ratio check and the rollout decision", per_market=True),
        JobDef("evaluate-email", "sendopt.evaluation.email_policy:run_evaluate_email",
               "true value of the published decisions vs baselines and the oracle (generated worlds)",
               per_market=True),
        JobDef("decide-push", "sendopt.channels.push.jobs:run_decide_push",
               "choose at most one push per user per period across strategies and publish it", per_market=True),
        JobDef("evaluate-push", "sendopt.evaluation.push_policy:run_evaluate_push",
               "true expected clicks of the published pushes vs random- and single-strategy baselines",
               per_market=True),
        JobDef("monitor", "sendopt.lifecycle.monitor:run_monitor",
               "feature/score drift (PSI), matured-outcome AUC and calibration, bin outcomes; retrain trigger "
               "and HTML report", per_market=True),
        JobDef("retrain", "sendopt.lifecycle.retrain:run_retrain",
               "gated retraining: challenger vs champion on a time-later holdout; champion moves only if all "
               "gate rules pass", per_market=True),
        JobDef("retrain-if-triggered", "sendopt.lifecycle.retrain:run_retrain_if_triggered",
               "run `retrain` for a market only if today's monitor recorded a trigger", per_market=True),
        JobDef("mcc-affinity", "sendopt.channels.push.affinity_job:run_mcc_affinity",
               "sequential MCC affinities (mcc2 within W days after mcc1) per region and window"),
        JobDef("evaluate-affinity", "sendopt.evaluation.mcc_affinity:run_evaluate_affinity",
               "precision/recall of the planted MCC pairs among the top affinities (generated worlds)"),
        JobDef("import-trial", "sendopt.channels.coupons.jobs:run_import_trial",
               "map a coupon trial (the world's, or --path file.csv|parquet|delta) onto features.coupon_trial"),
        JobDef("train-uplift", "sendopt.channels.coupons.jobs:run_train_uplift",
               "T/S/X/DR meta-learners per coupon level; MLflow per learner; gate picks the champion on the holdout"),
        JobDef("assign-coupons", "sendopt.channels.coupons.jobs:run_assign_coupons",
               "coupon level per new signup of the run date: net gain under the budget (Lagrangian dual)"),
        JobDef("evaluate-uplift", "sendopt.evaluation.coupon_policy:run_evaluate_uplift",
               "Qini/AUUC/uplift@k with intervals, IPS/DR policy values vs baselines, Q(B); truth + oracle on worlds"),
        JobDef("catalog", "sendopt.lake.maintenance:run_catalog",
               "list every catalog table with its path, version and row count"),
        JobDef("lake-maintenance", "sendopt.lake.maintenance:run_lake_maintenance",
               "compact, checkpoint and vacuum every existing table"),
    )
}

#: Pipelines: a name for a sequence of jobs run in one Spark session.
#: validate-raw first: it records the raw versions that passed, which later jobs then read without re-checking.
EMAIL_DAILY = ("validate-raw", "build-features", "ensure-models", "decide-email", "evaluate-email")
PUSH_DAILY = ("validate-raw", "mcc-affinity", "decide-push", "evaluate-push")
COUPONS = ("import-trial", "train-uplift", "assign-coupons", "evaluate-uplift")
PIPELINES: dict[str, tuple[str, ...]] = {
    # the production day: monitors first (a trigger retrains before deciding), then both channels decide
    "daily": ("validate-raw", "build-features", "mcc-affinity", "monitor", "retrain-if-triggered", "ensure-models", "ab-assign",
              "decide-email", "decide-push", "evaluate-email", "evaluate-push"),
    "email-daily": EMAIL_DAILY,
    "push-daily": PUSH_DAILY,
    "experiment": ("ab-analyze",),
    "coupons": COUPONS,
    "weekly-backtest": ("calibrate-tiers",),
    "demo": ("generate-world", "validate-raw", "build-features", "mcc-affinity", "ensure-models", "decide-email",
             "decide-push", "evaluate-email", "evaluate-push", "evaluate-affinity", "catalog"),
}
