"""Truth and predictions of one split as ragged arrays (offsets per image), no pixels.

Everything the metrics need is here, so matching, sweeps and binning never touch images:
truth boxes with their catalogue z, λ and in-image area fraction from the packed shards,
and the detector's boxes, scores, regression values and classes per image (best score
first).
Truth boxes are clipped to the image: the visible part is what the detector sees and is
trained to box (`yolo_targets`), so it is what predictions are scored against. The truth also
holds each image's ignore regions (clipped likewise): clusters visible in the image that are
not labels, on which a detection is neither true nor false.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from clusterhpc.box_geometry import clip
from clusterhpc.data.packed import PackedSplit
from clusterhpc.ragged import offsets_from_counts, take


@dataclass(frozen=True)
class Truth:
    """Truth boxes of a split; boxes of image i are rows offsets[i]:offsets[i+1]."""

    offsets: np.ndarray  # int64 (N+1,)
    boxes: np.ndarray  # (M, 4) xyxy image px, clipped to the image
    weight: np.ndarray  # (M,) in-image area fraction
    z: np.ndarray  # (M,)
    lam: np.ndarray  # (M,)
    central: np.ndarray  # bool (M,)
    cluster_id: np.ndarray  # int64 (M,)
    meta: dict[str, np.ndarray]  # per image: id, ra, dec, z, lam, empty, pixscale, path
    image_shape: tuple[int, int]  # (height, width)
    # ignore regions (visible clusters that are not labels), clipped to the image; image i's
    # are rows ignore_offsets[i]:ignore_offsets[i+1] (None: no image has any)
    ignore_offsets: np.ndarray | None = None  # int64 (N+1,)
    ignore_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (L, 4) xyxy

    def __post_init__(self) -> None:
        if self.ignore_offsets is None:
            object.__setattr__(self, "ignore_offsets", np.zeros(self.n_images + 1, np.int64))

    @property
    def n_images(self) -> int:
        return len(self.offsets) - 1

    def image_of_box(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_images), np.diff(self.offsets))

    def ignore_of(self, image: int) -> np.ndarray:
        """(l, 4) ignore regions of one image."""
        return self.ignore_boxes[self.ignore_offsets[image] : self.ignore_offsets[image + 1]]

    @classmethod
    def from_split(cls, split: PackedSplit) -> Truth:
        shards = split.shards
        counts = np.concatenate([np.diff(s.box_offsets) for s in shards]) if shards else []
        fields = {
            name: np.concatenate([s.box_fields[name] for s in shards]) if shards else np.zeros(0)
            for name in ("weight", "z", "lam", "central", "cluster_id")
        }
        boxes = np.concatenate([s.boxes for s in shards]) if shards else np.zeros((0, 4))
        n_ignore = np.concatenate([np.diff(s.ignore_offsets) for s in shards]) if shards else []
        ignore = np.concatenate([s.ignore_boxes for s in shards]) if shards else np.zeros((0, 4))
        meta_names = ("id", "ra", "dec", "z", "lam", "empty", "pixscale", "path")
        return cls(
            offsets=offsets_from_counts(np.asarray(counts, np.int64)),
            boxes=clip(boxes, split.image_shape[1], split.image_shape[0]),
            weight=fields["weight"].astype(np.float64),
            z=fields["z"].astype(np.float64),
            lam=fields["lam"].astype(np.float64),
            central=fields["central"].astype(bool),
            cluster_id=fields["cluster_id"].astype(np.int64),
            meta={name: split.column(name) for name in meta_names},
            image_shape=tuple(int(v) for v in split.image_shape[:2]),
            ignore_offsets=offsets_from_counts(np.asarray(n_ignore, np.int64)),
            ignore_boxes=clip(ignore, split.image_shape[1], split.image_shape[0]),
        )

    def take(self, images: np.ndarray) -> Truth:
        """The truth of the listed images, in that order."""
        rows, offsets = take(self.offsets, images)
        ignore_rows, ignore_offsets = take(self.ignore_offsets, images)
        return Truth(
            offsets=offsets,
            boxes=self.boxes[rows],
            weight=self.weight[rows],
            z=self.z[rows],
            lam=self.lam[rows],
            central=self.central[rows],
            cluster_id=self.cluster_id[rows],
            meta={k: v[images] for k, v in self.meta.items()},
            image_shape=self.image_shape,
            ignore_offsets=ignore_offsets,
            ignore_boxes=self.ignore_boxes[ignore_rows],
        )

    def concat(self, other: Truth) -> Truth:
        """Images of `self` followed by those of `other` (same image shape)."""
        cat = np.concatenate
        return Truth(
            offsets=cat([self.offsets, other.offsets[1:] + self.offsets[-1]]),
            boxes=cat([self.boxes, other.boxes]),
            weight=cat([self.weight, other.weight]),
            z=cat([self.z, other.z]),
            lam=cat([self.lam, other.lam]),
            central=cat([self.central, other.central]),
            cluster_id=cat([self.cluster_id, other.cluster_id]),
            meta={k: cat([v, other.meta[k]]) for k, v in self.meta.items()},
            image_shape=self.image_shape,
            ignore_offsets=cat(
                [self.ignore_offsets, other.ignore_offsets[1:] + self.ignore_offsets[-1]]
            ),
            ignore_boxes=cat([self.ignore_boxes, other.ignore_boxes]),
        )


@dataclass(frozen=True)
class Predictions:
    """Detections of a split, sorted by decreasing score within each image."""

    offsets: np.ndarray  # int64 (N+1,)
    boxes: np.ndarray  # (K, 4) xyxy image px
    scores: np.ndarray  # (K,)
    values: np.ndarray  # (K, R) regression means (R = 0 without a regression head)
    sigmas: np.ndarray  # (K, R)
    value_names: tuple[str, ...] = ()  # e.g. ("z", "lam"): lam values are ln λ
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (K,) class head

    @property
    def n_images(self) -> int:
        return len(self.offsets) - 1

    def image_of_box(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_images), np.diff(self.offsets))

    @classmethod
    def from_lists(
        cls,
        boxes: list[np.ndarray],
        scores: list[np.ndarray],
        values: list[np.ndarray] | None = None,
        sigmas: list[np.ndarray] | None = None,
        value_names: tuple[str, ...] = (),
        classes: list[np.ndarray] | None = None,
    ) -> Predictions:
        """From per-image arrays (any order within an image; sorted here)."""
        n_val = len(value_names)
        values = values or [np.zeros((len(s), n_val)) for s in scores]
        sigmas = sigmas or [np.zeros((len(s), n_val)) for s in scores]
        classes = classes or [np.zeros(len(s)) for s in scores]
        orders = [np.argsort(-np.asarray(s, np.float64), kind="stable") for s in scores]

        def cat(parts: list[np.ndarray], width: int | None) -> np.ndarray:
            shape = (0,) if width is None else (0, width)
            rows = [
                np.asarray(p, np.float64).reshape(len(o), *shape[1:])[o]
                for p, o in zip(parts, orders, strict=True)
            ]
            return np.concatenate(rows) if rows else np.zeros(shape)

        return cls(
            offsets=offsets_from_counts(np.array([len(s) for s in scores], np.int64)),
            boxes=cat(boxes, 4),
            scores=cat(scores, None),
            values=cat(values, n_val),
            sigmas=cat(sigmas, n_val),
            value_names=tuple(value_names),
            classes=cat(classes, None).astype(np.int64),
        )

    def concat(self, other: Predictions) -> Predictions:
        """Images of `self` followed by those of `other`."""
        return Predictions(
            offsets=np.concatenate([self.offsets, other.offsets[1:] + self.offsets[-1]]),
            boxes=np.concatenate([self.boxes, other.boxes]),
            scores=np.concatenate([self.scores, other.scores]),
            values=np.concatenate([self.values, other.values]),
            sigmas=np.concatenate([self.sigmas, other.sigmas]),
            value_names=self.value_names,
            classes=np.concatenate([self.classes, other.classes]),
        )

    def take(self, images: np.ndarray) -> Predictions:
        """The predictions of the listed images, in that order."""
        rows, offsets = take(self.offsets, images)
        return Predictions(
            offsets=offsets,
            boxes=self.boxes[rows],
            scores=self.scores[rows],
            values=self.values[rows],
            sigmas=self.sigmas[rows],
            value_names=self.value_names,
            classes=self.classes[rows],
        )
