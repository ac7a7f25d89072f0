"""How the cost of the data stages grows with the survey (issue 19, item 4).

    python benchmarks/growth.py [--clusters 10000,100000,1000000] [--cap 100000]
                                [--pack-images 1024] [--pack-repeats 2] [--density 2.6]

For each survey size N (clusters), a catalogue-only mock survey (`simulate.images=false`:
clusters, members, truth, footprint; no galaxies.fits) is simulated over an RA/Dec box near the
equator whose area grows with N at `--density` clusters per deg² (the whole sky once N needs
more), then these stages run on it through the CLI, each command timed on its own:

- `simulate` (catalogue only): 1 process (every rank would build the same catalogue);
- `prep boxes`: one 256-px cutout at 3.17″/px per cluster (the quickstart geometry),
  `mpirun -np 1` and `-np 2`;
- `prep empty`: N/2 empty-field positions in the HEALPix footprint, 1 and 2 ranks;
- `prep sets`: member sets of every cluster (members only: no galaxy table), 1 process
  (rank 0 does the work);
- `prep pack`: not run on N images. K and 2K cutouts (2K = min(2·`--pack-images`, N)) are
  rendered at 64 px and each set is boxed and packed with 1 and 2 ranks (the fastest of
  `--pack-repeats` runs: other jobs share the machine); the N-image time is the 2K time plus
  the per-image cost between K and 2K times (N − 2K), a linear scale-up. The per-image cost
  is taken at the smallest N, where reading the catalogue adds the least noise around it (it
  does not depend on N). Its peak memory is the one measured at 2K, not scaled.

Measured per command: wall time (start-up and imports included) and peak resident memory of
the largest process (ru_maxrss of the waited command, which covers every rank of an mpirun).
Each stage's start-up floor is the same launch importing only its stage module. Per stage, the
exponent b of time ≈ a·N^b is fitted by least squares in log-log on the 1-rank times: on the
wall time (`*_exponent`) and on the time above the floor (`*_work_exponent`, the stage's own
work), and the exponent of memory on the peak above the floor's (`*_mem_exponent`); an
exponent above the floor is left out when some size does not rise above it. Exponents above
1.2 are flagged (an all-pairs array would show as a memory exponent of about 2). Speedup is
1-rank time / 2-rank time; `*_2rank_speedup_ratio` in the RESULT line is the one at the
largest N run.

Cap: sizes above `--cap` (100,000 by default) are not run, with a printed note and each
stage's time and memory extrapolated from its fits (labelled as such). Every stage needs the
catalogue, and on the 2-core, 23 GB development machine the catalogue of 10^5 clusters
(4.7 M members) already peaks at 3.2 GB; extrapolated to 10^6 (linear in memory) the
simulation needs about 30 GB and `prep sets` about 24 GB. Raise `--cap` on a larger machine.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clusterhpc.io.content import CACHE_NAME  # noqa: E402

CONFIG = "configs/quickstart.yaml"
FULL_SKY_DEG2 = 4 * math.pi * (180 / math.pi) ** 2
PACK_SIZE = 64
FLAG_EXPONENT = 1.2


def fit_power_law(sizes: list[float], values: list[float]) -> tuple[float, float]:
    """(a, b) of values ≈ a·sizes^b: least squares of log(values) on log(sizes)."""
    x, y = np.log(np.asarray(sizes, float)), np.log(np.asarray(values, float))
    if x.size < 2 or np.ptp(x) == 0 or not np.all(np.isfinite(y)):
        raise ValueError("need positive values at two or more distinct positive sizes")
    b, log_a = np.polyfit(x, y, 1)
    return float(np.exp(log_a)), float(b)


@dataclass
class Run:
    """One timed command: wall seconds and peak resident MiB of its largest process."""

    seconds: float
    peak_mib: float


@dataclass
class Stage:
    """A stage's runs at each size, keyed by rank count."""

    key: str
    title: str
    module: str
    parallel: bool
    runs: dict[int, dict[int, Run]] = field(default_factory=dict)
    floor: dict[int, Run] = field(default_factory=dict)

    def add(self, n: int, ranks: int, run: Run) -> None:
        self.runs.setdefault(n, {})[ranks] = run


def mpirun(ranks: int) -> list[str]:
    """The project's root-safe Open MPI launch prefix (as tests/conftest.py builds it)."""
    exe = shutil.which("mpirun")
    if exe is None:
        raise SystemExit("mpirun not found: install Open MPI (scripts/install-system.sh)")
    return [exe, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks),
            "--mca", "btl", "self,vader,tcp"]  # fmt: skip


def measure(args: list[str], ranks: int, log: Path) -> Run:
    """Run python `args` (under mpirun when `ranks`, else plainly); its wall time and peak RSS."""
    cmd = [*(mpirun(ranks) if ranks else []), sys.executable, *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        tail = log.read_text()[-3000:]
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")
    return Run(seconds, usage.ru_maxrss / 1024)


def footprint_box(n: int, density: float) -> tuple[list[float], list[float]]:
    """RA and Dec ranges (degrees) of a box near the equator holding n clusters at `density`
    per deg²: as square as the sphere allows, the whole sky when n needs more."""
    area = n / density
    if area >= FULL_SKY_DEG2:
        return [0.0, 360.0], [-90.0, 90.0]
    half_dec = min(80.0, math.sqrt(area) / 2)
    width = area / (360 / math.pi * math.sin(math.radians(half_dec)))
    if width > 360:
        width = 360.0
        half_dec = math.degrees(math.asin(area / (360 * 360 / math.pi)))
    return [0.0, round(width, 4)], [-round(half_dec, 4), round(half_dec, 4)]


def survey_overrides(root: Path, n: int, density: float) -> list[str]:
    """Overrides of the quickstart config for a catalogue-only survey of n clusters."""
    ra, dec = footprint_box(n, density)
    return [
        f"data.root={root}",
        "simulate.images=false",
        "simulate.gallery=0",
        "simulate.footprint.kind=rect",
        f"simulate.footprint.ra={ra}",
        f"simulate.footprint.dec={dec}",
        f"simulate.clusters.n={n}",
        "simulate.cutouts.clusters=0",
        "simulate.cutouts.empty=0",
    ]


def cli(stage: list[str], overrides: list[str]) -> list[str]:
    """Python arguments of `clusterhpc STAGE... quickstart.yaml OVERRIDES...`."""
    return ["-m", "clusterhpc", *stage, CONFIG, *overrides]


def run_size(
    n: int, pack: tuple[int, int], density: float, stages: dict[str, Stage], work: Path
) -> dict[int, dict[int, Run]]:
    """Every stage at survey size n (files in `work`, removed afterwards by the caller); the
    pack runs are returned, unscaled."""
    base = survey_overrides(work, n, density)
    logs = work / "logs"
    logs.mkdir()
    stages["simulate"].add(n, 1, measure(cli(["simulate"], base), 0, logs / "simulate.log"))
    for ranks in (1, 2):
        boxes = measure(cli(["prep", "boxes"], base), ranks, logs / f"boxes{ranks}.log")
        stages["boxes"].add(n, ranks, boxes)
        empty = [*base, f"prep.empty.n={max(1, n // 2)}"]
        stages["empty"].add(
            n, ranks, measure(cli(["prep", "empty"], empty), ranks, logs / f"empty{ranks}.log")
        )
    stages["sets"].add(n, 1, measure(cli(["prep", "sets"], base), 0, logs / "sets.log"))

    return pack_runs(n, *pack, base, work)


def pack_runs(
    n: int, k_pack: int, repeats: int, base: list[str], work: Path
) -> dict[int, dict[int, Run]]:
    """`prep pack` of k and 2k rendered cutouts (2k = min(2 k_pack, n)) with 1 and 2 ranks, the
    fastest of `repeats` runs each: {ranks: {k: Run}}."""
    k2 = min(2 * k_pack, n)
    k1 = k2 // 2
    logs = work / "logs"
    render = [
        *base,
        "simulate.images=true",
        f"simulate.cutouts.clusters={k2}",
        f"simulate.cutouts.size={PACK_SIZE}",
        f"prep.size={PACK_SIZE}",
        "prep.pack.empty=false",
    ]
    start = time.perf_counter()
    measure(cli(["simulate"], render), 0, logs / "render.log")
    table = Table.read(work / "cutouts.fits")
    runs: dict[int, dict[int, Run]] = {}
    for k in (k1, k2):
        table[:k].write(work / f"cutouts_{k}.fits")
        chain = [
            *render,
            f"prep.boxes.cutouts=cutouts_{k}.fits",
            f"prep.out={work / f'pack_prep_{k}'}",
            f"prep.pack.shard_size={max(1, k // 8)}",
        ]
        measure(cli(["prep", "boxes"], chain), 0, logs / f"pack_boxes_{k}.log")
        for ranks, repeat in itertools.product((1, 2), range(repeats)):
            (work / CACHE_NAME).unlink(missing_ok=True)
            packed = work / f"packed_{k}_{ranks}_{repeat}"
            log = logs / f"pack_{k}_{ranks}_{repeat}.log"
            run = measure(cli(["prep", "pack"], [*chain, f"data.packed={packed}"]), ranks, log)
            best = runs.setdefault(ranks, {}).get(k)
            if best is None or run.seconds < best.seconds:
                runs[ranks][k] = run
    print(
        f"  N={n}: pack of {k1} and {k2} rendered {PACK_SIZE}-px cutouts (render, boxes and "
        f"packs in {time.perf_counter() - start:.1f} s)"
    )
    for ranks, by_k in runs.items():
        print(
            f"    {ranks} rank(s): "
            + ", ".join(f"{r.seconds:.2f} s for {k}" for k, r in by_k.items())
        )
    return runs


def scale_pack(stage: Stage, measured: dict[int, dict[int, dict[int, Run]]]) -> None:
    """Pack times at N images: the time at 2k plus the per-image cost, taken at the smallest
    survey (the least start-up and catalogue reading around it), times (N - 2k)."""
    smallest = measured[min(measured)]
    for ranks, by_k in smallest.items():
        (k1, t1), (k2, t2) = sorted((k, run.seconds) for k, run in by_k.items())
        per_image = (t2 - t1) / (k2 - k1)
        print(f"prep pack, {ranks} rank(s): {1e3 * per_image:.3f} ms per image ({k1} -> {k2})")
        if per_image <= 0:
            print(f"  below the timing noise: no N-image time from {ranks} rank(s)")
            return
        for n, runs in measured.items():
            at_2k = runs[ranks][max(runs[ranks])]
            scaled = at_2k.seconds + per_image * (n - max(runs[ranks]))
            stage.add(n, ranks, Run(scaled, at_2k.peak_mib))


def exponent_line(
    what: str, sizes: list[int], values: list[float]
) -> tuple[str, tuple[float, float] | None]:
    """'what b = ...' (flagged above FLAG_EXPONENT) and the fit (a, b); none unless every value
    is > 0."""
    if len(sizes) < 2 or min(values) <= 0:
        return f"{what}: not every size above the start-up floor, no exponent", None
    a, b = fit_power_law(sizes, values)
    flag = f"  FLAG: grows faster than N^{FLAG_EXPONENT}" if b > FLAG_EXPONENT else ""
    return f"{what} b = {b:.2f}{flag}", (a, b)


def report(stage: Stage, result: dict[str, str], skipped: list[int]) -> None:
    """The stage's table and fits, extrapolated to the `skipped` sizes; its figures added to
    `result`."""
    sizes = sorted(stage.runs)
    floor = stage.floor[1]
    print(f"\n== {stage.title} ==")
    if not sizes:
        print("no figures (see above)")
        return
    print(f"{'N':>9} {'1-rank s':>9} {'2-rank s':>9} {'speedup':>8} {'peak MiB':>9} "
          f"{'2-rank MiB/rank':>16}")  # fmt: skip
    for n in sizes:
        one, two = stage.runs[n][1], stage.runs[n].get(2)
        row = f"{n:9d} {one.seconds:9.2f} "
        if two:
            row += f"{two.seconds:9.2f} {one.seconds / two.seconds:8.2f} {one.peak_mib:9.0f} "
            row += f"{two.peak_mib:16.0f}"
        else:
            row += f"{'-':>9} {'-':>8} {one.peak_mib:9.0f} {'-':>16}"
        print(row)
    print(f"start-up floor (launch + imports, 1 rank): {floor.seconds:.2f} s, "
          f"{floor.peak_mib:.0f} MiB")  # fmt: skip
    largest = stage.runs[sizes[-1]]
    result[f"{stage.key}_1rank_s"] = f"{largest[1].seconds:.3f}"
    result[f"{stage.key}_peak_mib"] = f"{largest[1].peak_mib:.0f}"
    if 2 in largest:
        speedup = largest[1].seconds / largest[2].seconds
        result[f"{stage.key}_2rank_speedup_ratio"] = f"{speedup:.2f}"
    fits = {
        "exponent": ("time exponent (wall)", [stage.runs[n][1].seconds for n in sizes]),
        "work_exponent": (
            "time exponent (above the start-up floor)",
            [stage.runs[n][1].seconds - floor.seconds for n in sizes],
        ),
        "mem_exponent": (
            "memory exponent (peak above the start-up floor)",
            [stage.runs[n][1].peak_mib - floor.peak_mib for n in sizes],
        ),
    }
    fitted = {}
    for key, (what, values) in fits.items():
        line, fitted[key] = exponent_line(what, sizes, values)
        print(line)
        if fitted[key]:
            result[f"{stage.key}_{key}"] = f"{fitted[key][1]:.2f}"
    work, mem = fitted["work_exponent"], fitted["mem_exponent"]
    for n in skipped if work and mem else ():
        print(
            f"N={n} not run; EXTRAPOLATED from the fits above the floor: "
            f"{floor.seconds + work[0] * n ** work[1]:.0f} s, "
            f"{floor.peak_mib + mem[0] * n ** mem[1]:.0f} MiB on 1 rank"
        )


def measure_floors(stages: dict[str, Stage], work: Path) -> None:
    """Each stage's launch + import of its module in an empty process, at 1 (and 2) ranks."""
    for stage in stages.values():
        code = "\n".join(
            (
                f"import {stage.module}",
                "from clusterhpc.hpc.mpi import get_comm",
                "get_comm().barrier()",
            )
        )
        for ranks in (1, 2) if stage.parallel else (1,):
            launch = ranks if stage.parallel else 0
            log = work / f"floor-{stage.key}{ranks}.log"
            stage.floor[ranks] = measure(["-c", code], launch, log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", default="10000,100000,1000000", help="survey sizes")
    parser.add_argument("--cap", type=int, default=100_000, help="largest size run")
    parser.add_argument("--pack-images", type=int, default=1024, help="cutouts rendered for pack")
    parser.add_argument("--pack-repeats", type=int, default=2, help="pack runs, the fastest kept")
    parser.add_argument("--density", type=float, default=2.6, help="clusters per deg²")
    args = parser.parse_args()
    asked = sorted(int(float(v)) for v in args.clusters.split(","))
    sizes = [n for n in asked if n <= args.cap]
    skipped = [n for n in asked if n > args.cap]
    for n in skipped:
        print(f"NOTE: N={n} not run (above --cap {args.cap}: see the module docstring)")
    if not sizes:
        raise SystemExit("no size at or below --cap")
    stages = {
        s.key: s
        for s in (
            Stage(
                "simulate",
                "simulate, catalogue only (1 process: not MPI-parallel)",
                "clusterhpc.simulate.stage",
                False,
            ),
            Stage(
                "boxes",
                "prep boxes (256-px cutouts at 3.17″/px, one per cluster)",
                "clusterhpc.prep.boxes_stage",
                True,
            ),
            Stage("empty", "prep empty (N/2 empty fields)", "clusterhpc.prep.empty_stage", True),
            Stage(
                "sets",
                "prep sets, members only (1 process: rank 0 works)",
                "clusterhpc.prep.sets_stage",
                False,
            ),
            Stage(
                "pack",
                "prep pack (scaled up linearly from 2K rendered images, see above)",
                "clusterhpc.prep.pack_stage",
                True,
            ),
        )
    }
    measured: dict[int, dict[int, dict[int, Run]]] = {}
    with tempfile.TemporaryDirectory(prefix="growth-") as tmp:
        measure_floors(stages, Path(tmp))
        for n in sizes:
            ra, dec = footprint_box(n, args.density)
            print(f"N={n}: footprint RA {ra}, Dec {dec}")
            with tempfile.TemporaryDirectory(prefix=f"growth-{n}-") as work:
                start = time.perf_counter()
                pack = (args.pack_images, args.pack_repeats)
                measured[n] = run_size(n, pack, args.density, stages, Path(work))
                print(f"  N={n}: all stages in {time.perf_counter() - start:.1f} s")
    print(
        f"\nprep pack: NOT measured at N images: the time at 2K = min(2 x {args.pack_images}, N) "
        f"rendered {PACK_SIZE}-px cutouts plus the per-image cost between K and 2K (at the "
        "smallest N) times (N - 2K), a linear scale-up to N; peak memory as measured at 2K"
    )
    scale_pack(stages["pack"], measured)
    result = {"max_clusters": str(sizes[-1]), "sizes": str(len(sizes))}
    for stage in stages.values():
        report(stage, result, skipped)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
