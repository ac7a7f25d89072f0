"""Run under mpirun/horovodrun: train a tiny Keras model with hvd.DistributedOptimizer.

Every rank draws *different* random weights (the broadcast must fix that) and trains on
its own contiguous slice of one fixed global batch; rank r saves its final weights to
OUT/weights_rank{r}.npz. With one rank the same global batch is seen whole.
"""

import sys
from pathlib import Path

import numpy as np

from clusterhpc.keras_compat import import_horovod_keras, import_keras

# Before anything imports Horovod: on TensorFlow >= 2.16 tf.keras must resolve to tf_keras.
tf, keras = import_keras()
hvd = import_horovod_keras()
import horovod.tensorflow as hvd_tf  # noqa: E402

hvd.init()
out = Path(sys.argv[1])

global_batch, steps = 8, 6
rng = np.random.default_rng(0)
x = rng.normal(size=(global_batch * steps, 5)).astype("float32")
y = (x @ rng.normal(size=(5, 2)) + 0.1).astype("float32")

per_rank = global_batch // hvd.size()
# Step s uses rows [s*G, (s+1)*G); this rank takes its contiguous part of each global batch.
rows = np.concatenate(
    [
        np.arange(s * global_batch, (s + 1) * global_batch)[
            hvd.rank() * per_rank : (hvd.rank() + 1) * per_rank
        ]
        for s in range(steps)
    ]
)

keras.utils.set_random_seed(100 + hvd.rank())  # different initial weights on every rank
model = keras.Sequential(
    [keras.layers.Dense(4, activation="tanh", input_shape=(5,)), keras.layers.Dense(2)]
)
# Start every rank from rank 0's weights, before the first step.
hvd_tf.broadcast_variables(model.variables, root_rank=0)
optimizer = hvd.DistributedOptimizer(keras.optimizers.SGD(learning_rate=0.1))
model.compile(optimizer=optimizer, loss="mse")
history = model.fit(
    x[rows],
    y[rows],
    batch_size=per_rank,
    epochs=3,
    shuffle=False,
    verbose=0,
    callbacks=[
        hvd.callbacks.BroadcastGlobalVariablesCallback(0),
        hvd.callbacks.MetricAverageCallback(),
    ],
)
weights = {f"w{i}": w for i, w in enumerate(model.get_weights())}
np.savez(out / f"weights_rank{hvd.rank()}.npz", loss=np.array(history.history["loss"]), **weights)
