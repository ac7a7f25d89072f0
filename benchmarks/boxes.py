"""Benchmark `prep boxes` on a full-scale catalogue against the seed's per-cluster algorithm.

    python benchmarks/boxes.py [--survey DIR] [--clusters 26000] [--seed-clusters 8] [--no-mpi]

DIR holds catalog.fits + members.fits (e.g. from the simulator's catalogue-only mode); without
it a synthetic catalogue of `--clusters` clusters is generated here with numpy (26,000 by
default, >= 1.5 M members).
Cutouts: 2048 px at 0.396127″/px, one per cluster. Prints the seed baseline (astropy
separations of every cluster to every member, then the same box logic) per cluster on a random
subset, the new code per cluster (all clusters), 1 vs 2 MPI ranks, and a final RESULT line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clusterhpc.hpc.mpi import get_comm, split_evenly  # noqa: E402
from clusterhpc.io.cutouts import cluster_cutouts  # noqa: E402
from clusterhpc.io.redmapper import group_members, read_clusters, read_members  # noqa: E402
from clusterhpc.prep.boxes import BoxRules, BoxTable, MemberIndex, compute_boxes  # noqa: E402

SIZE, SCALE = 2048, 0.396127


def synthetic_catalogue(root: Path, n: int = 26_000, seed: int = 0) -> None:
    """Clusters over an SDSS-like cap (30 % companions 1-6′ from a parent), λ ∝ λ^-3 above 20,
    λ/0.6 members each within R_λ = (λ/100)^0.2 h⁻¹Mpc at their redshift."""
    rng = np.random.default_rng(seed)
    ra = rng.uniform(110, 260, n)
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-5)), np.sin(np.radians(65)), n)))
    comp = rng.random(n) < 0.3
    parent = rng.integers(0, n, n)
    sep, pa = rng.uniform(1, 6, n) / 60, rng.uniform(0, 2 * np.pi, n)
    dec = np.where(comp, dec[parent] + sep * np.sin(pa), dec)
    ra = np.where(comp, ra[parent] + sep * np.cos(pa) / np.cos(np.radians(dec)), ra)
    lam = 20 * rng.random(n) ** -0.5
    z = rng.uniform(0.08, 0.6, n)
    from astropy.cosmology import FlatLambdaCDM

    d_a = FlatLambdaCDM(H0=100, Om0=0.3).angular_diameter_distance(z).value  # h⁻¹ Mpc
    radius = np.degrees((lam / 100) ** 0.2 / d_a)
    n_mem = np.round(lam / 0.6).astype(np.int64)
    owner = np.repeat(np.arange(n), n_mem)
    r = radius[owner] * rng.random(owner.size) ** 0.7
    phi = rng.uniform(0, 2 * np.pi, owner.size)
    mdec = dec[owner] + r * np.sin(phi)
    mra = ra[owner] + r * np.cos(phi) / np.cos(np.radians(mdec))
    ids = np.arange(1, n + 1)
    Table({"ID": ids, "RA": ra % 360, "DEC": dec, "Z_LAMBDA": z, "LAMBDA": lam}).write(
        root / "catalog.fits", overwrite=True
    )
    Table({"ID": ids[owner], "RA": mra % 360, "DEC": mdec, "P": rng.random(owner.size)}).write(
        root / "members.fits", overwrite=True
    )


def seed_boxes(i: int, clusters, members, mem: SkyCoord) -> dict[int, tuple[int, ...]]:
    """The seed's make_bb.get_boxes for cluster row i: O(members) scans with astropy."""
    half = SIZE / 2
    c = SkyCoord(clusters.ra[i] * u.deg, clusters.dec[i] * u.deg)
    near = c.separation(mem).arcsec < 1.5 * half * SCALE
    dlon, dlat = c.spherical_offsets_to(mem[near])
    inside = (np.abs(dlon.arcsec) <= half * SCALE) & (np.abs(dlat.arcsec) <= half * SCALE)
    out = {}
    for cid in np.unique(members.id[near][inside]):
        dlon, dlat = c.spherical_offsets_to(mem[members.id == cid])
        x, y = half - dlon.arcsec / SCALE, half - dlat.arcsec / SCALE
        box = (np.floor(x.min()), np.floor(y.min()), np.ceil(x.max()), np.ceil(y.max()))
        out[int(cid)] = tuple(int(v) for v in box)
    return out


def run_new(root: Path, projection: str) -> tuple[dict[str, float], BoxTable | None, object]:
    """Read, index and box all cutouts on this rank's share; timings on rank 0."""
    comm = get_comm()
    comm.barrier()
    t0 = time.perf_counter()
    clusters = read_clusters(root / "catalog.fits")
    members = read_members(root / "members.fits")
    index = MemberIndex(clusters, members, group_members(clusters, members))
    cut = cluster_cutouts(clusters, SCALE, SIZE)
    t1 = time.perf_counter()
    mine = np.arange(len(cut))[split_evenly(len(cut), comm.rank, comm.size)]
    part = compute_boxes(index, cut, mine, BoxRules(projection=projection))
    t2 = time.perf_counter()
    parts = comm.gather(part)
    t3 = time.perf_counter()
    table = None if parts is None else BoxTable.concat(parts)
    times = {"read_index_s": t1 - t0, "boxes_s": t2 - t1, "gather_s": t3 - t2, "total_s": t3 - t0}
    return times, table, clusters


def worker(root: Path) -> None:
    times, table, _ = run_new(root, "tan")
    if table is not None:
        print(json.dumps({**times, "boxes": len(table)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survey", type=Path, help="directory with catalog.fits, members.fits")
    parser.add_argument("--clusters", type=int, default=26_000, help="synthetic catalogue size")
    parser.add_argument("--seed-clusters", type=int, default=8)
    parser.add_argument("--no-mpi", action="store_true", help="print the mpirun commands only")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    tmp = tempfile.TemporaryDirectory()
    root = args.survey or Path(tmp.name)
    if args.survey is None:
        t = time.perf_counter()
        synthetic_catalogue(root, args.clusters)
        print(f"synthetic catalogue written in {time.perf_counter() - t:.1f} s ({root})")
    clusters = read_clusters(root / "catalog.fits")
    members = read_members(root / "members.fits")
    n = len(clusters)
    print(f"{n} clusters, {len(members)} member rows, cutouts {SIZE} px at {SCALE}″/px")

    times, table, _ = run_new(root, "tan")
    per_new = times["boxes_s"] / n
    print(
        f"new (tan), 1 process: read+index {times['read_index_s']:.2f} s, boxes "
        f"{times['boxes_s']:.2f} s for {n} cutouts ({1e3 * per_new:.3f} ms/cluster), "
        f"{len(table)} boxes"
    )
    seed_times, seed_table, _ = run_new(root, "seed")
    print(f"new (seed convention): boxes {seed_times['boxes_s']:.2f} s")

    mem = SkyCoord(members.ra * u.deg, members.dec * u.deg)
    rows = np.random.default_rng(1).choice(n, args.seed_clusters, replace=False)
    t = time.perf_counter()
    baseline = {int(i): seed_boxes(int(i), clusters, members, mem) for i in rows}
    per_seed = (time.perf_counter() - t) / rows.size
    same = all(
        baseline[i]
        == {
            int(clusters.id[c]): tuple(int(v) for v in b)
            for c, b in zip(
                seed_table.cluster[seed_table.image == i],
                seed_table.corners()[seed_table.image == i],
                strict=True,
            )
        }
        for i in baseline
    )
    print(
        f"seed algorithm: {per_seed:.3f} s/cluster on {rows.size} random clusters "
        f"(extrapolated to all: {per_seed * n / 3600:.1f} h); same boxes as new: {same}"
    )
    speedup = per_seed / per_new
    print(f"speedup per cluster: {speedup:.0f}x")

    result = {
        "clusters": n,
        "members": len(members),
        "seed_s_per_cluster": f"{per_seed:.4f}",
        "new_ms_per_cluster": f"{1e3 * per_new:.4f}",
        "all_boxes_1proc_s": f"{times['total_s']:.2f}",
        "speedup_ratio": f"{speedup:.1f}",
    }
    script = str(Path(__file__).resolve())
    cmds = {
        k: [
            "mpirun",
            "--allow-run-as-root",
            "--oversubscribe",
            "-np",
            str(k),
            sys.executable,
            script,
            "--worker",
            str(root),
        ]
        for k in (1, 2)
    }
    if args.no_mpi:
        for cmd in cmds.values():
            print("run:", " ".join(cmd))
    else:
        mpi = {}
        for k, cmd in cmds.items():
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            mpi[k] = json.loads(out.strip().splitlines()[-1])
            print(
                f"mpirun -np {k}: read+index {mpi[k]['read_index_s']:.2f} s, boxes "
                f"{mpi[k]['boxes_s']:.2f} s, gather {mpi[k]['gather_s']:.2f} s, "
                f"total {mpi[k]['total_s']:.2f} s"
            )
        result |= {
            "mpi1_total_s": f"{mpi[1]['total_s']:.2f}",
            "mpi2_total_s": f"{mpi[2]['total_s']:.2f}",
            "mpi_speedup_ratio": f"{mpi[1]['total_s'] / mpi[2]['total_s']:.2f}",
            "mpi_boxes_speedup_ratio": f"{mpi[1]['boxes_s'] / mpi[2]['boxes_s']:.2f}",
        }
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
