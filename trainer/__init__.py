"""edgernn trainer: torch data sets, models, the training loop, metrics and checkpoints."""
