"""Generic trainer: Horovod data parallelism, schedules, checkpoints, signals, logs."""
