"""Promo campaigns for merchants (docs/promo.md): requests in, segment plans and assignments out."""
from sendopt.channels.promo.config import PromoConfig
from sendopt.channels.seam import DecisionChannel, JobDef

CHANNEL = DecisionChannel(
    name="promo",
    config={"promo": PromoConfig},
    tables="sendopt.channels.promo.tables",
    jobs=(
        JobDef("submit-promo-request", "sendopt.channels.promo.jobs:run_submit_promo_request",
               "validate a campaign request (--request JSON|FILE) and append it to ops.promo_requests"),
        JobDef("plan-promos", "sendopt.channels.promo.jobs:run_plan_promos",
               "plan every pending campaign request: segments, designs, response models, simulator, Optuna "
               "tuning; plans, assignments and status in Delta"),
        JobDef("evaluate-promos", "sendopt.evaluation.jobs:run_evaluate_promos",
               "true incremental revenue, cost, orders and CPS of each plan vs blanket, best fixed design, "
               "segment rule and the truth oracle (generated worlds)"),
    ),
    demo={"decide": ("plan-promos",), "evaluate": ("evaluate-promos",)},
    pipelines={"promo": ("plan-promos", "evaluate-promos")},
)
