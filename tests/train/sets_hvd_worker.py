"""Run under mpirun: train every catalogue-model kind with the generic trainer, save each
rank's variables.

argv: survey dir, run root, per-rank batch size. For each kind, writes
<run root>/<kind>/rank<r>.npz (every model variable) beside the run's train_log.jsonl.
"""

import sys
from pathlib import Path

import numpy as np

from clusterhpc.train.identity import run_identity
from clusterhpc.train.tasks import make_task
from clusterhpc.train.trainer import Trainer
from tests.train.sets_fixtures import KINDS, sets_config

survey, root, batch = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
for name, overrides in KINDS.items():
    run = root / name
    cfg = sets_config(
        survey,
        run,
        "janossy_redshift.yaml",
        *overrides,
        f"train.batch_size={batch}",
        "train.lr_scaling=none",
        "train.optimizer=sgd",
        "train.lr_init=0.01",
        "model.sets.targets=[z, centre, detect]",
    )
    trainer = Trainer(make_task(cfg), cfg.train, run, cfg.seed, run_identity(cfg))
    assert trainer.fit().status == "finished"
    variables = {f"v{i}_{v.name}": v.numpy() for i, v in enumerate(trainer.model.variables)}
    np.savez(run / f"rank{trainer.backend.rank}.npz", **variables)
