"""Learning rate per optimizer step: linear warm-up, then cosine decay (as YOLO-CL).

With N data-parallel ranks the global batch is N times larger; the peak rate is scaled by N
(`linear`, Goyal et al. 2017), by √N (`sqrt`), or kept (`none`). The warm-up starts from
zero, which is what keeps large scaled rates stable in the first epochs.
"""

from __future__ import annotations

import math

from clusterhpc.keras_compat import import_keras


def scaled_peak(lr: float, n_ranks: int, rule: str) -> float:
    factors = {"linear": float(n_ranks), "sqrt": math.sqrt(n_ranks), "none": 1.0}
    if rule not in factors:
        raise ValueError(f"unknown LR scaling {rule!r}; expected one of {sorted(factors)}")
    return lr * factors[rule]


def lr_at(step: float, peak: float, end: float, warmup_steps: float, total_steps: float) -> float:
    """Rate for 1-based optimizer step `step` (plain Python, for tests and plots)."""
    if warmup_steps > 0 and step <= warmup_steps:
        return step / warmup_steps * peak
    if step >= total_steps:
        return end
    progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
    return end + 0.5 * (peak - end) * (1 + math.cos(math.pi * progress))


def warmup_cosine(peak: float, end: float, warmup_steps: int, total_steps: int):
    """A Keras LearningRateSchedule computing `lr_at` from the optimizer's step counter."""
    tf, keras = import_keras()

    class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, iteration):
            step = tf.cast(iteration, tf.float32) + 1.0
            warm = tf.cast(warmup_steps, tf.float32)
            total = tf.cast(total_steps, tf.float32)
            progress = (step - warm) / tf.maximum(total - warm, 1.0)
            cosine = end + 0.5 * (peak - end) * (1.0 + tf.cos(math.pi * tf.minimum(progress, 1.0)))
            ramp = step / tf.maximum(warm, 1.0) * peak
            return tf.where(step <= warm, ramp, cosine)

        def get_config(self) -> dict:
            return {
                "peak": peak,
                "end": end,
                "warmup_steps": warmup_steps,
                "total_steps": total_steps,
            }

    return WarmupCosine()
