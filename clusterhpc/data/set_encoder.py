"""Member sets -> the catalogue models' padded, standardised inputs and targets.

`SetEncoder` is fitted on the training split (feature means and standard deviations, target
scales) and recorded in the run's `inference.json`, so inference encodes any catalogue
exactly as training did. The centre target is scaled by one length for both axes (its σ is
isotropic), the other targets by their own mean and standard deviation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clusterhpc.config import SetModelConfig
from clusterhpc.data.set_features import (
    Standardiser,
    feature_names,
    galaxy_features,
    padded,
    set_targets,
)
from clusterhpc.errors import DataError
from clusterhpc.io.set_shards import MemberSets
from clusterhpc.log import get_logger

log = get_logger("train")
MODEL_INPUTS = ("x", "mask", "size", "key")  # what the network reads of a batch


def training_keys(n: int, epoch: int) -> np.ndarray:
    """(n, 2) π-SGD keys of a training split's sets in `epoch`: (row, epoch)."""
    return np.stack([np.arange(n), np.full(n, epoch)], axis=1)


def inference_keys(sets: MemberSets, draw: int = 0) -> np.ndarray:
    """(n, 2) π-SGD keys at inference: from each set's cluster ID and kind (and `draw`, for
    an independent second draw), so a set gets the same tuples in any selection or order."""
    kind = sets.meta["kind"].astype(np.int64)
    return np.stack([sets.meta["id"] % 2**31, -1 - kind - 4 * draw], axis=1)


def usable_sets(sets: MemberSets, targets: list[str]) -> MemberSets:
    """Member sets only, unless set detection is a target (then non-member sets too)."""
    return sets if "detect" in targets else sets.take(np.flatnonzero(sets.meta["kind"] == 0))


class SetEncoder:
    """Sets -> padded, standardised network inputs and targets (fitted on the training split)."""

    def __init__(self, opts: SetModelConfig, train: MemberSets) -> None:
        self.targets = list(opts.targets)
        self.names = feature_names(list(opts.features), opts.use_p)
        self.width = opts.max_members
        values = galaxy_features(train, self.names)
        missing = [n for n, col in zip(self.names, values.T, strict=True) if np.isnan(col).all()]
        if missing:
            log.warning(
                "features %s are missing in every training galaxy (the survey has no such "
                "column): they are fed as 0; drop them from model.sets.features",
                ", ".join(missing),
            )
        self.features = Standardiser.fit(values)
        truth = set_targets(train, self.targets)
        members = train.meta["kind"] == 0
        self.scales = {}
        for target, values in truth.items():
            if target == "detect":
                continue
            known = np.isfinite(values[members].reshape(int(members.sum()), -1)).all(axis=1)
            if not known.any():
                raise DataError(
                    f"model.sets.targets has {target}, but no training member set has a true "
                    f"{target} (a real catalogue has no mass; truth.fits gives it for a mock)"
                )
            if known.mean() < 0.5:
                log.warning(
                    "%s is known for %.0f %% of the training sets", target, 100 * known.mean()
                )
            # one scale for both centre axes: the loss's σ is isotropic
            self.scales[target] = Standardiser.fit(values[members], isotropic=target == "centre")

    @classmethod
    def from_record(cls, record: dict) -> SetEncoder:
        encoder = cls.__new__(cls)
        encoder.targets, encoder.names = record["targets"], record["features"]
        encoder.width = record["max_members"]
        encoder.features = Standardiser.from_json(record["feature_scale"])
        encoder.scales = {k: Standardiser.from_json(v) for k, v in record["target_scale"].items()}
        return encoder

    def record(self) -> dict[str, Any]:
        return {
            "targets": self.targets,
            "features": self.names,
            "max_members": self.width,
            "feature_scale": self.features.to_json(),
            "target_scale": {k: v.to_json() for k, v in self.scales.items()},
        }

    def inputs(self, sets: MemberSets) -> tuple[np.ndarray, np.ndarray]:
        """(K, F) standardised galaxy features and their set offsets."""
        return self.features.apply(galaxy_features(sets, self.names)), sets.offsets

    def targets_of(self, sets: MemberSets) -> dict[str, np.ndarray]:
        """Standardised `y_<target>` (n, w), 0 where unknown, and weights `w_<target>` (n,)."""
        out = {}
        members = sets.meta["kind"] == 0
        for name, values in set_targets(sets, self.targets).items():
            values = values.reshape(len(sets), -1)
            if name == "detect":
                out[f"y_{name}"], weight = values.astype(np.float32), np.ones(len(sets))
            else:
                known = members & np.isfinite(values).all(axis=1)
                scaled = (values - self.scales[name].mean) / self.scales[name].std
                out[f"y_{name}"] = np.where(known[:, None], scaled, 0.0).astype(np.float32)
                weight = known
            out[f"w_{name}"] = weight.astype(np.float32)
        return out

    def batch(
        self,
        features: np.ndarray,
        offsets: np.ndarray,
        targets: dict[str, np.ndarray],
        rows: np.ndarray,
        keys: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Padded inputs, sizes, random keys `keys[rows]` and targets of the sets `rows`."""
        x, mask = padded(features, offsets, rows, self.width)
        key = keys[rows].astype(np.int32)
        size = np.diff(offsets)[rows].astype(np.float32)
        return {
            "x": x,
            "mask": mask,
            "size": size,
            "key": key,
            **{k: v[rows] for k, v in targets.items()},
        }
