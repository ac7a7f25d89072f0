"""Bounding boxes of clusters on cutouts, from their member galaxies (pure computation).

For every cutout, every cluster with at least one member inside the image gets a box: the
extent of *all* its members projected on the cutout (`clusterhpc.sky.projection`), rounded
outward (x1 = floor(min x) - pad, x2 = ceil(max x) + pad, same for y) and not clipped, plus
the fraction of the box area inside the image (the seed's f), the central flag, the number of
members inside, the seed's selection rules as a `keep` flag, and the fraction of the box
covered by the union of the other boxes of the image.

Neighbours come from a cKDTree of cluster unit vectors: a cluster can have a member in the
image only if its centre is within (image circumradius + its own member extent) of the
cutout centre. Members are read through sorted per-cluster offsets, so the work per cutout is
proportional to the members of its neighbours, never to the whole members table.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
from scipy.spatial import cKDTree

from clusterhpc.io.cutouts import Cutouts
from clusterhpc.io.redmapper import Clusters, MemberGroups, Members
from clusterhpc.log import progress
from clusterhpc.prep.overlaps import covered_fractions
from clusterhpc.ragged import segment_positions
from clusterhpc.sky.geometry import ARCSEC, angle_to_chord, chord_to_angle, unit_vectors
from clusterhpc.sky.projection import Projection, to_pixels


@dataclass(frozen=True)
class BoxRules:
    """Projection, padding and the seed's selection rules."""

    projection: Projection = "tan"
    pad: int = 0
    central_inside: bool = False  # drop images whose central box is not fully inside
    secondary: Literal["centre", "any"] = "centre"  # keep other boxes whose centre is inside


@dataclass(frozen=True)
class BoxTable:
    """One row per (image, cluster with >= 1 member in the image), sorted by image, cluster."""

    image: np.ndarray  # index into the cutouts
    cluster: np.ndarray  # row of the cluster catalogue
    x1: np.ndarray
    y1: np.ndarray
    x2: np.ndarray
    y2: np.ndarray
    frac: np.ndarray  # fraction of the box area inside the image
    central: np.ndarray  # the cluster the cutout is centred on
    n_inside: np.ndarray  # members inside the image
    keep: np.ndarray  # passes the selection rules (goes into the labels)
    overlap: np.ndarray  # fraction of the box covered by the other boxes of the image

    @classmethod
    def concat(cls, parts: list[BoxTable]) -> BoxTable:
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )

    def __len__(self) -> int:
        return self.image.size

    def corners(self) -> np.ndarray:
        return np.column_stack([self.x1, self.y1, self.x2, self.y2])


class MemberIndex:
    """Clusters in a cKDTree of unit vectors, members packed contiguously per cluster row."""

    def __init__(self, clusters: Clusters, members: Members, groups: MemberGroups) -> None:
        self.cluster_id = clusters.id
        self.cluster_xyz = unit_vectors(clusters.ra, clusters.dec)
        self.tree = cKDTree(self.cluster_xyz)
        self.count = groups.count
        self.offset = np.cumsum(self.count) - self.count
        rows = groups.order[segment_positions(groups.start, groups.count)]
        self.ra, self.dec = members.ra[rows], members.dec[rows]
        # angular extent of each cluster: farthest member from the catalogue centre
        owner = np.repeat(np.arange(len(clusters)), self.count)
        dots = np.einsum("ij,ij->i", unit_vectors(self.ra, self.dec), self.cluster_xyz[owner])
        self.extent = np.zeros(len(clusters))
        has = self.count > 0
        if self.ra.size:
            self.extent[has] = np.arccos(
                np.clip(np.minimum.reduceat(dots, self.offset[has]), -1, 1)
            )


def _candidate_pairs(
    index: MemberIndex, cut: Cutouts, images: np.ndarray
) -> tuple[np.ndarray, ...]:
    """(image, cluster) pairs whose cluster may have a member in the image, sorted."""
    radius = np.sqrt(2.0) * cut.size[images] / 2.0 * cut.scale[images] * ARCSEC + 1e-9
    max_extent = index.extent.max() if index.extent.size else 0.0
    centres = cKDTree(unit_vectors(cut.ra[images], cut.dec[images]))
    pairs = centres.sparse_distance_matrix(
        index.tree, float(angle_to_chord(radius.max() + max_extent)), output_type="ndarray"
    )
    i, j = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
    ok = (index.count[j] > 0) & (chord_to_angle(pairs["v"]) <= radius[i] + index.extent[j])
    i, j = i[ok], j[ok]
    order = np.lexsort((j, i))
    return images[i[order]], j[order]


def _boxes_for_chunk(
    index: MemberIndex, cut: Cutouts, images: np.ndarray, rules: BoxRules
) -> BoxTable:
    img, cl = _candidate_pairs(index, cut, images)
    counts = index.count[cl]
    pos = segment_positions(index.offset[cl], counts)
    pair = np.repeat(np.arange(img.size), counts)
    size = cut.size[img]
    x, y = to_pixels(
        cut.ra[img][pair],
        cut.dec[img][pair],
        index.ra[pos],
        index.dec[pos],
        cut.scale[img][pair],
        size[pair],
        rules.projection,
    )
    inside = (x >= 0) & (x <= size[pair]) & (y >= 0) & (y <= size[pair])
    starts = np.cumsum(counts) - counts
    if img.size:
        n_inside = np.add.reduceat(inside.astype(np.int64), starts)
        lo_x, hi_x = np.minimum.reduceat(x, starts), np.maximum.reduceat(x, starts)
        lo_y, hi_y = np.minimum.reduceat(y, starts), np.maximum.reduceat(y, starts)
    else:
        n_inside = lo_x = hi_x = lo_y = hi_y = np.zeros(0)
    sel = n_inside > 0
    img, cl, size = img[sel], cl[sel], size[sel]
    x1 = np.floor(lo_x[sel]).astype(np.int64) - rules.pad
    y1 = np.floor(lo_y[sel]).astype(np.int64) - rules.pad
    x2 = np.ceil(hi_x[sel]).astype(np.int64) + rules.pad
    y2 = np.ceil(hi_y[sel]).astype(np.int64) + rules.pad
    central = index.cluster_id[cl] == cut.central_id[img]
    return BoxTable(
        image=img,
        cluster=cl,
        x1=x1,
        y1=y1,
        x2=x2,
        y2=y2,
        frac=area_fraction(x1, y1, x2, y2, size),
        central=central,
        n_inside=n_inside[sel].astype(np.int64),
        keep=_keep(img, x1, y1, x2, y2, size, central, cut, rules),
        overlap=_overlaps(img, np.column_stack([x1, y1, x2, y2])),
    )


def area_fraction(x1, y1, x2, y2, size) -> np.ndarray:
    """The seed's f = fL·fH / (L·H): fraction of the box area inside [0, size]² (1 if L·H = 0)."""
    f_l = np.clip(np.minimum(size, x2) - np.maximum(0, x1), 0, None)
    f_h = np.clip(np.minimum(size, y2) - np.maximum(0, y1), 0, None)
    area = (x2 - x1) * (y2 - y1)
    return np.divide(f_l * f_h, area, out=np.ones(np.shape(area)), where=area > 0)


def _keep(img, x1, y1, x2, y2, size, central, cut: Cutouts, rules: BoxRules) -> np.ndarray:
    if rules.secondary == "centre":
        cx2, cy2 = x1 + x2, y1 + y2  # twice the centre: compare with 0 < c < 2·size exactly
        keep = central | ((cx2 > 0) & (cx2 < 2 * size) & (cy2 > 0) & (cy2 < 2 * size))
    else:
        keep = np.ones(img.size, dtype=bool)
    if rules.central_inside:
        full = central & (x1 >= 0) & (y1 >= 0) & (x2 <= size) & (y2 <= size)
        ok_images = np.unique(img[full])
        needs = cut.central_id[img] >= 0
        keep &= ~needs | np.isin(img, ok_images)
    return keep


def _overlaps(img: np.ndarray, corners: np.ndarray) -> np.ndarray:
    out = np.zeros(img.size)
    if not img.size:  # e.g. a chunk of empty-field cutouts
        return out
    starts = np.flatnonzero(np.r_[True, img[1:] != img[:-1]])
    ends = np.r_[starts[1:], img.size]
    for s, e in zip(starts, ends, strict=True):
        if e - s > 1:
            out[s:e] = covered_fractions(corners[s:e])
    return out


def compute_boxes(
    index: MemberIndex,
    cut: Cutouts,
    images: np.ndarray,
    rules: BoxRules,
    chunk: int = 1024,
) -> BoxTable:
    """Boxes of every cluster with a member in each of `images` (indices into `cut`)."""
    images = np.asarray(images, dtype=np.int64)
    bounds = range(0, max(images.size, 1), chunk)
    parts = [
        _boxes_for_chunk(index, cut, images[s : s + chunk], rules)
        for s in progress(bounds, total=len(bounds), desc="boxes", unit="chunk")
    ]
    return BoxTable.concat(parts)
