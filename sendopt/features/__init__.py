"""Silver layer: point-in-time customer features, labels, feature selection."""
