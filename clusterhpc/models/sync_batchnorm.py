"""Batch normalisation with statistics over all Horovod ranks, computed in two passes.

Horovod's SyncBatchNormalization all-reduces E[x] and E[x²] and takes their difference, which
cancels catastrophically where |mean| ≫ σ (worst under float16); so does Keras's fused batch
norm, and the gradients of `tf.nn.batch_normalization`. Here the global mean is
all-reduced first and the variance is the all-reduced mean of (x − mean)², the same formula
one rank uses on the whole batch. Every rank must hold the same number of examples (the
trainer guarantees it). Gradients flow through the all-reduces.

Built on Keras's public layer API only: the training-mode `call` is overridden, inference is
the parent's, and the weights are the parent's (gamma, beta, moving_mean, moving_variance).
"""

from __future__ import annotations

import functools

from clusterhpc.hpc.env import rank_info
from clusterhpc.keras_compat import import_keras


def sync_batch_norm(name: str | None = None, momentum: float = 0.99):
    return _layer_class()(name=name, momentum=momentum)


def batch_norm_layer(name: str, momentum: float, sync: bool):
    """Batch normalisation; with `sync` and under Horovod, statistics over all ranks, so that
    N ranks with batch b compute exactly what one rank with batch N*b computes."""
    if sync and rank_info().distributed:
        return sync_batch_norm(name=name, momentum=momentum)
    _, keras = import_keras()
    return keras.layers.BatchNormalization(momentum=momentum, name=name)


@functools.cache
def _layer_class():
    tf, keras = import_keras()
    import horovod.tensorflow as hvd

    # Named like the Keras class on purpose: `.weights.h5` files key layers by their class
    # name, so weights trained on N ranks then load into the plain model and back.
    class BatchNormalization(keras.layers.BatchNormalization):
        """`keras.layers.BatchNormalization` whose training-mode statistics are global."""

        def call(self, inputs, training=None):
            if training is None:
                training = keras.backend.learning_phase()
            if not (training and self.trainable):  # Keras: a frozen layer runs in inference
                return super().call(inputs, training=False)
            # statistics and normalisation in float32 also for float16 inputs, as Keras does
            x = tf.cast(inputs, self.moving_mean.dtype)
            axes = [i for i in range(x.shape.rank) if i not in self.axis]
            count = tf.cast(tf.reduce_prod(tf.gather(tf.shape(x), axes)) * hvd.size(), x.dtype)
            total = hvd.allreduce(tf.reduce_sum(x, axes, keepdims=True), op=hvd.Sum)
            mean = total / count
            centred = x - mean
            squares = tf.reduce_sum(tf.square(centred), axes, keepdims=True)
            variance = hvd.allreduce(squares, op=hvd.Sum) / count
            decay = 1.0 - self.momentum
            for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
                moving.assign_sub((moving - tf.reshape(batch, moving.shape)) * decay)
            # (x - mean) / sigma first, not x * (gamma / sigma) + (beta - mean * gamma / sigma)
            # as tf.nn.batch_normalization: its gradients cancel where |mean| >> sigma
            outputs = centred * tf.math.rsqrt(variance + self.epsilon)
            if self.gamma is not None:
                outputs *= tf.reshape(self.gamma, mean.shape)
            if self.beta is not None:
                outputs += tf.reshape(self.beta, mean.shape)
            return tf.cast(outputs, inputs.dtype)

    return BatchNormalization
