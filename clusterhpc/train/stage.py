"""`clusterhpc train CONFIG`: train `model.kind` on the packed survey, resumable.

Runs alone, under `horovodrun -np N`, `mpirun -np N` or `srun --mpi=pmix`. Exits with
EXIT_REQUEUE (75) after checkpointing when SIGTERM/SIGUSR1 arrives. Rank 0 writes
`train_summary.json` with every rank's replica record (`replicas`, `replicas_identical`: see
`clusterhpc.train.replicas`).
"""

from __future__ import annotations

import dataclasses
import json

from clusterhpc.config import Config, write_resolved
from clusterhpc.hpc.env import rank_info
from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.log import get_logger
from clusterhpc.models import inference_record
from clusterhpc.paths import run_dir
from clusterhpc.train.identity import run_identity
from clusterhpc.train.replicas import describe_divergence, diverged, replica_report
from clusterhpc.train.signals import EXIT_REQUEUE, StopRequest
from clusterhpc.train.tasks import make_task
from clusterhpc.train.trainer import Trainer

log = get_logger("train")


def main(cfg: Config) -> int:
    stop = StopRequest()
    stop.install()  # before TensorFlow loads: a warning signal during start-up is not fatal
    directory = run_dir(cfg)
    root = rank_info().is_root
    task = make_task(cfg)
    if root:
        write_resolved(cfg, directory)
        inference_record.start(directory, task.inference_values())
    trainer = Trainer(task, cfg.train, directory, cfg.seed, run_identity(cfg))
    result = trainer.fit(stop)
    replicas = replica_report(trainer.model, trainer.backend)  # on every rank
    bad = diverged(replicas)
    if root:
        summary = {
            **dataclasses.asdict(result),
            "ranks": rank_info().size,
            "replicas": replicas,
            "replicas_identical": not bad,
        }
        atomic_write_text(directory / "train_summary.json", json.dumps(summary, indent=1))
        if bad:
            log.warning(
                "ranks ended with different weights: %s", describe_divergence(replicas, bad)
            )
    if result.status == "interrupted":
        log.warning(
            "stopped by a signal at step %d; resubmit to continue (exit %d)",
            result.global_step,
            EXIT_REQUEUE,
        )
        return EXIT_REQUEUE
    log.info(
        "trained %d epochs, %d steps, %.1f images/s",
        result.epochs_done,
        result.global_step,
        result.images_per_second,
    )
    return 0
