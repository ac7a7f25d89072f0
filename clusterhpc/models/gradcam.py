"""Grad-CAM (Selvaraju et al. 2017): where in a cutout the classifier sees a cluster.

The gradient of the cluster logit with respect to the last convolutional map, averaged over
its pixels, weights that map's channels; the positive part of the weighted sum, scaled to
[0, 1] per image and resized to the input, is the map.
"""

from __future__ import annotations

import numpy as np

from clusterhpc.keras_compat import import_keras
from clusterhpc.models.cnn import FEATURES_LAYER


def gradcam(model, images: np.ndarray) -> np.ndarray:
    """(B, S, S) maps in [0, 1] for a (B, S, S, 3) batch of a `build_cnn` model."""
    tf, keras = import_keras()
    probe = keras.Model(model.inputs, [model.get_layer(FEATURES_LAYER).output, model.output])
    x = tf.constant(images, tf.float32)
    with tf.GradientTape() as tape:
        features, outputs = probe(x, training=False)
        logit = outputs[:, 0]
    grads = tape.gradient(logit, features)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))
    peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
    cam = tf.math.divide_no_nan(cam, peak)
    size = images.shape[1:3]
    return tf.image.resize(cam[..., None], size, method="bilinear")[..., 0].numpy()
