"""Typed configuration: YAML files under `configs/` -> dataclasses, `key.sub=value` overrides.

A config file may name another with `base: other.yaml` (relative to itself); its values are
the defaults the file then overrides. Only `yaml.safe_load` is used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.typed_dict import ConfigError, from_dict, param

__all__ = ["Config", "ConfigError", "load_config", "parse_overrides", "write_resolved"]


@dataclass
class DataConfig:
    root: str = param("data/quickstart", help="survey directory (catalog.fits, members.fits, ...)")
    simulated: bool = param(
        True, help="the survey is the mock one `simulate` writes (false: real files, never touched)"
    )
    packed: str = param(
        "",
        help="packed shards directory ('' = data.root/packed); e.g. a node-local copy staged "
        "by slurm/train_yolo.sbatch STAGE_DIR",
    )


@dataclass
class RunConfig:
    dir: str = param("runs/quickstart", help="run directory: resolved config, checkpoints, report")
    stage_ranks: int = param(
        0,
        ge=0,
        help="ranks `clusterhpc run` starts (mpirun) for its MPI-parallel stages when it runs "
        "as one process: 0 = one per usable core, 1 = in-process; training keeps one rank",
    )


@dataclass
class ResourcesConfig:
    nodes: int = param(1, ge=1, help="nodes per job")
    tasks_per_node: int = param(1, ge=1, help="MPI/Horovod ranks per node (one per GPU)")
    gpus_per_task: int = param(0, ge=0, help="GPUs per rank (0 on CPU-only machines)")
    cpus_per_task: int = param(1, ge=1, help="cores per rank")
    mem_gb: int = param(4, ge=1, help="memory per node in GiB")
    time: str = param("01:00:00", help="wall-time limit, Slurm format [D-]HH:MM:SS")
    partition: str = param("", help="Slurm partition ('' = site default)")
    account: str = param("", help="Slurm account ('' = user default)")


@dataclass
class BoxesConfig:
    projection: Literal["tan", "seed"] = param(
        "tan", help="sky->pixel: 'tan' (astropy TAN WCS) or 'seed' (spherical offsets, published)"
    )
    pad: int = param(0, ge=0, help="pixels added on every side of each box (seed runs: 0 or 50)")
    p_min: float = param(0.0, ge=0, le=1, help="drop members with P below this (0: keep all, seed)")
    central_inside: bool = param(False, help="drop images whose central box is not fully inside")
    secondary: Literal["centre", "any"] = param(
        "centre", help="keep other clusters' boxes whose centre is inside ('centre', seed) or all"
    )
    cutouts: str = param(
        "",
        help="cutout table FILE (relative to data.root), RA, DEC[, ID, SCALE, SIZE]; "
        "'' = one cutout per cluster",
    )
    image_dir: str = param(
        "cutouts", help="folder (under data.root) of the one-per-cluster <ID>.jpeg cutouts"
    )
    split: list[float] = param(
        [0.5, 0.5, 0.0],
        ge=0,
        le=1,
        help="train, valid, test fractions of cutouts and of empty fields, by whole sky groups",
    )
    split_by: Literal["overlap", "healpix"] = param(
        "overlap",
        help="sky groups: cutouts/empty fields that overlap or show one cluster ('overlap'), "
        "also joined by HEALPix cell of split_nside ('healpix')",
    )
    split_nside: int = param(
        8, ge=1, le=8192, help="split_by healpix: nside of the cells (power of 2; 8 = 7.3 deg)"
    )


@dataclass
class EmptyConfig:
    n: int = param(13056, ge=1, help="number of empty-field positions to choose")
    min_sep_arcmin: float = param(20.0, ge=0, help="minimum distance to the nearest cluster")
    max_sep_arcmin: float = param(300.0, gt=0, help="maximum distance to the nearest cluster")
    footprint: str = param("", help="HEALPix footprint map; '' = <data.root>/footprint.fits")
    whole_cutout: bool = param(False, help="require the whole cutout inside the footprint")
    image_dir: str = param("empty", help="folder (under data.root) of existing empty-field images")
    chunk: int = param(4096, ge=1, help="candidates per random chunk (changing it changes draws)")


@dataclass
class PackConfig:
    shard_size: int = param(256, ge=1, help="images per HDF5 shard")
    image_size: int = param(0, ge=0, help="resize square cutouts to this side (0: keep)")
    compression: Literal["none", "gzip", "lz4", "blosc-lz4"] = param(
        "none", help="lossless compression of the image chunks"
    )
    encoding: Literal["raw", "jpeg"] = param(
        "raw",
        help="raw: decoded uint8 pixels (no decoding while training); jpeg: the JPEG files' "
        "bytes unchanged, about a tenth of the bytes, decoded while reading",
    )
    member_features: list[str] = param(
        [
            "RA",
            "DEC",
            "R",
            "P",
            "P_FREE",
            "THETA_I",
            "THETA_R",
            "IMAG",
            "IMAG_ERR",
            "MODEL_MAG_U",
            "MODEL_MAG_G",
            "MODEL_MAG_R",
            "MODEL_MAG_I",
            "MODEL_MAG_Z",
            "MODEL_MAGERR_U",
            "MODEL_MAGERR_G",
            "MODEL_MAGERR_R",
            "MODEL_MAGERR_I",
            "MODEL_MAGERR_Z",
        ],
        help="members.fits columns stored per image for the catalogue models",
    )
    labels: dict[str, str] = param(
        {}, help="pack seed label files instead of prep outputs: {split: path}"
    )
    empty: bool = param(True, help="also pack the listed empty fields, split like the clusters")


@dataclass
class MatchConfig:
    catalogue: str = param(
        "", help="external cluster catalogue (FITS/ECSV/CSV; relative to data.root) for prep match"
    )
    kind: Literal["psz2", "mcxc", "comprass"] = param(
        "psz2", help="its layout: Planck PSZ2 union, MCXC or COMPRASS"
    )
    radius_arcmin: float = param(3.0, gt=0, help="largest separation of a match")
    dz: float = param(0.1, ge=0, help="largest |z_ext - z_lambda| / (1 + z_ext) (both known)")


@dataclass
class FootprintPrepConfig:
    source: str = param(
        "dr8",
        help="'dr8' (SDSS DR8 Mangle polygons of `randomsdss`), a Mangle .ply file or a HEALPix "
        "map FITS (relative to data.root)",
    )
    nside: int = param(1024, ge=1, le=8192, help="HEALPix nside of the written map (power of 2)")
    out: str = param("", help="the map written; '' = <data.root>/footprint.fits")


@dataclass
class SetsPrepConfig:
    aperture_r_lambda: float = param(
        1.0, gt=0, help="member-set aperture radius in units of R_lambda (non-members within it)"
    )
    galaxies: str = param(
        "",
        help="galaxies around each cluster in the `prep query` layout (CLUSTER_ID, objID, ra, "
        "dec, modelMag_*, ...; relative to data.root); '' = <query.out>/galaxies.fits if present",
    )
    split: list[float] = param(
        [0.6, 0.2, 0.2], ge=0, le=1, help="train, valid, test fractions, by whole sky groups"
    )
    negatives: float = param(
        0.0,
        ge=0,
        help="set detection: sets made only of non-members, per cluster (0: none, 1: one each)",
    )
    contamination: float = param(
        0.0, ge=0, lt=1, help="largest fraction of a member set replaced by aperture non-members"
    )
    contaminated: float = param(
        0.0,
        ge=0,
        help="set detection: contaminated member sets (negatives), per cluster (0: none)",
    )
    contaminated_fraction: float = param(
        0.5, gt=0, le=1, help="fraction of a contaminated set's members replaced by non-members"
    )
    min_members: int = param(3, ge=1, help="sets with fewer galaxies are left out (and counted)")
    max_members: int = param(
        0, ge=0, help="keep the brightest this many galaxies of a set (0: all)"
    )
    shard_size: int = param(4096, ge=1, help="sets per HDF5 shard")
    out: str = param("", help="member-set shards; '' = <data.root>/sets")


@dataclass
class PrepConfig:
    out: str = param("", help="output directory of the prep stages; '' = <data.root>/prep")
    size: int = param(2048, ge=1, help="cutout side in pixels")
    scale: float = param(0.396127, gt=0, help="pixel scale in arcsec/px (SDSS native 0.396127)")
    boxes: BoxesConfig = field(default_factory=BoxesConfig)
    empty: EmptyConfig = field(default_factory=EmptyConfig)
    pack: PackConfig = field(default_factory=PackConfig)
    match: MatchConfig = field(default_factory=MatchConfig)
    footprint: FootprintPrepConfig = field(default_factory=FootprintPrepConfig)
    sets: SetsPrepConfig = field(default_factory=SetsPrepConfig)


@dataclass
class CnnConfig:
    architecture: Literal["small", "residual"] = param(
        "small", help="the seed's 4 conv blocks, or the same stages with residual blocks"
    )
    redshift: bool = param(False, help="also regress z with a sigma on cluster cutouts")
    balance: bool = param(
        True, help="weight each example so both classes weigh the same (no data dropped)"
    )


@dataclass
class SetModelConfig:
    targets: list[Literal["z", "lnlam", "lnmass", "centre", "detect"]] = param(
        ["z"],
        help="per-set targets: z, ln lambda, ln mass, centre (each with a sigma) and/or "
        "detect (member set or not)",
    )
    features: list[Literal["unit", "offset", "mag", "colour", "mag_err", "photoz"]] = param(
        ["offset", "mag", "colour", "mag_err", "photoz"],
        help="per-member inputs: unit vectors, offsets from the set's centre, ugriz "
        "magnitudes, colours, magnitude errors, photo-z (ZRED)",
    )
    use_p: bool = param(
        False, help="also feed P and P_FREE (lambda = sum P: leaks a richness target)"
    )
    hidden: int = param(64, ge=1, help="width of the per-member and output networks")
    depth: int = param(2, ge=1, help="layers of each network")
    k: int = param(1, ge=1, le=3, help="janossy / pi_sgd: the size k of the ordered tuples")
    subsets: int = param(128, ge=1, help="pi_sgd: random ordered k-subsets per set per step")
    inference_subsets: int = param(
        1024, ge=1, help="pi_sgd: subsets averaged inside rho at inference"
    )
    heads: int = param(4, ge=1, help="attention: heads of each attention block")
    max_members: int = param(64, ge=1, help="members per set fed to the network (brightest)")
    rotate: bool = param(True, help="random rotations on the sphere of every set when training")


@dataclass
class ModelConfig:
    kind: Literal["yolo", "cnn", "sets", "mlp"] = param(
        "yolo",
        help="model family: YOLO detector, CNN classifier of whole cutouts, set network or "
        "MLP on member catalogues",
    )
    pooling: Literal["janossy", "pi_sgd", "deepsets_sum", "deepsets_mean", "attention"] = param(
        "deepsets_mean",
        help="sets: exact k-ary Janossy, pi-SGD k-subset Janossy, Deep Sets sum/mean, or "
        "set attention",
    )
    mlp_input: Literal["summary", "padded"] = param(
        "summary",
        help="mlp: moments of each feature and the member count, or the padded members "
        "sorted by brightness",
    )
    backbone: Literal["darknet53", "tiny"] = param(
        "darknet53", help="YOLO backbone: Darknet-53 or a shallow variant for CPUs"
    )
    width: float = param(
        1.0, gt=0, le=4, help="channel multiplier (1.0 = Darknet-53 widths; cnn: 64..512)"
    )
    input_size: int = param(
        1024, ge=32, help="network input side in pixels (multiple of 32; cnn: of 16)"
    )
    head: Literal["no_class", "class", "regression"] = param(
        "no_class", help="objectness only, classes (e.g. z bins), or per-box regression"
    )
    class_edges: list[float] = param(
        [], help="class head: redshift bin edges; a box's class is its z bin"
    )
    regression: list[Literal["z", "lam"]] = param(
        ["z"], help="regression head: per-box targets (z, lam), each with a predicted sigma"
    )
    anchors: str = param("", help="anchor file from `prep anchors`; '' = <prep.out>/anchors.txt")
    weight_decay: float = param(5e-4, ge=0, help="L2 weight decay on convolution kernels")
    label_smoothing: float = param(0.0, ge=0, lt=1, help="class head label smoothing")
    positive_iou: float = param(0.3, gt=0, lt=1, help="anchor IoU making it responsible for a box")
    ignore_iou: float = param(
        0.5, gt=0, lt=1, help="no background loss at or above this IoU to truth or ignore regions"
    )
    max_boxes: int = param(32, ge=1, help="boxes (and ignore regions) kept per training image")
    sync_batchnorm: bool = param(True, help="batch-norm statistics over all Horovod ranks")
    bn_momentum: float = param(
        0.99, gt=0, lt=1, help="batch-norm moving-average momentum (0.9 for runs of few steps)"
    )
    cnn: CnnConfig = field(default_factory=CnnConfig)
    sets: SetModelConfig = field(default_factory=SetModelConfig)


@dataclass
class TrainConfig:
    epochs: int = param(100, ge=1, help="training epochs")
    batch_size: int = param(8, ge=1, help="images per rank per step (global = this x ranks)")
    optimizer: Literal["adam", "sgd"] = param("adam", help="Adam, or SGD with momentum 0.9")
    lr_init: float = param(1e-4, gt=0, help="peak learning rate for one rank")
    lr_end: float = param(1e-6, ge=0, help="final learning rate of the cosine decay")
    warmup_epochs: float = param(4.0, ge=0, help="linear warm-up length in epochs")
    lr_scaling: Literal["linear", "sqrt", "none"] = param(
        "linear", help="peak LR multiplied by ranks (linear), sqrt(ranks), or unchanged"
    )
    augment_prob: float = param(0.5, ge=0, le=1, help="probability of each flip/transpose")
    augment_shift: float = param(
        0.0, ge=0, lt=0.5, help="largest random translation, as a fraction of the image side"
    )
    augment_on: Literal["auto", "host", "device"] = param(
        "auto",
        help="where flips and translations run: host (the input pipeline's threads), device "
        "(the training step, on its GPU: the host only reads) or auto (device when TensorFlow "
        "sees a GPU); both give the same pixels",
    )
    read_run: int = param(
        1,
        ge=1,
        help="images read as one run of consecutive images of a shard (1: every image drawn on "
        "its own; larger: sequential reads from shards on a parallel file system)",
    )
    shuffle_buffer: int = param(
        0,
        ge=0,
        help="with read_run > 1: images shuffled within windows of this many (0: runs only)",
    )
    checkpoint_every: int = param(0, ge=0, help="also checkpoint every N steps (0: epoch ends)")
    keep_checkpoints: int = param(3, ge=1, help="checkpoints kept on disk")
    resume: Literal["auto", "never", "must"] = param(
        "auto", help="continue from the latest checkpoint in <run.dir>/checkpoints"
    )
    max_steps_per_epoch: int = param(0, ge=0, help="cap on steps per epoch (0: whole split)")
    validate: bool = param(True, help="compute the validation loss at every epoch end")
    max_valid_steps: int = param(
        0, ge=0, help="cap on validation batches per epoch end (0: the whole valid split)"
    )
    mixed_precision: bool = param(False, help="float16 compute (GPUs with tensor cores)")
    xla: bool = param(False, help="compile the train step with XLA")
    deterministic: bool = param(True, help="deterministic TensorFlow ops (exact resume on CPU)")
    stall_timeout_s: int = param(
        900,
        ge=0,
        help="Horovod ends the job when ranks wait this long for a stalled one (0: never)",
    )
    allreduce_compression: Literal["none", "fp16"] = param(
        "none", help="fp16: gradients cross the all-reduce as float16 (half the bytes)"
    )
    fusion_threshold_mb: float = param(
        64.0, ge=0, help="Horovod's tensor fusion buffer in MiB (HOROVOD_FUSION_THRESHOLD; 0: off)"
    )
    cycle_time_ms: float = param(
        0.0, ge=0, help="Horovod's wait between fusion cycles (HOROVOD_CYCLE_TIME; 0: its default)"
    )
    log_every: int = param(10, ge=1, help="steps between log lines and TensorBoard points")


@dataclass
class FootprintConfig:
    kind: Literal["dr8", "rect"] = param(
        "dr8", help="SDSS DR8 window (`randomsdss` mangle polygons, 8,080 deg^2) or an RA/Dec box"
    )
    nside: int = param(1024, ge=1, le=8192, help="HEALPix nside of footprint.fits (power of 2)")
    ra: list[float] = param([140.0, 220.0], ge=0, le=360, help="rect: RA range in degrees")
    dec: list[float] = param([0.0, 40.0], ge=-90, le=90, help="rect: Dec range in degrees")


@dataclass
class ClustersConfig:
    n: int = param(0, ge=0, help="number of clusters; 0 = density x footprint area")
    density: float = param(2.6, gt=0, help="clusters per deg^2 when n = 0 (redMaPPer DR8: ~2.6)")
    z_min: float = param(0.08, gt=0, help="lowest redshift (comoving-volume distribution)")
    z_max: float = param(0.6, le=0.6, help="highest redshift (m* and colour tables end at 0.6)")
    lambda_min: float = param(20.0, gt=0, help="lowest richness")
    lambda_max: float = param(300.0, gt=0, help="highest richness")
    lambda_slope: float = param(-3.0, lt=-1, help="power-law slope of dN/dlambda")
    companion_fraction: float = param(
        0.125, ge=0, lt=1, help="fraction of clusters placed as companions around a parent"
    )
    companion_arcmin: float = param(4.0, gt=0, help="rms offset of a companion from its parent")
    mean_p: float = param(0.8, gt=0, le=1, help="<P> of members: a cluster has lambda/<P> members")
    concentration: float = param(4.0, gt=0, help="NFW concentration of the member distribution")
    bcg_gap: float = param(1.5, ge=0, help="BCG magnitude brighter than m*")
    schechter_alpha: float = param(-1.0, help="faint-end slope of the member luminosity function")
    colour_scatter: float = param(0.05, ge=0, help="red-sequence colour scatter in mag")
    spec_fraction: float = param(0.1, ge=0, le=1, help="members with a spectroscopic redshift")
    bcg_spec_mag: float = param(
        19.0, help="BCGs brighter than this observed i can have a spectroscopic redshift"
    )
    bcg_spec_fraction: float = param(
        0.8, ge=0, le=1, help="chance that a BCG brighter than bcg_spec_mag has Z_SPEC"
    )
    mass_pivot_log10: float = param(
        14.344, help="log10 M/(Msun/h) at lambda = 40 of the mass-richness relation"
    )
    mass_slope: float = param(1.33, help="slope of M ~ lambda^slope (Simet et al. 2017)")
    mass_scatter: float = param(0.25, ge=0, help="scatter of ln M at fixed lambda")


@dataclass
class SkyObjectsConfig:
    galaxy_density: float = param(4000.0, ge=0, help="field galaxies per deg^2 brighter than r=21")
    galaxy_slope: float = param(0.45, gt=0, help="d log10 N / dm of field galaxy counts")
    star_density: float = param(1000.0, ge=0, help="stars per deg^2 brighter than r=21")
    star_slope: float = param(0.25, gt=0, help="d log10 N / dm of star counts")
    mag_limit: float = param(23.0, gt=15, help="faintest r magnitude rendered for field objects")


@dataclass
class CutoutsConfig:
    clusters: int = param(0, ge=0, help="cluster cutouts to render (random subset); 0 = all")
    empty: int = param(0, ge=0, help="empty-field cutouts to render")
    size: int = param(256, ge=16, help="cutout side in pixels")
    scale: float = param(3.169016, gt=0, help="arcsec/px (SDSS native 0.396127; x2, x4, x8)")
    max_offset_arcmin: float = param(0.0, ge=0, help="random offset of the centre from the cluster")
    empty_min_arcmin: float = param(20.0, ge=0, help="empty field: nearest cluster at least this")
    empty_max_arcmin: float = param(300.0, gt=0, help="empty field: nearest cluster at most this")


@dataclass
class ImagingConfig:
    psf_fwhm: float = param(1.4, gt=0, help="PSF FWHM in arcsec")
    depth: list[float] = param(
        [22.2, 22.2, 21.3], help="5-sigma point-source depths g, r, i (AB mag)"
    )
    rgb_q: float = param(8.0, gt=0, help="make_lupton_rgb Q (asinh softening)")
    rgb_stretch: float = param(15.0, gt=0, help="make_lupton_rgb stretch, in units of r sky sigma")
    rgb_scales: list[float] = param(
        [1.0, 1.25, 1.9], help="multipliers of the i, r, g images (R, G, B channels)"
    )
    jpeg_quality: int = param(90, ge=1, le=100, help="JPEG quality")


@dataclass
class GalaxiesConfig:
    write: bool = param(
        False, help="also write <data.root>/galaxies/galaxies.fits (the `prep query` layout)"
    )
    radius_r_lambda: float = param(
        1.5, gt=0, help="galaxies within this many R_lambda of each cluster centre"
    )
    mag_margin: float = param(
        0.5, help="galaxies brighter in i than m*(z) + 1.75 (0.2 L*) + this margin"
    )


@dataclass
class SimulateConfig:
    images: bool = param(True, help="render cutout JPEGs (false: catalogues only)")
    gallery: int = param(0, ge=0, help="write this many annotated PNGs to <data.root>/gallery")
    h0: float = param(70.0, gt=0, help="Hubble constant of the flat LCDM cosmology (km/s/Mpc)")
    om0: float = param(0.3, gt=0, lt=1, help="matter density of the flat LCDM cosmology")
    footprint: FootprintConfig = field(default_factory=FootprintConfig)
    clusters: ClustersConfig = field(default_factory=ClustersConfig)
    sky: SkyObjectsConfig = field(default_factory=SkyObjectsConfig)
    cutouts: CutoutsConfig = field(default_factory=CutoutsConfig)
    imaging: ImagingConfig = field(default_factory=ImagingConfig)
    galaxies: GalaxiesConfig = field(default_factory=GalaxiesConfig)


@dataclass
class EvaluateConfig:
    out: str = param("", help="directory for metrics.json, report.md, plots/; '' = <run.dir>")
    checkpoint: str = param(
        "final", help="weights: 'final' (final.weights.h5), 'latest' checkpoint, or a path"
    )
    batch_size: int = param(16, ge=1, help="images per inference batch (per rank)")
    recalibrate_bn: int = param(
        0, ge=0, help="re-estimate batch-norm statistics on this many training images (0: off)"
    )
    report_on: Literal["test", "valid"] = param(
        "test",
        help="run's own survey: report on test, or on half of valid (tuned on the other half; "
        "test not read), for choices made before the test split is read once",
    )
    matching: Literal["optimal", "legacy_count"] = param(
        "optimal", help="one-to-one Hungarian matching, or the seed's per-image box counting"
    )
    criterion: Literal["iou", "centre"] = param(
        "iou", help="a prediction matches a truth box by IoU or by centre distance"
    )
    iou_threshold: float = param(0.5, gt=0, le=1, help="criterion iou: minimum IoU of a match")
    centre_arcmin: float = param(
        1.0, gt=0, help="criterion centre: maximum centre distance of a match (arcmin)"
    )
    min_area_fraction: float = param(
        0.5, ge=0, le=1, help="truth boxes less inside the image are ignored (seed w_thres)"
    )
    score_min: float = param(0.01, gt=0, lt=1, help="lowest score threshold of the sweep")
    score_max: float = param(0.99, gt=0, lt=1, help="highest score threshold of the sweep")
    score_steps: int = param(99, ge=2, help="thresholds in the sweep (0.01 steps by default)")
    operating_point: Literal["max_min", "equal"] = param(
        "max_min", help="threshold chosen on valid: max of min(C, P), or where C = P"
    )
    score_threshold: float = param(
        0.0, ge=0, lt=1, help="fixed operating threshold (0: choose it on the validation split)"
    )
    nms: Literal["nms", "soft-nms"] = param("nms", help="greedy NMS or soft-NMS")
    nms_iou: float = param(0.45, gt=0, le=1, help="NMS IoU above which boxes are suppressed")
    nms_sigma: float = param(0.3, gt=0, help="soft-NMS Gaussian sigma")
    sky_radius_arcmin: float = param(
        1.5,
        gt=0,
        help="figures on the sky: a merged detection within this of a catalogue cluster is it",
    )
    select_lambda_min: float = param(20.0, ge=0, help="headline completeness: lambda >= this")
    select_z: list[float] = param([0.1, 0.6], ge=0, help="headline completeness: z_min < z < z_max")
    z_bins: list[float] = param(
        [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6],
        help="redshift bin edges of the binned tables",
    )
    lambda_bins: list[float] = param(
        [20, 25, 30, 40, 50, 70, 100, 150, 300], help="richness bin edges"
    )
    mass_bins: list[float] = param(
        [14.0, 14.1, 14.2, 14.3, 14.45, 14.6, 14.8, 15.0, 15.4],
        help="log10 M bin edges (Simet: M = 10^14.344 (lambda/40)^1.33)",
    )
    separation_bins: list[float] = param(
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0],
        ge=0,
        help="edges (arcmin) of the companions' completeness table: the other clusters in a "
        "cutout by their distance from its centre, where the cluster it shows lies",
    )
    outlier: float = param(0.05, gt=0, help="regression outlier: |dz|/(1+z) above this (or 0.15)")
    baseline_photoz: str = param(
        "ZRED",
        help="packed member column whose median is the z baseline of the z heads "
        "(must be in prep.pack.member_features; real DR8 members have no ZRED)",
    )
    gallery: int = param(12, ge=0, help="images in the detection gallery plot")
    false_positive_rate: float = param(
        0.05, gt=0, lt=1, help="cnn: the threshold is where this FPR is reached on valid"
    )
    gradcam: int = param(4, ge=0, help="cnn: cutouts shown with their Grad-CAM maps")


@dataclass
class DetectConfig:
    images: str = param(
        "", help="image folder (+ <stem>.txt RA/Dec), cutout table (FILE, RA, DEC) or packed dir"
    )
    splits: list[Literal["train", "valid", "test"]] = param(
        ["train", "valid", "test"], help="splits to run on when detect.images is a packed dir"
    )
    out: str = param("catalog.fits", help="output FITS catalogue")
    scale: float = param(0.0, ge=0, help="arcsec/px of images without one (0: prep.scale)")
    score_threshold: float = param(
        0.0, ge=0, lt=1, help="keep detections above this (0: <run.dir>/metrics.json, else 0.5)"
    )
    merge_arcmin: float = param(1.0, ge=0, help="detections closer than this are one cluster")
    batch_size: int = param(16, ge=1, help="images per inference batch (per rank)")


@dataclass
class DownloadConfig:
    base_url: str = param(
        "https://skyserver.sdss.org/dr16/SkyServerWS/ImgCutout/getjpeg",
        help="SkyServer ImgCutout getjpeg URL (ra, dec, scale, width, height query parameters)",
    )
    positions: str = param(
        "",
        help="cutout table FILE, RA, DEC[, SCALE, SIZE] (FITS, ECSV or CSV; FILE relative to "
        "data.root); '' = every cluster plus the empty fields of `prep empty`",
    )
    empty: bool = param(True, help="with positions '': also the empty fields (sidecars too)")
    threads: int = param(8, ge=1, help="concurrent requests per process")
    rate: float = param(
        10.0, ge=0, help="requests per second, all processes together (0: unlimited)"
    )
    timeout: float = param(60.0, gt=0, help="seconds to wait for the server (connect and read)")
    retries: int = param(
        5, ge=0, help="retries after timeouts, resets, 5xx and truncated or wrong images"
    )
    backoff: float = param(1.0, ge=0, help="first retry wait in s, doubled each time (+ jitter)")
    backoff_max: float = param(120.0, ge=0, help="longest wait between retries (and Retry-After)")
    part: int = param(0, ge=0, help="this process's share of the list: every parts-th, from part")
    parts: int = param(1, ge=1, help="shares the list is cut into (a Slurm job array's tasks)")
    manifest: str = param(
        "", help="manifest CSV; '' = <data.root>/download/manifest[-part-K-of-N].csv"
    )


@dataclass
class QueryConfig:
    url: str = param(
        "https://skyserver.sdss.org/dr16/SkyServerWS/SearchTools/SqlSearch",
        help="SkyServer SQL search URL (cmd= the query, format=csv)",
    )
    table: str = param("PhotoPrimary", help="the table or view queried")
    columns: list[str] = param(
        ["objID", "ra", "dec", "type", "modelMag_u", "modelMag_g", "modelMag_r", "modelMag_i",
         "modelMag_z", "modelMagErr_u", "modelMagErr_g", "modelMagErr_r", "modelMagErr_i",
         "modelMagErr_z"],
        help="columns fetched (objID, ra and dec always)",
    )  # fmt: skip
    where: str = param("type = 3", help="extra SQL condition ('type = 3': galaxies)")
    half_size_arcmin: float = param(
        0.0, ge=0, help="half side of the box around each cluster; 0 = half the cutout"
    )
    batch: int = param(20, ge=1, help="clusters per request (one OR of their boxes)")
    max_rows: int = param(500000, ge=1, help="the service's row cap: a full reply is an error")
    rate: float = param(1.0, ge=0, help="requests per second, all processes together")
    threads: int = param(2, ge=1, help="concurrent requests per process")
    out: str = param("", help="output folder; '' = <data.root>/galaxies")


@dataclass
class Config:
    seed: int = param(
        42, ge=0, help="random seed of every stage: mock survey, splits, anchors, weights, shuffles"
    )
    data: DataConfig = field(default_factory=DataConfig)
    run: RunConfig = field(default_factory=RunConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    prep: PrepConfig = field(default_factory=PrepConfig)
    download: DownloadConfig = field(default_factory=DownloadConfig)
    query: QueryConfig = field(default_factory=QueryConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {data!r}")
    return data


def _merge(
    base: dict[str, Any],
    top: Mapping[str, Any],
    source: str,
    sources: dict[str, str],
    prefix: str = "",
) -> None:
    """Merge `top` into `base` in place, recording where every leaf key came from."""
    for key, value in top.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, source, sources, dotted + ".")
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value
            sources[dotted] = source


def _load_chain(path: Path, sources: dict[str, str], seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: 'base' chain loops back to this file")
    data = _read_yaml(path)
    base_name = data.pop("base", None)
    merged: dict[str, Any] = {}
    if base_name is not None:
        if not isinstance(base_name, str):
            raise ConfigError(f"{path}: base = {base_name!r}: expected a file name")
        merged = _load_chain(path.parent / base_name, sources, (*seen, path))
    _merge(merged, data, str(path), sources)
    return merged


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """`['train.epochs=3', 'data.root=/x']` -> nested dict; values are parsed as YAML scalars."""
    nested: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"command line: override {item!r}: expected key.sub=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"command line: override {item!r}: value is not valid YAML") from exc
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"command line: override {item!r} conflicts with another")
        node[leaf] = value
    return nested


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> Config:
    """Load a config file (or the defaults when `path` is None) and apply overrides."""
    sources: dict[str, str] = {}
    data = _load_chain(Path(path), sources) if path is not None else {}
    _merge(data, parse_overrides(overrides), "command line", sources)
    return from_dict(Config, data, sources, default_source=str(path or "defaults"))


def to_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def write_resolved(cfg: Config, directory: str | Path, name: str = "config.yaml") -> Path:
    """Write the fully resolved config next to a stage's outputs; returns the file written."""
    path = Path(directory) / name
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return path
