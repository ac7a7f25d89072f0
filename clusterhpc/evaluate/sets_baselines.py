"""Baselines of the catalogue models: simple per-set predictions from the same member sets.

Each baseline predicts every set of the report split, in the shape of
`SetPredictions.mean[target]`, so the figures of `sets_metrics` score it on exactly the sets
the model is scored on. Any coefficient is fitted on the TRAINING split only:

- z, `baseline_member_photoz`: the median photo-z (ZRED) of the set's galaxies; unavailable
  where the survey has no ZRED (real DR8 members);
- z, `baseline_colour_fit`: per galaxy, z as a polynomial of total degree 2 in (g-r, r-i)
  (model magnitudes), least-squares fitted to the true z of their set over the galaxies of the
  training member sets that are flagged `member`: an aperture non-member's colours tell its own
  redshift, not the cluster's, and would drag the fit towards the mean z. At prediction every
  galaxy of the set is used, as the model sees them, and the set's median taken (robust to the
  non-members);
- ln λ, `baseline_member_count`: ln λ = a + b ln N, N the number of galaxies of the set;
- ln M, `baseline_mass_richness`: ln M = a + b ln λ_true, applied to the TRUE richness. On a
  mock where ln M is that relation plus 0.25 of log-normal scatter, this baseline's scatter is
  the injected 0.25, and nothing can beat it without information beyond λ;
- centre, `baseline_member_mean`: the member mean, i.e. the reference point (offset 0);
  `baseline_brightest`: the position of the set's brightest galaxy (smallest MODEL_MAG_I);
- detect (`DETECTION_BASELINES`, no fit: they score the tune split as well):
  `baseline_set_size`, the number of galaxies in the set (at chance when the negatives are
  drawn with the member count), and `baseline_photoz_concentration`, minus the spread of the
  set's photo-z (members share a redshift).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from clusterhpc.data.set_geometry import offsets_arcmin, reference_positions, segment_sum
from clusterhpc.evaluate.heads import line_fit
from clusterhpc.io.set_shards import MemberSets

COLOUR_DEGREE = 2
MASS_RICHNESS_NOTE = (
    "on the mock ln M is this relation plus log-normal scatter at fixed λ (simulate's mass "
    "scatter, 0.25 by default): this baseline's scatter is that injected scatter, and no "
    "predictor without information beyond λ can beat it"
)


@dataclass(frozen=True)
class Baseline:
    """A baseline's predictions for every report set (None: unavailable, and why)."""

    method: str
    prediction: np.ndarray | None = None
    fit: dict = field(default_factory=dict)
    unavailable: str = ""
    note: str = ""  # how to read its figures


def _sorted_segments(values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row order sorting each segment by value (NaN last), and each segment's finite count."""
    owner = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    order = np.lexsort((values, owner))
    count = np.rint(segment_sum(np.isfinite(values), offsets)).astype(np.int64)
    return order, count


def segment_median(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(n,) median of the finite values of each segment (NaN when none)."""
    values = np.asarray(values, np.float64)
    order, count = _sorted_segments(values, offsets)
    ordered = np.append(values[order], np.nan)  # a last slot for empty trailing segments
    start = offsets[:-1]
    median = 0.5 * (ordered[start + np.maximum(count - 1, 0) // 2] + ordered[start + count // 2])
    return np.where(count > 0, median, np.nan)


def segment_argmin(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(n,) row of the smallest finite value of each segment (-1 when none)."""
    order, count = _sorted_segments(np.asarray(values, np.float64), offsets)
    first = np.append(order, -1)[offsets[:-1]]
    return np.where(count > 0, first, -1)


def member_photoz(sets: MemberSets, column: str = "ZRED") -> np.ndarray:
    """(n,) median photo-z of each set's galaxies (NaN where none has one)."""
    return segment_median(sets.column(column), sets.offsets)


def colour_terms(sets: MemberSets, degree: int = COLOUR_DEGREE) -> np.ndarray:
    """(K, T) per galaxy: (g-r)^i (r-i)^j for i + j <= degree (NaN where a magnitude is)."""
    g, r, i = (sets.column(f"MODEL_MAG_{b}").astype(np.float64) for b in "GRI")
    gr, ri = g - r, r - i
    powers = [(a, b) for a in range(degree + 1) for b in range(degree + 1 - a)]
    return np.stack([gr**a * ri**b for a, b in powers], axis=1)


def colour_redshift_fit(train: MemberSets, degree: int = COLOUR_DEGREE) -> dict | None:
    """Least-squares z(g-r, r-i) over the members of the training member sets; None when
    under-determined."""
    terms = colour_terms(train, degree)
    z = np.asarray(train.meta["z"], np.float64)[train.set_index()]
    is_cluster = np.asarray(train.meta["is_cluster"], bool)[train.set_index()]
    use = train.member & is_cluster & np.isfinite(terms).all(axis=1) & np.isfinite(z)
    if use.sum() <= terms.shape[1]:
        return None
    coefficients, _, rank, _ = np.linalg.lstsq(terms[use], z[use], rcond=None)
    if rank < terms.shape[1]:
        return None
    return {"degree": degree, "coefficients": coefficients.tolist(), "n_fit": int(use.sum())}


def colour_redshift(sets: MemberSets, fit: dict) -> np.ndarray:
    """(n,) median over each set's galaxies of the colour-fit z."""
    per_galaxy = colour_terms(sets, fit["degree"]) @ np.asarray(fit["coefficients"])
    return segment_median(per_galaxy, sets.offsets)


def member_count_fit(train: MemberSets) -> dict | None:
    """ln λ = a + b ln N over the training member sets (N: galaxies in the set)."""
    lam = np.asarray(train.meta["lam"], np.float64)
    use = np.asarray(train.meta["is_cluster"], bool) & (lam > 0) & (train.sizes > 0)
    return line_fit(np.log(train.sizes[use]), np.log(lam[use]))


def mass_richness_fit(train: MemberSets) -> dict | None:
    """ln M = a + b ln λ_true over the training member sets with a known mass."""
    lam = np.asarray(train.meta["lam"], np.float64)
    ln_mass = np.asarray(train.meta["ln_mass"], np.float64)
    use = np.asarray(train.meta["is_cluster"], bool) & (lam > 0) & np.isfinite(ln_mass)
    return line_fit(np.log(lam[use]), ln_mass[use])


def member_mean_centre(sets: MemberSets) -> np.ndarray:
    """(n, 2) zeros: the member mean is the reference point itself."""
    return np.zeros((len(sets), 2))


def brightest_member_centre(sets: MemberSets) -> np.ndarray:
    """(n, 2) arcmin offset of each set's brightest galaxy (smallest MODEL_MAG_I) from its
    reference point (NaN where no galaxy has an i magnitude)."""
    ra, dec = sets.column("RA"), sets.column("DEC")
    ref_ra, ref_dec = reference_positions(ra, dec, sets.offsets)
    row = segment_argmin(sets.column("MODEL_MAG_I"), sets.offsets)
    has = row >= 0
    out = np.full((len(sets), 2), np.nan)
    out[has] = offsets_arcmin(ref_ra[has], ref_dec[has], ra[row[has]], dec[row[has]])
    return out


def set_size(sets: MemberSets) -> np.ndarray:
    """(n,) galaxies per set: the detection baseline's score."""
    return sets.sizes.astype(np.float64)


def photoz_concentration(sets: MemberSets, column: str = "ZRED") -> np.ndarray:
    """(n,) minus the median absolute deviation of the set's photo-z: a cluster's members
    share one redshift, an aperture's non-members do not (NaN without photo-z)."""
    z = sets.column(column).astype(np.float64)
    centre = segment_median(z, sets.offsets)
    return -segment_median(np.abs(z - np.repeat(centre, sets.sizes)), sets.offsets)


# detection baselines score any split by themselves (no fit): {key: (method, score function)}
DETECTION_BASELINES: dict[str, tuple[str, Callable[[MemberSets], np.ndarray]]] = {
    "baseline_set_size": ("the number of galaxies in the set as the score", set_size),
    "baseline_photoz_concentration": (
        "minus the median absolute deviation of the set's photo-z (ZRED) as the score",
        photoz_concentration,
    ),
}


def _line(method: str, fit: dict | None, x: np.ndarray, note: str = "") -> Baseline:
    if fit is None:
        return Baseline(method, unavailable="too few distinct training member sets to fit it")
    return Baseline(method, fit["a"] + fit["b"] * x, fit, note=note)


def _photoz(report: MemberSets, column: str) -> Baseline:
    method = f"median {column} of the set's galaxies"
    if column not in report.columns:
        return Baseline(method, unavailable=f"no galaxy column {column}")
    values = member_photoz(report, column)
    if not np.isfinite(values).any():
        return Baseline(method, unavailable=f"no galaxy has a {column} value")
    return Baseline(method, values)


def _colour(train: MemberSets, report: MemberSets) -> Baseline:
    method = (
        f"median over the set's galaxies of z = polynomial of degree {COLOUR_DEGREE} in "
        "(g-r, r-i), fitted on the training members"
    )
    fit = colour_redshift_fit(train)
    if fit is None:
        return Baseline(method, unavailable="too few training members with g, r, i magnitudes")
    return Baseline(method, colour_redshift(report, fit), fit)


def set_baselines(
    train: MemberSets, report: MemberSets, photoz: str = "ZRED"
) -> dict[str, dict[str, Baseline]]:
    """{target: {"baseline_<name>": Baseline}} for z, lnlam, lnmass and centre."""
    lam = np.asarray(report.meta["lam"], np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_n, ln_lam = np.log(report.sizes), np.log(lam)
    return {
        "z": {
            "baseline_member_photoz": _photoz(report, photoz),
            "baseline_colour_fit": _colour(train, report),
        },
        "lnlam": {
            "baseline_member_count": _line(
                "ln λ = a + b ln N (N: galaxies in the set), fitted on train",
                member_count_fit(train),
                ln_n,
            )
        },
        "lnmass": {
            "baseline_mass_richness": _line(
                "ln M = a + b ln λ, fitted on train and applied to the TRUE richness",
                mass_richness_fit(train),
                ln_lam,
                MASS_RICHNESS_NOTE,
            )
        },
        "centre": {
            "baseline_member_mean": Baseline("the member mean", member_mean_centre(report)),
            "baseline_brightest": Baseline(
                "the brightest galaxy (smallest MODEL_MAG_I)", brightest_member_centre(report)
            ),
        },
    }
