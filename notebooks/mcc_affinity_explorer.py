# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec: {display_name: Python 3, language: python, name: python3}
# ---

# %% [markdown]
# # MCC affinity explorer
# Which merchant categories follow which (`analytics.mcc_affinity`): the lift of P(MCC2 soon after MCC1) over
# the refined baseline, with support. Change `TRIGGER` to explore one category.

# %%
from pyspark.sql import functions as F

from sendopt.api import session

s = session()
TRIGGER = None  # e.g. "5812" (restaurants)

# %%
aff = s.table("analytics.mcc_affinity")
if aff is None:
    print("analytics.mcc_affinity not written yet (sendopt mcc-affinity)")
else:
    latest = aff.where(F.col("run_date") == aff.agg(F.max("run_date")).first()[0])
    if TRIGGER:
        latest = latest.where(F.col("mcc1") == TRIGGER)
    cols = [c for c in ("region", "window_days", "mcc1", "mcc2", "pair_count", "p_mcc2_given_mcc1",
                        "p_mcc2_refined", "lift_naive", "lift_refined") if c in latest.columns]
    latest.select(*cols).orderBy(F.desc(cols[-1])).show(30)
    latest.groupBy("region").agg(F.count("*").alias("pairs")).show()
