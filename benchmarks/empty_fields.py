"""Benchmark `prep empty`: 13,000 empty fields in the SDSS DR8 footprint.

    python benchmarks/empty_fields.py [--footprint MAP.fits] [--n 13000]

Without --footprint the DR8 imaging footprint is rasterised here from the Mangle polygons that
the `randomsdss` package ships (with `clusterhpc.sky.mangle`, pixel centres at nside
2048 as the seed's map); without it, an RA/Dec box of similar area stands in. 26,000
clusters are drawn uniformly inside. Ends with a RESULT line.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import healpy as hp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clusterhpc.errors import DataError
from clusterhpc.hpc.mpi import Comm
from clusterhpc.prep.empty_fields import EmptyRules, choose_empty_fields
from clusterhpc.sky.footprint import Footprint
from clusterhpc.sky.mangle import dr8_polygon_file, rasterise, read_ply


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
    for whole in (False, True):
        rules = EmptyRules(20.0, 300.0, whole_cutout=whole)
        t = time.perf_counter()
        fields = choose_empty_fields(args.n, 42, footprint, ra, dec, rules, Comm(None))
        seconds = time.perf_counter() - t
        print(f"{len(fields)} empty fields (whole cutout in footprint: {whole}) in {seconds:.2f} s")
        result["whole_cutout_s" if whole else "seconds"] = f"{seconds:.2f}"
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
