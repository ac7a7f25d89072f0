"""Training curves from `train_log.jsonl`: loss terms per step, validation per epoch, LR."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_training_curves(log_path: Path, out: Path) -> Path:
    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line]
    steps = [r for r in rows if r["kind"] == "step"]
    epochs = [r for r in rows if r["kind"] == "epoch"]
    fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(11, 4))
    terms = (
        [k for k in steps[0] if k not in ("kind", "step", "epoch", "lr", "images_per_second")]
        if steps
        else []
    )
    for term in terms:
        ax_loss.plot(
            [r["step"] for r in steps], [r[term] for r in steps], label=f"train {term}", lw=1
        )
    if epochs and "valid_total" in epochs[0]:
        ax_loss.plot(
            [r["step"] for r in epochs],
            [r["valid_total"] for r in epochs],
            "ko-",
            label="valid total (epoch)",
        )
    values = [r[t] for r in steps for t in terms]
    scale = "log" if values and min(values) > 0 else "linear"
    ax_loss.set(xlabel="optimizer step", ylabel="loss", yscale=scale, title="losses")
    ax_loss.legend(fontsize=8)
    ax_lr.plot([r["step"] for r in steps], [r["lr"] for r in steps])
    ax_lr.set(xlabel="optimizer step", ylabel="learning rate", title="schedule")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
