"""HDF5 layout of member sets (the catalogue models' input), written by `prep sets`.

One shard `<prep.sets.out>/<split>-NNNNN-of-MMMMM.h5` holds N sets (schema version 1):

    offsets     int64 (N+1,)     galaxies of set i are rows offsets[i]:offsets[i+1],
                                 brightest (smallest i magnitude) first
    positions   float64 (K, 2)   RA, Dec of every galaxy, degrees
    galaxies    float32 (K, C)   per-galaxy columns, named by attribute `columns`
                                 (MODEL_MAG_[UGRIZ], MODEL_MAGERR_[UGRIZ], ZRED, P, P_FREE;
                                 NaN where the source has no such column)
    member      bool (K,)        the galaxy is a member of the set's cluster (P > 0 in
                                 members.fits), not an aperture non-member
    meta/<f>    (N,)             per-set fields, see META_FIELDS

Root attributes: schema_version, n_sets, split, columns, fingerprint (of the inputs and
settings), and `sha256` on every dataset. `index.json` beside the shards lists them per split
with the split report. Shards are written under a temporary name and renamed, as packed
cutouts are, so a shard that exists is whole.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from clusterhpc import ragged
from clusterhpc.errors import DataError
from clusterhpc.io.atomic import atomic_path

SCHEMA_VERSION = 1
INDEX = "index.json"

GALAXY_COLUMNS = (
    *(f"MODEL_MAG_{b}" for b in "UGRIZ"),
    *(f"MODEL_MAGERR_{b}" for b in "UGRIZ"),
    "ZRED",
    "P",
    "P_FREE",
)
META_FIELDS: dict[str, Any] = {
    "id": np.int64,  # cluster ID (catalog.fits)
    "kind": np.int8,  # 0: the member set, 1: aperture non-members only, 2: contaminated
    "is_cluster": np.bool_,  # kind 0
    "ra": np.float64,  # catalogue position (the aperture centre), degrees
    "dec": np.float64,
    "true_ra": np.float64,  # true centre (truth.fits; the catalogue position for real data)
    "true_dec": np.float64,
    "z": np.float32,  # true z (truth.fits), else Z_SPEC where > 0, else Z_LAMBDA
    "z_lambda": np.float32,
    "z_spec": np.float32,  # -1 where none
    "lam": np.float32,  # true lambda (truth.fits), else LAMBDA
    "lam_catalog": np.float32,  # LAMBDA of catalog.fits
    "ln_mass": np.float32,  # ln(M / Msun h^-1), NaN when unknown
    "aperture_arcmin": np.float32,
    "n_members": np.int32,  # members of the cluster in members.fits
    "contamination": np.float32,  # fraction of the set's galaxies that are non-members
}


def shard_name(split: str, index: int, total: int) -> str:
    return f"{split}-{index:05d}-of-{total:05d}.h5"


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@dataclass
class MemberSets:
    """Sets in memory: ragged galaxies by offsets, per-set metadata (see the module doc)."""

    offsets: np.ndarray
    positions: np.ndarray
    galaxies: np.ndarray
    member: np.ndarray
    meta: dict[str, np.ndarray]
    columns: tuple[str, ...] = GALAXY_COLUMNS

    def __len__(self) -> int:
        return self.offsets.size - 1

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def column(self, name: str) -> np.ndarray:
        """(K,) values of one galaxy column ('RA' and 'DEC' from the positions)."""
        if name in ("RA", "DEC"):
            return self.positions[:, ("RA", "DEC").index(name)]
        if name not in self.columns:
            raise KeyError(f"no galaxy column {name!r}; have {', '.join(self.columns)}")
        return self.galaxies[:, self.columns.index(name)]

    def set_index(self) -> np.ndarray:
        """(K,) the set each galaxy row belongs to."""
        return np.repeat(np.arange(len(self)), self.sizes)

    def take(self, rows: np.ndarray) -> MemberSets:
        """The sets `rows`, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        gal, offsets = ragged.take(self.offsets, rows)
        return MemberSets(
            offsets,
            self.positions[gal],
            self.galaxies[gal],
            self.member[gal],
            {k: v[rows] for k, v in self.meta.items()},
            self.columns,
        )

    @staticmethod
    def concatenate(parts: list[MemberSets]) -> MemberSets:
        if not parts:
            raise ValueError("no member sets to concatenate")
        return MemberSets(
            ragged.offsets_from_counts(np.concatenate([p.sizes for p in parts])),
            np.concatenate([p.positions for p in parts]),
            np.concatenate([p.galaxies for p in parts]),
            np.concatenate([p.member for p in parts]),
            {k: np.concatenate([p.meta[k] for p in parts]) for k in parts[0].meta},
            parts[0].columns,
        )


def write_shard(path: Path, sets: MemberSets, split: str, fingerprint: str) -> None:
    """Write one shard atomically, with checksums."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        data = {
            "offsets": sets.offsets.astype(np.int64),
            "positions": sets.positions.astype(np.float64),
            "galaxies": sets.galaxies.astype(np.float32),
            "member": sets.member.astype(np.bool_),
            **{f"meta/{k}": np.asarray(sets.meta[k], dtype=t) for k, t in META_FIELDS.items()},
        }
        for name, array in data.items():
            ds = h5.create_dataset(name, data=array)
            ds.attrs["sha256"] = _sha256(array)
        h5.attrs.update(
            schema_version=SCHEMA_VERSION,
            n_sets=len(sets),
            split=split,
            columns=json.dumps(list(sets.columns)),
            fingerprint=fingerprint,
        )


def read_shard(path: str | Path, verify: bool = False) -> MemberSets:
    """One shard into memory; DataError names the file and what is wrong."""
    try:
        with h5py.File(path, "r") as h5:
            version = int(h5.attrs.get("schema_version", -1))
            if version != SCHEMA_VERSION:
                raise DataError(
                    f"{path}: member-set schema version {version}, expected {SCHEMA_VERSION}: "
                    "run `clusterhpc prep sets` again"
                )
            arrays = {}
            for name in ("offsets", "positions", "galaxies", "member"):
                arrays[name] = h5[name][...]
            meta = {k: h5[f"meta/{k}"][...] for k in META_FIELDS}
            if verify:
                for name, array in {**arrays, **{f"meta/{k}": v for k, v in meta.items()}}.items():
                    if _sha256(array) != h5[name].attrs["sha256"]:
                        raise DataError(f"{path}: dataset '{name}' does not match its checksum")
            columns = tuple(json.loads(h5.attrs["columns"]))
    except OSError as exc:
        raise DataError(f"{path}: cannot read member-set shard ({exc})") from exc
    sets = MemberSets(meta=meta, columns=columns, **arrays)
    if sets.offsets[-1] != len(sets.positions) or np.any(np.diff(sets.offsets) < 0):
        raise DataError(f"{path}: offsets do not describe the {len(sets.positions)} galaxy rows")
    return sets


def read_index(directory: str | Path) -> dict:
    path = Path(directory) / INDEX
    if not path.exists():
        raise DataError(f"{path}: no member-set index; run `clusterhpc prep sets` first")
    return json.loads(path.read_text())


def read_split(directory: str | Path, split: str) -> MemberSets:
    """Every shard of `split` concatenated (sets are small: a catalogue fits in memory)."""
    entry = read_index(directory)["splits"].get(split)
    if not entry or not entry["shards"]:
        raise DataError(f"{directory}: no member sets in split '{split}'")
    return MemberSets.concatenate([read_shard(Path(directory) / s) for s in entry["shards"]])


def split_fingerprint(directory: str | Path, split: str) -> str | None:
    """The split's content identity (its shards' fingerprints), None when absent."""
    try:
        entry = read_index(directory)["splits"].get(split)
    except DataError:
        return None
    return None if not entry else entry["fingerprint"]
