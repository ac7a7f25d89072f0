"""Benchmark `prep empty`: 13,000 empty fields in the SDSS DR8 footprint, vs the plain way.

    python benchmarks/empty_fields.py [--footprint MAP.fits] [--n 13000]

Without --footprint the DR8 imaging footprint is rasterised here from the Mangle polygons that
the `randomsdss` package ships (with `clusterhpc.sky.mangle`, pixel centres at nside
2048 as the seed's map); without it, an RA/Dec box of similar area stands in. 26,000
clusters are drawn uniformly inside.

Timed on the same footprint and clusters: `clusterhpc.prep.empty_fields.choose_empty_fields`
(the positions of `prep empty`, one process), with the field centre in the footprint and with
the whole cutout inside, and the plain alternative a user would write for the first rule,
vectorised as the seed's one-draw variant (get_boxes.py): batches of 100,000 points uniform on
the sphere, the footprint tested with `healpy.ang2pix` on the map, the nearest cluster from
astropy's `match_to_catalog_sky`, kept between 20′ and 300′, until n are found. Each time is
the shortest of 3 runs. `vs_plain_ratio` in the final RESULT line is the plain time over
`prep empty`'s (above 1: `prep empty` is faster); README's figures are from the 2-core AMD EPYC
development VM.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import healpy as hp
import numpy as np
from astropy.coordinates import SkyCoord

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clusterhpc.errors import DataError
from clusterhpc.hpc.mpi import Comm
from clusterhpc.prep.empty_fields import EmptyRules, choose_empty_fields
from clusterhpc.sky.footprint import Footprint
from clusterhpc.sky.mangle import dr8_polygon_file, rasterise, read_ply

T = TypeVar("T")


def dr8_mask(nside: int = 2048) -> tuple[np.ndarray, str]:
    """RING boolean map of the DR8 footprint, rasterised with the simulator's Mangle code
    (falls back to an RA/Dec box of similar area when it is not available)."""
    try:
        ply = dr8_polygon_file()
        nest = np.zeros(hp.nside2npix(nside), bool)
        nest[rasterise(read_ply(str(ply)), nside)] = True
        return nest[
            hp.ring2nest(nside, np.arange(nest.size))
        ], f"DR8 Mangle polygons, nside {nside}"
    except DataError as exc:
        ra, dec = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
        mask = (ra > 110) & (ra < 265) & (dec > -5) & (dec < 70)
        return mask, f"RA/Dec box at nside {nside} ({exc})"


def best_time(fn: Callable[[], T], repeats: int = 3) -> tuple[float, T]:
    """Shortest of `repeats` runs of fn (seconds) and its result."""
    best = np.inf
    for _ in range(repeats):
        tic = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - tic)
    return best, out


def plain_empty_fields(
    n: int, mask: np.ndarray, ra: np.ndarray, dec: np.ndarray, rules: EmptyRules, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The plain way: uniform points on the sphere, healpy mask test, astropy nearest cluster;
    RA, Dec and separation (arcmin) of the first n accepted."""
    rng = np.random.default_rng(seed)
    clusters = SkyCoord(ra, dec, unit="deg")
    nside = hp.npix2nside(mask.size)
    found: list[tuple[np.ndarray, ...]] = []
    while sum(len(part[0]) for part in found) < n:
        cand_ra = rng.uniform(0, 360, 100_000)
        cand_dec = np.degrees(np.arcsin(rng.uniform(-1, 1, 100_000)))
        inside = mask[hp.ang2pix(nside, cand_ra, cand_dec, lonlat=True)]
        cand_ra, cand_dec = cand_ra[inside], cand_dec[inside]
        _, sep, _ = SkyCoord(cand_ra, cand_dec, unit="deg").match_to_catalog_sky(clusters)
        sep = sep.arcmin
        ok = (sep >= rules.min_sep_arcmin) & (sep <= rules.max_sep_arcmin)
        found.append((cand_ra[ok], cand_dec[ok], sep[ok]))
    return tuple(np.concatenate(column)[:n] for column in zip(*found, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footprint", type=Path, help="HEALPix footprint map (FITS)")
    parser.add_argument("--n", type=int, default=13_000)
    args = parser.parse_args()
    t = time.perf_counter()
    if args.footprint:
        footprint, source = Footprint.read(args.footprint), str(args.footprint)
    else:
        mask, source = dr8_mask()
        footprint = Footprint(mask, source)
    print(f"footprint: {source}: {footprint.area_deg2:.0f} deg² ({time.perf_counter() - t:.1f} s)")
    ra, dec = footprint.random_points(26_000, np.random.default_rng(0))
    result = {"fields": args.n, "area_deg2": f"{footprint.area_deg2:.0f}"}
    seconds: dict[bool, float] = {}
    for whole in (False, True):
        rules = EmptyRules(20.0, 300.0, whole_cutout=whole)
        seconds[whole], fields = best_time(
            lambda rules=rules: choose_empty_fields(
                args.n, 42, footprint, ra, dec, rules, Comm(None)
            )
        )
        print(
            f"{len(fields)} empty fields (whole cutout in footprint: {whole}) "
            f"in {seconds[whole]:.3f} s"
        )
        result["whole_cutout_s" if whole else "seconds"] = f"{seconds[whole]:.3f}"
    plain, (_, _, sep) = best_time(
        lambda: plain_empty_fields(args.n, footprint.mask, ra, dec, EmptyRules(20.0, 300.0), 42)
    )
    assert len(sep) == args.n and np.all((sep >= 20) & (sep <= 300)), "plain fields wrong"
    ratio = plain / seconds[False]
    print(
        f"{len(sep)} empty fields the plain way (sphere draw, healpy mask, astropy nearest "
        f"cluster) in {plain:.3f} s: plain time / prep empty's = x{ratio:.1f}"
    )
    result |= {"plain_s": f"{plain:.3f}", "vs_plain_ratio": f"{ratio:.2f}"}
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
