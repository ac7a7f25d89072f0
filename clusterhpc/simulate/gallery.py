"""Annotated PNGs of a few cluster cutouts: true member positions and member-extent boxes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, Rectangle
from PIL import Image

from clusterhpc.config import SimulateConfig
from clusterhpc.io.atomic import atomic_path
from clusterhpc.simulate.cutout_plan import CutoutPlan
from clusterhpc.simulate.scene import Survey
from clusterhpc.sky.projection import tan_wcs, wcs_pixels


def pick(plan: CutoutPlan, survey: Survey, n: int) -> np.ndarray:
    """Indices of `n` cluster cutouts spread evenly in redshift."""
    rows = np.flatnonzero(~plan.empty)
    z = survey.clusters.z[plan.id[rows] - 1]
    rows = rows[np.argsort(z, kind="stable")]
    return rows[np.unique(np.linspace(0, len(rows) - 1, min(n, len(rows))).round().astype(int))]


def draw(plan: CutoutPlan, index: int, survey: Survey, sim: SimulateConfig, root: Path) -> Path:
    size, scale = sim.cutouts.size, sim.cutouts.scale
    wcs = tan_wcs(plan.ra[index], plan.dec[index], scale, size)
    cl, mem = survey.clusters, survey.members
    fig, ax = plt.subplots(figsize=(7, 7), dpi=100)
    ax.imshow(np.asarray(Image.open(root / plan.file[index])), interpolation="nearest")
    rows = survey.member_rows(plan.ra[index], plan.dec[index], size * scale / 3600.0)
    for row in np.unique(mem.cluster[rows]):
        sl = slice(mem.start[row], mem.start[row] + mem.count[row])
        x, y = wcs_pixels(wcs, mem.ra[sl], mem.dec[sl])
        target = cl.id[row] == plan.id[index]
        colour = "cyan" if target else "yellow"
        ax.scatter(x, y, s=60, facecolors="none", edgecolors=colour, linewidths=0.7)
        ax.add_patch(
            Rectangle(
                (x.min(), y.min()),
                np.ptp(x),
                np.ptp(y),
                fill=False,
                edgecolor=colour,
                linewidth=1.2,
            )
        )
        ax.add_patch(
            Circle(
                (x[0], y[0]),
                cl.r_lambda_arcmin[row] * 60.0 / scale,
                fill=False,
                edgecolor=colour,
                linestyle=":",
                linewidth=1.0,
            )
        )
        ax.annotate(
            f"z={cl.z[row]:.2f} λ={cl.lam[row]:.0f}",
            (x[0], y[0]),
            color=colour,
            fontsize=8,
            xytext=(4, -6),
            textcoords="offset points",
        )
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)
    row = plan.id[index] - 1
    ax.set_title(
        f"ID {plan.id[index]}  z={cl.z[row]:.3f}  λ={cl.lam[row]:.1f}  "
        f"R_λ={cl.r_lambda_arcmin[row]:.1f}'  ({scale:.3g}\"/px)",
        fontsize=10,
    )
    ax.set_axis_off()
    path = root / "gallery" / f"{plan.id[index]}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    return path
