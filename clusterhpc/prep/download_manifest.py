"""The download manifest: one CSV row per cutout with its status, tries, bytes and SHA-256."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from clusterhpc.config import Config
from clusterhpc.io.atomic import atomic_path
from clusterhpc.paths import survey_dir, survey_path
from clusterhpc.skyserver.imgcutout import CutoutRequest, Outcome

COLUMNS = (
    "file", "ra", "dec", "scale", "size", "status", "tries", "bytes", "sha256", "http_status",
    "error",
)  # fmt: skip


@dataclass(frozen=True)
class Recorded:
    """What a previous run stored under a file name: the cutout it asked for, and the hash."""

    ra: float
    dec: float
    scale: float
    size: int
    sha256: str

    def asked_for(self, request: CutoutRequest) -> bool:
        return (self.ra, self.dec, self.scale, self.size) == (
            request.ra, request.dec, request.scale, request.size,
        )  # fmt: skip


def manifest_path(cfg: Config) -> Path:
    opts = cfg.download
    path = (
        survey_path(cfg, opts.manifest)
        if opts.manifest
        else survey_dir(cfg) / "download" / "manifest.csv"
    )
    if opts.parts > 1:  # each share its own file: array tasks never rewrite one another's
        return path.with_name(f"{path.stem}-part-{opts.part}-of-{opts.parts}{path.suffix}")
    return path


def recorded_files(path: Path) -> dict[str, Recorded]:
    """file -> what a previous run stored or verified there ({} without a manifest, or for a
    manifest of an older layout)."""
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not set(COLUMNS) <= set(rows[0]):
        return {}
    return {
        row["file"]: Recorded(
            float(row["ra"]),
            float(row["dec"]),
            float(row["scale"]),
            int(row["size"]),
            row["sha256"],
        )
        for row in rows
        if row["status"] in ("downloaded", "present") and row["sha256"]
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
                    repr(request.scale),
                    request.size,
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
