"""The download manifest: one CSV row per cutout with its status, tries, bytes and SHA-256."""

from __future__ import annotations

import csv
from pathlib import Path

from clusterhpc.config import Config
from clusterhpc.io.atomic import atomic_path
from clusterhpc.paths import survey_dir, survey_path
from clusterhpc.skyserver.imgcutout import CutoutRequest, Outcome

COLUMNS = ("file", "ra", "dec", "status", "tries", "bytes", "sha256", "http_status", "error")


def manifest_path(cfg: Config) -> Path:
    opts = cfg.download
    if opts.manifest:
        return survey_path(cfg, opts.manifest)
    part = f"-part-{opts.part}-of-{opts.parts}" if opts.parts > 1 else ""
    return survey_dir(cfg) / "download" / f"manifest{part}.csv"


def known_hashes(path: Path) -> dict[str, str]:
    """file -> SHA-256 of the files a previous run stored or verified ({} without a manifest)."""
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        return {
            row["file"]: row["sha256"]
            for row in csv.DictReader(handle)
            if row.get("status") in ("downloaded", "present") and row.get("sha256")
        }


def write_manifest(path: Path, root: Path, pairs: list[tuple[CutoutRequest, Outcome]]) -> None:
    """Rows in the order of the download list; files relative to `root` where they are under it."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for request, outcome in pairs:
            writer.writerow(
                [
                    relative(request.path, root),
                    repr(request.ra),
                    repr(request.dec),
                    outcome.status,
                    outcome.tries,
                    outcome.bytes,
                    outcome.sha256,
                    outcome.http_status,
                    outcome.error,
                ]
            )


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
