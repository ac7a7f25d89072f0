"""Splits that do not share sky: footprint overlaps, sky groups, group assignment, prep boxes."""

from __future__ import annotations

import json

import healpy as hp
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky
from astropy.io import fits
from astropy.table import Table

from clusterhpc.cli import main
from clusterhpc.config import load_config
from clusterhpc.prep.pack_sources import empty_entries
from clusterhpc.prep.sky_groups import circumradius, overlapping_pairs, sky_groups, squares_overlap
from clusterhpc.prep.split import assign_groups
from clusterhpc.sky.projection import from_tan_pixels, to_pixels
from tests.conftest import ROOT
from tests.prep.survey import random_survey, write_footprint

DEG = 3600.0  # arcsec
QUICKSTART_SIDE = 256 * 3.169016  # configs/quickstart.yaml
SDSS_SIDE = 2048 * 0.396127  # configs/sdss_yolo.yaml


def sampled_overlap(ra_a, dec_a, side_a, ra_b, dec_b, side_b, k: int = 41) -> np.ndarray:
    """Independent of the separating-axis test: a k x k grid of points of each footprint
    (inverse TAN) looked up in the other's pixel frame; True when one falls inside."""
    t = np.linspace(0.0005, 0.9995, k)
    gx, gy = (g.ravel() for g in np.meshgrid(t, t))

    def inside(ra0, dec0, s0, ra1, dec1, s1) -> np.ndarray:
        ra, dec = from_tan_pixels(ra1[:, None], dec1[:, None], gx, gy, s1[:, None], 1)
        x, y = to_pixels(ra0[:, None], dec0[:, None], ra, dec, s0[:, None], 1)
        return np.any((x > 0) & (x < 1) & (y > 0) & (y < 1), axis=1)

    args = [np.asarray(v, dtype=np.float64) for v in (ra_a, dec_a, side_a, ra_b, dec_b, side_b)]
    return inside(*args) | inside(*args[3:], *args[:3])


def overlap(*args) -> bool:
    return bool(squares_overlap(*(np.atleast_1d(np.float64(a)) for a in args))[0])


def test_hand_made_overlaps_across_ra_zero_and_the_pole():
    assert overlap(10, 0, DEG, 10.99, 0, DEG) and not overlap(10, 0, DEG, 11.01, 0, DEG)
    assert overlap(10, 0, DEG, 10.99, 0.99, DEG) and not overlap(10, 0, DEG, 10.99, 1.01, DEG)
    assert not overlap(10, 0, DEG, 10.0, 1.0, DEG)  # touching along an edge only
    assert overlap(359.6, 0, DEG, 0.3, 0, DEG)  # 0.7 deg apart across RA 0
    assert not overlap(359.6, 0, 0.6 * DEG, 0.3, 0, 0.6 * DEG)
    assert overlap(0, 89.8, DEG, 180, 89.8, DEG)  # 0.4 deg apart over the pole
    assert not overlap(0, 89.4, DEG, 180, 89.4, DEG)  # both stop 0.1 deg short of it
    assert overlap(0, 89.0, 2.2 * DEG, 90, 89.0, 2.2 * DEG)  # 1.41 deg, far apart in RA


def test_exact_test_agrees_with_sampling_everywhere_on_the_sky():
    rng = np.random.default_rng(5)
    n = 800
    ra_a = rng.uniform(0, 360, n)
    dec_a = np.concatenate([rng.uniform(-89.9, 89.9, n - 200), rng.uniform(88.5, 89.95, 200)])
    side_a, side_b = rng.uniform(0.1, 2.0, (2, n)) * DEG
    step = rng.uniform(0, 1.5, n) * (side_a + side_b) / 2 / DEG
    coord = SkyCoord(ra_a * u.deg, dec_a * u.deg).directional_offset_by(
        rng.uniform(0, 360, n) * u.deg, step * u.deg
    )
    ra_b, dec_b = coord.ra.deg, coord.dec.deg
    exact = squares_overlap(ra_a, dec_a, side_a, ra_b, dec_b, side_b)
    assert 0.2 < exact.mean() < 0.8
    assert not np.any(sampled_overlap(ra_a, dec_a, side_a, ra_b, dec_b, side_b, k=33) & ~exact)
    grown = sampled_overlap(ra_a, dec_a, 1.08 * side_a, ra_b, dec_b, 1.08 * side_b, k=33)
    assert not np.any(exact & ~grown)  # every overlap found is real (up to an 8 % margin)


def test_kd_tree_pairs_equal_all_pairs_across_ra_zero_and_at_the_pole():
    rng = np.random.default_rng(2)
    ra = np.concatenate([rng.uniform(-1.5, 1.5, 150) % 360, rng.uniform(0, 360, 150)])
    dec = np.concatenate([rng.uniform(-1, 1, 150), 90 - rng.uniform(0, 1.5, 150)])
    side = rng.uniform(0.2, 0.6, 300) * DEG
    i, j = np.triu_indices(300, 1)
    ok = squares_overlap(ra[i], dec[i], side[i], ra[j], dec[j], side[j])
    brute = set(zip(i[ok].tolist(), j[ok].tolist(), strict=True))
    found = set(map(tuple, overlapping_pairs(ra, dec, side).tolist()))
    assert found == brute and len(brute) > 300
    assert np.any(ok & ((ra[i] > 300) != (ra[j] > 300)))  # pairs across RA 0/360 are found


def clustered_catalogue(n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """redMaPPer-like positions: parents uniform on ~7,000 deg^2 straddling RA 0 and 1/8 of
    the clusters companions of a parent, 4' rms away (the simulator's recipe)."""
    rng = np.random.default_rng(seed)
    n_comp = n // 8
    ra = rng.uniform(-60, 60, n - n_comp) % 360
    dec = np.degrees(
        np.arcsin(rng.uniform(np.sin(np.radians(-10)), np.sin(np.radians(60)), ra.size))
    )
    parent = rng.integers(0, ra.size, n_comp)
    offset = np.abs(rng.normal(0, 4.0, n_comp)) / 60
    comp = SkyCoord(ra[parent] * u.deg, dec[parent] * u.deg).directional_offset_by(
        rng.uniform(0, 360, n_comp) * u.deg, offset * u.deg
    )
    return np.concatenate([ra, comp.ra.deg]), np.concatenate([dec, comp.dec.deg])


def cross_split_overlaps(ra, dec, side, split) -> tuple[int, int]:
    """(pairs in different splits that overlap, found independently of the code under test:
    astropy's neighbour search and point sampling; pairs that overlap, exactly)."""
    coords = SkyCoord(ra * u.deg, dec * u.deg)
    limit = 2 * np.degrees(circumradius(side.max())) * u.deg
    i, j, _, _ = search_around_sky(coords, coords, limit)
    i, j = i[i < j], j[i < j]
    n_overlapping = int(squares_overlap(ra[i], dec[i], side[i], ra[j], dec[j], side[j]).sum())
    i, j = i[split[i] != split[j]], j[split[i] != split[j]]
    hit = sampled_overlap(ra[i], dec[i], side[i], ra[j], dec[j], side[j], k=17)
    return int(hit.sum()), n_overlapping


@pytest.mark.parametrize(
    ("n_cutouts", "side", "fractions"),
    [(2500, QUICKSTART_SIDE, [0.6, 0.2, 0.2]), (20_000, SDSS_SIDE, [0.8, 0.1, 0.1])],
    ids=["quickstart", "sdss_yolo"],
)
def test_realistic_geometry_gives_sky_disjoint_splits(n_cutouts, side, fractions):
    ra, dec = clustered_catalogue()
    pick = np.sort(np.random.default_rng(1).permutation(ra.size)[:n_cutouts])
    ra, dec, side = ra[pick], dec[pick], np.full(n_cutouts, side)
    group = sky_groups(ra, dec, side)
    split = assign_groups(group, fractions, seed=42)
    crossing, overlapping = cross_split_overlaps(ra, dec, side, split)
    assert crossing == 0 and overlapping > (10 if n_cutouts < 5000 else 1000)
    assert np.abs(np.bincount(split, minlength=3) / n_cutouts - fractions).max() < 0.002
    assert np.array_equal(split, assign_groups(sky_groups(ra, dec, side), fractions, seed=42))
    assert np.mean(split != assign_groups(group, fractions, seed=7)) > 0.1


def test_whole_groups_meet_the_fractions_per_kind():
    group = np.concatenate([np.zeros(50, int), np.arange(1, 51), [0, 0, 51, 52]])
    kind = np.repeat([0, 1], [100, 4])
    split = assign_groups(group, [0.5, 0.5, 0.0], seed=3, kind=kind)
    assert np.all(split[:50] == split[0]) and split[100] == split[101] == split[0]
    assert np.bincount(split[:100], minlength=3).tolist() == [50, 50, 0]
    assert np.bincount(split[100:], minlength=3).tolist() == [2, 2, 0]  # empties ride along


def test_an_empty_field_joins_every_cutout_it_overlaps():
    ra = np.array([150.0, 150.2, 150.1, 155.0])  # cutouts A, B (apart), empty fields E, F
    dec = np.full(4, 10.0)
    side = np.full(4, 0.15 * DEG)
    assert not overlap(ra[0], dec[0], side[0], ra[1], dec[1], side[1])
    group = sky_groups(ra, dec, side)
    assert group[0] == group[1] == group[2] != group[3]
    for seed in range(20):
        split = assign_groups(group, [0.5, 0.25, 0.25], seed, kind=np.array([0, 0, 1, 1]))
        assert split[0] == split[1] == split[2]


def test_healpix_cells_share_a_split_and_stay_disjoint():
    rng = np.random.default_rng(4)
    ra, dec = rng.uniform(100, 140, 3000), rng.uniform(0, 30, 3000)
    side = np.full(ra.size, SDSS_SIDE)
    by_cell = sky_groups(ra, dec, side, nside=8)
    assert by_cell.max() + 1 < sky_groups(ra, dec, side).max() + 1
    split = assign_groups(by_cell, [0.6, 0.2, 0.2], seed=1)
    cell = hp.ang2pix(8, ra, dec, lonlat=True)
    assert all(np.unique(split[cell == c]).size == 1 for c in np.unique(cell))
    assert cross_split_overlaps(ra, dec, side, split)[0] == 0
    with pytest.raises(ValueError, match="power of 2"):
        sky_groups(ra, dec, side, nside=12)


def test_prep_boxes_splits_by_sky_and_pack_takes_the_empty_splits(tmp_path, capsys):
    root = random_survey(tmp_path / "survey", n_clusters=60)
    write_footprint(root / "footprint.fits", 64, (115, 130), (25, 38))
    catalog = Table.read(root / "catalog.fits")
    (root / "empty").mkdir()
    near = {"on_cluster_3": (catalog["RA"][3] + 0.05, catalog["DEC"][3]), "alone": (127.5, 37.5)}
    for name, pos in near.items():
        (root / "empty" / f"{name}.jpeg").write_bytes(b"")
        np.savetxt(root / "empty" / f"{name}.txt", pos)
    out = tmp_path / "prep"
    args = [
        f"data.root={root}", f"prep.out={out}", "prep.size=1000", "prep.scale=0.6",
        "prep.boxes.split=[0.6,0.2,0.2]", "prep.boxes.cutouts=", "prep.empty.n=10",
        "prep.empty.chunk=64", "prep.empty.min_sep_arcmin=0",
    ]  # fmt: skip
    tiny = str(ROOT / "configs/tiny.yaml")
    bad = ["prep.boxes.split_by=healpix", "prep.boxes.split_nside=6"]
    assert main(["prep", "boxes", tiny, *args, *bad]) == 2
    assert "prep.boxes.split_nside = 6: expected a power of 2" in capsys.readouterr().err
    for stage in ("boxes", "empty"):
        assert main(["prep", stage, tiny, *args]) == 0
    images = Table(fits.getdata(out / "boxes.fits", "IMAGES"))
    boxes = Table(fits.getdata(out / "boxes.fits", "BOXES"))
    empty = Table(fits.getdata(out / "boxes.fits", "EMPTY"))
    split = np.char.strip(np.asarray(images["SPLIT"], str))
    side = np.asarray(images["SIZE"] * images["SCALE"], np.float64)
    ra, dec = np.asarray(images["RA"], np.float64), np.asarray(images["DEC"], np.float64)
    i, j = np.triu_indices(len(images), 1)
    hit = sampled_overlap(ra[i], dec[i], side[i], ra[j], dec[j], side[j])
    assert hit.sum() > 5 and not np.any(hit & (split[i] != split[j]))
    for cluster in np.unique(boxes["ID"]):  # cutouts showing one cluster share a split
        assert np.unique(split[boxes["IMAGE"][boxes["ID"] == cluster]]).size == 1
    names = [p.rsplit("/", 1)[1] for p in np.char.strip(np.asarray(empty["PATH"], str))]
    on = names.index("on_cluster_3.jpeg")
    assert str(empty["SPLIT"][on]).strip() == split[3] and empty["GROUP"][on] == images["GROUP"][3]
    report = json.loads((out / "boxes_report.json").read_text())["split"]
    assert report["groups"] == np.unique(images["GROUP"]).size + 1  # + the lone empty field
    assert sum(report["images"].values()) == 60 and report["asked"] == [0.6, 0.2, 0.2]
    cfg = load_config(tiny, args)
    packed = {s: [e.path.rsplit("/", 1)[1] for e in v] for s, v in empty_entries(cfg).items()}
    assert "on_cluster_3.jpeg" in packed[split[3]]
