"""`prep download` against a real local HTTP server playing SkyServer, with every fault the
issue lists: 500/503 with Retry-After, replies slower than the timeout, truncated bodies,
wrong image sizes, connection resets and 404s."""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from clusterhpc.cli import main as cli_main
from clusterhpc.io.cutouts import read_cutout_table
from clusterhpc.io.sidecars import read_position
from clusterhpc.skyserver.http import RequestRate
from clusterhpc.skyserver.imgcutout import jpeg_problem
from tests.conftest import ROOT, mpirun_command
from tests.prep.skyserver_stub import SLOW_S, Cutout, SkyServerStub, noise_jpeg

TINY = str(ROOT / "configs" / "tiny.yaml")
SIZE = 48

# name -> the server's behaviour on the 1st, 2nd, ... request; then whether it is obtainable
# and how many requests it should take.
SCRIPTS = {
    "plain": (["ok"], True, 1),
    "busy": (["503", "503", "ok"], True, 3),
    "error": (["500", "ok"], True, 2),
    "slow": (["slow", "ok"], True, 2),
    "cut": (["truncate", "ok"], True, 2),
    "small": (["wrongsize", "ok"], True, 2),
    "reset": (["reset", "ok"], True, 2),
    "gone": (["404"], False, 1),
    "down": (["503"], False, 4),  # 1 + download.retries
    "always_small": (["wrongsize"], False, 4),
}


def cutouts() -> list[Cutout]:
    return [
        Cutout(name, 10.0 + i * 0.5, -5.0 + i * 0.25, SIZE, list(script))
        for i, (name, (script, _, _)) in enumerate(SCRIPTS.items())
    ]


def write_positions(root: Path, items: list[Cutout]) -> Path:
    """A CSV list in the issue's form: name, ra, dec (lower case, as users write it)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "positions.csv"
    lines = ["name,ra,dec"] + [f"{c.name},{c.ra!r},{c.dec!r}" for c in items]
    path.write_text("\n".join(lines) + "\n")
    return path


def settings(root: Path, url: str, *extra: str) -> list[str]:
    return [
        TINY,
        f"data.root={root}",
        "data.simulated=false",
        f"prep.size={SIZE}",
        "download.positions=positions.csv",
        f"download.base_url={url}",
        "download.threads=4",
        "download.rate=0",
        "download.retries=3",
        "download.backoff=0.05",
        "download.backoff_max=2",
        f"download.timeout={SLOW_S / 3}",
        *extra,
    ]


def read_manifest(path: Path) -> dict[str, dict]:
    with path.open(newline="") as handle:
        return {Path(row["file"]).stem: row for row in csv.DictReader(handle)}


def test_every_obtainable_cutout_arrives_whole_and_the_manifest_says_how(tmp_path, capfd):
    root, items = tmp_path / "survey", cutouts()
    write_positions(root, items)
    with SkyServerStub(items) as stub:
        code = cli_main(["prep", "download", *settings(root, stub.url)])
        first = {name: stub.served.count(name) for name in SCRIPTS}
        times = [t for t, _ in stub.served.requests["busy"]]
        waits = np.diff(times)
        assert code != 0  # some cutouts cannot be had
        manifest = read_manifest(root / "download" / "manifest.csv")
        assert set(manifest) == set(SCRIPTS)
        for name, (_, obtainable, tries) in SCRIPTS.items():
            row, path = manifest[name], root / f"{name}.jpeg"
            assert int(row["tries"]) == tries == first[name], (name, row)
            if obtainable:
                body = stub.cutouts[name].body
                assert row["status"] == "downloaded", (name, row)
                assert path.read_bytes() == body
                assert row["sha256"] == hashlib.sha256(body).hexdigest()
                assert int(row["bytes"]) == len(body)
            else:
                assert row["status"] == "failed" and not path.exists(), (name, row)
        assert manifest["gone"]["http_status"] == "404"
        assert (
            "503" in manifest["down"]["error"] and "wrong size" in manifest["always_small"]["error"]
        )
        assert min(waits) >= 0.95  # Retry-After: 1 honoured
        assert not [p for p in root.rglob("*") if ".tmp" in p.name]
        failures = [line for line in capfd.readouterr().err.splitlines() if "after retries" in line]
        assert failures and all(n in failures[0] for n in ("gone", "down", "always_small"))

        # A rerun downloads nothing that is already whole and asks again only for the failures.
        assert cli_main(["prep", "download", *settings(root, stub.url)]) != 0
        again = {name: stub.served.count(name) - first[name] for name in SCRIPTS}
        assert {n for n, k in again.items() if k} == {"gone", "down", "always_small"}
        manifest = read_manifest(root / "download" / "manifest.csv")
        assert {manifest[n]["status"] for n, (_, ok, _) in SCRIPTS.items() if ok} == {"present"}


def test_a_rerun_with_the_failures_fixed_completes(tmp_path):
    root, items = tmp_path / "survey", cutouts()[:3]
    items[1].script = ["404", "ok"]  # a cutout the server did not have yet
    write_positions(root, items)
    with SkyServerStub(items) as stub:
        assert cli_main(["prep", "download", *settings(root, stub.url)]) != 0
        assert cli_main(["prep", "download", *settings(root, stub.url)]) == 0
        statuses = {
            n: r["status"] for n, r in read_manifest(root / "download" / "manifest.csv").items()
        }
    assert statuses == {"plain": "present", "busy": "downloaded", "error": "present"}


@pytest.mark.slow
def test_a_killed_download_leaves_no_file_that_looks_whole_but_is_not(tmp_path):
    """SIGKILL while replies are arriving, each one slowly (`slow` replies inside the timeout):
    every JPEG under its final name decodes whole; a rerun completes."""
    root = tmp_path / "survey"
    items = [Cutout(f"c{i:02d}", 20.0 + i * 0.1, 1.0, 512, ["ok"]) for i in range(40)]
    write_positions(root, items)
    with SkyServerStub(items) as stub:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        args = settings(root, stub.url, "prep.size=512", "download.rate=20", "download.threads=2")
        proc = subprocess.Popen(
            [sys.executable, "-m", "clusterhpc", "prep", "download", *args], env=env
        )
        deadline = time.monotonic() + 120
        while len(list(root.glob("c*.jpeg"))) < 5:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kept = sorted(root.glob("c*.jpeg"))
        assert 5 <= len(kept) < len(items)
        for path in kept:
            assert jpeg_problem(path.read_bytes(), 512) == "", path
            assert path.read_bytes() == stub.cutouts[path.stem].body
        assert cli_main(["prep", "download", *args]) == 0
        assert {p.stem for p in root.glob("c*.jpeg")} == {c.name for c in items}
        assert all(stub.served.count(p.stem) == 1 for p in kept)  # kept files not fetched again


@pytest.mark.mpi
@pytest.mark.slow
def test_two_ranks_share_the_list_and_rank_0_writes_one_manifest(tmp_path):
    root = tmp_path / "survey"
    items = [Cutout(f"m{i:02d}", 200.0 + i * 0.1, 60.0, SIZE, ["ok"]) for i in range(12)]
    write_positions(root, items)
    with SkyServerStub(items) as stub:
        proc = subprocess.run(
            mpirun_command(2, "-m", "clusterhpc", "prep", "download", *settings(root, stub.url)),
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert all(stub.served.count(c.name) == 1 for c in items)  # each fetched once
    manifest = read_manifest(root / "download" / "manifest.csv")
    assert list(manifest) == [c.name for c in items]  # the list's order
    assert {r["status"] for r in manifest.values()} == {"downloaded"}


def test_default_list_is_every_cluster_and_the_empty_fields_with_sidecars(tmp_path):
    root = tmp_path / "survey"
    root.mkdir()
    Table({"ID": [7, 9], "RA": [359.99, 0.01], "DEC": [85.0, -1.0], "Z_LAMBDA": [0.2, 0.3],
           "LAMBDA": [30.0, 40.0]}).write(root / "catalog.fits")  # fmt: skip
    (root / "prep").mkdir()
    Table({"NAME": ["E000000"], "RA": [123.4], "DEC": [5.6]}).write(
        root / "prep" / "empty_fields.fits"
    )
    items = [Cutout("7", 359.99, 85.0, SIZE, ["ok"]), Cutout("9", 0.01, -1.0, SIZE, ["ok"]),
             Cutout("E000000", 123.4, 5.6, SIZE, ["ok"])]  # fmt: skip
    with SkyServerStub(items) as stub:
        overrides = [a for a in settings(root, stub.url) if not a.startswith("download.positions")]
        assert cli_main(["prep", "download", *overrides]) == 0
    assert (root / "cutouts" / "7.jpeg").read_bytes() == stub.cutouts["7"].body
    assert (root / "cutouts" / "9.jpeg").exists() and not (root / "cutouts" / "9.txt").exists()
    assert read_position(root / "empty" / "E000000.jpeg") == (123.4, 5.6)


def test_parts_split_the_list_for_a_job_array(tmp_path):
    root, items = (
        tmp_path / "survey",
        [Cutout(f"p{i}", 30.0 + i, 2.0, SIZE, ["ok"]) for i in range(5)],
    )
    write_positions(root, items)
    with SkyServerStub(items) as stub:
        for part in (0, 1):
            extra = (f"download.part={part}", "download.parts=2", "download.manifest=list.csv")
            assert cli_main(["prep", "download", *settings(root, stub.url, *extra)]) == 0
    shares = [read_manifest(root / f"list-part-{k}-of-2.csv") for k in (0, 1)]
    assert list(shares[0]) == ["p0", "p2", "p4"] and list(shares[1]) == ["p1", "p3"]


def test_a_file_recorded_for_another_position_is_fetched_anew(tmp_path):
    root = tmp_path / "survey"
    before, after = (
        Cutout("moved", 10.0, 1.0, SIZE, ["ok"]),
        Cutout("moved", 10.5, 1.0, SIZE, ["ok"]),
    )
    after.body = noise_jpeg(7, SIZE)
    for item in (before, after):
        write_positions(root, [item])
        with SkyServerStub([item]) as stub:
            assert cli_main(["prep", "download", *settings(root, stub.url)]) == 0
            assert stub.served.count("moved") == 1
    assert (root / "moved.jpeg").read_bytes() == after.body


def test_a_list_naming_a_file_twice_is_refused(tmp_path, capfd):
    root = tmp_path / "survey"
    write_positions(
        root, [Cutout("twin", 1.0, 1.0, SIZE, ["ok"]), Cutout("twin", 2.0, 1.0, SIZE, ["ok"])]
    )
    assert cli_main(["prep", "download", *settings(root, "http://127.0.0.1:9/x")]) == 2
    assert "twice" in capfd.readouterr().err


def test_part_outside_parts_is_a_config_error(tmp_path):
    root = tmp_path / "survey"
    write_positions(root, cutouts()[:1])
    code = cli_main(
        ["prep", "download", *settings(root, "http://127.0.0.1:9/x", "download.part=2")]
    )
    assert code == 2


def test_jpeg_problem_names_what_is_wrong():
    whole = noise_jpeg(0, 32)
    assert jpeg_problem(whole, 32) == ""
    assert "wrong size" in jpeg_problem(whole, 40)
    assert "not a whole image" in jpeg_problem(whole[: len(whole) // 2], 32)
    assert "not a whole image" in jpeg_problem(b"<html>busy</html>", 32)
    png = Path(__file__)  # any non-JPEG bytes
    assert jpeg_problem(png.read_bytes(), 32) != ""


def test_request_rate_spaces_the_starts_of_requests():
    rate, starts = RequestRate(50.0), []
    for _ in range(6):
        rate.wait()
        starts.append(time.monotonic())
    assert np.min(np.diff(starts)) >= 0.02 * 0.95  # never faster than 50 per second


def test_cutout_table_reads_a_csv_with_names(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("name,ra,dec,size\nA1,10.5,-3.25,64\n")
    table = read_cutout_table(path, 0.4, 2048)
    assert list(table.file) == ["A1.jpeg"] and table.size[0] == 64 and table.scale[0] == 0.4
