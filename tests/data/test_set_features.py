"""Member-set inputs and targets: rotations on the sphere, offsets, padding, standardisation,
and P kept out of the inputs by default."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.config import load_config
from clusterhpc.data.set_encoder import SetEncoder, inference_keys
from clusterhpc.data.set_features import (
    Standardiser,
    feature_names,
    galaxy_features,
    padded,
    random_rotations,
    rotate_sets,
    set_targets,
)
from clusterhpc.data.set_geometry import reference_positions
from clusterhpc.errors import DataError
from clusterhpc.io.set_shards import GALAXY_COLUMNS, META_FIELDS, MemberSets
from clusterhpc.sky.geometry import offset_positions, separation, unit_vectors


def make_sets(centres: list[tuple[float, float]], n: int = 12, seed: int = 0) -> MemberSets:
    """Sets of n galaxies within 3' of each centre (true centre 0.5' off the first galaxy)."""
    rng = np.random.default_rng(seed)
    ra0 = np.repeat([c[0] for c in centres], n)
    dec0 = np.repeat([c[1] for c in centres], n)
    ra, dec = offset_positions(
        ra0, dec0, rng.uniform(0, 3, ra0.size) / 60, rng.uniform(0, 360, ra0.size)
    )
    k = len(centres)
    t_ra, t_dec = offset_positions(ra0[::n], dec0[::n], np.full(k, 0.5 / 60), np.full(k, 30.0))
    galaxies = rng.uniform(17, 21, (ra.size, len(GALAXY_COLUMNS))).astype(np.float32)
    meta = {name: np.zeros(k, dtype) for name, dtype in META_FIELDS.items()}
    meta.update(
        ra=ra0[::n], dec=dec0[::n], true_ra=t_ra, true_dec=t_dec, z=np.full(k, 0.3),
        lam=np.full(k, 30.0), ln_mass=np.full(k, 33.0), is_cluster=np.ones(k, bool),
    )  # fmt: skip
    offsets = np.arange(k + 1) * n
    return MemberSets(offsets, np.column_stack([ra, dec]), galaxies, np.ones(ra.size, bool), meta)


HARD = [(0.002, 10.0), (359.998, -5.0), (150.0, 85.0), (200.0, -89.0), (45.0, 0.0)]


def test_rotations_are_proper_and_keep_every_angle():
    rot = random_rotations(500, np.random.default_rng(1))
    np.testing.assert_allclose(
        np.einsum("nij,nkj->nik", rot, rot), np.tile(np.eye(3), (500, 1, 1)), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-12)
    # uniform on SO(3): a fixed axis is sent all over the sphere (mean direction ~ 0)
    assert np.linalg.norm(rot[:, :, 2].mean(axis=0)) < 0.15

    sets = make_sets(HARD)
    turned = rotate_sets(sets, random_rotations(len(sets), np.random.default_rng(2)))
    v = unit_vectors(turned.column("RA"), turned.column("DEC"))
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-12)
    owner = sets.set_index()
    before = separation(
        sets.column("RA"),
        sets.column("DEC"),
        sets.meta["true_ra"][owner],
        sets.meta["true_dec"][owner],
    )
    after = separation(
        turned.column("RA"),
        turned.column("DEC"),
        turned.meta["true_ra"][owner],
        turned.meta["true_dec"][owner],
    )
    np.testing.assert_allclose(after, before, rtol=1e-7, atol=1e-12)
    assert not np.allclose(turned.column("RA"), sets.column("RA"))


def test_offsets_keep_their_lengths_under_rotation_at_ra_0_and_the_poles():
    sets = make_sets(HARD)
    names = feature_names(["offset", "unit"], use_p=False)
    raw = galaxy_features(sets, names)
    turned = rotate_sets(sets, random_rotations(len(sets), np.random.default_rng(4)))
    raw_turned = galaxy_features(turned, names)
    r = names.index("OFFSET_R")
    np.testing.assert_allclose(raw_turned[:, r], raw[:, r], rtol=1e-6, atol=1e-7)
    assert raw[:, r].max() < 6.5  # within 3' of a point the member mean is near
    centre = set_targets(sets, ["centre"])["centre"]
    np.testing.assert_allclose(
        np.hypot(*set_targets(turned, ["centre"])["centre"].T), np.hypot(*centre.T), rtol=1e-6
    )
    # the reference is the member mean: offsets average to ~0 in every set
    east = raw[:, names.index("OFFSET_EAST")]
    np.testing.assert_allclose(np.add.reduceat(east, sets.offsets[:-1]) / 12, 0.0, atol=1e-3)
    ra, dec = reference_positions(sets.column("RA"), sets.column("DEC"), sets.offsets)
    assert np.all(np.degrees(separation(ra, dec, sets.meta["ra"], sets.meta["dec"])) * 60 < 3)


def test_p_is_left_out_unless_asked_and_missing_columns_become_the_mean():
    default = load_config(None).model.sets
    assert not default.use_p
    names = feature_names(list(default.features), default.use_p)
    assert "P" not in names and "P_FREE" not in names
    assert feature_names(["mag"], use_p=True)[-2:] == ["P", "P_FREE"]
    sets = make_sets(HARD[:2])
    sets.galaxies[:, GALAXY_COLUMNS.index("ZRED")] = np.nan  # a survey without photo-z
    encoder = SetEncoder(default, sets)
    x, _ = encoder.inputs(sets)
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(x[:, encoder.names.index("ZRED")], 0.0)


def test_padding_masks_and_caps_the_brightest_first_rows():
    values = np.arange(10, dtype=np.float64)[:, None]
    offsets = np.array([0, 3, 10])
    x, mask = padded(values, offsets, np.array([1, 0]), 5)
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    np.testing.assert_array_equal(x[0, :, 0], [3, 4, 5, 6, 7])
    np.testing.assert_array_equal(x[1, :, 0], [0, 1, 2, 0, 0])


def test_standardiser_round_trip_and_isotropic_scale():
    values = np.random.default_rng(0).normal([1.0, -2.0], [3.0, 0.5], (1000, 2))
    scale = Standardiser.fit(values)
    np.testing.assert_allclose(scale.apply(values).std(axis=0), 1.0, rtol=1e-3)
    again = Standardiser.from_json(scale.to_json())
    np.testing.assert_array_equal(again.mean, scale.mean)
    iso = Standardiser.fit(values, isotropic=True)
    assert iso.mean.tolist() == [0.0, 0.0] and iso.std[0] == iso.std[1]


def test_encoder_scores_regression_targets_on_member_sets_with_known_values_only():
    sets = make_sets(HARD[:4])
    sets.meta["kind"][3] = 1
    sets.meta["is_cluster"][3] = False
    sets.meta["ln_mass"][1] = np.nan
    cfg = load_config(None, ["model.sets.targets=[z, lnmass, detect]"]).model.sets
    targets = SetEncoder(cfg, sets).targets_of(sets)
    np.testing.assert_array_equal(targets["w_z"], [1, 1, 1, 0])
    np.testing.assert_array_equal(targets["w_lnmass"], [1, 0, 1, 0])
    np.testing.assert_array_equal(targets["y_detect"][:, 0], [1, 1, 1, 0])
    assert np.isfinite(targets["y_lnmass"]).all()


@pytest.mark.parametrize("target", ["z", "lnlam", "lnmass", "centre", "detect"])
def test_every_target_has_its_width(target):
    sets = make_sets(HARD[:2])
    values = set_targets(sets, [target])[target]
    assert values.shape == ((2, 2) if target == "centre" else (2,))


def test_encoder_scales_the_centre_isotropically_and_refuses_an_unknown_target():
    sets = make_sets(HARD)
    cfg = load_config(None, ["model.sets.targets=[centre, lnmass]"]).model.sets
    encoder = SetEncoder(cfg, sets)
    centre = encoder.record()["target_scale"]["centre"]
    assert centre["mean"] == [0.0, 0.0] and centre["std"][0] == centre["std"][1] > 0
    sets.meta["ln_mass"][:] = np.nan  # a real catalogue: no mass
    with pytest.raises(DataError, match="no training member set has a true lnmass"):
        SetEncoder(cfg, sets)


def test_inference_keys_follow_the_set_not_its_row():
    sets = make_sets(HARD)
    sets.meta["id"][:] = [11, 12, 13, 14, 15]
    order = np.array([3, 0, 4, 1, 2])
    keys = inference_keys(sets)
    np.testing.assert_array_equal(inference_keys(sets.take(order)), keys[order])
    assert len({tuple(k) for k in keys}) == len(sets)
    assert not np.any(np.all(inference_keys(sets, draw=1) == keys, axis=1))
    assert np.all(keys[:, 1] < 0)  # never a training key (row, epoch >= 0)
