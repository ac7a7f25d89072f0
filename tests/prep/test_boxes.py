"""Boxes on hand-made catalogues (known exactly) and against independent re-derivations."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from clusterhpc.io.cutouts import cluster_cutouts
from clusterhpc.io.redmapper import group_members, read_clusters, read_members
from clusterhpc.prep.boxes import BoxRules, MemberIndex, compute_boxes
from clusterhpc.sky.projection import tan_wcs
from tests.prep.survey import SCALE, SIZE, hand_made_survey, random_survey


def boxes_for(root, rules: BoxRules | None = None, p_min=0.0, size=SIZE, scale=SCALE):
    clusters = read_clusters(root / "catalog.fits")
    members = read_members(root / "members.fits", with_p=True)
    members = members.select(members.p >= p_min)
    index = MemberIndex(clusters, members, group_members(clusters, members))
    cut = cluster_cutouts(clusters, scale, size)
    table = compute_boxes(index, cut, np.arange(len(cut)), rules or BoxRules(), chunk=2)
    return clusters, members, cut, table


def rows_of_image(clusters, table, central_id):
    image = int(np.flatnonzero(clusters.id == central_id)[0])
    rows = np.flatnonzero(table.image == image)
    return {int(clusters.id[table.cluster[r]]): r for r in rows}


def test_hand_made_boxes_fractions_central_and_overlaps(tmp_path):
    clusters, _, _, t = boxes_for(hand_made_survey(tmp_path))
    rows = rows_of_image(clusters, t, 1)
    assert set(rows) == {1, 2, 3}  # 4 has no member inside, 5 is far away
    expected = {1: (20, 30, 61, 71), 2: (90, 45, 121, 56), 3: (50, 60, 81, 91)}
    for cid, box in expected.items():
        assert tuple(t.corners()[rows[cid]]) == box
    assert t.frac[rows[1]] == 1.0 and t.frac[rows[3]] == 1.0
    assert t.frac[rows[2]] == pytest.approx(10 / 31, abs=1e-15)
    assert [bool(t.central[rows[c]]) for c in (1, 2, 3)] == [True, False, False]
    assert [int(t.n_inside[rows[c]]) for c in (1, 2, 3)] == [3, 1, 2]
    assert [bool(t.keep[rows[c]]) for c in (1, 2, 3)] == [True, False, True]  # 2: centre outside
    assert t.overlap[rows[1]] == pytest.approx(121 / 1681)
    assert t.overlap[rows[3]] == pytest.approx(121 / 961)
    assert t.overlap[rows[2]] == 0.0
    assert set(rows_of_image(clusters, t, 4)) == {4}
    assert set(rows_of_image(clusters, t, 5)) == {5}


def test_rules_padding_and_p_cut(tmp_path):
    root = hand_made_survey(tmp_path, p_low=True)  # cluster 1 gets a P=0.1 member at (10.5, 10.5)
    clusters, _, _, t = boxes_for(root, BoxRules(secondary="any", pad=5), p_min=0.5)
    rows = rows_of_image(clusters, t, 1)
    assert tuple(t.corners()[rows[1]]) == (15, 25, 66, 76)
    assert tuple(t.corners()[rows[2]]) == (85, 40, 126, 61)
    assert t.frac[rows[2]] == pytest.approx(15 * 21 / (41 * 21))
    assert t.keep[rows[2]]  # 'any' keeps it
    clusters, _, _, t = boxes_for(root)  # no P cut: the low-P member widens box 1
    assert tuple(t.corners()[rows_of_image(clusters, t, 1)[1]]) == (10, 10, 61, 71)
    # central_inside: with 30 px of padding the central box of image 1 leaves the image
    clusters, _, _, t = boxes_for(root, BoxRules(central_inside=True, pad=30), p_min=0.5)
    assert not t.keep[list(rows_of_image(clusters, t, 1).values())].any()
    assert t.keep[rows_of_image(clusters, t, 5)[5]]


def brute_force_boxes(clusters, members, size, scale):
    """Every (image, cluster) pair by a full scan with astropy WCS: {(image, ID): box}."""
    out = {}
    for i in range(len(clusters)):
        wcs = tan_wcs(clusters.ra[i], clusters.dec[i], scale, size)
        x, y = wcs.all_world2pix(members.ra, members.dec, 0)
        x, y = x + 0.5, y + 0.5
        inside = (x >= 0) & (x <= size) & (y >= 0) & (y <= size)
        for cid in np.unique(members.id[inside]):
            sel = members.id == cid
            box = (np.floor(x[sel].min()), np.floor(y[sel].min()))
            box += (np.ceil(x[sel].max()), np.ceil(y[sel].max()))
            out[(i, int(cid))] = tuple(int(v) for v in box)
    return out


def test_neighbour_sets_and_boxes_match_full_scan_with_astropy_wcs(tmp_path):
    clusters, members, _, t = boxes_for(random_survey(tmp_path), size=1000, scale=0.6)
    ours = {
        (int(i), int(clusters.id[c])): tuple(int(v) for v in box)
        for i, c, box in zip(t.image, t.cluster, t.corners(), strict=True)
    }
    expected = brute_force_boxes(clusters, members, 1000, 0.6)
    assert len(expected) > len(clusters)  # the case has neighbours
    assert ours == expected


def seed_boxes(clusters, members, half, reso):
    """The seed's make_bb.get_boxes, re-derived with astropy SkyCoord on every cluster."""
    mem = SkyCoord(members.ra * u.deg, members.dec * u.deg)
    out = {}
    for i in range(len(clusters)):
        c = SkyCoord(clusters.ra[i] * u.deg, clusters.dec[i] * u.deg)
        near = c.separation(mem).arcsec < 1.5 * half * reso
        off = c.spherical_offsets_to(mem[near])
        inside = (np.abs(off[0].arcsec) <= half * reso) & (np.abs(off[1].arcsec) <= half * reso)
        for cid in np.unique(members.id[near][inside]):
            dlon, dlat = c.spherical_offsets_to(mem[members.id == cid])
            x = half - dlon.arcsec / reso
            y = half - dlat.arcsec / reso
            x1, y1 = np.floor(x.min()), np.floor(y.min())
            x2, y2 = np.ceil(x.max()), np.ceil(y.max())
            f_l = min(2 * half, x2) - max(0, x1)
            f_h = min(2 * half, y2) - max(0, y1)
            f = f_l * f_h / ((x2 - x1) * (y2 - y1))
            out[(i, int(cid))] = (int(x1), int(y1), int(x2), int(y2), f)
    return out


def test_seed_convention_matches_seed_formula(tmp_path):
    clusters, members, _, t = boxes_for(
        random_survey(tmp_path, n_clusters=40), BoxRules(projection="seed"), size=2000, scale=0.5
    )
    ours = {
        (int(i), int(clusters.id[c])): (*(int(v) for v in box), f)
        for i, c, box, f in zip(t.image, t.cluster, t.corners(), t.frac, strict=True)
    }
    expected = seed_boxes(clusters, members, 1000, 0.5)
    assert ours.keys() == expected.keys()
    for key, value in expected.items():
        assert ours[key][:4] == value[:4]
        assert ours[key][4] == pytest.approx(value[4], rel=1e-12)


def test_a_chunk_of_cutouts_far_from_every_cluster_gives_no_boxes(tmp_path):
    from clusterhpc.io.cutouts import Cutouts

    root = hand_made_survey(tmp_path)
    clusters = read_clusters(root / "catalog.fits")
    members = read_members(root / "members.fits")
    index = MemberIndex(clusters, members, group_members(clusters, members))
    far = Cutouts(
        file=np.array(["e1.jpeg", "e2.jpeg"]),
        ra=np.array([200.0, 210.0]),
        dec=np.array([-40.0, -41.0]),
        scale=np.full(2, SCALE),
        size=np.full(2, SIZE),
        central_id=np.full(2, -1),
    )
    table = compute_boxes(index, far, np.arange(2), BoxRules())
    assert len(table) == 0
