"""The catalogue models' outputs and loss: a Gaussian mean and ln σ per regression target,
and a logit for set detection.

Outputs are laid out target by target in `model.sets.targets` order: z, lnlam and lnmass take
(mean, ln σ), centre takes (east, north, ln σ) with one σ for both axes, detect takes one
logit. Regression targets are standardised with the training split's mean and standard
deviation; their loss is the Gaussian negative log-likelihood over the sets that have the
target (member sets with a known value), summed and divided by the batch size (so Horovod's
average over equal per-rank batches is the one-rank loss); detection's is the binary
cross-entropy.
ln σ is clipped to LOG_SIGMA_RANGE in the loss and at inference alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from clusterhpc.data.set_features import TARGET_WIDTH
from clusterhpc.keras_compat import import_keras

LOG_SIGMA_RANGE = (-7.0, 5.0)


@dataclass
class SetPredictions:
    """Per-set predictions in physical units: `mean` z, lnlam, lnmass (n,) and centre (n, 2)
    = (east, north) arcmin offsets from the set's member mean; `sigma` (n,) for each (centre:
    per axis, isotropic); `prob` (n,) the detection probability, None without that head."""

    mean: dict[str, np.ndarray]
    sigma: dict[str, np.ndarray]
    prob: np.ndarray | None = None


def output_width(targets: list[str]) -> int:
    """Outputs of a model predicting `targets`."""
    return sum(TARGET_WIDTH[t] + (t != "detect") for t in targets)


def split_outputs(outputs: Any, targets: list[str]) -> dict[str, tuple[Any, Any]]:
    """{target: (mean (B, w), clipped ln σ (B,))}, and for detect {"detect": (logit (B,), None)}."""
    tf, _ = import_keras()
    parts: dict[str, tuple[Any, Any]] = {}
    start = 0
    for name in targets:
        width = TARGET_WIDTH[name]
        if name == "detect":
            parts[name] = (outputs[:, start], None)
            start += 1
            continue
        mean = outputs[:, start : start + width]
        log_sigma = tf.clip_by_value(outputs[:, start + width], *LOG_SIGMA_RANGE)
        parts[name] = (mean, log_sigma)
        start += width + 1
    return parts


def set_loss(outputs: Any, batch: dict, targets: list[str]) -> dict[str, Any]:
    """Loss terms per target and their sum 'total'. `batch` holds standardised targets
    `y_<name>` (B, w) with 0 where unknown, and weights `w_<name>` (B,) (1: scored)."""
    tf, _ = import_keras()
    outputs = tf.cast(outputs, tf.float32)
    terms: dict[str, Any] = {}
    for name, (mean, log_sigma) in split_outputs(outputs, targets).items():
        y, weight = batch[f"y_{name}"], batch[f"w_{name}"]
        if name == "detect":
            per_set = tf.nn.sigmoid_cross_entropy_with_logits(labels=y[:, 0], logits=mean)
        else:
            width = float(TARGET_WIDTH[name])
            pull = (y - mean) * tf.exp(-log_sigma)[:, None]
            per_set = 0.5 * tf.reduce_sum(tf.square(pull), axis=1) + width * log_sigma
        # averaged over the whole batch, not over the scored sets: ranks of equal batches
        # then average to exactly the one-rank loss of the global batch
        terms[name] = tf.reduce_mean(per_set * weight)
    terms["total"] = tf.add_n(list(terms.values()))
    return terms
