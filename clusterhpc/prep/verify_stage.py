"""`clusterhpc prep verify CONFIG`: check every packed shard, report problems by shard/index.

Checks the index against the files (missing shards, image counts), and every shard's
checksums, offsets and per-image CRCs, MPI-parallel over shards. Exit status 1 on problems
(on every rank).
"""

from __future__ import annotations

from pathlib import Path

import h5py

from clusterhpc.config import Config
from clusterhpc.data.packed import INDEX_NAME, read_index
from clusterhpc.hpc.mpi import get_comm
from clusterhpc.io.shards import verify_shard
from clusterhpc.log import get_logger, progress
from clusterhpc.paths import packed_dir

log = get_logger("prep.verify")


def check_shard(path, expected_images: int) -> list[str]:
    if not path.exists():
        return [f"{path}: listed in {INDEX_NAME} but missing"]
    problems = verify_shard(path)
    if not problems:
        with h5py.File(path, "r") as h5:
            stored = int(h5.attrs["n_images"])
        if stored != expected_images:
            problems.append(f"{path}: holds {stored} images, {INDEX_NAME} says {expected_images}")
    return problems


def main(cfg: Config) -> int:
    comm = get_comm()
    root = packed_dir(cfg)
    index = read_index(root)
    shards = [
        (root / s["file"], s["n_images"])
        for split in index["splits"].values()
        for s in split["shards"]
    ]
    mine = shards[comm.rank :: comm.size]
    problems = [
        p for path, n in progress(mine, desc="verify", unit="shard") for p in check_shard(path, n)
    ]
    gathered = comm.gather(problems)
    # rank 0 decides the exit status and broadcasts it: every rank exits with the same code
    return comm.bcast(0 if gathered is None else _report(gathered, shards))


def _report(gathered: list[list[str]], shards: list[tuple[Path, int]]) -> int:
    """Log every rank's problems (rank 0); the exit status, 1 on problems."""
    flat = [p for part in gathered for p in part]
    for problem in flat:
        log.error("%s", problem)
    n_images = sum(n for _, n in shards)
    if flat:
        log.error("%d problem(s) in %d shards (%d images)", len(flat), len(shards), n_images)
        return 1
    log.info(
        "%d shards, %d images: all checksums, counts and images verified", len(shards), n_images
    )
    return 0
