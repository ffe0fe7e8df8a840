"""Table declarations, one module per area; ``sendopt.lake.catalog`` assembles them."""
