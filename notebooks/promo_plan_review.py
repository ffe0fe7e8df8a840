# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec: {display_name: Python 3, language: python, name: python3}
# ---

# %% [markdown]
# # Promo plan review and uplift curves
# Campaign requests and their status, the chosen plan and Pareto front per request (`decisions.promo_plans`),
# reach per segment, the truth evaluation of plans (generated worlds), and the coupon uplift curves
# (`analytics.coupon_evaluation`: Qini/AUUC per learner).

# %%
from pyspark.sql import functions as F

from sendopt.api import session

s = session()

# %%
requests = s.table("ops.promo_requests")
status = s.table("ops.promo_request_status")
if requests is None:
    print("no campaign requests yet (sendopt submit-promo-request, or POST /api/promo-requests)")
else:
    latest = None
    if status is not None:
        latest = status.groupBy("request_id").agg(F.max_by("status", "updated_at").alias("planning_status"))
    view = requests.select("request_id", "merchant_id", "start_date", "end_date", "budget", "max_cps",
                           "submitted_at")
    (view.join(latest, "request_id", "left") if latest is not None else view).orderBy(F.desc("submitted_at")).show(20)

# %%
plans = s.table("decisions.promo_plans")
if plans is not None:
    chosen = plans.where(F.col("kind").isin("chosen", "pareto"))
    chosen.select("request_id", "kind", "plan_rank", "designs", "reach", "metrics", "feasible") \
        .orderBy("request_id", "plan_rank").show(30, truncate=70)
    front = chosen.select("request_id", "plan_rank", "kind", F.col("metrics")["cost"].alias("cost"),
                          F.col("metrics")["net_revenue"].alias("net_revenue")).orderBy("request_id", "cost")
    front.show(30)
    plans.where(F.col("kind") == "segment").select("request_id", "name", "designs", "reach").show(30, truncate=60)

# %%
for name in ("analytics.promo_evaluation", "analytics.coupon_evaluation"):
    df = s.table(name)
    if df is not None:
        df.show(30, truncate=80)
