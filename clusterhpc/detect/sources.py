"""Images to run the detector on, each with its sky centre and pixel scale.

`detect.images` names one of:

- a folder of JPEG/PNG cutouts, each with a sidecar `<stem>.txt` holding RA and Dec (degrees)
  of the image centre on two lines (the seed's empty-field format);
- a cutout table (FITS/ECSV/CSV) with columns FILE, RA, DEC and optional SCALE (″/px), FILE
  relative to the table's folder;
- a packed directory (with `index.json`): every image of the splits in `detect.splits`.

Images are north-up, east-left, centred on (RA, Dec), as SDSS ImgCutout JPEGs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from clusterhpc.data.packed import INDEX_NAME, PackedSplit, read_index
from clusterhpc.errors import DataError
from clusterhpc.io.cutouts import read_cutout_table
from clusterhpc.io.sidecars import images_with_positions

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


@dataclass(frozen=True)
class Sources:
    """N images: a name, centre (degrees) and scale (″/px) each; pixels read on demand."""

    names: list[str]
    ra: np.ndarray
    dec: np.ndarray
    scale: np.ndarray
    files: list[Path] | None = None  # image files, or
    packed: list[tuple[PackedSplit, int]] | None = None  # packed images

    def __len__(self) -> int:
        return len(self.names)

    def image(self, i: int) -> np.ndarray:
        """uint8 (H, W, 3) RGB of image i."""
        if self.packed is not None:
            split, index = self.packed[i]
            return split.item(index).image
        path = self.files[i]
        try:
            with Image.open(path) as img:
                return np.asarray(img.convert("RGB"), np.uint8)
        except OSError as exc:
            raise DataError(f"{path}: cannot read the image ({exc})") from exc


def from_folder(folder: Path, scale: float) -> Sources:
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    files, ra, dec, missing = images_with_positions(images)
    if missing:
        names = ", ".join(p.with_suffix(".txt").name for p in missing[:3])
        raise DataError(
            f"{folder}: {len(missing)} image(s) without a sidecar RA/Dec file, e.g. "
            f"{names} (expected two numbers: RA and Dec in degrees)"
        )
    if not files:
        raise DataError(f"{folder}: no JPEG/PNG images")
    return Sources(
        names=[p.name for p in files],
        ra=ra,
        dec=dec,
        scale=np.full(len(files), scale),
        files=files,
    )


def from_table(path: Path, scale: float) -> Sources:
    cutouts = read_cutout_table(path, scale, 0)
    files = [Path(f) if Path(f).is_absolute() else path.parent / f for f in cutouts.file]
    return Sources(
        names=[str(f) for f in cutouts.file],
        ra=cutouts.ra,
        dec=cutouts.dec,
        scale=cutouts.scale,
        files=files,
    )


def from_packed(directory: Path, splits: list[str]) -> Sources:
    names, ra, dec, scale, packed = [], [], [], [], []
    available = read_index(directory)["splits"]
    for split_name in (s for s in available if s in splits):
        split = PackedSplit(directory, split_name)
        names += [str(p) for p in split.column("path")]
        ra.append(split.column("ra"))
        dec.append(split.column("dec"))
        scale.append(split.column("pixscale"))
        packed += [(split, i) for i in range(len(split))]
    return Sources(names, _cat(ra), _cat(dec), _cat(scale), packed=packed)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)


def open_sources(spec: str, scale: float, splits: list[str]) -> Sources:
    """The images named by `detect.images` (see the module docstring)."""
    if not spec:
        raise DataError("detect.images is not set: give an image folder, a table or packed dir")
    path = Path(spec)
    if path.is_dir() and (path / INDEX_NAME).exists():
        return from_packed(path, splits)
    if path.is_dir():
        return from_folder(path, scale)
    if path.is_file():
        return from_table(path, scale)
    raise DataError(f"detect.images = {spec}: no such folder or table")
