# Databricks notebook source / Jupyter-compatible script (cells separated by "# COMMAND ----------")
# Overview of a day's email decisions, their evaluation and the run ledger.

# COMMAND ----------
from pyspark.sql import functions as F

from sendopt.api import session

s = session(overrides=["lake.root=./lake"])
lake = s.lake

# COMMAND ----------
# Frequency mix per market for the latest decision date
decisions = lake.read("decisions.email_frequency")
latest = decisions.agg(F.max("decision_date")).first()[0]
(decisions.where(F.col("decision_date") == latest)
 .groupBy("region", "brand", "policy", "emails_per_week").count()
 .orderBy("region", "brand", "emails_per_week").show(100))

# COMMAND ----------
# Net value by bin: the governance view (rank → bin → tier)
(decisions.where(F.col("decision_date") == latest)
 .groupBy("region", "brand", "bin")
 .agg(F.count("*").alias("users"), F.avg("net_value_ref").alias("mean_net_value"),
      F.avg("tier_frequency").alias("tier"), F.avg("optimal_frequency").alias("optimal"))
 .orderBy("region", "brand", "bin").show(100))

# COMMAND ----------
# Policies against the world's ground truth (generated worlds)
lake.read("analytics.email_policy_evaluation").orderBy("decision_date", "region", "brand",
                                                        F.desc("net_value_per_user")).show(100)

# COMMAND ----------
# The run ledger: what ran, with which inputs, and how it ended
lake.read("ops.job_runs").orderBy(F.desc("started_at")).select(
    "run_id", "job", "region", "brand", "status", "seconds", "message").show(50, truncate=80)
