"""`clusterhpc doctor`: is this machine (or container) able to run clusterhpc, and if not, why.

Heavy or crash-prone probes (TensorFlow, Horovod, MPI) run in child processes with a time
limit, so a broken library is reported as a failed row instead of killing the doctor.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from clusterhpc.hpc.env import rank_info
from clusterhpc.keras_compat import installed_tensorflow_release, major_minor, tf_keras_requirement

OK, WARN, FAIL = "ok", "warn", "FAIL"

_TF_PROBE = """
import importlib.metadata, json, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from clusterhpc.keras_compat import import_keras
tf, keras = import_keras()
keras_version = getattr(keras, "__version__", None) or importlib.metadata.version(
    "tf_keras" if keras.__name__.startswith("tf_keras") else "keras")
print(json.dumps({"tf": tf.__version__, "keras": keras_version,
                  "gpus": len(tf.config.list_physical_devices("GPU")),
                  "cuda": bool(tf.test.is_built_with_cuda())}))
"""

_HOROVOD_PROBE = """
import json, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import horovod
import horovod.tensorflow as hvd
hvd.init()
out = {"version": horovod.__version__, "mpi": hvd.mpi_built(), "gloo": hvd.gloo_built(),
       "nccl": bool(hvd.nccl_built()), "size": hvd.size(), "mpi_enabled": hvd.mpi_enabled()}
hvd.shutdown()
print(json.dumps(out))
"""

_MPI_PROBE = """
import json
import mpi4py
from mpi4py import MPI
print(json.dumps({"mpi4py": mpi4py.__version__,
                  "library": MPI.Get_library_version().replace("\\x00", "").split(",")[0].strip(),
                  "size": MPI.COMM_WORLD.Get_size()}))
"""


@dataclass(frozen=True)
class Check:
    component: str
    status: str
    detail: str
    fix: str = ""


def _probe(code: str, timeout: float = 120.0) -> tuple[dict | None, str]:
    """Run `code` in a fresh interpreter; its last stdout line is JSON."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return None, lines[-1] if lines else f"exit code {proc.returncode}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), ""


def _version(module: str) -> str | None:
    try:
        imported = importlib.import_module(module)
    except Exception:
        return None
    return str(getattr(imported, "__version__", None) or getattr(imported, "version", "?"))


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("python", OK, f"{version} ({sys.executable})")


def installed_version(dist: str) -> str | None:
    """Version of an installed distribution, read without importing it."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_stack(
    python: tuple[int, int], tensorflow: str | None, tf_keras: str | None, horovod: str | None
) -> Check:
    """Which supported stack these versions form (setup.cfg pins them), or what is wrong.

    reference: Python 3.11 + TensorFlow 2.15 (Keras 2 built in); second: Python 3.12 +
    TensorFlow 2.16-2.18 + tf_keras of the same minor release. Horovod 0.28.1 on both.
    """
    py = "{}.{}".format(*python)
    if python >= (3, 13):
        return Check(
            "stack",
            FAIL,
            f"Python {py} is not supported by TensorFlow+Horovod here",
            "install Python 3.12 or 3.11, then: PYTHON=python3.12 make install (its own venv)",
        )
    if tensorflow is None:
        return Check("stack", FAIL, f"Python {py}, no TensorFlow", "make install")
    tf = major_minor(tensorflow)
    if tf >= (2, 19):
        return Check(
            "stack",
            FAIL,
            f"Python {py}, TensorFlow {tensorflow}: Horovod 0.28.1 does not build on TF >= 2.19",
            "pip install -e '.[cpu]' (TensorFlow 2.15 on Python 3.11, 2.17 on 3.12)",
        )
    if tf <= (2, 15):
        keras = "Keras 2 built in"
    else:
        keras = f"tf_keras {tf_keras}" if tf_keras else "Keras 3, no tf_keras"
    detail = f"Python {py}, TensorFlow {tensorflow} ({keras}), Horovod {horovod or 'missing'}"
    needed = tf_keras_requirement(tf)
    if needed and (tf_keras is None or major_minor(tf_keras) != tf):
        return Check(
            "stack",
            FAIL,
            f"{detail}: Horovod needs the Keras 2 API of TensorFlow's minor release",
            f"pip install --no-deps '{needed}' (scripts/install-tf-keras.sh)",
        )
    if python == (3, 11) and tf == (2, 15):
        name = "reference"
    elif python == (3, 12) and (2, 16) <= tf <= (2, 18):
        name = "second"
    else:
        return Check(
            "stack",
            WARN,
            f"untested: {detail}",
            "tested: Python 3.11 + TensorFlow 2.15 (make install), "
            "Python 3.12 + TensorFlow 2.17 + tf_keras (PYTHON=python3.12 make install)",
        )
    if horovod not in (None, "0.28.1"):
        return Check("stack", WARN, f"{name} with untested Horovod: {detail}", "make install")
    return Check("stack", OK, f"{name}: {detail}")


def check_libraries() -> list[Check]:
    rows = []
    for module in (
        "numpy",
        "scipy",
        "astropy",
        "healpy",
        "h5py",
        "hdf5plugin",
        "matplotlib",
        "yaml",
        "tqdm",
        "submitit",
        "PIL",
    ):
        version = _version(module)
        if version is None:
            rows.append(Check(module, FAIL, "not importable", "pip install -e . (or make install)"))
        else:
            rows.append(Check(module, OK, version))
    return rows


def check_tensorflow() -> Check:
    info, error = _probe(_TF_PROBE)
    if info is None:
        return Check("tensorflow", FAIL, error, "pip install -e '.[cpu]' (or '.[gpu]' on GPUs)")
    gpus = f"{info['gpus']} GPU(s)" if info["gpus"] else "no GPU (CPU only)"
    detail = f"{info['tf']}, keras {info['keras']}, {gpus}, CUDA build: {info['cuda']}"
    return Check("tensorflow", OK, detail)


def check_horovod() -> Check:
    info, error = _probe(_HOROVOD_PROBE)
    if info is None:
        return Check("horovod", FAIL, error, f"bash scripts/install-horovod.sh {sys.executable}")
    built = [name for name in ("mpi", "gloo", "nccl") if info[name]]
    detail = f"{info['version']}, built with {'+'.join(built)}, ops load (hvd.init ok)"
    if not (info["mpi"] and info["gloo"]):
        return Check(
            "horovod",
            FAIL,
            detail,
            "rebuild: HOROVOD_WITH_MPI=1 HOROVOD_WITH_GLOO=1 scripts/install-horovod.sh",
        )
    return Check("horovod", OK, detail)


def check_mpi() -> list[Check]:
    rows = []
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        rows.append(Check("mpirun", WARN, "not on PATH", "scripts/install-system.sh (OpenMPI)"))
    else:
        out = subprocess.run([mpirun, "--version"], capture_output=True, text=True)
        rows.append(Check("mpirun", OK, (out.stdout or out.stderr).strip().splitlines()[0]))
    info, error = _probe(_MPI_PROBE, timeout=60)
    if info is None:
        rows.append(
            Check(
                "mpi4py",
                FAIL,
                error,
                "pip install 'mpi4py>=4,<5' against the MPI you launch with; "
                "under Slurm use srun --mpi=pmix",
            )
        )
    else:
        rows.append(Check("mpi4py", OK, f"{info['mpi4py']}, {info['library']}"))
    return rows


def check_slurm() -> list[Check]:
    commands = ("sbatch", "srun", "squeue", "sacct", "scancel")
    missing = [c for c in commands if shutil.which(c) is None]
    if missing:
        rows = [
            Check(
                "slurm client",
                WARN,
                f"missing: {', '.join(missing)}",
                "only needed to submit jobs (slurm-client package or your site module)",
            )
        ]
    else:
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%P %a %D %t"], capture_output=True, text=True, timeout=30
        )
        state = proc.stdout.strip().replace("\n", "; ") if proc.returncode == 0 else "unreachable"
        status = OK if proc.returncode == 0 else WARN
        fix = "" if status == OK else "no controller answers (local: tests/slurm/local-cluster.sh)"
        rows = [Check("slurm client", status, f"commands found; partitions: {state}", fix)]
    job = os.environ.get("SLURM_JOB_ID")
    info = rank_info()
    where = f"inside job {job}, rank {info.rank}/{info.size}" if job else "not inside a Slurm job"
    rows.append(Check("slurm job", OK, where))
    return rows


def check_apptainer() -> Check:
    for name in ("apptainer", "singularity"):
        path = shutil.which(name)
        if path:
            out = subprocess.run([path, "--version"], capture_output=True, text=True)
            return Check("apptainer", OK, out.stdout.strip() or path)
    inside = os.environ.get("APPTAINER_CONTAINER") or os.environ.get("SINGULARITY_CONTAINER")
    if inside:
        return Check("apptainer", OK, f"running inside image {inside}")
    return Check("apptainer", WARN, "not found", "only needed to run the container image")


def run_checks() -> list[Check]:
    return [
        check_python(),
        check_stack(
            sys.version_info[:2],
            installed_tensorflow_release(),
            installed_version("tf_keras"),
            installed_version("horovod"),
        ),
        *check_libraries(),
        check_tensorflow(),
        check_horovod(),
        *check_mpi(),
        *check_slurm(),
        check_apptainer(),
    ]


def format_table(rows: list[Check]) -> str:
    headers = ("component", "status", "detail")
    width = [
        max(len(headers[0]), *(len(r.component) for r in rows)),
        max(len(headers[1]), *(len(r.status) for r in rows)),
    ]
    lines = [
        f"{headers[0]:<{width[0]}}  {headers[1]:<{width[1]}}  {headers[2]}",
        f"{'-' * width[0]}  {'-' * width[1]}  {'-' * 40}",
    ]
    for r in rows:
        lines.append(f"{r.component:<{width[0]}}  {r.status:<{width[1]}}  {r.detail}")
        if r.fix and r.status != OK:
            lines.append(f"{'':<{width[0]}}  {'':<{width[1]}}  -> fix: {r.fix}")
    return "\n".join(lines)


def main() -> int:
    """Print the table; exit status 1 when a required piece is broken."""
    rows = run_checks()
    print(format_table(rows))
    failed = [r.component for r in rows if r.status == FAIL]
    if failed:
        print(f"\nbroken: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("\nall required pieces work")
    return 0
