"""`clusterhpc prep download CONFIG`: fetch the survey's JPEG cutouts from SkyServer ImgCutout.

The list (`prep.download_targets`) is cut into `download.parts` shares (a Slurm job array's
tasks: every parts-th cutout from `download.part`), each share over the MPI ranks, each rank's
cutouts over `download.threads` threads, all under `download.rate` requests per second in
total. Verified files are kept, so a rerun fetches only what is missing or failed. Rank 0
writes the manifest (`prep.download_manifest`) and a summary; the stage exits non-zero,
naming the failures, when any cutout could not be obtained.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from clusterhpc import __version__
from clusterhpc.config import Config
from clusterhpc.hpc.failure import EXIT_FAILED
from clusterhpc.hpc.mpi import get_comm
from clusterhpc.log import get_logger, progress
from clusterhpc.paths import survey_dir
from clusterhpc.prep.download_manifest import (
    Recorded,
    manifest_path,
    recorded_files,
    relative,
    write_manifest,
)
from clusterhpc.prep.download_targets import download_requests
from clusterhpc.skyserver.http import PoliteClient, RequestRate, RetryPolicy
from clusterhpc.skyserver.imgcutout import CutoutRequest, Outcome, fetch_cutout, present
from clusterhpc.typed_dict import ConfigError

log = get_logger("prep.download")


def fetch_all(
    requests: list[CutoutRequest],
    client: PoliteClient,
    url: str,
    threads: int,
    recorded: dict[str, Recorded],
) -> list[Outcome]:
    """Each cutout kept when already whole, else downloaded; outcomes in the input order. A
    file the manifest records for another position, scale or size is fetched anew."""

    def one(request: CutoutRequest) -> Outcome:
        known = recorded.get(str(request.path))
        stale = known is not None and not known.asked_for(request)
        kept = None if stale else present(request, known.sha256 if known else "")
        return kept if kept is not None else fetch_cutout(client, url, request)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        bar = progress(total=len(requests), desc="download", unit="cutout")
        outcomes = []
        for outcome in pool.map(one, requests):
            outcomes.append(outcome)
            bar.update(1)
        bar.close()
    return outcomes


def main(cfg: Config) -> int:
    comm = get_comm()
    opts = cfg.download
    if opts.part >= opts.parts:
        raise ConfigError(f"download.part = {opts.part}: expected 0 .. download.parts - 1")
    tic = time.perf_counter()
    everything = download_requests(cfg)
    share = everything[opts.part :: opts.parts]
    mine = share[comm.rank :: comm.size]
    root, manifest = survey_dir(cfg), manifest_path(cfg)
    recorded = {str(root / f): r for f, r in recorded_files(manifest).items()}
    policy = RetryPolicy(opts.retries, opts.backoff, opts.backoff_max, opts.timeout)
    rate = RequestRate(opts.rate / (opts.parts * comm.size) if opts.rate > 0 else 0.0)
    client = PoliteClient(policy, rate, f"clusterhpc/{__version__} (prep download)")
    outcomes = fetch_all(mine, client, opts.base_url, opts.threads, recorded)
    gathered = comm.gather(outcomes)
    failed: list[str] = []
    if comm.is_root:
        assert gathered is not None
        by_request = {}
        for rank, rank_outcomes in enumerate(gathered):
            by_request.update(zip(share[rank :: comm.size], rank_outcomes, strict=True))
        pairs = [(request, by_request[request]) for request in share]
        write_manifest(manifest, root, pairs)
        counts = Counter(outcome.status for _, outcome in pairs)
        seconds = time.perf_counter() - tic
        fetched = [o for _, o in pairs if o.status == "downloaded"]
        megabytes = sum(o.bytes for o in fetched) / 1e6
        log.info(
            "%d cutouts: %d downloaded (%.1f MB, %d requests), %d already there, %d failed, "
            "in %.1f s (%.1f cutouts/s) -> %s",
            len(pairs),
            counts["downloaded"],
            megabytes,
            sum(o.tries for _, o in pairs),
            counts["present"],
            counts["failed"],
            seconds,
            counts["downloaded"] / seconds if seconds > 0 else 0.0,
            manifest,
        )
        failed = [f"{relative(r.path, root)} ({o.error})" for r, o in pairs if o.status == "failed"]
        if failed:
            log.error(
                "%d cutouts failed after retries (a rerun retries only these): %s%s",
                len(failed),
                "; ".join(failed[:20]),
                f"; ... (all in {manifest})" if len(failed) > 20 else "",
            )
    return EXIT_FAILED if comm.bcast(len(failed)) else 0
