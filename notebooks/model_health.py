# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec: {display_name: Python 3, language: python, name: python3}
# ---

# %% [markdown]
# # Model health
# AUC and calibration of the published models over time (matured outcomes, `monitoring.performance`), the
# gate's decisions (`ops.model_evaluations`), drift (`monitoring.feature_psi`) and the champion's feature
# importance (from the MLflow registry of this lake).

# %%
from pyspark.sql import functions as F

from sendopt.api import session

s = session()

# %%
perf = s.table("monitoring.performance")
if perf is None:
    print("monitoring.performance not written yet (sendopt monitor)")
else:
    pdf = perf.select("region", "brand", "week_start", "model_version", "auc", "ece", "predicted_purchase",
                      "observed_purchase").orderBy("region", "brand", "week_start").toPandas()  # weeks x markets
    print(pdf.to_string(index=False))
    try:
        import matplotlib.pyplot as plt

        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3))
        for (region, brand), g in pdf.groupby(["region", "brand"]):
            a1.plot(g.week_start, g.auc, marker="o", label=f"{region}/{brand}")
            a2.plot(g.week_start, g.ece, marker="o", label=f"{region}/{brand}")
        a1.set_title("AUC over time"), a2.set_title("calibration error (ECE) over time"), a1.legend(fontsize=7)
        fig.autofmt_xdate()
    except ImportError:
        pass

# %%
gate = s.table("ops.model_evaluations")
if gate is not None:
    gate.orderBy(F.desc("run_date")).select("run_date", "region", "brand", "model_name", "model_version", "role",
                                            "decision", "auc", "reasons").show(30, truncate=60)
psi = s.table("monitoring.feature_psi")
if psi is not None:
    psi.where(F.col("status") != "ok").orderBy(F.desc("psi")).show(20)

# %%
models = s.registered_models()
print("registered models:", models or "none yet")
for name in models[:3]:
    try:
        top = sorted(s.feature_importance(name).items(), key=lambda kv: -kv[1])[:10]
    except Exception as exc:  # a model logged without importance (e.g. an uplift learner)
        print(name, ": no feature importance:", exc)
        continue
    print(name, "top features by gain:", ", ".join(f"{f} {v:.0f}" for f, v in top))
