"""Hand-made survey directories for the prep tests."""

from __future__ import annotations

from pathlib import Path

import healpy as hp
import numpy as np
from astropy.table import Table

from clusterhpc.sky.projection import from_tan_pixels

SIZE, SCALE = 100, 36.0  # 100 px of 36″: a 1° cutout
CENTRE = (150.0, 10.0)


def write_catalogues(root: Path, clusters: dict, members: dict) -> None:
    root.mkdir(parents=True, exist_ok=True)
    Table(clusters).write(root / "catalog.fits", overwrite=True)
    Table(members).write(root / "members.fits", overwrite=True)


def at_pixels(points) -> tuple[np.ndarray, np.ndarray]:
    """Sky positions of pixel coordinates on the TAN cutout of SIZE px centred on CENTRE."""
    x, y = np.asarray(points, dtype=np.float64).T
    return from_tan_pixels(*CENTRE, x, y, SCALE, SIZE)


# Pixel positions (on the cutout of cluster 1) of the members of each cluster, and its centre.
HAND_MADE = {
    1: ((50.0, 50.0), [(20.5, 30.5), (60.5, 70.5), (50.3, 50.7)]),  # box (20, 30, 61, 71)
    2: ((95.0, 50.0), [(90.5, 45.5), (120.5, 55.5)]),  # box (90, 45, 121, 56), f = 10/31
    3: ((65.0, 75.0), [(50.5, 60.5), (80.5, 90.5)]),  # box (50, 60, 81, 91), overlaps 1
    4: ((-45.0, 50.0), [(-5.5, 50.5), (-40.5, 50.5)]),  # all members left of the image
}


def hand_made_survey(root: Path, p_low: bool = False) -> Path:
    """Clusters 1..4 as in HAND_MADE plus cluster 5 far away; member rows shuffled."""
    ids, cra, cdec, mid, mra, mdec = [], [], [], [], [], []
    for cid, (centre, pixels) in HAND_MADE.items():
        ra, dec = at_pixels([centre])
        ids.append(cid)
        cra.append(ra[0])
        cdec.append(dec[0])
        ra, dec = at_pixels(pixels)
        mid += [cid] * len(pixels)
        mra += list(ra)
        mdec += list(dec)
    ids.append(5)
    cra.append(200.0)
    cdec.append(-5.0)
    mid += [5, 5]
    mra += [200.0, 200.01]
    mdec += [-5.0, -5.01]
    p = np.ones(len(mid))
    if p_low:
        mid.append(1)
        ra, dec = at_pixels([(10.5, 10.5)])
        mra.append(ra[0])
        mdec.append(dec[0])
        p = np.append(p, 0.1)
    order = np.random.default_rng(3).permutation(len(mid))
    clusters = {
        "ID": np.array(ids, dtype=np.int64)[::-1],
        "RA": np.array(cra)[::-1],
        "DEC": np.array(cdec)[::-1],
        "Z_LAMBDA": np.linspace(0.1, 0.5, len(ids))[::-1],
        "LAMBDA": np.linspace(20, 60, len(ids))[::-1],
    }
    members = {
        "ID": np.array(mid, dtype=np.int32)[order],
        "RA": np.array(mra)[order],
        "DEC": np.array(mdec)[order],
        "P": p[order],
    }
    write_catalogues(root, clusters, members)
    return root


def random_survey(root: Path, n_clusters: int = 60, seed: int = 1, area_deg: float = 3.0) -> Path:
    """Clusters in an area_deg-wide square at Dec ≈ 30 with 5-40 members within 0.15°."""
    rng = np.random.default_rng(seed)
    ra = 120.0 + area_deg * rng.random(n_clusters)
    dec = 30.0 + area_deg * rng.random(n_clusters)
    n_mem = rng.integers(5, 40, n_clusters)
    mid = np.repeat(np.arange(1, n_clusters + 1), n_mem)
    r = 0.15 * np.sqrt(rng.random(mid.size))
    phi = 2 * np.pi * rng.random(mid.size)
    mdec = np.repeat(dec, n_mem) + r * np.sin(phi)
    mra = np.repeat(ra, n_mem) + r * np.cos(phi) / np.cos(np.radians(mdec))
    clusters = {
        "ID": np.arange(1, n_clusters + 1),
        "RA": ra,
        "DEC": dec,
        "Z_LAMBDA": rng.uniform(0.1, 0.6, n_clusters),
        "LAMBDA": rng.uniform(20, 100, n_clusters),
    }
    members = {"ID": mid, "RA": mra, "DEC": mdec, "P": rng.random(mid.size)}
    write_catalogues(root, clusters, members)
    return root


def write_footprint(path: Path, nside: int, ra_range, dec_range, nest: bool = False) -> np.ndarray:
    """A RING/NESTED map (0/1) of an RA/Dec rectangle; returns the RING mask."""
    ra, dec = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
    mask = (ra >= ra_range[0]) & (ra <= ra_range[1]) & (dec >= dec_range[0]) & (dec <= dec_range[1])
    values = hp.reorder(mask.astype(np.float32), r2n=True) if nest else mask.astype(np.float32)
    hp.write_map(str(path), values, nest=nest, overwrite=True, dtype=np.float32)
    return mask
