"""Small member-set surveys for the catalogue-model tests: a simulated catalogue (no images)
over a few hundred square degrees, with the galaxies around every cluster, and its sets."""

from __future__ import annotations

from pathlib import Path

from clusterhpc.config import Config, load_config
from clusterhpc.prep.sets_stage import main as prep_sets
from clusterhpc.simulate.stage import main as simulate
from tests.train.fixtures import ROOT, config_overrides

CATALOGUE = ROOT / "configs" / "catalogue.yaml"
# A rectangle of 300 deg^2: about 780 clusters, 470 training member sets.
SURVEY_SETTINGS = (
    "simulate.footprint.kind=rect",
    "simulate.footprint.nside=256",
    "simulate.footprint.ra=[150, 170]",
    "simulate.footprint.dec=[0, 15]",
)
# Tiny networks and few steps: what the trainer tests need.
SETS_SETTINGS = (
    *SURVEY_SETTINGS,
    "model.sets.hidden=16",
    "model.sets.max_members=16",
    "model.sets.subsets=8",
    "model.sets.inference_subsets=16",
    "train.batch_size=32",
    "train.epochs=2",
    "train.log_every=1",
    "train.warmup_epochs=0.5",
)

# Every catalogue-model kind, as overrides of configs/janossy_redshift.yaml.
KINDS = {
    "janossy_k1": ("model.pooling=janossy", "model.sets.k=1"),
    "janossy_k2": ("model.pooling=janossy", "model.sets.k=2"),
    "pi_sgd": ("model.pooling=pi_sgd", "model.sets.k=2"),
    "deepsets_sum": ("model.pooling=deepsets_sum",),
    "deepsets_mean": ("model.pooling=deepsets_mean",),
    "attention": ("model.pooling=attention",),
    "mlp_summary": ("model.kind=mlp", "model.mlp_input=summary"),
    "mlp_padded": ("model.kind=mlp", "model.mlp_input=padded"),
}


def make_sets_survey(directory: Path) -> Path:
    """Simulate the catalogue and build its member sets (with non-member sets) once."""
    root = directory / "catalogue"
    cfg = load_config(CATALOGUE, [f"data.root={root}", *SURVEY_SETTINGS])
    assert simulate(cfg) == 0
    assert prep_sets(cfg) == 0
    return root


def sets_config(survey: Path, run: Path, config: str, *overrides: str) -> Config:
    return load_config(
        ROOT / "configs" / config, config_overrides(survey, run, SETS_SETTINGS, *overrides)
    )
