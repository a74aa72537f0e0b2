"""edgernn.tune: budgeted search over model settings (Optuna); uses export, trainer and runtime."""
