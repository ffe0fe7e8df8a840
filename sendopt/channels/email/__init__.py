"""Email send-frequency decisioning: response model, net value, tiers, exploration, publishing."""
from sendopt.channels.email.config import EmailConfig
from sendopt.channels.seam import DecisionChannel, JobDef

_JOBS = "sendopt.channels.email.jobs"
_TRUTH = "sendopt.evaluation.jobs"

CHANNEL = DecisionChannel(
    name="email",
    config={"email": EmailConfig},
    tables="sendopt.channels.email.tables",
    jobs=(
        JobDef("train", f"{_JOBS}:run_train",
               "train, evaluate and register the email response model per market", per_market=True),
        JobDef("ensure-models", f"{_JOBS}:run_ensure_models",
               "train a market's email model only if it has no champion (email.train_in_daily)", per_market=True),
        JobDef("decide-email", f"{_JOBS}:run_decide_email",
               "score, bin, tier and publish weekly email frequencies per market", per_market=True),
        JobDef("backtest", f"{_JOBS}:run_backtest",
               "value email policies on past weeks' exploration holdout (IPS/SNIPS/DR); predicted vs actual "
               "per bin", per_market=True),
        JobDef("calibrate-tiers", f"{_JOBS}:run_calibrate_tiers",
               "backtest + Optuna search of the bin->tier thresholds; writes a YAML proposal for review",
               per_market=True),
        JobDef("backtest-truth", f"{_TRUTH}:run_backtest_truth",
               "calibrate-tiers plus every policy's true value (generated worlds)", per_market=True),
        JobDef("ab-assign", f"{_JOBS}:run_ab_assign",
               "record A/B arms (stable hash; exploration holdout excluded) of the decision snapshot's users",
               per_market=True),
        JobDef("ab-analyze", f"{_JOBS}:run_ab_analyze",
               "A/B per-arm outcomes, tests, sample-ratio check and the rollout decision", per_market=True),
        JobDef("evaluate-email", f"{_TRUTH}:run_evaluate_email",
               "true value of the published decisions vs baselines and the oracle (generated worlds)",
               per_market=True),
    ),
    daily={"models": ("ensure-models", "ab-assign"), "decide": ("decide-email",), "evaluate": ("evaluate-email",)},
    demo={"models": ("ensure-models",), "decide": ("decide-email",), "evaluate": ("evaluate-email",)},
    pipelines={
        "email-daily": ("validate-raw", "build-features", "ensure-models", "decide-email", "evaluate-email"),
        "experiment": ("ab-analyze",),
        "weekly-backtest": ("calibrate-tiers",),
    },
    lifecycle="sendopt.channels.email.lifecycle:EmailLifecycle",
    feature_snapshots="sendopt.channels.email.inputs:snapshot_needs",
)
