"""What every algorithm shares: parameters as data, the design matrix, cross-validation folds,
early stopping, the model base and registry, scoring and metrics, tables, persistence."""
