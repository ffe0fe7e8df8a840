"""Coupons for new customers by causal uplift (docs/uplift.md): the channel's declaration."""
from sendopt.channels.coupons.config import CouponsConfig
from sendopt.channels.seam import DecisionChannel, JobDef

CHANNEL = DecisionChannel(
    name="coupons",
    config={"coupons": CouponsConfig},
    tables="sendopt.channels.coupons.tables",
    jobs=(
        JobDef("import-trial", "sendopt.channels.coupons.jobs:run_import_trial",
               "map a coupon trial (the world's, or --path file.csv|parquet|delta) onto features.coupon_trial"),
        JobDef("train-uplift", "sendopt.channels.coupons.jobs:run_train_uplift",
               "T/S/X/DR meta-learners per coupon level; MLflow per learner; gate picks the champion on the holdout"),
        JobDef("assign-coupons", "sendopt.channels.coupons.jobs:run_assign_coupons",
               "coupon level per new signup of the run date: net gain under the budget (Lagrangian dual)"),
        JobDef("evaluate-uplift", "sendopt.evaluation.jobs:run_evaluate_uplift",
               "Qini/AUUC/uplift@k with intervals, IPS/DR policy values vs baselines, Q(B); truth + oracle on worlds"),
    ),
    demo={"models": ("import-trial", "train-uplift"), "decide": ("assign-coupons",), "evaluate": ("evaluate-uplift",)},
    pipelines={"coupons": ("import-trial", "train-uplift", "assign-coupons", "evaluate-uplift")},
)
