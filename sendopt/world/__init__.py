"""The synthetic world: a deterministic generator of the raw lake with planted ground truth."""
