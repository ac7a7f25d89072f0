"""The classifier's loss: weighted binary cross-entropy, plus a Gaussian z likelihood.

The z term is the β-NLL of Seitzer et al. (2022, β = 1/2): each example's Gaussian negative
log-likelihood weighted by σ^(2β), held constant in the gradient. Plain NLL lets a large early
error inflate σ, whose 1/σ² then starves the mean of gradient (z stuck at a constant); with
β = 1/2 the mean's gradient scales as 1/σ instead.

Both terms are means over the batch (not over its positives), so the average of N ranks'
losses on N slices is the loss of one rank on the whole batch (Horovod equivalence).
"""

from __future__ import annotations

from clusterhpc.keras_compat import import_keras

# ln σ_z = hi - softplus(hi - raw): a smooth upper bound (a hard clip stops the gradient, and
# a large early error would park σ there), then a hard floor that only extremes reach
LOG_SIGMA_RANGE = (-7.0, 0.0)
BETA = 0.5


def split_outputs(outputs):
    """(logit, z mean, ln σ_z) of raw (batch, 1 or 3) outputs, as TensorFlow tensors;
    the z terms are None without a redshift head."""
    tf, _ = import_keras()
    logit = outputs[:, 0]
    if outputs.shape[-1] == 1:
        return logit, None, None
    lo, hi = LOG_SIGMA_RANGE
    log_sigma = tf.maximum(hi - tf.math.softplus(hi - outputs[:, 2]), lo)
    return logit, outputs[:, 1], log_sigma


def cnn_loss(outputs, label, weight, z) -> dict:
    """Loss terms of raw outputs against labels (1 cluster, 0 not), example weights and the
    true z (used on clusters only when the model has a redshift head)."""
    tf, _ = import_keras()
    logit, z_mean, log_sigma = split_outputs(outputs)
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=label, logits=logit)
    terms = {"bce": tf.reduce_mean(weight * bce)}
    if z_mean is not None:
        safe_z = tf.where(label > 0, z, tf.zeros_like(z))
        nll = 0.5 * tf.square((safe_z - z_mean) * tf.exp(-log_sigma)) + log_sigma
        weight_beta = tf.stop_gradient(tf.exp(2 * BETA * log_sigma))
        terms["z_nll"] = tf.reduce_mean(label * weight_beta * nll)
    terms["total"] = tf.add_n(list(terms.values()))
    return terms
