"""Email send-frequency decisioning: response model, net value, tiers, exploration, publishing."""
