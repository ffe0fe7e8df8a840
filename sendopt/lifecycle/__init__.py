"""Model lifecycle: gated retraining, monitoring, backtests and experiments, for every channel."""
