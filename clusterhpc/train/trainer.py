"""The generic trainer: one optimizer step per batch, data parallel with Horovod.

- Every rank builds the model from the same seed; rank 0's weights and optimizer state are
  broadcast before the first step; gradients are averaged by `DistributedGradientTape`;
  logged metrics are averaged over ranks.
- Learning rate: warm-up + cosine per step, peak scaled with the number of ranks.
- Checkpoints (model, optimizer, epoch, step within the epoch) at every epoch end, every
  `checkpoint_every` steps and when SIGTERM/SIGUSR1 arrives; only rank 0 writes, every rank
  restores the same one. Data order and augmentation are functions of (seed, epoch), so a
  resumed run continues with exactly the batches the interrupted one would have seen; only
  checkpoints of the same configuration are resumed (`identity`).
- Rank 0 writes `train_log.jsonl`, TensorBoard scalars and `plots/training_curves.png`.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clusterhpc.config import ConfigError, TrainConfig
from clusterhpc.keras_compat import import_keras
from clusterhpc.log import get_logger
from clusterhpc.train import identity as identity_module
from clusterhpc.train.backend import make_backend
from clusterhpc.train.schedule import scaled_peak, warmup_cosine
from clusterhpc.train.signals import StopRequest
from clusterhpc.train.task import Task

log = get_logger("train")
LOG_NAME = "train_log.jsonl"


@dataclass
class TrainResult:
    status: str  # "finished" or "interrupted"
    epochs_done: int
    global_step: int
    images_per_second: float
    final_losses: dict[str, float]


class Trainer:
    def __init__(
        self,
        task: Task,
        settings: TrainConfig,
        run_dir: str | Path,
        seed: int,
        identity: dict[str, Any] | None = None,
    ) -> None:
        """`identity`: the config values the checkpoints depend on (`train.identity`); when
        given, it is completed with the task's inputs and the rank count, and checkpoints of
        another configuration are set aside instead of resumed."""
        self.task = task
        self.settings = settings
        self.run_dir = Path(run_dir)
        self.seed = seed
        self.identity = identity
        self.backend = make_backend(
            settings.stall_timeout_s,
            settings.allreduce_compression,
            settings.fusion_threshold_mb,
            settings.cycle_time_ms,
        )
        self.is_root = self.backend.rank == 0

    def _setup(self) -> None:
        tf, keras = import_keras()
        cfg = self.settings
        if cfg.deterministic:
            tf.config.experimental.enable_op_determinism()
        if cfg.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_float16")
        keras.utils.set_random_seed(self.seed)
        self.model = self.task.build_model()
        steps = self.task.steps_per_epoch(self.backend.size)
        if cfg.max_steps_per_epoch:
            steps = min(steps, cfg.max_steps_per_epoch)
        if steps < 1:
            raise ValueError(
                f"{self.task.name}: not one step per epoch with batch "
                f"{cfg.batch_size} x {self.backend.size} ranks; use fewer ranks "
                "or a smaller train.batch_size"
            )
        self.steps = steps
        peak = scaled_peak(cfg.lr_init, self.backend.size, cfg.lr_scaling)
        self.schedule = warmup_cosine(
            peak, cfg.lr_end, round(cfg.warmup_epochs * steps), cfg.epochs * steps
        )
        if cfg.optimizer == "adam":
            optimizer = keras.optimizers.Adam(self.schedule)
        else:
            optimizer = keras.optimizers.SGD(self.schedule, momentum=0.9)
        if cfg.mixed_precision:
            optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
        optimizer.build(self.model.trainable_variables)
        self.optimizer = optimizer
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(
            model=self.model,
            optimizer=optimizer,
            epoch=self.epoch,
            step_in_epoch=self.step_in_epoch,
        )
        if self.identity is not None:
            self._claim_checkpoints()
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.run_dir / "checkpoints", max_to_keep=cfg.keep_checkpoints
        )
        self._restore()
        # counters too: every rank resumes at rank 0's epoch and step, like its weights
        counters = [self.epoch, self.step_in_epoch]
        self.backend.broadcast(self.model.variables + list(optimizer.variables) + counters)
        self.train_step = tf.function(self._train_step, jit_compile=cfg.xla)
        self.eval_step = tf.function(self._eval_step)

    def _claim_checkpoints(self) -> None:
        """Resume only this configuration's checkpoints (see `train.identity`)."""
        identity = {
            **self.identity,
            **self.task.input_identity(),
            "launch.ranks": self.backend.size,
        }
        changed = identity_module.stale_keys(self.run_dir, identity)
        if changed and self.settings.resume == "must":
            raise ConfigError(
                f"train.resume=must but the checkpoints in {self.run_dir / 'checkpoints'} were "
                f"made with other values of: {identity_module.describe(changed)}"
            )
        self.backend.barrier()  # every rank has looked before rank 0 moves anything
        failed = False
        if self.is_root:
            try:
                identity_module.claim(self.run_dir, identity, changed)
            except OSError:
                log.exception("could not set aside the checkpoints of %s", self.run_dir)
                failed = True
        if self.backend.any(failed):
            raise RuntimeError(f"rank 0 could not prepare {self.run_dir / 'checkpoints'}")

    def _restore(self) -> None:
        latest = self.manager.latest_checkpoint
        mode = self.settings.resume
        if mode == "must" and latest is None:
            raise FileNotFoundError(
                f"train.resume=must but no checkpoint in {self.run_dir / 'checkpoints'}"
            )
        if mode == "never" or latest is None:
            return
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        log.info(
            "resumed from %s (epoch %d, step %d)", latest, int(self.epoch), int(self.step_in_epoch)
        )

    def _train_step(self, batch):
        tf, _ = import_keras()
        with tf.GradientTape() as tape:
            terms = self.task.loss(self.model, batch, training=True)
            decay = tf.add_n(self.model.losses) if self.model.losses else tf.constant(0.0)
            total = terms["total"] + decay
            scaled = (
                self.optimizer.get_scaled_loss(total) if self.settings.mixed_precision else total
            )
        tape = self.backend.tape(tape)
        grads = tape.gradient(scaled, self.model.trainable_variables)
        if self.settings.mixed_precision:
            grads = self.optimizer.get_unscaled_gradients(grads)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables, strict=True))
        return {**terms, "weight_decay": decay, "total": total}

    def _eval_step(self, batch):
        return self.task.loss(self.model, batch, training=False)

    @property
    def global_step(self) -> int:
        return int(self.optimizer.iterations)

    def _save(self, reason: str) -> None:
        if self.is_root:
            path = self.manager.save(checkpoint_number=self.global_step)
            log.info("checkpoint %s (%s)", path, reason)
        self.backend.barrier()

    def fit(self, stop: StopRequest | None = None) -> TrainResult:
        """Train to `epochs`, or until a stop signal (then status 'interrupted').

        `stop` may have been installed earlier (before TensorFlow loads) so that a signal
        arriving during start-up is not fatal; it is then honoured before the first step."""
        if stop is None:
            stop = StopRequest()
            stop.install()
        try:
            self._setup()
        except BaseException:
            stop.restore()
            raise
        logger = _RunLogger(self.run_dir, self.is_root, self.global_step)
        images, seconds, steps_run = 0, 0.0, 0
        last: dict[str, float] = {}
        try:
            while int(self.epoch) < self.settings.epochs:
                epoch, start = int(self.epoch), int(self.step_in_epoch)
                if self.backend.any(stop.requested):
                    self._save(f"signal {stop.received or 'on another rank'} before step")
                    return TrainResult("interrupted", epoch, self.global_step, 0.0, last)
                sums: dict[str, float] = {}
                n_steps = 0
                batches = self.task.train_batches(
                    epoch, start, self.backend.rank, self.backend.size
                )
                for step, batch in zip(range(start, self.steps), batches, strict=False):
                    tic = time.perf_counter()
                    terms = self.train_step(batch)
                    terms = {k: float(v) for k, v in self.backend.average(terms).items()}
                    elapsed = time.perf_counter() - tic
                    n_images = self.task.batch_size(batch) * self.backend.size
                    if steps_run:  # the first step traces the graph: not throughput
                        images, seconds = images + n_images, seconds + elapsed
                    steps_run += 1
                    self.step_in_epoch.assign(step + 1)
                    n_steps += 1
                    sums = {k: sums.get(k, 0.0) + v for k, v in terms.items()}
                    last = terms
                    if (step + 1) % self.settings.log_every == 0 or step + 1 == self.steps:
                        lr = float(self.schedule(self.optimizer.iterations - 1))
                        logger.step(self.global_step, epoch, lr, terms, n_images / elapsed)
                    every = self.settings.checkpoint_every
                    if every and self.global_step % every == 0 and step + 1 < self.steps:
                        self._save(f"every {every} steps")
                    if self.backend.any(stop.requested):
                        self._save(f"signal {stop.received or 'on another rank'}")
                        return TrainResult(
                            "interrupted",
                            epoch,
                            self.global_step,
                            images / max(seconds, 1e-9),
                            last,
                        )
                self.epoch.assign(epoch + 1)
                self.step_in_epoch.assign(0)
                means = {k: v / max(n_steps, 1) for k, v in sums.items()}
                valid = self._validate()
                logger.epoch(epoch + 1, self.global_step, means, valid)
                self._save(f"end of epoch {epoch + 1}")
        finally:
            stop.restore()
            logger.close()
        if self.is_root:
            self.model.save_weights(str(self.run_dir / "final.weights.h5"))
            logger.plot()
        return TrainResult(
            "finished", int(self.epoch), self.global_step, images / max(seconds, 1e-9), last
        )

    def _validate(self) -> dict[str, float]:
        if not self.settings.validate:
            return {}
        batches = self.task.valid_batches(self.backend.rank, self.backend.size)
        if batches is None:
            return {}
        sums: dict[str, float] = {}
        count = 0
        for batch in itertools.islice(batches, self.settings.max_valid_steps or None):
            terms = self.backend.average(self.eval_step(batch))
            sums = {k: sums.get(k, 0.0) + float(v) for k, v in terms.items()}
            count += 1
        return {k: v / count for k, v in sums.items()} if count else {}


class _RunLogger:
    """Rank 0's JSON-lines log, TensorBoard scalars and curve plot; no-ops elsewhere."""

    def __init__(self, run_dir: Path, active: bool, resumed_step: int) -> None:
        self.active = active
        self.path = run_dir / LOG_NAME
        self.writer = None
        if not active:
            return
        tf, _ = import_keras()
        run_dir.mkdir(parents=True, exist_ok=True)
        self._truncate_after(resumed_step)
        self.writer = tf.summary.create_file_writer(str(run_dir / "tensorboard"))

    def _truncate_after(self, step: int) -> None:
        """Drop rows logged after the checkpoint we resume from (they will be redone)."""
        if not self.path.exists():
            return
        rows = [json.loads(line) for line in self.path.read_text().splitlines() if line]
        kept = [r for r in rows if r["step"] <= step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def _write(self, row: dict) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")

    def step(self, step: int, epoch: int, lr: float, terms: dict, rate: float) -> None:
        if not self.active:
            return
        tf, _ = import_keras()
        self._write(
            {
                "kind": "step",
                "step": step,
                "epoch": epoch,
                "lr": lr,
                "images_per_second": rate,
                **terms,
            }
        )
        with self.writer.as_default(step=step):
            for name, value in terms.items():
                tf.summary.scalar(f"train/{name}", value)
            tf.summary.scalar("lr", lr)
            tf.summary.scalar("images_per_second", rate)
        log.info(
            "step %d epoch %d lr %.2e loss %.4f (%.1f img/s)", step, epoch, lr, terms["total"], rate
        )

    def epoch(self, epoch: int, step: int, train: dict, valid: dict) -> None:
        if not self.active:
            return
        tf, _ = import_keras()
        self._write(
            {
                "kind": "epoch",
                "step": step,
                "epoch": epoch,
                **{f"train_{k}": v for k, v in train.items()},
                **{f"valid_{k}": v for k, v in valid.items()},
            }
        )
        with self.writer.as_default(step=step):
            for name, value in valid.items():
                tf.summary.scalar(f"valid/{name}", value)
        text = f" valid {valid['total']:.4f}" if valid else ""
        log.info("epoch %d done: train %.4f%s", epoch, train.get("total", np.nan), text)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def plot(self) -> None:
        from clusterhpc.train.curves import plot_training_curves

        plot_training_curves(self.path, self.path.parent / "plots" / "training_curves.png")
