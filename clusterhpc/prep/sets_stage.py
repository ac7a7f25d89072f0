"""`clusterhpc prep sets CONFIG`: member sets of the whole catalogue into HDF5 shards.

Reads `catalog.fits` and `members.fits` (real redMaPPer or simulated), the galaxies around
each cluster in the `prep query` layout when there are any (`prep.sets.galaxies`; the mock
survey writes them with `simulate.galaxies.write`), and, for a simulated survey, the true z,
lambda, centre and mass of `truth.fits`. Real catalogues get z = Z_SPEC where > 0, else
Z_LAMBDA, and lambda = LAMBDA; their mass is unknown (NaN). `prep.member_sets` builds the sets,
then whole sky groups go to one split: apertures whose squares overlap (`prep.sky_groups`)
never straddle splits, and a cluster's non-member set follows its member set. Shards, the
index and `sets_report.json` go to `prep.sets.out` (default `<data.root>/sets`); a rerun with
the same inputs (by content) and settings does nothing.

The work is a few vectorised numpy passes over the catalogue (seconds for 10^5 clusters), so
rank 0 does it and the other ranks wait; the shards are then readable by every rank.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from clusterhpc import ragged
from clusterhpc.config import Config
from clusterhpc.errors import DataError
from clusterhpc.hpc.mpi import get_comm
from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.io.content import HashCache, digest_files
from clusterhpc.io.redmapper import Clusters, read_clusters, read_optional_columns
from clusterhpc.io.set_shards import (
    GALAXY_COLUMNS,
    INDEX,
    MemberSets,
    shard_name,
    write_shard,
)
from clusterhpc.log import get_logger
from clusterhpc.paths import sets_dir, survey_dir, survey_path
from clusterhpc.prep.member_sets import (
    QUERY_COLUMNS,
    Catalogue,
    aperture_candidates,
    build_sets,
    r_lambda_arcmin,
)
from clusterhpc.prep.sky_groups import sky_groups
from clusterhpc.prep.split import SPLITS, assign_groups
from clusterhpc.sky.geometry import separation

log = get_logger("prep.sets")
SETS_STREAM = 101  # the random stream of set building (contamination, negatives)
MAGS = tuple(c for c in GALAXY_COLUMNS if c.startswith("MODEL_MAG"))
QUERY_UPPER = tuple(q.upper() for q in QUERY_COLUMNS)  # as read_columns names them; zred last
GALAXY_NAMES = {q.upper(): name for q, name in QUERY_COLUMNS.items()}


def galaxies_path(cfg: Config) -> Path | None:
    """The galaxy table of `prep.sets.galaxies`, or `<query.out>/galaxies.fits` if it exists."""
    if cfg.prep.sets.galaxies:
        path = survey_path(cfg, cfg.prep.sets.galaxies)
        if not path.exists():
            raise DataError(f"{path}: prep.sets.galaxies names a file that does not exist")
        return path
    default = survey_path(cfg, cfg.query.out or "galaxies") / "galaxies.fits"
    return default if default.exists() else None


def truth_path(cfg: Config) -> Path | None:
    path = survey_dir(cfg) / "truth.fits"
    return path if cfg.data.simulated and path.exists() else None


def input_files(cfg: Config) -> list[Path]:
    """Every file the sets are built from (their content keys the shards)."""
    root = survey_dir(cfg)
    extra = [p for p in (galaxies_path(cfg), truth_path(cfg)) if p is not None]
    return [root / "catalog.fits", root / "members.fits", *extra]


def _rows_by_id(
    ids: np.ndarray, catalogue_ids: np.ndarray, what: str, table: str = "catalog.fits"
) -> np.ndarray:
    """Row in `table` (IDs `catalogue_ids`) of every ID; DataError naming the first unknown."""
    order = np.argsort(catalogue_ids)
    pos = np.clip(
        np.searchsorted(catalogue_ids[order], ids), 0, max(ids.size and order.size - 1, 0)
    )
    found = catalogue_ids[order][pos] == ids if order.size else np.zeros(ids.size, bool)
    if not found.all():
        raise DataError(f"{what}: ID {int(ids[~found][0])} is not in {table}")
    return order[pos]


def _pair_keys(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """One int64 key per (cluster row, objID) pair of two lists, equal for equal pairs."""
    _, dense = np.unique(np.concatenate([a[1], b[1]]), return_inverse=True)
    width = int(dense.max(initial=0)) + 1
    keys = np.concatenate([a[0], b[0]]).astype(np.int64) * width + dense
    return keys[: a[0].size], keys[a[0].size :]


def _table(columns: dict[str, np.ndarray], n: int, names: tuple[str, ...]) -> np.ndarray:
    """(n, len(names)) float32 of the named columns, NaN for those missing and for
    magnitudes outside 0-40 (SDSS writes -9999 for none)."""
    out = np.full((n, len(names)), np.nan, np.float32)
    for k, name in enumerate(names):
        if name in columns:
            out[:, k] = columns[name]
            if name.startswith("MODEL_MAG"):
                out[(out[:, k] < 0) | (out[:, k] > 40), k] = np.nan
    return out


def _same_columns(members: np.ndarray, others: np.ndarray, path: Path) -> None:
    """Blank, in both tables, the columns one of them lacks entirely: a value present only
    for members would tell them from non-members by itself."""
    for k, name in enumerate(GALAXY_COLUMNS):
        if name in ("P", "P_FREE") or not len(members) or not len(others):
            continue
        lack = np.isnan(members[:, k]).all(), np.isnan(others[:, k]).all()
        if lack[0] != lack[1]:
            log.warning(
                "prep sets: %s is missing in %s: left out for members and non-members alike",
                name,
                "members.fits" if lack[0] else path,
            )
            members[:, k] = others[:, k] = np.nan


def _truth(cfg: Config, clusters: Clusters, z_spec: np.ndarray) -> dict[str, np.ndarray]:
    """Per-cluster targets: from truth.fits for a simulated survey, else the catalogue."""
    n = len(clusters)
    meta = {
        "id": clusters.id,
        "ra": clusters.ra,
        "dec": clusters.dec,
        "z_lambda": clusters.z,
        "z_spec": z_spec,
        "lam_catalog": clusters.lam,
        "true_ra": clusters.ra,
        "true_dec": clusters.dec,
        "z": np.where(z_spec > 0, z_spec, clusters.z),
        "lam": clusters.lam,
        "ln_mass": np.full(n, np.nan),
    }
    path = truth_path(cfg)
    if path is None:
        return meta
    truth = read_optional_columns(path, ("ID", "RA", "DEC", "Z", "LAMBDA"), ("LN_MASS",))
    rows = _rows_by_id(clusters.id, truth["ID"], clusters.path, path.name)
    meta.update(
        true_ra=truth["RA"][rows],
        true_dec=truth["DEC"][rows],
        z=truth["Z"][rows],
        lam=truth["LAMBDA"][rows],
        ln_mass=truth.get("LN_MASS", np.full(len(truth["ID"]), np.nan))[rows],
    )
    return meta


def _check_coverage(
    path: Path,
    clusters: Clusters,
    aperture: np.ndarray,
    owner: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
) -> None:
    """Warn when the galaxy table does not reach the apertures (a query box smaller than
    them): non-member sets would then be more compact than member sets, a false signal."""
    reach = np.zeros(len(clusters))
    sep = np.degrees(separation(clusters.ra[owner], clusters.dec[owner], ra, dec)) * 60.0
    np.maximum.at(reach, owner, sep)
    short = reach < 0.9 * aperture
    if short.mean() > 0.1:
        log.warning(
            "prep sets: for %.0f %% of the clusters the galaxies of %s stop short of 0.9 of the "
            "aperture (%.1f' at the median): raise query.half_size_arcmin above "
            "prep.sets.aperture_r_lambda x R_lambda, or lower the latter",
            100 * short.mean(),
            path,
            float(np.median(aperture)),
        )


def _aperture_non_members(
    path: Path,
    clusters: Clusters,
    aperture: np.ndarray,
    owner: np.ndarray,
    mem: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rows of the galaxy table `path` that are aperture non-members of their cluster,
    grouped by cluster: (rows, offsets per cluster, their RA/Dec, their galaxy columns with
    P = P_FREE = 0). `owner` and `mem` are the members' cluster rows and columns."""
    gal = read_optional_columns(
        path, ("CLUSTER_ID", "OBJID", "RA", "DEC", *QUERY_UPPER[:-1]), QUERY_UPPER[-1:]
    )
    gal = {GALAXY_NAMES.get(k, k): v for k, v in gal.items()}
    g_owner = _rows_by_id(gal["CLUSTER_ID"], clusters.id, str(path))
    is_own = np.isin(*_pair_keys((g_owner, gal["OBJID"]), (owner, mem["OBJID"])))
    faintest = np.full(len(clusters), -np.inf)
    np.maximum.at(faintest, owner, mem["MODEL_MAG_I"])
    keep = aperture_candidates(
        clusters.ra,
        clusters.dec,
        aperture,
        faintest,
        g_owner,
        gal["RA"],
        gal["DEC"],
        gal["MODEL_MAG_I"],
        is_own,
    )
    _check_coverage(path, clusters, aperture, g_owner, gal["RA"], gal["DEC"])
    rows = np.flatnonzero(keep)
    rows = rows[np.argsort(g_owner[rows], kind="stable")]
    offsets = ragged.offsets_from_counts(np.bincount(g_owner[rows], minlength=len(clusters)))
    table = _table({k: v[rows] for k, v in gal.items()}, rows.size, GALAXY_COLUMNS)
    table[:, GALAXY_COLUMNS.index("P")] = 0.0
    table[:, GALAXY_COLUMNS.index("P_FREE")] = 0.0
    return rows, offsets, np.column_stack([gal["RA"], gal["DEC"]])[rows], table


def read_catalogue(cfg: Config) -> Catalogue:
    """Clusters, their members and their aperture non-member candidates."""
    root = survey_dir(cfg)
    clusters = read_clusters(root / "catalog.fits")
    extra = read_optional_columns(root / "catalog.fits", (), ("Z_SPEC",))
    z_spec = extra.get("Z_SPEC", np.full(len(clusters), -1.0))
    meta = _truth(cfg, clusters, z_spec)
    aperture = cfg.prep.sets.aperture_r_lambda * r_lambda_arcmin(
        clusters.lam, clusters.z, cfg.simulate.h0, cfg.simulate.om0
    )
    meta["aperture_arcmin"] = aperture

    members_file = root / "members.fits"
    mem = read_optional_columns(
        members_file,
        ("ID", "RA", "DEC", *MAGS),
        ("P", "P_FREE", "ZRED", "OBJID"),
    )
    owner = _rows_by_id(mem["ID"], clusters.id, str(members_file))
    order = np.argsort(owner, kind="stable")
    n_mem = order.size
    mem_off = ragged.offsets_from_counts(np.bincount(owner, minlength=len(clusters)))
    meta["n_members"] = np.diff(mem_off)
    positions = [np.column_stack([mem["RA"], mem["DEC"]])[order]]
    galaxies = [_table({k: v[order] for k, v in mem.items()}, n_mem, GALAXY_COLUMNS)]
    field_rows, field_off = np.zeros(0, np.int64), np.zeros(len(clusters) + 1, np.int64)

    path = galaxies_path(cfg)
    opts = cfg.prep.sets
    if path is None and (opts.contamination > 0 or "detect" in cfg.model.sets.targets):
        raise DataError(
            f"{survey_path(cfg, cfg.query.out or 'galaxies') / 'galaxies.fits'}: no galaxies "
            "around the clusters, needed for prep.sets.contamination and a detect target: run "
            "`clusterhpc prep query` (real survey) or simulate with simulate.galaxies.write=true, "
            "or name the table in prep.sets.galaxies"
        )
    if path is None and opts.negatives > 0:
        log.warning(
            "prep sets: no galaxies around the clusters (prep.sets.galaxies): no non-member "
            "sets are built despite prep.sets.negatives = %g",
            opts.negatives,
        )
    if path is not None:
        if "OBJID" not in mem:
            raise DataError(
                f"{members_file}: no OBJID column, needed to tell members from the other "
                f"galaxies of {path}"
            )
        rows, field_off, position, table = _aperture_non_members(
            path, clusters, aperture, owner, mem
        )
        field_rows = n_mem + np.arange(rows.size)
        _same_columns(galaxies[0], table, path)
        positions.append(position)
        galaxies.append(table)
        log.info("prep sets: %d aperture non-members from %s", rows.size, path)
    return Catalogue(
        meta=meta,
        positions=np.concatenate(positions),
        galaxies=np.concatenate(galaxies),
        members=(np.arange(n_mem), mem_off.astype(np.int64)),
        field=(field_rows, field_off.astype(np.int64)),
    )


def split_sets(sets: MemberSets, fractions: list[float], seed: int) -> tuple[np.ndarray, dict]:
    """Split index per set: whole sky groups of clusters whose squares (holding the aperture
    and every galaxy of the cluster's sets) overlap, a cluster's sets together; each kind of
    set meeting the fractions; and the report."""
    meta = sets.meta
    ids, first, cluster_row = np.unique(meta["id"], return_index=True, return_inverse=True)
    # a square around each cluster holding its aperture and every galaxy of its sets
    owner = sets.set_index()
    sep = np.degrees(
        separation(meta["ra"][owner], meta["dec"][owner], sets.column("RA"), sets.column("DEC"))
    )
    reach = meta["aperture_arcmin"].astype(np.float64) / 60.0
    np.maximum.at(reach, owner, sep)
    radius = np.zeros(ids.size)
    np.maximum.at(radius, cluster_row, reach)
    side = 2.0 * radius * 3600.0
    group_of_cluster = sky_groups(meta["ra"][first], meta["dec"][first], side)
    group = group_of_cluster[cluster_row]
    split = assign_groups(group, fractions, seed, kind=meta["kind"].astype(np.int64))
    sizes = np.bincount(group_of_cluster)
    counts = {
        name: {
            "member_sets": int(np.sum((split == k) & (meta["kind"] == 0))),
            "non_member_sets": int(np.sum((split == k) & (meta["kind"] == 1))),
            "contaminated_sets": int(np.sum((split == k) & (meta["kind"] == 2))),
        }
        for k, name in enumerate(SPLITS)
    }
    report = {
        "asked": list(fractions),
        "groups": int(sizes.size),
        "largest_group": int(sizes.max(initial=0)),
        "splits": counts,
    }
    return split, report


def settings_fingerprint(cfg: Config) -> str:
    """The content of every input file and the settings the sets depend on."""
    root = survey_dir(cfg)
    cache = HashCache.for_dir(root)
    files = digest_files(input_files(cfg), cache, root)
    cache.save()
    values = {
        "files": files,
        "sets": dataclasses.asdict(cfg.prep.sets),
        "seed": cfg.seed,
        "cosmology": [cfg.simulate.h0, cfg.simulate.om0],
        "simulated": cfg.data.simulated,
    }
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def _write(
    cfg: Config, out: Path, sets: MemberSets, split: np.ndarray, fingerprint: str, report: dict
) -> None:
    """Shards per split, then the index (written last, so it names only whole shards)."""
    (out / INDEX).unlink(missing_ok=True)  # shards are rewritten: no index names a mix
    per_shard = cfg.prep.sets.shard_size
    index = {"fingerprint": fingerprint, "splits": {}, "report": report}
    for k, name in enumerate(SPLITS):
        rows = np.flatnonzero(split == k)
        n_shards = max(1, -(-rows.size // per_shard)) if rows.size else 0
        shards = []
        for i in range(n_shards):
            part = sets.take(rows[i * per_shard : (i + 1) * per_shard])
            file = shard_name(name, i, n_shards)
            write_shard(out / file, part, name, f"{fingerprint}:{name}:{i}")
            shards.append(file)
        split_print = hashlib.sha256(f"{fingerprint}:{name}".encode()).hexdigest()
        index["splits"][name] = {
            "shards": shards,
            "n_sets": int(rows.size),
            "fingerprint": split_print,
        }
    atomic_write_text(out / INDEX, json.dumps(index, indent=1))
    listed = {f for entry in index["splits"].values() for f in entry["shards"]}
    for stale in (f for split in SPLITS for f in out.glob(f"{split}-*-of-*.h5")):
        if stale.name not in listed:
            stale.unlink()


def main(cfg: Config) -> int:
    comm = get_comm()
    if comm.is_root:
        _run(cfg)
    comm.barrier()
    return 0


def _run(cfg: Config) -> None:
    out = sets_dir(cfg)
    fingerprint = settings_fingerprint(cfg)
    index = out / INDEX
    if index.exists() and json.loads(index.read_text()).get("fingerprint") == fingerprint:
        log.info("prep sets: %s is up to date", out)
        return
    catalogue = read_catalogue(cfg)
    sets, built = build_sets(
        catalogue, cfg.prep.sets, np.random.default_rng([cfg.seed, SETS_STREAM])
    )
    if len(sets) == 0:
        raise DataError(
            f"{survey_dir(cfg)}: no member set has {cfg.prep.sets.min_members} galaxies"
        )
    split, report = split_sets(sets, cfg.prep.sets.split, cfg.seed)
    report["built"] = dataclasses.asdict(built)
    _write(cfg, out, sets, split, fingerprint, report)
    atomic_write_text(out / "sets_report.json", json.dumps(report, indent=1))
    log.info(
        "prep sets: %d member sets, %d non-member and %d contaminated sets (%d too small, %d "
        "apertures without non-members) in %d sky groups (largest %d) -> %s; %s",
        built.member_sets,
        built.non_member_sets,
        built.contaminated_sets,
        built.too_small,
        built.without_non_members,
        report["groups"],
        report["largest_group"],
        out,
        ", ".join(
            f"{k} {v['member_sets']}+{v['non_member_sets']}+{v['contaminated_sets']}"
            for k, v in report["splits"].items()
        ),
    )
