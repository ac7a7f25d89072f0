"""Synchronised batch norm on 2 real Horovod ranks computes batch norm of the whole batch."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import ROOT, run_mpi

pytestmark = [pytest.mark.horovod, pytest.mark.mpi, pytest.mark.slow]
WORKER = str(ROOT / "tests" / "models" / "sync_bn_worker.py")
GAMMA, BETA, EPSILON = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, -0.5, 1.0, 0.0]), 1e-3


def whole_batch_reference(x: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """Batch norm of the whole batch in float64, and the gradients of sum(w * y)."""
    axes = (0, 1, 2)
    mean, variance = x.mean(axes), x.var(axes)
    sigma = np.sqrt(variance + EPSILON)
    xhat = (x - mean) / sigma
    dx = GAMMA / sigma * (w - w.mean(axes) - xhat * (w * xhat).mean(axes))
    return {
        "y": GAMMA * xhat + BETA,
        "dx": dx,
        "dgamma": (w * xhat).sum(axes),
        "dbeta": w.sum(axes),
        "mean": mean,
        "variance": variance,
    }


@pytest.mark.timeout(300)
def test_two_ranks_compute_batch_norm_of_the_whole_batch(tmp_path):
    run_mpi(2, WORKER, str(tmp_path), timeout=240)
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]
    ref = whole_batch_reference(ranks[0]["batch"].astype(np.float64), ranks[0]["weights"])

    # training mode: each rank's outputs and input gradients are its half of the whole batch's
    # to 1 % of their scale: float32 resolves inputs at 1e4 to 1e-3, a few 1e-3 of sigma
    # (statistics of one rank's half alone would be tens of per cent off)
    def close(value, expected, key):
        scale = np.abs(expected).max()
        np.testing.assert_allclose(value, expected, atol=1e-2 * scale, rtol=0, err_msg=key)

    for key in ("y", "dx"):
        close(np.concatenate([r[key] for r in ranks]), ref[key], key)
    for key in ("dgamma", "dbeta"):  # this rank's gradient, summed over ranks
        close(ranks[0][key], ref[key], key)
    # momentum 0.9 from the initial 0 and 1: the statistics over both ranks, the variance to
    # 1e-5 (E[x^2] - E[x]^2 would be 1 % off here, as Keras's own fused batch norm is)
    for r in ranks:
        np.testing.assert_allclose(r["moving_mean"], 0.1 * ref["mean"], rtol=1e-6)
        np.testing.assert_allclose(r["moving_variance"], 0.9 + 0.1 * ref["variance"], rtol=1e-5)
        assert np.isfinite(r["y_inference"]).all()
        assert r["unsupported"].size == 0, r["unsupported"]
    np.testing.assert_array_equal(ranks[0]["moving_variance"], ranks[1]["moving_variance"])
    # weights written by the synchronised layer load into the plain Keras layer, in order
    saved, loaded = np.load(tmp_path / "saved.npz"), np.load(tmp_path / "loaded.npz")
    assert len(saved.files) == len(loaded.files) == 4
    for key in saved.files:
        np.testing.assert_array_equal(saved[key], loaded[key], err_msg=key)
