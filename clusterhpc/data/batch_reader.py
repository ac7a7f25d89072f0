"""Numpy assembly of training batches from packed shards, a block of batches per call.

The pixels of each run of consecutive images are read with one call straight into their
rows of the batch (`Shard.read_rows`); the boxes, ignore regions and box fields of every
image are gathered, flipped, transposed and translated in one vectorised pass over the
block, from split-wide tables built once. The result is exactly what applying `augment` to
each image gives (tested against the plain iterator).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from clusterhpc.box_geometry import clip
from clusterhpc.data.augment import augment_pixels, moved_weights
from clusterhpc.data.packed import EpochPlan, PackedSplit
from clusterhpc.ragged import segment_positions

BOX_FIELD_NAMES = ("weight", "cls", "z", "lam", "central")
WEIGHT = BOX_FIELD_NAMES.index("weight")


@dataclass(frozen=True)
class Ragged:
    """Rows of every image of a split in one table: image i owns rows start[i]..end[i]-1."""

    rows: np.ndarray  # (M, ...) concatenated over shards
    start: np.ndarray  # int64 (N,)
    end: np.ndarray  # int64 (N,)

    @classmethod
    def of(cls, parts: list[tuple[np.ndarray, np.ndarray]], tail: tuple[int, ...]) -> Ragged:
        """From (rows, offsets) per shard, offsets of length n_images + 1."""
        rows, starts, ends, base = [], [], [], 0
        for values, offsets in parts:
            offsets = np.asarray(offsets, np.int64)
            rows.append(np.asarray(values).reshape(-1, *tail))
            starts.append(base + offsets[:-1])
            ends.append(base + offsets[1:])
            base += len(values)
        empty = np.zeros(0, np.int64)
        return cls(
            np.concatenate(rows) if rows else np.zeros((0, *tail), np.float32),
            np.concatenate(starts) if starts else empty,
            np.concatenate(ends) if ends else empty,
        )

    def gather(self, images: np.ndarray, limit: int) -> tuple[np.ndarray, ...]:
        """The first `limit` rows of each of `images`: (table rows, owner position in
        `images`, slot within the owner), and each owner's count."""
        starts = self.start[images]
        counts = np.minimum(self.end[images] - starts, limit)
        source = segment_positions(starts, counts)
        owner = np.repeat(np.arange(len(images)), counts)
        return source, owner, source - np.repeat(starts, counts), counts


def move_boxes(
    boxes: np.ndarray, flips: np.ndarray, shifts: np.ndarray, width: int, height: int
) -> np.ndarray:
    """`augment_boxes` of many boxes at once, each with its own image's draws: flips (m, 3)
    and shifts (m, 2) are per box. Same operations in the same precision, so equal bit for
    bit."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    h, v, t = flips[:, 0], flips[:, 1], flips[:, 2]
    x1 = np.where(h, width - b[:, 2], b[:, 0])
    x2 = np.where(h, width - b[:, 0], b[:, 2])
    y1 = np.where(v, height - b[:, 3], b[:, 1])
    y2 = np.where(v, height - b[:, 1], b[:, 3])
    moved = np.stack(
        [np.where(t, y1, x1), np.where(t, x1, y1), np.where(t, y2, x2), np.where(t, x2, y2)], 1
    ).astype(np.float32)
    shifted = shifts.any(1)
    if shifted.any():
        delta = np.concatenate([shifts, shifts], 1)[shifted]
        moved[shifted] = (clip(moved[shifted], width, height) + delta).astype(np.float32)
    return moved


class BatchReader:
    """Reads blocks of consecutive batches of an epoch plan as flat arrays (images first).

    `read(first, count, rows_per_batch)` returns, for the plan's rows
    first * batch_size .. + count * rows_per_batch: images (augmented when `move_pixels`,
    else as read; with `encoded`, each image's stored JPEG bytes instead, left to the caller
    to decode), boxes and ignore regions padded to `max_boxes`, their counts, the box
    fields, image indices, flips and shifts."""

    def __init__(
        self,
        split: PackedSplit,
        plan: EpochPlan,
        batch_size: int,
        max_boxes: int,
        move_pixels: bool,
        encoded: bool = False,
    ) -> None:
        if encoded and (move_pixels or split.encoding != "jpeg"):
            raise ValueError("only JPEG shards read without moving pixels can hand over bytes")
        self.split, self.plan, self.encoded = split, plan, encoded
        self.batch_size, self.max_boxes, self.move_pixels = batch_size, max_boxes, move_pixels
        self.height, self.width = split.image_shape[:2]
        self._local = threading.local()
        shards = split.shards
        self.boxes = Ragged.of([(s.boxes, s.box_offsets) for s in shards], (4,))
        self.ignore = Ragged.of([(s.ignore_boxes, s.ignore_offsets) for s in shards], (4,))
        # Box fields share the boxes' offsets: only their rows are kept, (M, 5) float32.
        self.field_rows = np.concatenate(
            [np.stack([s.box_fields[k] for k in BOX_FIELD_NAMES], 1) for s in shards]
            or [np.zeros((0, len(BOX_FIELD_NAMES)))]
        ).astype(np.float32)

    def read(self, first: np.int64, count: np.int64, rows_per_batch: np.int64) -> tuple:
        lo = int(first) * self.batch_size
        rows = slice(lo, lo + int(count) * int(rows_per_batch))
        chosen, flips, shifts = (
            self.plan.indices[rows],
            self.plan.flips[rows],
            self.plan.shifts[rows],
        )
        images = self._encoded(chosen) if self.encoded else self._pixels(chosen, flips, shifts)
        boxes, counts, moved_flat, source, owner, slot = self._moved(
            self.boxes, chosen, flips, shifts
        )
        ignore, n_ignore, *_ = self._moved(self.ignore, chosen, flips, shifts)
        fields = np.zeros((len(BOX_FIELD_NAMES), len(chosen), self.max_boxes), np.float32)
        values = self.field_rows[source].T.copy()
        shifted = shifts[owner].any(1)
        if shifted.any():
            values[WEIGHT, shifted] = moved_weights(
                values[WEIGHT, shifted],
                self.boxes.rows[source][shifted],
                moved_flat[shifted],
                self.width,
                self.height,
            )
        fields[:, owner, slot] = values
        return (
            images,
            boxes,
            counts,
            ignore,
            n_ignore,
            *fields,
            chosen.astype(np.int64),
            flips,
            shifts.astype(np.int32),
        )

    def _pixels(self, chosen: np.ndarray, flips: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        shape = (len(chosen), self.height, self.width, 3)
        read = self._scratch(shape)
        for run in self.split.runs(chosen):
            run.shard.read_rows(run.start, run.stop, read, run.rows)
        if not self.move_pixels:
            return read
        images = np.empty(shape, np.uint8)
        for row, image in enumerate(read):
            augment_pixels(image, flips[row], shifts[row], images[row])
        return images

    def _encoded(self, chosen: np.ndarray) -> np.ndarray:
        """The stored JPEG bytes of each image, object array (n,)."""
        out = np.empty(len(chosen), object)
        for run in self.split.runs(chosen):
            for row, data in zip(run.rows, run.shard.encoded_run(run.start, run.stop), strict=True):
                out[row] = data
        return out

    def _scratch(self, shape: tuple[int, ...]) -> np.ndarray:
        """This thread's reused pixel buffer of `shape` (pages already mapped)."""
        held = getattr(self._local, "pixels", None)
        if held is None or held.shape != shape:
            held = self._local.pixels = np.empty(shape, np.uint8)
        return held

    def _moved(
        self, table: Ragged, chosen: np.ndarray, flips: np.ndarray, shifts: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """Padded moved rows of `table` per image, counts, and the flat moved rows with
        their table rows, owners and slots."""
        source, owner, slot, counts = table.gather(chosen, self.max_boxes)
        moved = move_boxes(table.rows[source], flips[owner], shifts[owner], self.width, self.height)
        padded = np.zeros((len(chosen), self.max_boxes, 4), np.float32)
        padded[owner, slot] = moved
        return padded, counts.astype(np.int32), moved, source, owner, slot
