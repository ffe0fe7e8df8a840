"""Decision channels: each turns model scores into per-customer contact decisions."""
