"""`prep sets`: member sets and aperture non-members from real FITS files, split by sky."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clusterhpc.config import load_config
from clusterhpc.io.set_shards import read_index, read_shard, read_split
from clusterhpc.prep.member_sets import r_lambda_arcmin
from clusterhpc.prep.sets_stage import main as prep_sets
from clusterhpc.prep.split import SPLITS
from clusterhpc.sky.geometry import separation
from tests.conftest import ROOT
from tests.prep.sets_survey import write_sets_survey


def sets_config(root, *overrides):
    return load_config(
        ROOT / "configs" / "tiny.yaml",
        [
            f"data.root={root}",
            "data.simulated=false",
            "prep.sets.split=[0.5,0.25,0.25]",
            *overrides,
        ],
    )


@pytest.fixture()
def survey(tmp_path):
    rng = np.random.default_rng(3)
    n = 40
    ra = np.concatenate([rng.uniform(140, 160, n - 4), [359.99, 0.01, 120.0, 240.0]])
    dec = np.concatenate([rng.uniform(0, 20, n - 4), [10.0, 10.0, 85.0, 85.0]])
    n_members = rng.integers(4, 20, n)
    n_field = rng.integers(0, 30, n)
    n_field[5] = 0  # an aperture with no non-member candidate
    tables = write_sets_survey(tmp_path / "survey", ra, dec, n_members, n_field)
    return tmp_path / "survey", tables, n_members


def all_sets(root):
    return [read_split(root / "sets", s) for s in SPLITS]


def test_member_sets_hold_exactly_the_members_brightest_first(survey):
    root, tables, n_members = survey
    assert prep_sets(sets_config(root)) == 0
    members = tables["members"]
    for sets in all_sets(root):
        assert set(np.unique(sets.meta["kind"])) <= {0}
        for i in range(len(sets)):
            rows = slice(sets.offsets[i], sets.offsets[i + 1])
            mine = members[members["ID"] == sets.meta["id"][i]]
            assert sets.sizes[i] == len(mine) == sets.meta["n_members"][i]
            assert sets.member[rows].all()
            mag_i = sets.column("MODEL_MAG_I")[rows]
            np.testing.assert_array_equal(mag_i, np.sort(mine["MODEL_MAG_I"]).astype(np.float32))
            assert sets.meta["contamination"][i] == 0.0
    total = sum(len(s) for s in all_sets(root))
    assert total == len(n_members)


def test_non_member_sets_come_from_the_aperture_only_and_never_hold_members(survey):
    root, tables, _ = survey
    assert prep_sets(sets_config(root, "prep.sets.negatives=1", "prep.sets.min_members=1")) == 0
    catalog, members = tables["catalog"], tables["members"]
    radius = r_lambda_arcmin(catalog["LAMBDA"], catalog["Z_LAMBDA"])
    seen_negatives = 0
    for sets in all_sets(root):
        for i in np.flatnonzero(sets.meta["kind"] == 1):
            seen_negatives += 1
            rows = slice(sets.offsets[i], sets.offsets[i + 1])
            row = int(np.flatnonzero(catalog["ID"] == sets.meta["id"][i])[0])
            ra, dec = sets.column("RA")[rows], sets.column("DEC")[rows]
            sep = np.degrees(separation(catalog["RA"][row], catalog["DEC"][row], ra, dec)) * 60
            assert np.all(sep <= radius[row] * (1 + 1e-9))
            assert not sets.member[rows].any() and not sets.meta["is_cluster"][i]
            assert np.all(sets.column("P")[rows] == 0.0)
            faintest = members["MODEL_MAG_I"][members["ID"] == sets.meta["id"][i]].max()
            assert np.all(sets.column("MODEL_MAG_I")[rows] <= faintest + 1e-5)
            # as many as the cluster has members, unless the aperture holds fewer
            assert sets.sizes[i] <= sets.meta["n_members"][i]
    report = json.loads((root / "sets" / "sets_report.json").read_text())
    assert report["built"]["non_member_sets"] == seen_negatives > 0
    assert report["built"]["without_non_members"] >= 1


def test_contamination_replaces_that_fraction_by_aperture_non_members(survey):
    root, _, _ = survey
    assert prep_sets(sets_config(root, "prep.sets.contamination=0.6")) == 0
    sets = read_split(root / "sets", "train")
    frac = 1.0 - np.add.reduceat(sets.member, sets.offsets[:-1]) / sets.sizes
    np.testing.assert_allclose(frac, sets.meta["contamination"], atol=1e-6)
    assert frac.max() <= 0.6 + 1e-9 and frac.max() > 0.1


def test_no_cluster_and_no_overlapping_aperture_in_two_splits(tmp_path):
    rng = np.random.default_rng(5)
    n = 120  # crowded: many apertures overlap
    ra, dec = rng.uniform(150, 152, n), rng.uniform(10, 12, n)
    root = tmp_path / "crowded"
    write_sets_survey(root, ra, dec, rng.integers(4, 12, n), rng.integers(1, 10, n))
    cfg = sets_config(root, "prep.sets.negatives=1", "prep.sets.min_members=1")
    assert prep_sets(cfg) == 0
    parts = {
        s: read_split(root / "sets", s)
        for s in SPLITS
        if read_index(root / "sets")["splits"][s]["n_sets"]
    }
    ids = {s: set(p.meta["id"].tolist()) for s, p in parts.items()}
    names = list(parts)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            assert not ids[names[a]] & ids[names[b]]
            pa, pb = parts[names[a]], parts[names[b]]
            sep = (
                np.degrees(
                    separation(
                        pa.meta["ra"][:, None],
                        pa.meta["dec"][:, None],
                        pb.meta["ra"],
                        pb.meta["dec"],
                    )
                )
                * 60
            )
            reach = pa.meta["aperture_arcmin"][:, None] + pb.meta["aperture_arcmin"][None, :]
            assert np.all(sep > reach)  # apertures of different splits never touch


def test_split_is_deterministic_and_a_rerun_with_the_same_inputs_does_nothing(survey, tmp_path):
    root, _, _ = survey
    cfg = sets_config(root)
    assert prep_sets(cfg) == 0
    first = {f.name: f.stat().st_mtime_ns for f in (root / "sets").glob("*.h5")}
    assert prep_sets(cfg) == 0
    assert {f.name: f.stat().st_mtime_ns for f in (root / "sets").glob("*.h5")} == first
    other = sets_config(root, "prep.sets.out=" + str(tmp_path / "again"))
    assert prep_sets(other) == 0
    for s in SPLITS:
        a, b = read_split(root / "sets", s), read_split(tmp_path / "again", s)
        np.testing.assert_array_equal(a.meta["id"], b.meta["id"])


def test_real_catalogue_targets_use_z_spec_then_z_lambda_and_unknown_mass(survey):
    root, _, _ = survey
    assert prep_sets(sets_config(root)) == 0
    for sets in all_sets(root):
        expected = np.where(sets.meta["z_spec"] > 0, sets.meta["z_spec"], sets.meta["z_lambda"])
        np.testing.assert_allclose(sets.meta["z"], expected)
        assert np.isnan(sets.meta["ln_mass"]).all()
        np.testing.assert_array_equal(sets.meta["true_ra"], sets.meta["ra"])


def test_shards_carry_checksums_and_an_unknown_member_id_is_named(survey):
    root, tables, _ = survey
    assert prep_sets(sets_config(root)) == 0
    index = read_index(root / "sets")
    shard = index["splits"]["train"]["shards"][0]
    read_shard(root / "sets" / shard, verify=True)
    members = tables["members"]
    members["ID"][0] = 999
    members.write(root / "members.fits", overwrite=True)
    from clusterhpc.errors import DataError

    with pytest.raises(DataError, match=r"ID 999 is not in catalog\.fits"):
        prep_sets(sets_config(root))


def test_contaminated_sets_are_negatives_with_that_fraction_of_non_members(survey):
    root, _, _ = survey
    cfg = sets_config(root, "prep.sets.contaminated=1", "prep.sets.contaminated_fraction=0.5")
    assert prep_sets(cfg) == 0
    sets = read_split(root / "sets", "train")
    bad = np.flatnonzero(sets.meta["kind"] == 2)
    assert bad.size > 0 and not sets.meta["is_cluster"][bad].any()
    frac = 1.0 - np.add.reduceat(sets.member, sets.offsets[:-1]) / sets.sizes
    np.testing.assert_allclose(frac[bad], sets.meta["contamination"][bad], atol=1e-6)
    # half of the members swapped (to rounding), fewer where the aperture holds too few
    rounding = 0.5 / sets.sizes[bad] + 1e-9
    assert np.all(frac[bad] <= 0.5 + rounding) and np.all(frac[bad] > 0)
    assert np.mean(np.abs(frac[bad] - 0.5) <= rounding) > 0.5


def test_without_galaxies_detection_is_refused_and_non_member_sets_are_skipped(survey, caplog):
    root, _, _ = survey
    (root / "galaxies" / "galaxies.fits").unlink()
    from clusterhpc.errors import DataError

    with pytest.raises(DataError, match=r"galaxies\.fits: no galaxies around the clusters"):
        prep_sets(sets_config(root, "model.sets.targets=[detect]", "prep.sets.negatives=1"))
    assert prep_sets(sets_config(root, "prep.sets.negatives=1")) == 0
    assert "no non-member sets are built" in caplog.text
    for sets in all_sets(root):
        assert np.all(sets.meta["kind"] == 0)


@pytest.mark.slow
def test_no_galaxy_of_the_simulated_catalogue_sits_in_two_splits(tmp_path):
    """On the mock (members follow the true R_lambda, apertures the catalogue's), every
    galaxy of every set, members and non-members, stays in one split."""
    from tests.train.sets_fixtures import make_sets_survey

    root = make_sets_survey(tmp_path)
    seen = {}
    for split in SPLITS:
        sets = read_split(root / "sets", split)
        seen[split] = set(map(tuple, np.round(sets.positions, 9).tolist()))
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert not seen[SPLITS[a]] & seen[SPLITS[b]]


def test_a_column_only_members_have_is_blanked_for_all_and_sentinels_are_missing(survey, caplog):
    root, tables, _ = survey
    galaxies = tables["galaxies"]
    galaxies.remove_column("zred")  # a query without photo-z
    galaxies["modelMag_u"][0] = -9999.0  # SDSS's "no measurement"
    galaxies.write(root / "galaxies" / "galaxies.fits", overwrite=True)
    assert prep_sets(sets_config(root, "prep.sets.negatives=1", "prep.sets.min_members=1")) == 0
    assert "ZRED is missing in" in caplog.text
    for sets in all_sets(root):
        assert np.isnan(sets.column("ZRED")).all()
        u = sets.column("MODEL_MAG_U")
        assert np.all(np.isnan(u) | ((u > 0) & (u < 40)))


def test_a_galaxy_table_that_stops_short_of_the_apertures_is_flagged(survey, caplog):
    root, tables, _ = survey
    catalog, galaxies = tables["catalog"], tables["galaxies"]
    assert prep_sets(sets_config(root)) == 0
    assert "stop short" not in caplog.text
    row = np.searchsorted(catalog["ID"], galaxies["CLUSTER_ID"])
    sep = np.degrees(
        separation(catalog["RA"][row], catalog["DEC"][row], galaxies["ra"], galaxies["dec"])
    )
    radius = r_lambda_arcmin(catalog["LAMBDA"], catalog["Z_LAMBDA"])[row] / 60
    galaxies[sep < 0.5 * radius].write(root / "galaxies" / "galaxies.fits", overwrite=True)
    assert prep_sets(sets_config(root)) == 0
    assert "stop short of 0.9 of the aperture" in caplog.text
