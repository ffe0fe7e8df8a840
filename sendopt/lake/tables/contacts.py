"""Cross-channel contact history: every channel records whom it contacted, the cooldown rules read it."""
from sendopt.lake.spec import TableSpec, col, market_columns

CONTACT_HISTORY = TableSpec(
    "decisions",
    "contact_history",
    description="One row per customer contact any channel published (push, email, ...). Channels write their "
    "slice per (channel, contact_date, region, brand) with replace, so a re-run replaces its contacts; "
    "the push filter reads it for the cross-channel cooldown.",
    columns=(
        col("channel", "string", "push | email | ... (partition)", nullable=False),
        col("contact_date", "date", "Business date of the contact (partition)", nullable=False),
        col("user_id", "string", "Customer contacted", nullable=False),
        *market_columns("partition"),
        col("contact_ts", "timestamp", "Planned contact time (UTC)", nullable=False),
        col("contact_hour", "int", "Hour of the contact", unit="hour (0-23, UTC)"),
        col("campaign", "string", "Campaign or strategy, e.g. mcc_affinity"),
        col("reference_id", "string", "What was promoted (store id, offer id, ...)"),
        col("decision_table", "string", "Table holding the full decision, e.g. decisions.push_notifications"),
        col("run_id", "string", "Job run that recorded the contact", nullable=False),
        col("recorded_at", "timestamp", "When it was recorded (UTC)", nullable=False),
    ),
    keys=("channel", "contact_date", "user_id", "campaign"),
    partition_by=("channel", "contact_date", "region", "brand"),
)

TABLES = [CONTACT_HISTORY]
