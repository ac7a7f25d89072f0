"""Run under mpirun: synchronised batch norm on this rank's slice of one global batch.

argv: output directory. Rank r writes OUT/rank{r}.npz with its outputs and gradients (training
mode, then inference mode), the layer's statistics after one training call, and whether the
training graph holds an op that op determinism cannot run on GPU. Rank 0 also writes the sync
layer's weights and reads them into a plain model, for `.weights.h5` interchangeability.
"""

import sys
from pathlib import Path

import horovod.tensorflow as hvd
import numpy as np

from clusterhpc.keras_compat import import_keras
from clusterhpc.models.determinism import find_unsupported
from clusterhpc.models.sync_batchnorm import sync_batch_norm

tf, keras = import_keras()
hvd.init()
out = Path(sys.argv[1])
rank, size = hvd.rank(), hvd.size()

# |mean| >> sigma: E[x^2] - E[x]^2 in float32 would lose every digit of the variance
rng = np.random.default_rng(0)
batch = (1e4 + rng.normal(size=(8, 3, 3, 4)) * np.array([1.0, 2.0, 0.5, 3.0])).astype("float32")
mine = batch[rank * 8 // size : (rank + 1) * 8 // size]


def model_with(layer):
    inputs = keras.Input((3, 3, 4))
    return keras.Model(inputs, layer(inputs))


sync = model_with(sync_batch_norm(name="bn_1", momentum=0.9))
sync.layers[1].gamma.assign([1.0, 2.0, 3.0, 4.0])
sync.layers[1].beta.assign([0.5, -0.5, 1.0, 0.0])
weights = np.linspace(-1, 1, 8 * 3 * 3 * 4, dtype="float32").reshape(8, 3, 3, 4)


@tf.function
def step(x, w):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = sync(x, training=True)
        loss = tf.reduce_sum(y * w)
    return y, tape.gradient(loss, [x, *sync.trainable_variables])


tf.config.experimental.enable_op_determinism()
x, w = tf.constant(mine), tf.constant(weights[rank * 8 // size : (rank + 1) * 8 // size])
unsupported = find_unsupported(step.get_concrete_function(x, w).graph.as_graph_def())
y, (dx, dgamma, dbeta) = step(x, w)
stats = [sync.layers[1].moving_mean.numpy(), sync.layers[1].moving_variance.numpy()]
y_inf = sync(x, training=False)
np.savez(
    out / f"rank{rank}.npz",
    y=y.numpy(),
    dx=dx.numpy(),
    dgamma=hvd.allreduce(dgamma, op=hvd.Sum).numpy(),
    dbeta=hvd.allreduce(dbeta, op=hvd.Sum).numpy(),
    moving_mean=stats[0],
    moving_variance=stats[1],
    y_inference=y_inf.numpy(),
    batch=batch,
    weights=weights,
    unsupported=np.array(unsupported, dtype=str),
)
if rank == 0:
    sync.save_weights(str(out / "sync.weights.h5"))
    fresh = model_with(keras.layers.BatchNormalization(name="bn_1"))
    fresh.load_weights(str(out / "sync.weights.h5"))
    np.savez(out / "loaded.npz", *[v.numpy() for v in fresh.weights])
    np.savez(out / "saved.npz", *[v.numpy() for v in sync.weights])
