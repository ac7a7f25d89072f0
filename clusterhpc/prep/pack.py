"""Pack cutouts, their boxes, metadata and member catalogues into HDF5 shards.

The plan is deterministic: entries of a split keep their order and are cut into shards of
`shard_size`; shard j goes to rank j % size. A shard whose file exists, whose fingerprint
(hash of its entries, their images' contents and the packing settings) matches and which
verifies is skipped, so a killed job resumes where it stopped, and a changed image
(re-rendered, or a corrupt one repaired) packs its shard again. Corrupt or truncated images
are excluded and reported.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from clusterhpc.data.packed import INDEX_NAME
from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.io.content import HashCache
from clusterhpc.io.shards import (
    BOX_FIELDS,
    SCHEMA_VERSION,
    PackedImage,
    verify_shard,
    write_shard,
)


@dataclass
class ImageEntry:
    """An image to pack, before its pixels are read."""

    path: str  # absolute or relative to the survey directory
    boxes: np.ndarray  # float32 (n, 4) x1, y1, x2, y2 in the source image's pixels
    box_fields: dict[str, np.ndarray]  # BOX_FIELDS name -> (n,)
    meta: dict[str, Any]  # META_FIELDS name -> value
    # float32 (l, 4): visible clusters that are not labels (the shards' ignore regions)
    ignore: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))


@dataclass(frozen=True)
class ShardPlan:
    split: str
    index: int
    count: int
    entries: tuple[ImageEntry, ...] = field(repr=False)

    @property
    def name(self) -> str:
        return f"{self.split}-{self.index:05d}-of-{self.count:05d}.h5"


@dataclass
class ShardResult:
    """What one shard ended up holding; rank 0 gathers these into the index."""

    file: str
    split: str
    n_images: int
    skipped: bool  # already complete from an earlier run
    excluded: list[dict[str, str]]  # {"path", "reason"} of images left out


def plan_shards(
    entries_by_split: Mapping[str, Sequence[ImageEntry]], shard_size: int
) -> list[ShardPlan]:
    plans = []
    for split, entries in entries_by_split.items():
        count = max(1, -(-len(entries) // shard_size))
        for index in range(count):
            chunk = tuple(entries[index * shard_size : (index + 1) * shard_size])
            plans.append(ShardPlan(split, index, count, chunk))
    return plans


def source_path(entry: ImageEntry, root: Path) -> Path:
    return Path(entry.path) if Path(entry.path).is_absolute() else root / entry.path


def portable_name(entry: ImageEntry, root: Path) -> str:
    """The image's path relative to the survey root, or its file name when it lies
    elsewhere: what identifies it wherever the survey is staged."""
    path = Path(entry.path)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def fingerprint(
    plan: ShardPlan, settings: Mapping[str, Any], contents: Sequence[str], root: Path
) -> str:
    """Hash of a shard's inputs (image names relative to `root`, image contents, boxes,
    ignore regions, metadata) and the settings; `contents`: the content digest of each
    entry's image. Nothing in it depends on where the survey lies."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for entry, content in zip(plan.entries, contents, strict=True):
        digest.update(portable_name(entry, root).encode())
        digest.update(content.encode())
        digest.update(np.ascontiguousarray(entry.boxes, np.float32).tobytes())
        digest.update(b"ignore" + np.ascontiguousarray(entry.ignore, np.float32).tobytes())
        digest.update(
            json.dumps({k: str(v) for k, v in entry.meta.items()}, sort_keys=True).encode()
        )
    return digest.hexdigest()


def read_image(path: Path, size: int) -> tuple[np.ndarray, float]:
    """Decode an image to uint8 RGB, resized to size x size when size > 0.

    Returns the pixels and the scale factor applied. Raises OSError/ValueError on a corrupt,
    truncated or unreadable file.
    """
    with Image.open(path) as img:
        img.load()  # forces a full decode: truncated files raise here
        rgb = img.convert("RGB")
    if size <= 0 or rgb.size == (size, size):
        return np.asarray(rgb, np.uint8), 1.0
    if rgb.size[0] != rgb.size[1]:
        raise ValueError(f"not square ({rgb.size[0]}x{rgb.size[1]}); cannot resize to {size}")
    scale = size / rgb.size[0]
    return np.asarray(rgb.resize((size, size), Image.Resampling.BILINEAR), np.uint8), scale


def read_jpeg(path: Path, size: int) -> bytes:
    """A JPEG file's bytes, unchanged, once they are known to decode to an RGB image (of side
    `size` when size > 0: JPEGs are stored as they are, never resized). Raises OSError or
    ValueError otherwise."""
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        if img.format != "JPEG":
            raise ValueError(f"a {img.format} file, not JPEG: pack it with encoding raw")
        img.load()  # forces a full decode: truncated files raise here
        width, height = img.size
    if size > 0 and (width, height) != (size, size):
        raise ValueError(
            f"{width}x{height}, not {size}x{size}: encoding jpeg stores the files unchanged "
            "(set image_size 0, or use encoding raw to resize)"
        )
    return data


def load_items(
    plan: ShardPlan,
    root: Path,
    image_size: int,
    members_by_id: Mapping[int, np.ndarray],
    n_features: int,
    encoding: str = "raw",
) -> tuple[list[PackedImage], list[dict[str, str]]]:
    """Read a shard's images (decoded pixels, or the JPEG bytes with encoding "jpeg");
    corrupt ones are excluded with their reason."""
    items, excluded = [], []
    for entry in plan.entries:
        path = source_path(entry, root)
        try:
            if encoding == "jpeg":
                image, scale = read_jpeg(path, image_size), 1.0
            else:
                image, scale = read_image(path, image_size)
        except (OSError, ValueError) as exc:
            excluded.append({"path": str(path), "reason": f"{type(exc).__name__}: {exc}"})
            continue
        meta = {**entry.meta, "path": entry.path}
        meta["pixscale"] = float(entry.meta["pixscale"]) / scale
        cluster_id = int(entry.meta["id"])
        members = members_by_id.get(cluster_id, np.zeros((0, n_features)))
        items.append(
            PackedImage(
                image=image,
                boxes=np.asarray(entry.boxes, np.float32).reshape(-1, 4) * scale,
                box_fields={k: np.asarray(entry.box_fields[k], BOX_FIELDS[k]) for k in BOX_FIELDS},
                meta=meta,
                members=members,
                ignore=np.asarray(entry.ignore, np.float32).reshape(-1, 4) * scale,
            )
        )
    return items, excluded


def pack_shard(
    plan: ShardPlan,
    out_dir: Path,
    root: Path,
    settings: Mapping[str, Any],
    members_by_id: Mapping[int, np.ndarray],
    member_features: Sequence[str],
    cache: HashCache | None = None,
) -> ShardResult:
    """Write one planned shard unless an identical, verified one is already there.

    Identical includes the image contents (through `cache`, so unchanged images are not read
    again): a re-rendered or repaired image packs its shard again."""
    path = out_dir / plan.name
    cache = cache if cache is not None else HashCache()
    contents = [cache.digest(source_path(e, root)) for e in plan.entries]
    fp = fingerprint(plan, settings, contents, root)
    if path.exists() and _shard_fingerprint(path) == fp and not verify_shard(path):
        excluded = _stored_exclusions(path)
        return ShardResult(plan.name, plan.split, len(plan.entries) - len(excluded), True, excluded)
    encoding = str(settings.get("encoding", "raw"))
    items, excluded = load_items(
        plan, root, int(settings["image_size"]), members_by_id, len(member_features), encoding
    )
    write_shard(
        path,
        items,
        member_features=member_features,
        fingerprint=fp,
        compression=str(settings["compression"]),
        attrs={"excluded": json.dumps(excluded)},
        encoding=encoding,
    )
    return ShardResult(plan.name, plan.split, len(items), False, excluded)


def write_index(out_dir: Path, results: Sequence[ShardResult]) -> dict:
    """Write `index.json` listing every split's shards, image counts and exclusions."""
    splits: dict[str, dict] = {}
    for result in sorted(results, key=lambda r: r.file):
        split = splits.setdefault(result.split, {"shards": [], "n_images": 0, "n_excluded": 0})
        split["shards"].append({"file": result.file, "n_images": result.n_images})
        split["n_images"] += result.n_images
        split["n_excluded"] += len(result.excluded)
    index = {
        "schema_version": SCHEMA_VERSION,
        "splits": splits,
        "excluded": [e for r in results for e in r.excluded],
    }
    atomic_write_text(out_dir / INDEX_NAME, json.dumps(index, indent=1))
    return index


def _shard_fingerprint(path: Path) -> str | None:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return str(h5.attrs.get("fingerprint"))
    except OSError:
        return None


def _stored_exclusions(path: Path) -> list[dict[str, str]]:
    import h5py

    with h5py.File(path, "r") as h5:
        return json.loads(h5.attrs.get("excluded", "[]"))
