"""Pick and draw the detection gallery: found and missed clusters, false detections."""

from __future__ import annotations

import numpy as np

from clusterhpc.evaluate import plots
from clusterhpc.evaluate.scored import Scored
from clusterhpc.sky.projection import to_pixels


def gallery_panels(s: Scored, matcher_match, n: int, seed: int, projection: str):
    """Up to n images: found clusters, missed clusters, false detections on empty fields."""
    truth, preds = s.truth, s.preds
    img_t, img_p = truth.image_of_box(), preds.image_of_box()
    found = np.unique(img_t[matcher_match.truth_matched])
    missed = np.setdiff1d(np.unique(img_t[matcher_match.truth_counted]), found)
    empty = np.flatnonzero(np.asarray(truth.meta["empty"], bool))
    false_empty = np.intersect1d(empty, np.unique(img_p[matcher_match.pred_false]))
    rng = np.random.default_rng(seed)
    picks: list[int] = []
    for group, share in ((found, n // 2), (missed, n // 4), (false_empty, n // 4)):
        picks += [int(i) for i in rng.permutation(group)[:share]]
    rest = np.setdiff1d(np.arange(truth.n_images), picks)
    picks += [int(i) for i in rng.permutation(rest)[: n - len(picks)]]
    panels = []
    for i in sorted(picks):
        split, index = s.sources[i]
        item = split.item(index)
        t0, t1 = truth.offsets[i], truth.offsets[i + 1]
        p0, p1 = preds.offsets[i], preds.offsets[i + 1]
        kept = matcher_match.pred_kept[p0:p1]
        width = item.image.shape[1]
        members = np.zeros((0, 2))
        feats = split.member_features
        if len(item.members) and "RA" in feats and "DEC" in feats:
            ra, dec = item.members[:, feats.index("RA")], item.members[:, feats.index("DEC")]
            x, y = to_pixels(
                item.meta["ra"], item.meta["dec"], ra, dec, item.meta["pixscale"], width, projection
            )
            members = np.stack([x, y], 1)
        label = "empty field" if item.meta["empty"] else f"ID {item.meta['id']}"
        z, lam = item.meta["z"], item.meta["lam"]
        if not item.meta["empty"]:
            label += f"  z={z:.2f} λ={lam:.0f}"
        panels.append(
            plots.Panel(
                image=item.image,
                truth=truth.boxes[t0:t1],
                pred=preds.boxes[p0:p1][kept],
                scores=preds.scores[p0:p1][kept],
                pred_matched=matcher_match.pred_matched[p0:p1][kept],
                members=members,
                title=label,
            )
        )
    return panels
