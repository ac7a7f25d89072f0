"""Batch normalisation with statistics over all Horovod ranks, computed in two passes.

Horovod's SyncBatchNormalization all-reduces E[x] and E[x²] and takes their difference, which
cancels catastrophically where |mean| ≫ σ (worst under float16). Here the global mean is
all-reduced first and the variance is the all-reduced mean of (x − mean)², the same formula
one rank uses on the whole batch. Every rank must hold the same number of examples (the
trainer guarantees it). Gradients flow through the all-reduces.
"""

from __future__ import annotations

from clusterhpc.keras_compat import import_keras


def sync_batch_norm(name: str | None = None, momentum: float = 0.99):
    tf, keras = import_keras()
    import horovod.tensorflow as hvd

    # Named like the Keras class on purpose: `.weights.h5` files key layers by their class
    # name, so weights trained on N ranks then load into the plain model and back.
    class BatchNormalization(keras.layers.BatchNormalization):
        def __init__(self, **kwargs) -> None:
            super().__init__(fused=False, **kwargs)

        def _moments(self, inputs, reduction_axes, keep_dims, mask=None):
            if mask is not None:
                raise NotImplementedError("masked synchronised batch normalisation")
            local = tf.reduce_prod(tf.gather(tf.shape(inputs), reduction_axes))
            count = tf.cast(local * hvd.size(), inputs.dtype)
            total = hvd.allreduce(tf.reduce_sum(inputs, reduction_axes, keepdims=True), op=hvd.Sum)
            mean = total / count
            squares = tf.reduce_sum(tf.square(inputs - mean), reduction_axes, keepdims=True)
            variance = hvd.allreduce(squares, op=hvd.Sum) / count
            if not keep_dims:
                mean = tf.squeeze(mean, reduction_axes)
                variance = tf.squeeze(variance, reduction_axes)
            return mean, variance

    return BatchNormalization(name=name, momentum=momentum)
