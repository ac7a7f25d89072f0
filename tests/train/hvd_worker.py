"""Run under mpirun: train the tiny YOLO with the generic trainer, save this rank's state.

argv: survey dir, run dir, per-rank batch size, optimizer. Writes <run>/rank<r>.npz with every model
variable (trainable and batch-norm statistics) and the logged step losses.
"""

import sys
from pathlib import Path

import numpy as np

from clusterhpc.train.identity import run_identity
from clusterhpc.train.tasks import make_task
from clusterhpc.train.trainer import Trainer
from tests.train.fixtures import train_config

survey, run, batch, optimizer = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
cfg = train_config(
    survey,
    run,
    f"train.batch_size={batch}",
    "train.lr_scaling=none",
    "train.augment_prob=0.5",
    f"train.optimizer={optimizer}",
    "train.lr_init=0.001",
)
trainer = Trainer(make_task(cfg), cfg.train, run, cfg.seed, run_identity(cfg))
result = trainer.fit()
assert result.status == "finished"
variables = {f"v{i}_{v.name}": v.numpy() for i, v in enumerate(trainer.model.variables)}
np.savez(run / f"rank{trainer.backend.rank}.npz", **variables)
