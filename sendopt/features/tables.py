"""Silver layer: the customer feature table, its columns generated from the running ``features:`` config."""
from sendopt.features.registry import FeaturesConfig, feature_list
from sendopt.lake.spec import TableSpec, col


def customer_daily(features: FeaturesConfig) -> TableSpec:
    """``features.customer_daily`` with one column per feature of ``features`` (windows, categories)."""
    return TableSpec(
        "features",
        "customer_daily",
        description="Point-in-time customer features as of snapshot_date (events strictly before it). "
        "Columns follow sendopt/features/registry.py with the configured windows/categories.",
        columns=(
            col("user_id", "string", "Pseudonymous customer id", nullable=False),
            col("snapshot_date", "date", "Features use events dated strictly before this day", nullable=False),
            col("region", "string", "Market region", nullable=False),
            col("brand", "string", "Brand", nullable=False),
            *[col(f.name, "double", f.description) for f in feature_list(features)],
        ),
        keys=("user_id", "snapshot_date"),
        partition_by=("snapshot_date",),
    )


#: The table under the default config (its name and keys are the same under any config).
CUSTOMER_DAILY = customer_daily(FeaturesConfig())


def tables(config) -> list[TableSpec]:
    return [customer_daily(config.features)]
