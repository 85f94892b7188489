"""Models: causal lap features, the next-lap predictor, the incident detector, loss
injection for their backtests, the live model job and model persistence."""
