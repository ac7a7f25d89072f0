"""Run under mpirun: train a model family with the generic trainer, save this rank's state.

argv: family (yolo or cnn), survey dir, run dir, per-rank batch size, optimizer, then any
further config overrides (key=value). Writes
<run>/rank<r>.npz with every model variable (trainable and batch-norm statistics); the step
losses are in the run's train_log.jsonl.
"""

import sys
from pathlib import Path

import numpy as np

from clusterhpc.train.identity import run_identity
from clusterhpc.train.tasks import make_task
from clusterhpc.train.trainer import Trainer
from tests.train.cnn_fixtures import cnn_config
from tests.train.fixtures import train_config

family, survey, run = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
batch, optimizer = sys.argv[4], sys.argv[5]
common = (
    f"train.batch_size={batch}",
    "train.lr_scaling=none",
    f"train.optimizer={optimizer}",
    *sys.argv[6:],
)
if family == "yolo":
    cfg = train_config(survey, run, *common, "train.augment_prob=0.5", "train.lr_init=0.001")
else:
    cfg = cnn_config(survey, run, *common, "train.augment_shift=0.1", "train.lr_init=0.01")
trainer = Trainer(make_task(cfg), cfg.train, run, cfg.seed, run_identity(cfg))
assert trainer.fit().status == "finished"
variables = {f"v{i}_{v.name}": v.numpy() for i, v in enumerate(trainer.model.variables)}
np.savez(run / f"rank{trainer.backend.rank}.npz", **variables)
