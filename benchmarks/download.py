"""Cutout download: `clusterhpc prep download` vs the plain thread pool a user would write.

    python benchmarks/download.py [--cutouts 300] [--size 256] [--latency 0.05] [--threads 8]

A local HTTP server (tests/prep/skyserver_stub.py) plays SkyServer ImgCutout with `--latency`
seconds per reply (a distant server's round trip). Timed on the same list, into fresh folders:
the seed's serial loop (one requests.get after the other), the plain alternative (a
ThreadPoolExecutor of `--threads` requests.get calls writing the bytes, no checks), and
`prep download` with as many threads (decoded and size-checked, atomic renames, manifest,
retries), then its rerun (every file verified, nothing fetched). Ends with a RESULT line whose
`vs_plain_ratio` and `vs_serial_ratio` are the rate of `prep download` over the thread pool's
and the serial loop's (above 1: `prep download` is faster). Figures in README are from the 2-core
AMD EPYC development VM, the stub server sharing its cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clusterhpc.cli import main as cli_main  # noqa: E402
from tests.prep.skyserver_stub import Cutout, SkyServerStub  # noqa: E402


def plain_get(url: str, cutout: Cutout, folder: Path, session: requests.Session) -> None:
    params = {"ra": repr(cutout.ra), "dec": repr(cutout.dec), "scale": "0.396127",
              "width": str(cutout.size), "height": str(cutout.size)}  # fmt: skip
    reply = session.get(url, params=params, timeout=60)
    reply.raise_for_status()
    (folder / f"{cutout.name}.jpeg").write_bytes(reply.content)


def serial(url: str, items: list[Cutout], folder: Path) -> float:
    tic, session = time.perf_counter(), requests.Session()
    for cutout in items:
        plain_get(url, cutout, folder, session)
    return time.perf_counter() - tic


def thread_pool(url: str, items: list[Cutout], folder: Path, threads: int) -> float:
    tic = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda c: plain_get(url, c, folder, requests.Session()), items))
    return time.perf_counter() - tic


def clusterhpc_download(url: str, items: list[Cutout], root: Path, threads: int) -> float:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["name,ra,dec"] + [f"{c.name},{c.ra!r},{c.dec!r}" for c in items]
    (root / "positions.csv").write_text("\n".join(lines) + "\n")
    args = [
        str(ROOT / "configs" / "tiny.yaml"),
        f"data.root={root}",
        "data.simulated=false",
        f"prep.size={items[0].size}",
        "download.positions=positions.csv",
        f"download.base_url={url}",
        f"download.threads={threads}",
        "download.rate=0",
    ]
    tic = time.perf_counter()
    assert cli_main(["--log-level", "WARNING", "prep", "download", *args]) == 0
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cutouts", type=int, default=300)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    items = [
        Cutout(f"c{i:05d}", (i * 0.01) % 360, 10.0, args.size, ["ok"]) for i in range(args.cutouts)
    ]
    n = len(items)
    with SkyServerStub(items, latency_s=args.latency) as stub, tempfile.TemporaryDirectory() as tmp:
        mb = sum(len(c.body) for c in items) / 1e6
        print(f"{n} cutouts of {args.size} px ({mb:.1f} MB), {args.latency * 1e3:.0f} ms per reply")
        folders = [Path(tmp) / name for name in ("serial", "pool")]
        for folder in folders:
            folder.mkdir()
        t_serial = serial(stub.url, items, folders[0])
        t_pool = thread_pool(stub.url, items, folders[1], args.threads)
        t_chpc = clusterhpc_download(stub.url, items, Path(tmp) / "chpc", args.threads)
        t_rerun = clusterhpc_download(stub.url, items, Path(tmp) / "chpc", args.threads)
    for label, seconds in (("serial loop", t_serial), (f"thread pool x{args.threads}", t_pool),
                           (f"prep download x{args.threads}", t_chpc),
                           ("prep download rerun (verify only)", t_rerun)):  # fmt: skip
        print(f"  {label:36s} {seconds:7.2f} s  {n / seconds:8.1f} cutouts/s")
    print(
        f"prep download rate / thread pool's: x{t_pool / t_chpc:.2f}, "
        f"/ serial loop's: x{t_serial / t_chpc:.2f}"
    )
    print(
        f"RESULT cutouts={n} serial_per_s={n / t_serial:.1f} pool_per_s={n / t_pool:.1f} "
        f"clusterhpc_per_s={n / t_chpc:.1f} vs_plain_ratio={t_pool / t_chpc:.2f} "
        f"vs_serial_ratio={t_serial / t_chpc:.2f} rerun_s={t_rerun:.2f}"
    )


if __name__ == "__main__":
    main()
