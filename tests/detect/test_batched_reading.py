"""`detect` letterboxes a batch in one call and reads the next batch while this one runs."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from clusterhpc.data.tf_datasets import letterbox_batch, letterbox_image
from clusterhpc.detect.stage import read_ahead


@pytest.mark.parametrize(("shape", "size"), [((64, 64), 64), ((48, 80), 64), ((100, 100), 64)])
def test_a_batch_letterboxes_as_each_image_alone(shape, size):
    images = np.random.default_rng(1).integers(0, 256, (5, *shape, 3), dtype=np.uint8)
    batch = letterbox_batch(images, size)
    assert batch.shape == (5, size, size, 3) and batch.dtype == np.float32
    for image, boxed in zip(images, batch, strict=True):
        assert np.array_equal(boxed, letterbox_image(image, size))


def test_read_ahead_yields_every_chunk_in_order_while_the_next_is_read():
    chunks = [range(0, 4), range(4, 8), range(8, 10)]
    started = [threading.Event() for _ in chunks]  # a read of chunk k has begun

    def read(i: int) -> np.ndarray:
        started[i // 4].set()
        return np.full(2, i)

    out = []
    with ThreadPoolExecutor(2) as pool:
        for k, images in enumerate(read_ahead(pool, read, chunks)):
            if k + 1 < len(chunks):  # on-demand reading would start chunk k+1 only after this
                assert started[k + 1].wait(timeout=10), f"chunk {k + 1} not read ahead"
            out.append([int(im[0]) for im in images])
    assert out == [list(c) for c in chunks]
    assert list(read_ahead(ThreadPoolExecutor(1), read, [])) == []
