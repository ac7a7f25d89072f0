"""`clusterhpc prep pack CONFIG`: cutouts + boxes + members -> HDF5 shards (MPI-parallel).

Rank 0 collects the entries (from the prep outputs, or from seed label files when
`prep.pack.labels` is set) and broadcasts them; shard j is packed by rank j % size; rank 0
gathers what every shard holds and writes `<data.root>/packed/index.json` last (it removes the
old one first, so a pack that fails part-way leaves no index). Complete shards of
an earlier run (same inputs, image contents and settings, verified) are skipped; image
digests are cached in `<data.root>/.stages/hashes.json`, so unchanged images are not re-read.
Corrupt images are excluded, listed in the index and reported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clusterhpc.config import Config, write_resolved
from clusterhpc.data.packed import INDEX_NAME
from clusterhpc.hpc.mpi import get_comm
from clusterhpc.io.content import HashCache
from clusterhpc.io.redmapper import group_members, read_clusters, read_columns, read_members
from clusterhpc.log import get_logger, progress
from clusterhpc.paths import packed_dir, survey_dir
from clusterhpc.prep.pack import ImageEntry, pack_shard, plan_shards, write_index
from clusterhpc.prep.pack_sources import entries_from_label_files, entries_from_prep

log = get_logger("prep.pack")


def member_catalogues(cfg: Config, ids: set[int]) -> dict[int, np.ndarray]:
    """Member rows (the configured feature columns) of each cluster ID in `ids`."""
    root = survey_dir(cfg)
    if not ids or not (root / "members.fits").exists():
        return {}
    clusters = read_clusters(root / "catalog.fits")
    groups = group_members(clusters, read_members(root / "members.fits"))
    features = read_columns(root / "members.fits", tuple(cfg.prep.pack.member_features))
    table = np.stack(
        [np.asarray(features[c], np.float64) for c in cfg.prep.pack.member_features], axis=1
    )
    return {
        int(cid): table[groups.rows(row)] for row, cid in enumerate(clusters.id) if int(cid) in ids
    }


def start_over(out: Path) -> None:
    """Remove the index (written again last, once every shard is whole: a pack that fails
    part-way leaves none, never an old one over a mix of old and new shards) and the
    temporary shards a killed run left (never complete: they were not renamed)."""
    (out / INDEX_NAME).unlink(missing_ok=True)
    for stale in out.glob(".*.h5.tmp*"):
        log.warning("removing %s, left by an interrupted run", stale)
        stale.unlink()


def main(cfg: Config) -> int:
    comm = get_comm()
    opts = cfg.prep.pack
    entries: dict[str, list[ImageEntry]] | None = None
    if comm.is_root:
        entries = entries_from_label_files(cfg) if opts.labels else entries_from_prep(cfg)
        log.info("packing %s", ", ".join(f"{k}: {len(v)} images" for k, v in entries.items()))
    entries = comm.bcast(entries)
    out = packed_dir(cfg)
    if comm.is_root:
        start_over(out)
    comm.barrier()
    plans = plan_shards(entries, opts.shard_size)
    mine = plans[comm.rank :: comm.size]
    ids = {int(e.meta["id"]) for plan in mine for e in plan.entries if int(e.meta["id"]) >= 0}
    members = member_catalogues(cfg, ids)
    settings = {
        "image_size": opts.image_size,
        "compression": opts.compression,
        "encoding": opts.encoding,
        "member_features": list(opts.member_features),
    }
    cache = HashCache.for_dir(survey_dir(cfg))
    results = [
        pack_shard(plan, out, survey_dir(cfg), settings, members, opts.member_features, cache)
        for plan in progress(mine, desc="pack", unit="shard")
    ]
    gathered = comm.gather((results, cache.changed))
    if gathered is None:
        return 0
    for _, hashed in gathered:
        cache.merge(hashed)
    cache.save()
    flat = [r for part, _ in gathered for r in part]
    index = write_index(out, flat)
    write_resolved(cfg, out, "pack_config.yaml")
    skipped = sum(r.skipped for r in flat)
    for item in index["excluded"]:
        log.warning("excluded %s: %s", item["path"], item["reason"])
    log.info(
        "%d shards (%d already complete) -> %s; %d images excluded",
        len(flat),
        skipped,
        out,
        len(index["excluded"]),
    )
    return 0
