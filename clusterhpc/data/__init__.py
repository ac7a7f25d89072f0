"""Readers over packed shards: a plain Python iterator and tf.data pipelines."""
