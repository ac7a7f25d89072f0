"""What to pack: image entries from the prep outputs or from seed label files.

From the prep outputs (`boxes.fits` written by `prep boxes`, empty fields listed by
`prep empty`), every labelled cutout with its kept boxes as labels and its other boxes as
ignore regions, split and metadata; empty fields
take the split `prep boxes` gave their sky group. From seed label files (`prep.pack.labels`), the
boxes and weights of each line; the ID is the file stem when it is a catalogue cluster.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from clusterhpc.config import Config
from clusterhpc.errors import DataError
from clusterhpc.io.labels import read_labels
from clusterhpc.io.redmapper import Clusters, read_clusters
from clusterhpc.paths import prep_dir, survey_dir
from clusterhpc.prep.pack import ImageEntry
from clusterhpc.prep.split import SPLITS


def _box_fields(
    z: np.ndarray, lam: np.ndarray, ids: np.ndarray, frac: np.ndarray, central: np.ndarray
) -> dict[str, np.ndarray]:
    return {
        "weight": frac,
        "cls": np.zeros(len(z), np.int32),
        "z": z,
        "lam": lam,
        "cluster_id": ids,
        "central": central,
    }


class _ClusterLookup:
    """Catalogue rows by cluster ID (built once; a linear search per image is O(N²))."""

    def __init__(self, clusters: Clusters | None) -> None:
        self.clusters = clusters
        self.row = {} if clusters is None else {int(i): r for r, i in enumerate(clusters.id)}

    def meta(self, cluster_id: int, ra: float, dec: float, scale: float) -> dict:
        """Image metadata; the cluster's own position when `ra`/`dec` are NaN."""
        row = self.row.get(cluster_id)
        z = lam = np.nan
        if row is not None:
            c = self.clusters
            z, lam = c.z[row], c.lam[row]
            if np.isnan(ra):
                ra, dec = c.ra[row], c.dec[row]
        return {
            "id": cluster_id,
            "ra": ra,
            "dec": dec,
            "z": z,
            "lam": lam,
            "empty": False,
            "pixscale": scale,
        }


def _by_image(boxes: Table, n_images: int) -> list[Table]:
    """Rows of a BOXES table grouped by their IMAGE row, for images 0..n_images-1."""
    boxes = boxes[np.argsort(np.asarray(boxes["IMAGE"]), kind="stable")]
    starts = np.searchsorted(boxes["IMAGE"], np.arange(n_images))
    ends = np.searchsorted(boxes["IMAGE"], np.arange(n_images), side="right")
    return [boxes[a:b] for a, b in zip(starts, ends, strict=True)]


def _corners(rows: Table) -> np.ndarray:
    corners = np.stack([rows[c] for c in ("X1", "Y1", "X2", "Y2")], 1)
    return corners.astype(np.float32).reshape(-1, 4)


def entries_from_prep(cfg: Config) -> dict[str, list[ImageEntry]]:
    """Labelled cutouts of `boxes.fits` by split, plus the empty fields when asked.

    An image's KEEP boxes are its labels; its other boxes (clusters with members in the
    image whose box centre lies outside, or dropped by the prep rules) are ignore regions."""
    path = prep_dir(cfg) / "boxes.fits"
    try:  # plain FITS records: astropy Tables would mask the empty SPLIT strings
        images = Table(fits.getdata(path, "IMAGES"))
        boxes = Table(fits.getdata(path, "BOXES"))
    except (OSError, KeyError) as exc:
        raise DataError(f"{path}: no boxes table (run `clusterhpc prep boxes` first)") from exc
    keep = np.asarray(boxes["KEEP"], bool)
    labels, ignored = _by_image(boxes[keep], len(images)), _by_image(boxes[~keep], len(images))
    lookup = _ClusterLookup(read_clusters(survey_dir(cfg) / "catalog.fits"))
    out: dict[str, list[ImageEntry]] = {name: [] for name in SPLITS}
    for i, image in enumerate(images):
        split = str(image["SPLIT"]).strip()
        if not split:
            continue
        rows = labels[i]
        out[split].append(
            ImageEntry(
                path=str(image["PATH"]),
                boxes=_corners(rows),
                box_fields=_box_fields(
                    np.asarray(rows["Z_LAMBDA"]),
                    np.asarray(rows["LAMBDA"]),
                    np.asarray(rows["ID"]),
                    np.asarray(rows["FRAC"]),
                    np.asarray(rows["CENTRAL"]),
                ),
                meta=lookup.meta(
                    int(image["CENTRAL_ID"]),
                    float(image["RA"]),
                    float(image["DEC"]),
                    float(image["SCALE"]),
                ),
                ignore=_corners(ignored[i]),
            )
        )
    if cfg.prep.pack.empty:
        for split, entries in empty_entries(cfg).items():
            out[split].extend(entries)
    return {name: entries for name, entries in out.items() if entries}


def empty_entries(cfg: Config) -> dict[str, list[ImageEntry]]:
    """Empty fields listed in `valid_empty.txt`, in the split `prep boxes` gave their sky group
    (HDU EMPTY of `boxes.fits`), so they never share sky with a cutout of another split."""
    listed = prep_dir(cfg) / "valid_empty.txt"
    if not listed.exists():
        return {}
    keep = {line.path for line in read_labels(listed)}
    boxes = prep_dir(cfg) / "boxes.fits"
    try:
        table = fits.getdata(boxes, "EMPTY")
    except (OSError, KeyError) as exc:
        raise DataError(f"{boxes}: no EMPTY table (rerun `clusterhpc prep boxes`)") from exc
    paths = [str(p).strip() for p in table["PATH"]]
    missing = keep.difference(paths)
    if missing:
        raise DataError(
            f"{listed}: {len(missing)} empty fields (first {sorted(missing)[0]}) have no split "
            f"in {boxes}: the empty images changed since `prep boxes`; rerun it"
        )
    ra, dec = np.asarray(table["RA"], np.float64), np.asarray(table["DEC"], np.float64)
    splits = [str(s).strip() for s in table["SPLIT"]]
    out: dict[str, list[ImageEntry]] = {}
    for row in (i for i, p in enumerate(paths) if p in keep):
        out.setdefault(splits[row], []).append(
            ImageEntry(
                path=paths[row],
                boxes=np.zeros((0, 4), np.float32),
                box_fields=_box_fields(*(np.zeros(0),) * 5),
                meta={
                    "id": -1,
                    "ra": ra[row],
                    "dec": dec[row],
                    "z": np.nan,
                    "lam": np.nan,
                    "empty": True,
                    "pixscale": cfg.prep.scale,
                },
            )
        )
    return out


def entries_from_label_files(cfg: Config) -> dict[str, list[ImageEntry]]:
    """Seed label files `{split: path}`: boxes and weights; metadata where the ID is known."""
    catalog = survey_dir(cfg) / "catalog.fits"
    lookup = _ClusterLookup(read_clusters(catalog) if catalog.exists() else None)
    out: dict[str, list[ImageEntry]] = {}
    for split, label_path in cfg.prep.pack.labels.items():
        if split not in SPLITS:
            raise DataError(f"prep.pack.labels: split {split!r} is not one of {SPLITS}")
        entries = []
        for line in read_labels(Path(label_path)):
            n = len(line.boxes)
            weight = line.extra[:, 0] if line.extra.size else np.ones(n)
            stem = Path(line.path).stem
            cluster_id = int(stem) if stem.isdigit() else -1
            meta = lookup.meta(cluster_id, np.nan, np.nan, cfg.prep.scale)
            meta["empty"] = n == 0
            entries.append(
                ImageEntry(
                    path=line.path,
                    boxes=line.boxes.astype(np.float32),
                    box_fields=_box_fields(
                        np.full(n, meta["z"]),
                        np.full(n, meta["lam"]),
                        np.full(n, cluster_id),
                        weight,
                        np.ones(n, bool),
                    ),
                    meta=meta,
                )
            )
        out[split] = entries
    return out
