# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec: {display_name: Python 3, language: python, name: python3}
# ---

# %% [markdown]
# # Decisions overview
# A day's decisions across channels (email frequency, push, coupons, promos), their evaluation and the run
# ledger. Runs against `./lake`, or the lake in `$SENDOPT_LAKE_ROOT`; reads only through `sendopt.api`.

# %%
from pyspark.sql import functions as F

from sendopt.api import session

s = session()
print("tables written:", ", ".join(s.tables()) or "none yet — run `make demo`")

# %%
# Email: frequency mix per market for the latest decision date, and the net value per bin
email = s.table("decisions.email_frequency")
if email is None:
    print("decisions.email_frequency not written yet (sendopt decide-email)")
else:
    latest = email.where(F.col("decision_date") == email.agg(F.max("decision_date")).first()[0])
    latest.groupBy("region", "brand", "policy", "emails_per_week").count() \
        .orderBy("region", "brand", "emails_per_week").show(100)
    latest.groupBy("region", "brand", "bin").agg(
        F.count("*").alias("users"), F.avg("net_value_ref").alias("mean_net_value"),
        F.avg("emails_per_week").alias("emails")).orderBy("region", "brand", "bin").show(100)

# %%
# Push: notifications per strategy and send hour on the latest date
push = s.table("decisions.push_notifications")
if push is not None:
    last = push.agg(F.max("decision_date")).first()[0]
    push.where(F.col("decision_date") == last).groupBy("region", "brand", "strategy").agg(
        F.count("*").alias("pushes"), F.avg("calibrated_score").alias("p_click")).show(50)

# %%
# Coupons and promos: what was offered
for name, by in (("decisions.coupon_assignments", ["decision_date", "coupon_level", "reason"]),
                 ("decisions.promo_assignments", ["request_id", "segment", "design_id"])):
    df = s.table(name)
    if df is not None:
        df.groupBy(*by).count().orderBy(*by).show(50)

# %%
# Policies against the world's ground truth (generated worlds only) and the run ledger
for name in ("analytics.email_policy_evaluation", "analytics.push_policy_evaluation"):
    df = s.table(name)
    if df is not None:
        df.orderBy(F.desc("decision_date")).show(20)
ledger = s.table("ops.job_runs")
if ledger is not None:
    ledger.orderBy(F.desc("started_at")).select("run_id", "job", "region", "brand", "status", "seconds",
                                                "message").show(30, truncate=80)
