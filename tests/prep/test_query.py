"""`prep query` against the local SkyServer stand-in: box queries around clusters at RA 0/360,
near the pole and in the middle of the sky, batched, retried, resumable, with credentials
from the environment only."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from astropy.table import Table

from clusterhpc.cli import main as cli_main
from clusterhpc.skyserver.sql import boxes_around, parse_csv_reply
from tests.conftest import ROOT
from tests.prep.skyserver_stub import SkyServerStub

TINY = str(ROOT / "configs" / "tiny.yaml")
CLUSTERS = {"ID": [11, 12, 13], "RA": [0.05, 180.0, 100.0], "DEC": [0.0, 85.0, 10.0],
            "Z_LAMBDA": [0.2, 0.3, 0.4], "LAMBDA": [30.0, 40.0, 50.0]}  # fmt: skip
# objID: (ra, dec, the clusters whose 6' box holds it)
GALAXIES = {
    1: (359.97, 0.02, {11}),  # across RA 0/360
    2: (0.09, -0.05, {11}),
    3: (0.3, 0.0, set()),  # 15' away
    4: (181.0, 85.05, {12}),  # 1 deg of RA at dec 85 is 5.2'
    5: (183.0, 85.0, set()),
    6: (100.05, 10.05, {13}),
    7: (100.0, 10.2, set()),
}


def galaxy_table() -> Table:
    ids = list(GALAXIES)
    return Table({"objID": ids, "ra": [GALAXIES[i][0] for i in ids],
                  "dec": [GALAXIES[i][1] for i in ids], "type": [3] * len(ids),
                  "modelMag_i": np.linspace(18, 21, len(ids))})  # fmt: skip


def survey(tmp_path):
    root = tmp_path / "survey"
    root.mkdir()
    Table(CLUSTERS).write(root / "catalog.fits")
    return root


def run(root, url, *extra: str) -> int:
    args = [TINY, f"data.root={root}", f"query.url={url}", "query.half_size_arcmin=6",
            "query.batch=2", "query.rate=0", "query.columns=[objID,ra,dec,type,modelMag_i]",
            "download.retries=2", "download.backoff=0.05", *extra]  # fmt: skip
    return cli_main(["prep", "query", *args])


def pairs(path) -> set[tuple[int, int]]:
    table = Table.read(path)
    return {(int(c), int(o)) for c, o in zip(table["CLUSTER_ID"], table["objID"], strict=True)}


def test_boxes_wrap_at_ra_0_widen_towards_the_pole_and_cover_it():
    assert len(boxes_around(359.95, 0.0, 0.1)) == 2
    (box,) = boxes_around(100.0, 60.0, 0.1)
    assert box.ra_max - box.ra_min == pytest.approx(0.2 / np.cos(np.radians(60.1)))
    (polar,) = boxes_around(10.0, 89.95, 0.1)
    assert (polar.ra_min, polar.ra_max, polar.dec_max) == (0.0, 360.0, 90.0)


def test_query_fetches_each_clusters_galaxies_retries_and_resumes(tmp_path, monkeypatch):
    root = survey(tmp_path)
    monkeypatch.setenv("SKYSERVER_USER", "astro")
    monkeypatch.setenv("SKYSERVER_PASSWORD", "s3cret")
    with SkyServerStub([], galaxies=galaxy_table(), sql_script=["503", "ok"]) as stub:
        assert run(root, stub.sql_url) == 0
        expected = {(c, g) for g, (_, _, owners) in GALAXIES.items() for c in owners}
        assert pairs(root / "galaxies" / "galaxies.fits") == expected
        assert len(list((root / "galaxies").glob("batch-*.fits"))) == 2  # 3 clusters, 2 a batch
        assert stub.served.count("sql") == 3  # one 503 retried
        token = base64.b64encode(b"astro:s3cret").decode()
        assert set(stub.served.authorization) == {f"Basic {token}"}
        assert run(root, stub.sql_url) == 0
        assert stub.served.count("sql") == 3  # nothing fetched again
        assert run(root, stub.sql_url, "query.where=modelMag_i < 20") == 0
        assert stub.served.count("sql") == 5  # another query: fetched anew


def test_an_error_page_fails_the_batch_and_names_it(tmp_path, capfd):
    root = survey(tmp_path)
    with SkyServerStub([], galaxies=galaxy_table(), sql_script=["html"]) as stub:
        assert run(root, stub.sql_url) != 0
    err = capfd.readouterr().err
    assert "2 of 2 batches failed" in err and "not a SkyServer CSV table" in err
    assert not (root / "galaxies" / "galaxies.fits").exists()


def test_csv_reply_with_no_rows_is_an_empty_table_of_integer_ids():
    empty = parse_csv_reply("#Table1\nobjID,ra,dec\n", "x")
    assert len(empty) == 0 and empty["objID"].dtype.kind == "i"


def test_a_batch_with_no_galaxies_keeps_the_others_ids_exact(tmp_path):
    root = tmp_path / "survey"
    root.mkdir()
    Table({"ID": [1, 2], "RA": [100.0, 300.0], "DEC": [10.0, -40.0], "Z_LAMBDA": [0.2, 0.3],
           "LAMBDA": [30.0, 40.0]}).write(root / "catalog.fits")  # fmt: skip
    big = 1237645943978000001
    galaxies = Table({"objID": [big], "ra": [100.01], "dec": [10.0], "type": [3],
                      "modelMag_i": [19.0]})  # fmt: skip
    with SkyServerStub([], galaxies=galaxies) as stub:
        assert run(root, stub.sql_url, "query.batch=1") == 0
    table = Table.read(root / "galaxies" / "galaxies.fits")
    assert table["objID"].dtype.kind == "i" and list(table["objID"]) == [big]
