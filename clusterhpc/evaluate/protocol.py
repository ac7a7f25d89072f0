"""Which images tune the operating point and which ones are reported, for every model family.

Protocol. The score threshold is chosen on validation images and the numbers are reported
on test images, never tuned on them:

- on the run's own survey (its packed training shards have the fingerprints the run recorded
  in `inference.json`, wherever the survey is staged): tuned on
  `valid`, reported on `test`; without a test split, or with `evaluate.report_on: valid`
  (for choices made while the test split stays unread), `valid` is cut in two seeded halves
  (tune on one, report on the other);
- on another survey, every image of every split counts as test data; the threshold is then
  `evaluate.score_threshold` when set, else it is chosen on the run's own `valid` split.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from clusterhpc.config import Config
from clusterhpc.data.packed import read_index
from clusterhpc.errors import DataError
from clusterhpc.log import get_logger
from clusterhpc.models import inference_record
from clusterhpc.paths import packed_dir, run_dir, trained_packed_dir

log = get_logger("evaluate")


def same_survey(train_cfg: Config, cfg: Config) -> bool:
    """Whether `cfg`'s survey holds the run's training shards, by content (wherever staged);
    by resolved `data.root` only for runs that recorded no shard fingerprints."""
    same = inference_record.trained_on(run_dir(cfg), packed_dir(cfg))
    if same is None:
        return Path(train_cfg.data.root).resolve() == Path(cfg.data.root).resolve()
    return same


def protocol_record(cfg: Config, train_cfg: Config, protocol: dict, **details: Any) -> dict:
    """The evaluation protocol as metrics.json records it: the sets used (`protocol`), the
    survey and run, whether the survey is the training one, the family's `details`, and the
    intervals' kind."""
    return {
        **protocol,
        "survey": cfg.data.root,
        "run": cfg.run.dir,
        "trained_on_survey": same_survey(train_cfg, cfg),
        **details,
        "uncertainties": "Wilson score interval, 68.3 %",
    }


def split_names(packed: Path) -> list[str]:
    splits = read_index(packed)["splits"]
    return [name for name in ("train", "valid", "test") if splits.get(name, {}).get("n_images")]


def choose_sets(cfg: Config, train_cfg: Config, score: Callable[[Path, str], Any]):
    """(tune set or None, report set, protocol dict); sets are None on ranks > 0.

    `score(packed_dir, split)` scores one split (collectively over the ranks) into a set with
    `take(rows)` and `concat(other)` (`Scored` for the detector); `n_images` counts it."""
    ev = cfg.evaluate
    packed = packed_dir(cfg)
    names = split_names(packed)
    if same_survey(train_cfg, cfg):
        if "valid" not in names:
            raise DataError(f"{packed}: no valid split to choose the score threshold on")
        valid = score(packed, "valid")
        if "test" in names and ev.report_on == "test":
            test = score(packed, "test")
            return valid, test, {"tuned_on": "valid", "reported_on": "test"}
        if valid is None:
            return None, None, {}
        order = np.random.default_rng(cfg.seed).permutation(valid.n_images)
        halves = np.sort(order[::2]), np.sort(order[1::2])
        if "test" in names:
            log.info("evaluate.report_on: valid: the test split is not read")
        else:
            log.warning("no test split: tuning on half of valid, reporting on the other half")
        protocol = {"tuned_on": "valid (half A)", "reported_on": "valid (half B)"}
        return valid.take(halves[0]), valid.take(halves[1]), protocol
    report = None
    for name in names:
        part = score(packed, name)
        if part is not None:
            report = part if report is None else report.concat(part)
    protocol = {"reported_on": f"all images ({'+'.join(names)}; survey not trained on)"}
    if ev.score_threshold > 0:
        return None, report, {**protocol, "tuned_on": "fixed evaluate.score_threshold"}
    own = trained_packed_dir(train_cfg)
    if "valid" not in (split_names(own) if (own / "index.json").exists() else []):
        raise DataError(
            f"{cfg.data.root} is not the run's survey ({train_cfg.data.root}) and {own} has no "
            "valid split to choose the threshold on: set evaluate.score_threshold"
        )
    tune = score(own, "valid")
    return tune, report, {**protocol, "tuned_on": f"valid of {train_cfg.data.root}"}
