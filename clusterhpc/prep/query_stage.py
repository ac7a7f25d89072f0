"""`clusterhpc prep query CONFIG`: the photometric catalogue around each cluster from SkyServer.

Every galaxy (members and non-members) of `query.table` in a box of half side
`query.half_size_arcmin` (default: half the cutout) around each cluster of `catalog.fits`,
fetched `query.batch` clusters per SQL request (`skyserver.sql`), under `query.rate`
requests per second over `query.threads` threads and the MPI ranks, with the retries of
`download.timeout/retries/backoff/backoff_max`. Each batch is written atomically to
`<query.out>/batch-NNNNN-<digest>.fits`, named by what it asks (cluster IDs, box, table,
columns, condition), so a rerun fetches only the missing batches and a changed query fetches
anew. Rank 0 then writes `<query.out>/galaxies.fits`: CLUSTER_ID plus the columns, one row per
(cluster, galaxy). Credentials, where a service needs them, come from the environment only:
SKYSERVER_USER and SKYSERVER_PASSWORD (HTTP basic authentication).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from clusterhpc import __version__
from clusterhpc.config import Config
from clusterhpc.errors import DataError
from clusterhpc.hpc.failure import EXIT_FAILED
from clusterhpc.hpc.mpi import get_comm
from clusterhpc.io.atomic import atomic_path
from clusterhpc.io.redmapper import read_clusters
from clusterhpc.log import get_logger, progress
from clusterhpc.paths import survey_dir, survey_path
from clusterhpc.skyserver.http import PoliteClient, RequestRate, RetryPolicy
from clusterhpc.skyserver.sql import (
    Box,
    assign_to_clusters,
    box_query,
    boxes_around,
    parse_csv_reply,
)

log = get_logger("prep.query")


@dataclass(frozen=True)
class Batch:
    """One request: its clusters' IDs and boxes, its SQL and the file it is written to."""

    ids: np.ndarray
    boxes: list[list[Box]]
    sql: str
    path: Path


def plan_batches(cfg: Config) -> list[Batch]:
    opts = cfg.query
    clusters = read_clusters(survey_dir(cfg) / "catalog.fits")
    half = (opts.half_size_arcmin or cfg.prep.size * cfg.prep.scale / 120.0) / 60.0
    out = survey_path(cfg, opts.out) if opts.out else survey_dir(cfg) / "galaxies"
    batches = []
    for k, start in enumerate(range(0, len(clusters), opts.batch)):
        rows = np.arange(start, min(start + opts.batch, len(clusters)))
        boxes = [boxes_around(clusters.ra[i], clusters.dec[i], half) for i in rows]
        sql = box_query(opts.table, opts.columns, opts.where, [b for own in boxes for b in own])
        recipe = json.dumps([clusters.id[rows].tolist(), sql], separators=(",", ":"))
        digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
        batches.append(Batch(clusters.id[rows], boxes, sql, out / f"batch-{k:05d}-{digest}.fits"))
    return batches


def fetch_batch(client: PoliteClient, cfg: Config, batch: Batch) -> str:
    """'' when the batch file is there (kept or fetched), else why it failed."""
    if batch.path.exists():
        return ""
    reply = client.get(cfg.query.url, {"cmd": batch.sql, "format": "csv"})
    if reply.error or not 200 <= reply.status < 300:
        return reply.error or f"HTTP {reply.status}"
    try:
        rows = parse_csv_reply(reply.content.decode("utf-8", "replace"), cfg.query.url)
    except (DataError, ValueError) as exc:
        return str(exc)
    if len(rows) >= cfg.query.max_rows:
        return f"{len(rows)} rows: the service's cap (query.max_rows); lower query.batch"
    table = assign_to_clusters(rows, batch.ids, batch.boxes)
    with atomic_path(batch.path) as tmp:
        table.write(tmp, format="fits")
    return ""


def credentials() -> tuple[str, str] | None:
    user, password = os.environ.get("SKYSERVER_USER"), os.environ.get("SKYSERVER_PASSWORD")
    return (user, password) if user and password else None


def main(cfg: Config) -> int:
    comm, opts, http = get_comm(), cfg.query, cfg.download
    tic = time.perf_counter()
    batches = plan_batches(cfg)
    mine = batches[comm.rank :: comm.size]
    policy = RetryPolicy(http.retries, http.backoff, http.backoff_max, http.timeout)
    rate = RequestRate(opts.rate / comm.size if opts.rate > 0 else 0.0)
    client = PoliteClient(policy, rate, f"clusterhpc/{__version__} (prep query)", credentials())
    bar = progress(total=len(mine), desc="query", unit="batch")
    errors = []
    with ThreadPoolExecutor(max_workers=opts.threads) as pool:
        for error in pool.map(lambda b: fetch_batch(client, cfg, b), mine):
            errors.append(error)
            bar.update(1)
    bar.close()
    gathered = comm.gather(errors)
    failed: list[str] = []
    if comm.is_root:
        assert gathered is not None
        for rank, rank_errors in enumerate(gathered):
            failed += [
                f"{b.path.name} ({e})"
                for b, e in zip(batches[rank :: comm.size], rank_errors, strict=True)
                if e
            ]
        if failed:
            log.error("%d of %d batches failed (a rerun retries only these): %s",
                      len(failed), len(batches), "; ".join(failed[:10]))  # fmt: skip
        else:
            tables = [Table.read(b.path) for b in batches]
            filled = [t for t in tables if len(t)]
            merged = vstack(filled) if filled else tables[0] if tables else Table()
            out = batches[0].path.parent / "galaxies.fits" if batches else None
            if out is not None:
                with atomic_path(out) as tmp:
                    merged.write(tmp, format="fits")
            log.info(
                "%d clusters, %d batches, %d (cluster, galaxy) rows in %.1f s -> %s",
                sum(len(b.ids) for b in batches),
                len(batches),
                len(merged),
                time.perf_counter() - tic,
                out,
            )
    return EXIT_FAILED if comm.bcast(len(failed)) else 0
