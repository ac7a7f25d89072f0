"""The detector's scored images: truth, predictions and the packed split each image came from."""

from __future__ import annotations

import dataclasses

import numpy as np

from clusterhpc.box_geometry import clip
from clusterhpc.data.packed import PackedSplit
from clusterhpc.evaluate.records import Predictions, Truth


class Scored:
    """Truth and predictions of a set of images, and where each image lives.

    `preds` are clipped to the image (as the training targets; what matching scores),
    `unclipped` are the detector's boxes (what `detect` places on the sky)."""

    def __init__(
        self, truth: Truth, unclipped: Predictions, sources: list[tuple[PackedSplit, int]]
    ) -> None:
        self.truth, self.unclipped, self.sources = truth, unclipped, sources
        height, width = truth.image_shape
        self.preds = dataclasses.replace(unclipped, boxes=clip(unclipped.boxes, width, height))

    @property
    def n_images(self) -> int:
        return self.truth.n_images

    def take(self, images: np.ndarray) -> Scored:
        return Scored(
            self.truth.take(images), self.unclipped.take(images), [self.sources[i] for i in images]
        )

    def concat(self, other: Scored) -> Scored:
        return Scored(
            self.truth.concat(other.truth),
            self.unclipped.concat(other.unclipped),
            self.sources + other.sources,
        )
