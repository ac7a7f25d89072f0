"""Per-member inputs and per-set targets of the catalogue models, from `MemberSets`.

Feature groups (`model.sets.features`), per galaxy:
- `unit`: its unit vector (x, y, z) on the sphere;
- `offset`: east and north offsets and the distance (arcmin) from the set's reference point,
  the member mean (`data.set_geometry`; never the catalogue or true centre);
- `mag`: ugriz model magnitudes; `colour`: u-g, g-r, r-i, i-z; `mag_err`: their errors;
- `photoz`: ZRED; and with `model.sets.use_p`, P and P_FREE (lambda = sum P: a leak).
Missing values (NaN: a column the survey lacks) become the training mean, i.e. 0 after
standardisation; the mean and standard deviation of every feature come from the training
split only and travel with the run (`Standardiser.to_json`).

Targets (`model.sets.targets`): z, lnlam = ln lambda, lnmass = ln M, centre = the true
centre's (east, north) arcmin offset from the reference point, detect = is a member set.

`rotate_sets` turns every set by its own random rotation of the sphere: unit vectors stay
unit, angles between galaxies and to the true centre are preserved, so offsets keep their
lengths while position angles and absolute positions change.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from clusterhpc.data.set_geometry import offsets_arcmin, reference_positions
from clusterhpc.io.set_shards import MemberSets
from clusterhpc.sky.geometry import unit_vectors, vectors_to_radec

GROUP_COLUMNS = {
    "unit": ("UNIT_X", "UNIT_Y", "UNIT_Z"),
    "offset": ("OFFSET_EAST", "OFFSET_NORTH", "OFFSET_R"),
    "mag": tuple(f"MODEL_MAG_{b}" for b in "UGRIZ"),
    "colour": ("U-G", "G-R", "R-I", "I-Z"),
    "mag_err": tuple(f"MODEL_MAGERR_{b}" for b in "UGRIZ"),
    "photoz": ("ZRED",),
    "p": ("P", "P_FREE"),
}
TARGET_WIDTH = {"z": 1, "lnlam": 1, "lnmass": 1, "centre": 2, "detect": 1}


def feature_names(groups: list[str], use_p: bool) -> list[str]:
    names = [c for g in groups for c in GROUP_COLUMNS[g]]
    return names + list(GROUP_COLUMNS["p"]) if use_p else names


def galaxy_features(sets: MemberSets, names: list[str]) -> np.ndarray:
    """(K, F) float64 raw features of every galaxy row (NaN where the survey has none)."""
    ra, dec = sets.column("RA"), sets.column("DEC")
    ref_ra, ref_dec = reference_positions(ra, dec, sets.offsets)
    owner = sets.set_index()
    offset = offsets_arcmin(ref_ra[owner], ref_dec[owner], ra, dec)
    mags = np.stack([sets.column(f"MODEL_MAG_{b}") for b in "UGRIZ"], 1).astype(np.float64)
    derived = {
        **dict(zip(GROUP_COLUMNS["unit"], unit_vectors(ra, dec).T, strict=True)),
        "OFFSET_EAST": offset[:, 0],
        "OFFSET_NORTH": offset[:, 1],
        "OFFSET_R": np.hypot(offset[:, 0], offset[:, 1]),
        **{name: mags[:, k] - mags[:, k + 1] for k, name in enumerate(GROUP_COLUMNS["colour"])},
    }
    columns = [derived[n] if n in derived else sets.column(n) for n in names]
    return np.stack(columns, axis=1).astype(np.float64) if columns else np.zeros((len(ra), 0))


def set_targets(sets: MemberSets, targets: list[str]) -> dict[str, np.ndarray]:
    """Per-set target arrays ((n,) or (n, 2) for centre); NaN where a value is unknown."""
    meta = sets.meta
    out: dict[str, np.ndarray] = {}
    for name in targets:
        if name == "z":
            out[name] = meta["z"].astype(np.float64)
        elif name == "lnlam":
            out[name] = np.log(meta["lam"].astype(np.float64))
        elif name == "lnmass":
            out[name] = meta["ln_mass"].astype(np.float64)
        elif name == "centre":
            ref = reference_positions(sets.column("RA"), sets.column("DEC"), sets.offsets)
            out[name] = offsets_arcmin(*ref, meta["true_ra"], meta["true_dec"])
        elif name == "detect":
            out[name] = meta["is_cluster"].astype(np.float64)
        else:
            raise ValueError(f"unknown set target {name!r}")
    return out


@dataclass(frozen=True)
class Standardiser:
    """Per-column mean and standard deviation, from the training split."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, isotropic: bool = False) -> Standardiser:
        """Per-column mean and standard deviation of the finite values; `isotropic`: mean 0
        and one root-mean-square for every column (vectors keep their directions)."""
        values = np.asarray(values, np.float64).reshape(len(values), -1)
        width = values.shape[1]
        if not np.isfinite(values).any():
            return cls(np.zeros(width), np.ones(width))
        if isotropic:
            rms = float(np.sqrt(np.nanmean(np.square(values))))
            return cls(np.zeros(width), np.full(width, rms if rms > 0 else 1.0))
        with warnings.catch_warnings():  # an all-missing column: mean 0, scale 1
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nan_to_num(np.nanmean(values, axis=0))
            std = np.nan_to_num(np.nanstd(values, axis=0), nan=1.0)
        return cls(mean, np.where(std > 0, std, 1.0))

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Standardised float32 values; NaN (missing) becomes 0, the training mean."""
        return np.nan_to_num((values - self.mean) / self.std).astype(np.float32)

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_json(cls, values: dict) -> Standardiser:
        return cls(np.asarray(values["mean"], np.float64), np.asarray(values["std"], np.float64))


def random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3, 3) rotation matrices uniform on SO(3) (QR of Gaussian matrices, sign-fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    flip = np.linalg.det(q) < 0
    q[flip, :, 0] *= -1.0
    return q


def rotate_sets(sets: MemberSets, rotations: np.ndarray) -> MemberSets:
    """Every set (its galaxies, catalogue and true centres) turned by its own rotation."""
    owner = sets.set_index()

    def turn(ra: np.ndarray, dec: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, ...]:
        return vectors_to_radec(np.einsum("nij,nj->ni", rotations[which], unit_vectors(ra, dec)))

    every = np.arange(len(sets))
    meta = dict(sets.meta)
    meta["ra"], meta["dec"] = turn(meta["ra"], meta["dec"], every)
    meta["true_ra"], meta["true_dec"] = turn(meta["true_ra"], meta["true_dec"], every)
    positions = np.column_stack(turn(sets.column("RA"), sets.column("DEC"), owner))
    return MemberSets(sets.offsets, positions, sets.galaxies, sets.member, meta, sets.columns)


def padded(
    values: np.ndarray, offsets: np.ndarray, rows: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """(B, width, F) values of sets `rows` (first `width` galaxies each, zeros after) and the
    (B, width) mask."""
    sizes = np.minimum(offsets[rows + 1] - offsets[rows], width)
    slot = np.arange(width)
    mask = slot[None, :] < sizes[:, None]
    source = np.where(mask, offsets[rows][:, None] + slot[None, :], 0)
    x = np.where(mask[..., None], values[source], 0.0).astype(np.float32)
    return x, mask.astype(np.float32)
