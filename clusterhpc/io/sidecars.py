"""Image sky positions in the seed's sidecar files: `<image stem>.txt` with RA and Dec
(degrees) on two lines, as written next to SDSS empty-field downloads and by `simulate`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clusterhpc.io.atomic import atomic_write_text


def read_position(image: Path) -> tuple[float, float] | None:
    """(RA, Dec) from the sidecar of `image`, or None when it is missing or malformed."""
    try:
        values = np.loadtxt(image.with_suffix(".txt"), dtype=np.float64).ravel()
    except (OSError, ValueError):
        return None
    return (float(values[0]), float(values[1])) if values.size == 2 else None


def images_with_positions(
    images: list[Path],
) -> tuple[list[Path], np.ndarray, np.ndarray, list[Path]]:
    """The images that have a position, their RA and Dec, and the images without one."""
    found, ra, dec, missing = [], [], [], []
    for image in images:
        position = read_position(image)
        if position is None:
            missing.append(image)
            continue
        found.append(image)
        ra.append(position[0])
        dec.append(position[1])
    return found, np.asarray(ra, np.float64), np.asarray(dec, np.float64), missing


def existing_images(folder: Path) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """Images `*.jpeg` in `folder` (resolved paths) with their sidecar position, and the
    number without one; nothing when the folder does not exist."""
    if not folder.is_dir():
        return [], np.zeros(0), np.zeros(0), 0
    found, ra, dec, missing = images_with_positions(sorted(folder.glob("*.jpeg")))
    return [str(p.resolve()) for p in found], ra, dec, len(missing)


def write_position(image: Path, ra: float, dec: float) -> None:
    """Write the sidecar of `image`: RA and Dec (degrees, full precision) on two lines."""
    atomic_write_text(image.with_suffix(".txt"), f"{ra!r}\n{dec!r}\n")
