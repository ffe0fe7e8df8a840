"""Silver layer: the customer feature table (columns generated from the feature registry)."""
from sendopt.features.registry import FeaturesConfig, feature_list
from sendopt.lake.spec import TableSpec, col

CUSTOMER_DAILY = TableSpec(
    "features",
    "customer_daily",
    description="Point-in-time customer features as of snapshot_date (events strictly before it). "
    "Columns follow sendopt/features/registry.py with the default windows/categories.",
    columns=(
        col("user_id", "string", "Pseudonymous customer id", nullable=False),
        col("snapshot_date", "date", "Features use events dated strictly before this day", nullable=False),
        col("region", "string", "Market region", nullable=False),
        col("brand", "string", "Brand", nullable=False),
        *[col(f.name, "double", f.description) for f in feature_list(FeaturesConfig())],
    ),
    keys=("user_id", "snapshot_date"),
    partition_by=("snapshot_date",),
)

TABLES = [CUSTOMER_DAILY]
