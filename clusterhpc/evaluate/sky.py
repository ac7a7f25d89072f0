"""Completeness and purity on the sky: merged detections against the truth catalogue.

The detections on the reported cutouts (score >= the chosen threshold) are placed on the sky
and merged across overlapping cutouts exactly as `clusterhpc detect` does
(`detect.catalog.boxes_to_sky`, `merge_duplicates`), so this scores the catalogue a user
gets. It is cross-matched one-to-one (best score first, then nearest) to the truth
catalogue within `evaluate.sky_radius_arcmin` with astropy's `search_around_sky`.

- sky completeness = selected truth clusters whose centre lies in the area the cutouts
  cover and that are matched / those clusters (each cluster once, however many cutouts
  show it);
- sky purity = matched detections / detections; a detection counts as true when it matches
  any catalogue cluster (the selection cuts apply to completeness only);
- false-detection density = unmatched detections / covered area (deg², HEALPix pixels of
  the union of the cutout footprints).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import healpy as hp
import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky
from astropy.table import Table
from scipy.spatial import cKDTree

from clusterhpc.detect.catalog import boxes_to_sky, merge_duplicates
from clusterhpc.evaluate.metrics import Selection, binned_fraction, fraction_with_error
from clusterhpc.evaluate.records import Predictions, Truth
from clusterhpc.sky.geometry import ARCSEC, angle_to_chord, unit_vectors
from clusterhpc.sky.projection import from_tan_pixels, to_pixels


@dataclass(frozen=True)
class SkySettings:
    """How the sky catalogue is built and matched (`evaluate.sky_*`, `detect.merge_arcmin`)."""

    radius_arcmin: float = 1.5
    merge_arcmin: float = 1.0
    bins: dict[str, Sequence[float]] = field(default_factory=dict)  # "z", "lambda" edges


@dataclass(frozen=True)
class Footprints:
    """Square TAN cutouts on the sky: centres (deg), pixel scale (″/px), size (px)."""

    ra: np.ndarray
    dec: np.ndarray
    scale: np.ndarray
    size: np.ndarray

    @classmethod
    def of(cls, truth: Truth) -> Footprints:
        n = truth.n_images
        side = max(truth.image_shape)
        return cls(
            np.asarray(truth.meta["ra"], np.float64),
            np.asarray(truth.meta["dec"], np.float64),
            np.asarray(truth.meta["pixscale"], np.float64),
            np.full(n, side, np.float64),
        )

    def __len__(self) -> int:
        return len(self.ra)

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        """True for each point inside at least one footprint (KD-tree candidates, exact test)."""
        ra, dec = np.asarray(ra, np.float64), np.asarray(dec, np.float64)
        inside = np.zeros(len(ra), bool)
        if not len(self) or not len(ra):
            return inside
        half_diagonal = np.max(self.size * self.scale) * ARCSEC / np.sqrt(2.0)
        tree = cKDTree(unit_vectors(self.ra, self.dec))
        near = tree.query_ball_point(unit_vectors(ra, dec), float(angle_to_chord(half_diagonal)))
        point = np.repeat(np.arange(len(ra)), [len(c) for c in near])
        cutout = np.fromiter((j for c in near for j in c), np.int64, len(point))
        if not len(point):
            return inside
        x, y = to_pixels(
            self.ra[cutout], self.dec[cutout], ra[point], dec[point],
            self.scale[cutout], self.size[cutout],
        )  # fmt: skip
        side = self.size[cutout]
        hit = (x >= 0) & (x < side) & (y >= 0) & (y < side)
        inside[point[hit]] = True
        return inside

    def area_deg2(self, pixels_per_side: int = 16) -> float:
        """Area of the union of the footprints, from HEALPix pixels at least
        `pixels_per_side` to a cutout side (inner pixels of each square, RING order)."""
        if not len(self):
            return 0.0
        side_rad = float(np.min(self.size * self.scale)) * ARCSEC
        nside = 1
        while hp.nside2resol(nside) > side_rad / pixels_per_side and nside < 2**29:
            nside *= 2
        corners_x = np.array([0.0, 1.0, 1.0, 0.0])
        corners_y = np.array([0.0, 0.0, 1.0, 1.0])
        pixels = []
        for ra0, dec0, scale, size in zip(self.ra, self.dec, self.scale, self.size, strict=True):
            ra, dec = from_tan_pixels(ra0, dec0, corners_x * size, corners_y * size, scale, size)
            pixels.append(hp.query_polygon(nside, unit_vectors(ra, dec)))
        n_pixels = np.unique(np.concatenate(pixels)).size
        return float(n_pixels * hp.nside2pixarea(nside, degrees=True))


def sky_detections(
    truth: Truth, preds: Predictions, threshold: float, merge_arcmin: float
) -> Table:
    """The merged sky catalogue of the detections at or above `threshold` (as `detect`)."""
    image = preds.image_of_box()
    keep = preds.scores >= threshold
    ra_parts, dec_parts, score_parts = [], [], []
    shape = truth.image_shape
    for i in np.unique(image[keep]):
        rows = np.flatnonzero(keep & (image == i))
        ra, dec, _, _ = boxes_to_sky(
            preds.boxes[rows],
            float(truth.meta["ra"][i]),
            float(truth.meta["dec"][i]),
            float(truth.meta["pixscale"][i]),
            shape,
        )
        ra_parts.append(ra)
        dec_parts.append(dec)
        score_parts.append(preds.scores[rows])
    table = Table(
        {
            name: np.concatenate(parts) if parts else np.zeros(0)
            for name, parts in (("RA", ra_parts), ("DEC", dec_parts), ("SCORE", score_parts))
        }
    )
    return merge_duplicates(table, merge_arcmin)


def match_one_to_one(
    det_ra: np.ndarray,
    det_dec: np.ndarray,
    det_score: np.ndarray,
    cat_ra: np.ndarray,
    cat_dec: np.ndarray,
    radius_arcmin: float,
) -> np.ndarray:
    """Catalogue row matched to each detection (-1: none): best score first, then nearest."""
    matched = np.full(len(det_ra), -1, np.int64)
    if not len(det_ra) or not len(cat_ra):
        return matched
    det = SkyCoord(det_ra * u.deg, det_dec * u.deg)
    cat = SkyCoord(cat_ra * u.deg, cat_dec * u.deg)
    i_det, i_cat, sep, _ = search_around_sky(det, cat, radius_arcmin * u.arcmin)
    order = np.lexsort((sep.to_value(u.arcsec), -np.asarray(det_score)[i_det]))
    taken = np.zeros(len(cat_ra), bool)
    for d, c in zip(i_det[order], i_cat[order], strict=True):
        if matched[d] < 0 and not taken[c]:
            matched[d], taken[c] = c, True
    return matched


def sky_scores(
    truth: Truth,
    preds: Predictions,
    catalog: Table,
    threshold: float,
    selection: Selection,
    settings: SkySettings,
) -> dict:
    """Sky completeness, purity and false-detection density of the reported cutouts.

    `catalog` has RA, DEC, Z_LAMBDA, LAMBDA (the survey's `catalog.fits`)."""
    footprints = Footprints.of(truth)
    detections = sky_detections(truth, preds, threshold, settings.merge_arcmin)
    cat_ra, cat_dec = np.asarray(catalog["RA"], np.float64), np.asarray(catalog["DEC"], np.float64)
    z, lam = np.asarray(catalog["Z_LAMBDA"], np.float64), np.asarray(catalog["LAMBDA"], np.float64)
    matched = match_one_to_one(
        np.asarray(detections["RA"]),
        np.asarray(detections["DEC"]),
        np.asarray(detections["SCORE"]),
        cat_ra,
        cat_dec,
        settings.radius_arcmin,
    )
    found = np.zeros(len(catalog), bool)
    found[matched[matched >= 0]] = True
    in_area = footprints.contains(cat_ra, cat_dec)
    sample = in_area & selection.z_ok(z) & selection.lambda_ok(lam)
    area = footprints.area_deg2()
    n_false = int(np.sum(matched < 0))
    z_sample = in_area & selection.lambda_ok(lam)
    lam_sample = in_area & selection.z_ok(z)
    return {
        "radius_arcmin": settings.radius_arcmin,
        "merge_arcmin": settings.merge_arcmin,
        "area_deg2": area,
        "n_cutouts": len(footprints),
        "n_detections": len(detections),
        "completeness": fraction_with_error(found[sample]),
        "purity": fraction_with_error(matched >= 0),
        "false_per_deg2": n_false / area if area > 0 else float("nan"),
        "n_false": n_false,
        "binned_completeness": {
            "z": binned_fraction(z[z_sample], found[z_sample].astype(float), settings.bins["z"]),
            "lambda": binned_fraction(
                lam[lam_sample], found[lam_sample].astype(float), settings.bins["lambda"]
            ),
        },
    }
