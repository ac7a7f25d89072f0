"""The stamp layout that makes rendering fast computes every pixel bit for bit as the plain one."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.simulate.render import stamp_profiles


def plain_profiles(dx, dy, inv, norm):
    """The definition, laid out (objects, components, rows, columns) as the formula reads."""
    ixx, iyy, ixy = (t[:, :, None, None] for t in inv)
    dx4, dy4 = dx[:, None, None, :], dy[:, None, :, None]
    q = ixx * dx4**2 + iyy * dy4**2 + 2 * ixy * dx4 * dy4
    prof = (norm[:, :, None, None] * np.exp(-0.5 * q)).sum(axis=1)
    return prof / prof.sum(axis=(1, 2), keepdims=True)


@pytest.mark.parametrize(("m", "k", "half"), [(1, 1, 1), (7, 9, 2), (300, 10, 3), (40, 10, 12)])
def test_stamps_equal_the_plain_definition_bit_for_bit(m, k, half):
    rng = np.random.default_rng(m * 100 + k)
    d = np.arange(-half, half + 1)
    x, y = rng.uniform(0, 100, m), rng.uniform(0, 100, m)
    dx, dy = np.rint(x)[:, None] + d - x[:, None], np.rint(y)[:, None] + d - y[:, None]
    var = rng.uniform(0.3, 20.0, (2, m, k))
    cxy = rng.uniform(-0.9, 0.9, (m, k)) * np.sqrt(var[0] * var[1])
    det = var[0] * var[1] - cxy**2
    inv = np.stack([var[1] / det, var[0] / det, -cxy / det])
    norm = rng.dirichlet(np.ones(k), m) / (2 * np.pi * np.sqrt(det))
    fast, plain = stamp_profiles(dx, dy, inv, norm), plain_profiles(dx, dy, inv, norm)
    assert fast.shape == (m, len(d), len(d)) and fast.flags.c_contiguous
    assert np.array_equal(fast, plain)
    assert np.allclose(fast.sum(axis=(1, 2)), 1.0)
