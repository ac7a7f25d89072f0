"""HDF5 shard layout for packed cutouts: images, ragged boxes, metadata and member catalogues.

One shard file `packed/<split>-NNNNN-of-MMMMM.h5` holds (schema version 2), with the
images stored one of two ways (root attribute `encoding`):

    raw:  images         uint8 (N, H, W, 3), one chunk per image, optional lossless compression
    jpeg: image_bytes    uint8 (B,)    the JPEG files' bytes, unchanged, one after the other
          image_offsets  int64 (N+1,)  image i is bytes image_offsets[i]:image_offsets[i+1]
    image_crc32     uint32 (N,)   CRC-32 of every image's stored bytes (verify reports the index)
    meta/<field>    (N,)          per-image metadata, see META_FIELDS (path as UTF-8 string)
    box_offsets     int64 (N+1,)  boxes of image i are rows box_offsets[i]:box_offsets[i+1]
    boxes           float32 (M, 4) x1, y1, x2, y2 in image pixels (may extend past the edges)
    box/<field>     (M,)          per-box fields, see BOX_FIELDS
    ignore_offsets  int64 (N+1,)  ignore regions of image i are rows ignore_offsets[i]:[i+1]
    ignore_boxes    float32 (L, 4) x1, y1, x2, y2 of clusters visible in the image but not
                                  labels (box centre outside, or dropped by the prep rules):
                                  neither trained as background nor scored as false
    member_offsets  int64 (N+1,)  members of image i's central cluster
    members         float64 (K, F) member catalogue rows, columns named by attr `features`

Root attributes: schema_version, n_images, image_shape (decoded), encoding (absent: raw),
fingerprint (of the inputs), and a `sha256` attribute on every dataset except `images` and
`image_bytes` (covered per image by `image_crc32`). Raw images cost no decoding; JPEG takes
about a tenth of the bytes and is decoded while reading: with Pillow here, or by the training
pipeline with TensorFlow's decoder set to the same integer DCT (`TF_DCT_METHOD`), which gives
the same pixels bit for bit (tested).
Files are written under a temporary name, fsynced and renamed: a shard that exists is whole.
Version 2 added the ignore regions; older shards are refused (repack them).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from PIL import Image

from clusterhpc.errors import DataError
from clusterhpc.io.atomic import atomic_path

SCHEMA_VERSION = 2

META_FIELDS: dict[str, Any] = {
    "id": np.int64,  # cluster ID for cluster cutouts, -1 for empty fields
    "ra": np.float64,  # cutout centre, degrees
    "dec": np.float64,
    "z": np.float32,  # redshift of the central cluster (NaN for empty fields)
    "lam": np.float32,  # richness of the central cluster (NaN for empty fields)
    "empty": np.bool_,
    "pixscale": np.float32,  # arcsec per pixel of the stored image
}
BOX_FIELDS: dict[str, Any] = {
    "weight": np.float32,  # fraction of the box area inside the image
    "cls": np.int32,  # class index (0 when there is one class)
    "z": np.float32,
    "lam": np.float32,
    "cluster_id": np.int64,
    "central": np.bool_,
}
COMPRESSIONS = ("none", "gzip", "lz4", "blosc-lz4")
ENCODINGS = ("raw", "jpeg")
_MAX_IOV = 1024  # buffers per readv call (Linux IOV_MAX)


@dataclass
class PackedImage:
    """One image with everything the trainers need; the unit a shard stores."""

    image: np.ndarray | bytes  # uint8 (H, W, 3), or a JPEG file's bytes (encoding jpeg)
    boxes: np.ndarray  # float32 (n, 4)
    box_fields: dict[str, np.ndarray]  # BOX_FIELDS name -> (n,)
    meta: dict[str, Any]  # META_FIELDS name -> scalar, plus "path"
    members: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (k, F)
    ignore: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # (l, 4)


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _compression_args(name: str) -> dict[str, Any]:
    if name == "none":
        return {}
    if name == "gzip":
        return {"compression": "gzip", "compression_opts": 1, "shuffle": True}
    import hdf5plugin

    if name == "lz4":
        return dict(hdf5plugin.LZ4())
    if name == "blosc-lz4":
        return dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE))
    raise ValueError(f"unknown compression {name!r}; expected one of {COMPRESSIONS}")


TF_DCT_METHOD = "INTEGER_ACCURATE"  # `tf.io.decode_jpeg`'s setting that matches `decode_jpeg`


def decode_jpeg(data: bytes | np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """JPEG bytes -> uint8 (H, W, 3) RGB (into `out` when given). Raises OSError when the
    bytes do not decode; the one decoder of stored JPEGs, so every reader sees the same
    pixels."""
    with Image.open(io.BytesIO(memoryview(data))) as img:
        img.load()
        pixels = np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
    if out is None:
        return pixels
    out[...] = pixels
    return out


def jpeg_shape(data: bytes) -> tuple[int, int, int]:
    """(H, W, 3) of a JPEG from its header."""
    with Image.open(io.BytesIO(data)) as img:
        return img.size[1], img.size[0], 3


def _stored_bytes(image: np.ndarray | bytes) -> bytes:
    return image if isinstance(image, bytes) else np.ascontiguousarray(image).tobytes()


def _ragged(parts: Sequence[np.ndarray], width: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(parts) + 1, np.int64)
    offsets[1:] = np.cumsum([len(p) for p in parts])
    rows = [np.asarray(p, dtype).reshape(len(p), width) for p in parts]
    data = np.concatenate(rows) if rows else np.zeros((0, width), dtype)
    return data, offsets


def write_shard(
    path: Path,
    items: Sequence[PackedImage],
    *,
    member_features: Sequence[str],
    fingerprint: str,
    compression: str = "none",
    attrs: dict[str, Any] | None = None,
    encoding: str = "raw",
) -> None:
    """Write `items` (all images the same shape) as one shard, atomically. With encoding
    "jpeg" every item's image is a JPEG file's bytes, stored as they are."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")
    if any(isinstance(it.image, bytes) != (encoding == "jpeg") for it in items):
        wanted = "JPEG bytes" if encoding == "jpeg" else "pixel arrays"
        raise ValueError(f"{path}: encoding {encoding} needs {wanted} for every image")
    shapes = {jpeg_shape(it.image) if encoding == "jpeg" else it.image.shape for it in items}
    if len(shapes) > 1:
        raise ValueError(f"{path}: images of different shapes {sorted(shapes)} in one shard")
    shape = shapes.pop() if shapes else (0, 0, 3)
    boxes, box_offsets = _ragged([it.boxes for it in items], 4, np.float32)
    ignore_boxes, ignore_offsets = _ragged([it.ignore for it in items], 4, np.float32)
    n_feat = len(member_features)
    members, member_offsets = _ragged(
        [it.members if it.members.size else np.zeros((0, n_feat)) for it in items],
        n_feat,
        np.float64,
    )
    arrays: dict[str, np.ndarray] = {
        "box_offsets": box_offsets,
        "boxes": boxes,
        "ignore_offsets": ignore_offsets,
        "ignore_boxes": ignore_boxes,
        "member_offsets": member_offsets,
        "members": members,
    }
    for name, dtype in BOX_FIELDS.items():
        parts = [np.asarray(it.box_fields[name], dtype) for it in items]
        arrays[f"box/{name}"] = np.concatenate(parts) if parts else np.zeros(0, dtype)
    for name, dtype in META_FIELDS.items():
        arrays[f"meta/{name}"] = np.array([it.meta[name] for it in items], dtype)
    arrays["image_crc32"] = np.array(
        [zlib.crc32(_stored_bytes(it.image)) for it in items], np.uint32
    )
    if encoding == "jpeg":
        encoded = [np.frombuffer(it.image, np.uint8) for it in items]
        arrays["image_offsets"] = np.zeros(len(items) + 1, np.int64)
        arrays["image_offsets"][1:] = np.cumsum([len(e) for e in encoded])
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update(
            schema_version=SCHEMA_VERSION,
            n_images=len(items),
            image_shape=np.array(shape, np.int64),
            fingerprint=fingerprint,
            compression=compression,
            encoding=encoding,
            **(attrs or {}),
        )
        if encoding == "jpeg":
            h5.create_dataset(
                "image_bytes",
                data=np.concatenate(encoded) if items else np.zeros(0, np.uint8),
                track_times=False,
            )
        else:
            _write_raw_images(h5, items, shape, compression)
        for name, array in arrays.items():
            h5.create_dataset(name, data=array, track_times=False).attrs["sha256"] = _sha256(array)
        paths = [str(it.meta["path"]) for it in items]
        h5.create_dataset(
            "meta/path", data=np.array(paths, dtype=h5py.string_dtype()), track_times=False
        )
        h5["members"].attrs["features"] = list(member_features)


def _write_raw_images(
    h5: h5py.File, items: Sequence[PackedImage], shape: tuple[int, ...], compression: str
) -> None:
    images = h5.create_dataset(
        "images",
        shape=(len(items), *shape),
        dtype=np.uint8,
        chunks=(1, *shape) if items else None,
        track_times=False,
        **(_compression_args(compression) if items else {}),
    )
    for i, item in enumerate(items):
        images[i] = item.image


def _plain_image_offsets(images: h5py.Dataset) -> np.ndarray | None:
    """Byte offsets in the file of images 0..N-1 when every image is stored unfiltered and
    directly after the previous one (so a run is one contiguous read); else None."""
    n = images.shape[0]
    size = int(np.prod(images.shape[1:])) * images.dtype.itemsize
    if n == 0 or images.id.get_create_plist().get_nfilters() or images.dtype != np.uint8:
        return None
    if images.chunks is None:
        base = images.id.get_offset()
        return None if base is None else base + size * np.arange(n, dtype=np.int64)
    if images.chunks != (1, *images.shape[1:]) or images.id.get_num_chunks() != n:
        return None
    offsets = np.array(
        [images.id.get_chunk_info_by_coord((i, 0, 0, 0)).byte_offset for i in range(n)], np.int64
    )
    return offsets if (np.diff(offsets) == size).all() else None


class Shard:
    """Read access to one shard: small arrays in memory, images read on demand."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._h5 = h5py.File(self.path, "r")
        attrs = self._h5.attrs
        problem = _schema_problem(self.path, attrs)
        if problem:
            self._h5.close()
            raise DataError(problem)
        self.n_images = int(attrs["n_images"])
        self.fingerprint = str(attrs["fingerprint"])
        self.image_shape = tuple(int(v) for v in attrs["image_shape"])
        self.box_offsets = self._h5["box_offsets"][:]
        self.boxes = self._h5["boxes"][:]
        self.ignore_offsets = self._h5["ignore_offsets"][:]
        self.ignore_boxes = self._h5["ignore_boxes"][:]
        self.box_fields = {name: self._h5[f"box/{name}"][:] for name in BOX_FIELDS}
        self.meta = {name: self._h5[f"meta/{name}"][:] for name in META_FIELDS}
        self.meta["path"] = self._h5["meta/path"].asstr()[:]
        self.member_offsets = self._h5["member_offsets"][:]
        self.members = self._h5["members"][:]
        self.member_features = [str(f) for f in self._h5["members"].attrs["features"]]
        self.encoding = str(attrs.get("encoding", "raw"))
        if self.encoding == "jpeg":
            self._bytes = self._h5["image_bytes"]
            self._offsets = self._h5["image_offsets"][:]
        else:
            self._images = self._h5["images"]
        self._fd: int | None = None
        self._file_offsets = _plain_image_offsets(self._images) if self.encoding == "raw" else None

    def image(self, index: int) -> np.ndarray:
        """uint8 (H, W, 3) pixels of image `index` (decoded when stored as JPEG)."""
        return self.read_run(index, index + 1)[0]

    def read_run(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Images start..stop-1 as uint8 (n, H, W, 3), read with one HDF5 call (into `out`
        when given: a C-contiguous array of that shape)."""
        if out is None:
            out = np.empty((stop - start, *self.image_shape), np.uint8)
        if stop <= start:
            return out
        if self.encoding == "raw":
            self._images.read_direct(out, np.s_[start:stop])
            return out
        for row, data in enumerate(self.encoded_run(start, stop)):
            decode_jpeg(data, out[row])
        return out

    def encoded_run(self, start: int, stop: int) -> list[bytes]:
        """The stored JPEG bytes of images start..stop-1, read with one HDF5 call."""
        if self.encoding != "jpeg":
            raise DataError(f"{self.path}: images are stored {self.encoding}, not as JPEG bytes")
        if stop <= start:
            return []
        lo = self._offsets[start]
        data = self._bytes[lo : self._offsets[stop]].tobytes()
        cuts = self._offsets[start : stop + 1] - lo
        return [data[a:b] for a, b in itertools.pairwise(cuts)]

    def read_rows(self, start: int, stop: int, out: np.ndarray, rows: np.ndarray) -> None:
        """Images start..stop-1 into `out[rows[0]]`, `out[rows[1]]`, ... (any rows of a
        C-contiguous uint8 (n, H, W, 3) array). Raw images stored uncompressed and one after
        the other in the file are read with one system call straight into their rows;
        otherwise by `read_run` and a copy."""
        if stop <= start:
            return
        offsets = self._file_offsets
        if offsets is None or len(rows) > _MAX_IOV:
            out[rows] = self.read_run(start, stop)
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        buffers = [memoryview(out[row]).cast("B") for row in rows]
        expected = sum(b.nbytes for b in buffers)
        if os.preadv(self._fd, buffers, int(offsets[start])) != expected:
            raise DataError(f"{self.path}: images {start}..{stop - 1} cut short (file truncated?)")

    def item(self, index: int) -> PackedImage:
        lo, hi = self.box_offsets[index], self.box_offsets[index + 1]
        ilo, ihi = self.ignore_offsets[index], self.ignore_offsets[index + 1]
        mlo, mhi = self.member_offsets[index], self.member_offsets[index + 1]
        meta = {name: values[index] for name, values in self.meta.items()}
        return PackedImage(
            image=self.image(index),
            boxes=self.boxes[lo:hi],
            box_fields={name: values[lo:hi] for name, values in self.box_fields.items()},
            meta=meta,
            members=self.members[mlo:mhi],
            ignore=self.ignore_boxes[ilo:ihi],
        )

    def close(self) -> None:
        self._h5.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Shard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def verify_shard(path: str | Path) -> list[str]:
    """Every problem found in one shard (empty list when it is sound), by dataset and index."""
    problems: list[str] = []
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        return [f"{path}: cannot open as HDF5 ({exc})"]
    with h5:
        problem = _schema_problem(path, h5.attrs)
        if problem:
            return [problem]
        n_images = int(h5.attrs["n_images"])
        for name, dataset in _datasets(h5):
            if name in ("images", "image_bytes", "meta/path"):
                continue
            try:
                data = dataset[:]
            except OSError as exc:
                problems.append(f"{path}: {name}: unreadable ({exc})")
                continue
            if dataset.attrs.get("sha256") != _sha256(data):
                problems.append(f"{path}: {name}: checksum mismatch")
        for offsets_name, data_name in (
            ("box_offsets", "boxes"),
            ("ignore_offsets", "ignore_boxes"),
            ("member_offsets", "members"),
        ):
            offsets = h5[offsets_name][:]
            if len(offsets) != n_images + 1 or offsets[0] != 0 or np.any(np.diff(offsets) < 0):
                problems.append(f"{path}: {offsets_name}: not {n_images + 1} increasing offsets")
            elif offsets[-1] != len(h5[data_name]):
                problems.append(
                    f"{path}: {offsets_name} ends at {offsets[-1]}, "
                    f"{data_name} has {len(h5[data_name])} rows"
                )
        problems += _image_problems(path, h5, n_images)
    return problems


def _image_problems(path: str | Path, h5: h5py.File, n_images: int) -> list[str]:
    """Count and CRC-32 problems of the stored images (the bytes as stored: JPEG or raw)."""
    crcs = h5["image_crc32"][:]
    if h5.attrs.get("encoding", "raw") == "jpeg":
        offsets = h5["image_offsets"][:]
        data = h5["image_bytes"]
        if offsets[-1] != len(data):
            return [f"{path}: image_offsets end at {offsets[-1]}, image_bytes has {len(data)}"]
        stored = [data[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    else:
        stored = h5["images"]
    problems = []
    if len(stored) != n_images or len(crcs) != n_images:
        problems.append(f"{path}: {len(stored)} images, {len(crcs)} CRCs, n_images={n_images}")
    for i in range(min(len(stored), len(crcs))):
        try:
            image = stored[i]
        except OSError as exc:
            problems.append(f"{path}: image {i}: undecodable ({exc})")
            continue
        if zlib.crc32(image.tobytes()) != crcs[i]:
            problems.append(f"{path}: image {i}: CRC-32 mismatch")
    return problems


def _schema_problem(path: str | Path, attrs: h5py.AttributeManager) -> str | None:
    """Why a shard's schema cannot be read, or None when it is the current one."""
    version = int(attrs.get("schema_version", -1))
    if version == SCHEMA_VERSION:
        return None
    hint = " (it has no ignore regions)" if version == 1 else ""
    return (
        f"{path}: shard schema version {attrs.get('schema_version')}{hint}, this clusterhpc "
        f"reads version {SCHEMA_VERSION}: repack with `clusterhpc prep pack`"
    )


def _datasets(group: h5py.Group, prefix: str = "") -> list[tuple[str, h5py.Dataset]]:
    out = []
    for name, obj in group.items():
        if isinstance(obj, h5py.Group):
            out.extend(_datasets(obj, f"{prefix}{name}/"))
        else:
            out.append((f"{prefix}{name}", obj))
    return out
