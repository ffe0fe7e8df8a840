"""Push notifications: MCC affinities, candidate strategies and the orchestrated daily decision."""
from sendopt.channels.push.affinity_config import AffinityConfig
from sendopt.channels.push.config import PushConfig
from sendopt.channels.seam import DecisionChannel, JobDef

_JOBS = "sendopt.channels.push.jobs"
_TRUTH = "sendopt.evaluation.jobs"

CHANNEL = DecisionChannel(
    name="push",
    config={"affinity": AffinityConfig, "push": PushConfig},
    tables="sendopt.channels.push.tables",
    jobs=(
        JobDef("decide-push", f"{_JOBS}:run_decide_push",
               "choose at most one push per user per period across strategies and publish it", per_market=True),
        JobDef("evaluate-push", f"{_TRUTH}:run_evaluate_push",
               "true expected clicks of the published pushes vs random- and single-strategy baselines",
               per_market=True),
        JobDef("mcc-affinity", f"{_JOBS}:run_mcc_affinity",
               "sequential MCC affinities (mcc2 within W days after mcc1) per region and window"),
        JobDef("evaluate-affinity", f"{_TRUTH}:run_evaluate_affinity",
               "precision/recall of the planted MCC pairs among the top affinities (generated worlds)"),
    ),
    daily={"prepare": ("mcc-affinity",), "decide": ("decide-push",), "evaluate": ("evaluate-push",)},
    demo={"prepare": ("mcc-affinity",), "decide": ("decide-push",), "evaluate": ("evaluate-push", "evaluate-affinity")},
    pipelines={"push-daily": ("validate-raw", "mcc-affinity", "decide-push", "evaluate-push")},
)
