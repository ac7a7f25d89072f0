"""Geometric augmentations that keep boxes exact: flips, transpose and integer translations.

Boxes are x1, y1, x2, y2 in pixels with the image spanning [0, W] x [0, H]. Both readers
(the plain iterator and tf.data) apply these functions. A translation moves the sky by
(dx, dy) pixels and fills the uncovered strip with the image's median colour (blank sky), so
a cluster appears anywhere in the field, not only at the centre where cutouts put it; boxes
move with it (their part outside the cutout has no pixels to move and is dropped) and may
leave the image partly; box weights shrink accordingly (`moved_weights`).
"""

from __future__ import annotations

import numpy as np

from clusterhpc.box_geometry import area, clip


def augment(
    image: np.ndarray,
    boxes: np.ndarray,
    flips: np.ndarray,
    shift: tuple[int, int] | np.ndarray = (0, 0),
) -> tuple[np.ndarray, np.ndarray]:
    """Apply h-flip, v-flip, transpose (each where `flips` says so), then translate by
    `shift` = (dx, dy) pixels; a translated box is the moved in-image part of the original.

    Returns a new contiguous image and the moved boxes."""
    height, width = image.shape[:2]
    out = np.empty((width, height, 3) if flips[2] else image.shape, image.dtype)
    augment_pixels(image, flips, shift, out)
    return out, augment_boxes(boxes, flips, shift, width, height)


def augment_boxes(
    boxes: np.ndarray,
    flips: np.ndarray,
    shift: tuple[int, int] | np.ndarray,
    width: int,
    height: int,
) -> np.ndarray:
    """The boxes of a `width` x `height` image after `augment`'s flips and translation."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if flips[0]:
        boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
    if flips[1]:
        boxes = np.stack([boxes[:, 0], height - boxes[:, 3], boxes[:, 2], height - boxes[:, 1]], 1)
    if flips[2]:
        boxes = boxes[:, [1, 0, 3, 2]]
    dx, dy = int(shift[0]), int(shift[1])
    if dx or dy:
        # Only the part inside the cutout has pixels to move: what lay outside would land on
        # the blank fill, so boxes are clipped first.
        boxes = clip(boxes, width, height) + np.array([dx, dy, dx, dy])
    return boxes.astype(np.float32)


def augment_pixels(
    image: np.ndarray, flips: np.ndarray, shift: tuple[int, int] | np.ndarray, out: np.ndarray
) -> None:
    """Write `image` (H, W, 3) flipped, transposed and translated as `augment` says into `out`.

    The copy moves whole pixels (3-byte elements): 2-3x faster than numpy's strided copy
    of a flipped uint8 view, whose innermost loop is the 3 channels."""
    image = np.ascontiguousarray(image)
    pixels = _as_pixels(image)
    if flips[0]:
        pixels = pixels[:, ::-1]
    if flips[1]:
        pixels = pixels[::-1]
    if flips[2]:
        pixels = pixels.T
    target = _as_pixels(out)
    dx, dy = int(shift[0]), int(shift[1])
    if not (dx or dy):
        np.copyto(target, pixels)
        return
    height, width = pixels.shape
    fill = np.median(_sky_sample(image, flips), axis=0).astype(image.dtype)
    out[...] = fill
    if abs(dx) < width and abs(dy) < height:
        src_y, dst_y = _overlap(dy, height)
        src_x, dst_x = _overlap(dx, width)
        np.copyto(target[dst_y, dst_x], pixels[src_y, src_x])


def translate(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """A copy of `image` moved by dx (right) and dy (down) pixels, filled with its median
    (per channel, over every 4th pixel on each axis: the sky level, 40x faster than all)."""
    out = np.empty_like(image)
    augment_pixels(image, np.zeros(3, bool), (dx, dy), out)
    return out


def _sky_sample(image: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """(n, 3) pixels on every 4th row and column of the flipped and transposed image."""
    if flips[0]:
        image = image[:, ::-1]
    if flips[1]:
        image = image[::-1]
    if flips[2]:
        image = image.transpose(1, 0, 2)
    return image[::4, ::4].reshape(-1, image.shape[-1])


def _as_pixels(image: np.ndarray) -> np.ndarray:
    """A C-contiguous (H, W, 3) uint8 image seen as (H, W) 3-byte elements (no copy)."""
    if not image.flags.c_contiguous:
        raise ValueError("augment_pixels needs C-contiguous images")
    return image.view(f"V{image.shape[-1] * image.itemsize}")[..., 0]


def _overlap(delta: int, size: int) -> tuple[slice, slice]:
    """Source and destination ranges of a 1-D shift by `delta` within [0, size)."""
    if delta >= 0:
        return slice(0, size - delta), slice(delta, size)
    return slice(-delta, size), slice(0, size + delta)


def moved_weights(
    weights: np.ndarray, before: np.ndarray, after: np.ndarray, width: float, height: float
) -> np.ndarray:
    """Box weights (in-image area fractions) after a translation took the in-image part of
    boxes `before` to `after`: scaled by the share of that part still inside (never more)."""
    old = area(clip(before, width, height))
    new = area(clip(after, width, height))
    return np.where(old > 0, weights * new / np.where(old > 0, old, 1), 0.0).astype(np.float32)
