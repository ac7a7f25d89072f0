"""One split of a packed dataset as a single indexed collection, and per-rank epoch plans.

Every epoch has one global order (a permutation seeded by (seed, epoch)); rank r of a launch
of `size` ranks takes every size-th image of it, so ranks read disjoint data whose union is
the whole split. With a batch size, the order is cut to a multiple of size x batch so every
rank runs the same number of steps (Horovod all-reduces must pair up). With `read_run` > 1
the order is made of shuffled runs of consecutive images (sequential reads from shards on a
parallel file system) mixed by a shuffle window, and each rank's batch is a block of it.
Readers fetch the images of a batch as runs (`PackedSplit.runs`): one HDF5 call per run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from clusterhpc.errors import DataError
from clusterhpc.io.shards import PackedImage, Shard

INDEX_NAME = "index.json"
N_AUGMENTATIONS = 3  # h-flip, v-flip, transpose


def read_index(packed_dir: str | Path) -> dict:
    path = Path(packed_dir) / INDEX_NAME
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no packed dataset index (run `clusterhpc prep pack`)") from exc


def split_fingerprint(packed_dir: str | Path, split: str) -> str | None:
    """One digest of a split's shards by content (their names, counts and input fingerprints),
    not by where they lie; None when the split is not packed. Reads shard attributes only."""
    index = Path(packed_dir) / INDEX_NAME
    if not index.exists():
        return None
    shards = read_index(packed_dir)["splits"].get(split, {}).get("shards")
    if not shards:
        return None
    rows = []
    for entry in shards:
        try:
            with h5py.File(Path(packed_dir) / entry["file"], "r") as h5:
                attrs = [int(h5.attrs["n_images"]), str(h5.attrs["fingerprint"])]
        except (OSError, KeyError):
            attrs = [-1, "unreadable"]
        rows.append([entry["file"], *attrs])
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


@dataclass(frozen=True)
class EpochPlan:
    """The images one rank reads in one epoch, in order, with their augmentation draws."""

    indices: np.ndarray  # int64 (n,) global image indices of the split
    flips: np.ndarray  # bool (n, 3): h-flip, v-flip, transpose applied to each image
    shifts: np.ndarray  # int (n, 2): translation dx, dy in pixels applied after the flips

    def __getitem__(self, rows: slice) -> EpochPlan:
        return EpochPlan(self.indices[rows], self.flips[rows], self.shifts[rows])


@dataclass(frozen=True)
class Run:
    """Consecutive images start..stop-1 of one shard, read with one call."""

    shard: Shard
    start: int
    stop: int
    rows: np.ndarray  # int (stop - start,): where each image goes in the request


class PackedSplit:
    """All shards of a split behind one global index 0..N-1."""

    def __init__(self, packed_dir: str | Path, split: str) -> None:
        self.packed_dir = Path(packed_dir)
        self.split = split
        splits = read_index(packed_dir)["splits"]
        if split not in splits:
            raise DataError(
                f"{self.packed_dir / INDEX_NAME}: no split {split!r} (has {sorted(splits)})"
            )
        files = [s["file"] for s in splits[split]["shards"]]
        self.shards = [Shard(self.packed_dir / f) for f in files]
        counts = np.array([s.n_images for s in self.shards], np.int64)
        self.starts = np.concatenate([[0], np.cumsum(counts)])
        shapes = {s.image_shape for s in self.shards if s.n_images}
        if len(shapes) > 1:
            raise DataError(f"{self.packed_dir}: split {split!r} mixes image shapes {shapes}")
        self.image_shape = shapes.pop() if shapes else (0, 0, 3)
        encodings = {s.encoding for s in self.shards}
        if len(encodings) > 1:
            raise DataError(f"{self.packed_dir}: split {split!r} mixes encodings {encodings}")
        self.encoding = encodings.pop() if encodings else "raw"
        self.member_features = self.shards[0].member_features if self.shards else []

    def __len__(self) -> int:
        return int(self.starts[-1])

    def locate(self, index: int) -> tuple[Shard, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"image {index} not in split {self.split!r} of {len(self)}")
        shard = int(np.searchsorted(self.starts, index, side="right") - 1)
        return self.shards[shard], int(index - self.starts[shard])

    def item(self, index: int) -> PackedImage:
        shard, local = self.locate(index)
        return shard.item(local)

    def runs(self, indices: np.ndarray) -> list[Run]:
        """The requested images (global indices, any order) grouped into runs of consecutive
        images of one shard, in index order."""
        indices = np.asarray(indices, np.int64)
        if len(indices) and not (indices.min() >= 0 and indices.max() < len(self)):
            raise IndexError(f"images {indices} not all in split {self.split!r} of {len(self)}")
        rows = np.argsort(indices, kind="stable")
        ordered = indices[rows]
        shard_of = np.searchsorted(self.starts, ordered, side="right") - 1
        breaks = np.flatnonzero((np.diff(ordered) != 1) | (np.diff(shard_of) != 0)) + 1
        runs = []
        for part in np.split(np.arange(len(ordered)), breaks):
            if not len(part):
                continue
            shard = int(shard_of[part[0]])
            start = int(ordered[part[0]] - self.starts[shard])
            runs.append(Run(self.shards[shard], start, start + len(part), rows[part]))
        return runs

    def column(self, name: str) -> np.ndarray:
        """A metadata column (META_FIELDS name or 'path') for all images, in index order."""
        return np.concatenate([s.meta[name] for s in self.shards]) if self.shards else np.zeros(0)

    def epoch_plan(
        self,
        seed: int,
        epoch: int,
        rank: int = 0,
        size: int = 1,
        batch_size: int | None = None,
        shuffle: bool = True,
        aug_prob: float = 0.0,
        max_shift: float = 0.0,
        read_run: int = 1,
        shuffle_buffer: int = 0,
    ) -> EpochPlan:
        """This rank's images for `epoch` (same global draw on every rank, whatever `rank`).

        Each image is flipped/transposed with probability `aug_prob` per operation and moved
        by a uniform integer translation of at most `max_shift` x its side on each axis.
        With `read_run` > 1 (and `shuffle`) the split is cut into runs of that many
        consecutive images of a shard, the runs are shuffled, and images are shuffled within
        consecutive windows of `shuffle_buffer` images: reads are sequential, and every rank
        reads its own runs."""
        rng = np.random.default_rng([seed, epoch])
        n = len(self)
        if shuffle and read_run > 1:
            order = self._run_order(rng, read_run, shuffle_buffer)
        else:
            order = rng.permutation(n) if shuffle else np.arange(n)
        flips = rng.random((n, N_AUGMENTATIONS)) < aug_prob
        limit = np.floor(max_shift * np.array(self.image_shape[1::-1])).astype(np.int64)
        shifts = np.zeros((n, 2), np.int64)
        if limit.any():
            shifts = rng.integers(-limit, limit + 1, (n, 2))
        usable = n if batch_size is None else (n // (size * batch_size)) * size * batch_size
        if shuffle and read_run > 1 and batch_size is not None:
            # Rank r's batch of each step is the r-th block of batch_size images, not every
            # size-th image: runs stay whole within a rank.
            steps = usable // (size * batch_size)
            blocks = order[:usable].reshape(steps, size, batch_size)
            order = np.concatenate([blocks.transpose(0, 2, 1).ravel(), order[usable:]])
        return EpochPlan(order, flips, shifts)[rank:usable:size]

    def _run_order(
        self, rng: np.random.Generator, read_run: int, shuffle_buffer: int
    ) -> np.ndarray:
        """Runs of `read_run` consecutive images within shards, in random order, then shuffled
        within windows of `shuffle_buffer` images."""
        starts = np.concatenate(
            [np.arange(a, b, read_run) for a, b in itertools.pairwise(self.starts)]
        ).astype(np.int64)
        ends = np.minimum(
            starts + read_run, self.starts[np.searchsorted(self.starts, starts, "right")]
        )
        picked = rng.permutation(len(starts))
        stream = np.concatenate([np.arange(starts[i], ends[i]) for i in picked] or [[]])
        stream = stream.astype(np.int64)
        window = max(shuffle_buffer, 1)
        keys = np.arange(len(stream)) // window + rng.random(len(stream))
        return stream[np.argsort(keys, kind="stable")]

    def close(self) -> None:
        for shard in self.shards:
            shard.close()


def iterate(split: PackedSplit, plan: EpochPlan) -> Iterator[PackedImage]:
    """The plain-Python reader: images of a plan with their augmentations applied (to the
    pixels, the boxes and the ignore regions alike)."""
    from clusterhpc.data.augment import augment, moved_weights

    height, width = split.image_shape[:2]
    for index, flips, shift in zip(plan.indices, plan.flips, plan.shifts, strict=True):
        item = split.item(int(index))
        n = len(item.boxes)
        image, moved = augment(item.image, np.concatenate([item.boxes, item.ignore]), flips, shift)
        boxes = moved[:n]
        if shift.any():
            item.box_fields["weight"] = moved_weights(
                item.box_fields["weight"], item.boxes, boxes, width, height
            )
        item.image, item.boxes, item.ignore = np.ascontiguousarray(image), boxes, moved[n:]
        yield item
