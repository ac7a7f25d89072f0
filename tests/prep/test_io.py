"""redMaPPer reading checks, ID alignment, and the seed label text format."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.errors import DataError
from clusterhpc.io.labels import LabelLine, format_line, parse_line, read_labels, write_labels
from clusterhpc.io.redmapper import group_members, read_clusters, read_members
from tests.prep.survey import write_catalogues

CLUSTERS = {
    "ID": np.array([30, 10, 20]),
    "RA": np.array([1.0, 2.0, 3.0]),
    "DEC": np.array([0.0, 1.0, 2.0]),
    "Z_LAMBDA": np.array([0.1, 0.2, 0.3]),
    "LAMBDA": np.array([20.0, 30.0, 40.0]),
}
MEMBERS = {
    "ID": np.array([20, 10, 99, 30, 20, 10, 99, 20]),
    "RA": np.arange(8.0),
    "DEC": np.zeros(8),
}


def test_groups_match_by_id_and_count_orphans(tmp_path):
    write_catalogues(tmp_path, CLUSTERS, MEMBERS)
    clusters = read_clusters(tmp_path / "catalog.fits")
    groups = group_members(clusters, read_members(tmp_path / "members.fits"))
    assert [sorted(groups.rows(i).tolist()) for i in range(3)] == [[3], [1, 5], [0, 4, 7]]
    assert groups.n_orphans == 2
    assert groups.orphan_ids.tolist() == [99]


@pytest.mark.parametrize("table", ["catalog", "members"])
def test_missing_column_names_file_and_column(tmp_path, table):
    clusters = {k: v for k, v in CLUSTERS.items() if not (table == "catalog" and k == "LAMBDA")}
    members = {k: v for k, v in MEMBERS.items() if not (table == "members" and k == "DEC")}
    write_catalogues(tmp_path, clusters, members)
    with pytest.raises(DataError, match=rf"{table}.fits: HDU 1 has no column '(LAMBDA|DEC)'"):
        read_clusters(tmp_path / "catalog.fits")
        read_members(tmp_path / "members.fits")


def test_nan_coordinates_and_duplicate_ids_fail_with_row(tmp_path):
    write_catalogues(tmp_path, {**CLUSTERS, "DEC": np.array([0.0, np.nan, 1.0])}, MEMBERS)
    with pytest.raises(DataError, match=r"catalog.fits: column 'DEC' row 1 \(0-based\) = nan"):
        read_clusters(tmp_path / "catalog.fits")
    write_catalogues(tmp_path, CLUSTERS, {**MEMBERS, "RA": np.r_[np.arange(7.0), np.inf]})
    with pytest.raises(DataError, match=r"members.fits: column 'RA' row 7"):
        read_members(tmp_path / "members.fits")
    write_catalogues(tmp_path, {**CLUSTERS, "ID": np.array([10, 10, 20])}, MEMBERS)
    with pytest.raises(DataError, match="value 10 appears more than once"):
        read_clusters(tmp_path / "catalog.fits")
    write_catalogues(tmp_path, {**CLUSTERS, "ID": np.array([1.0, 2.0, 3.0])}, MEMBERS)
    with pytest.raises(DataError, match="'ID' has dtype float64: expected integers"):
        read_clusters(tmp_path / "catalog.fits")


def test_label_text_round_trip(tmp_path):
    lines = [
        LabelLine("/data/cutouts/1.jpeg", np.array([[-3, 10, 2050, 90]]), np.array([[0.8734]])),
        LabelLine("/data/cutouts/2.jpeg", np.array([[1, 2, 3, 4], [5, 6, 7, 8]]), np.ones((2, 1))),
        LabelLine("/data/empty/7.jpeg"),
    ]
    write_labels(tmp_path / "train.txt", lines)
    assert (tmp_path / "train.txt").read_text().splitlines() == [
        "/data/cutouts/1.jpeg -3,10,2050,90,0.8734",
        "/data/cutouts/2.jpeg 1,2,3,4,1 5,6,7,8,1",
        "/data/empty/7.jpeg",
    ]
    assert read_labels(tmp_path / "train.txt") == lines
    write_labels(tmp_path / "train.txt", lines[:1])  # rewriting replaces, never appends
    assert read_labels(tmp_path / "train.txt") == lines[:1]
    seed_line = "/x/1.jpeg 100.0,200.0,300.0,400.0,0.5,3"  # floats and two extra fields
    assert format_line(parse_line(seed_line)) == "/x/1.jpeg 100,200,300,400,0.5,3"


def test_label_errors_name_the_line(tmp_path):
    (tmp_path / "bad.txt").write_text("/a.jpeg 1,2,3,4,1\n/b.jpeg 1,2,x,4\n")
    with pytest.raises(DataError, match=r"bad.txt:2: box '1,2,x,4'"):
        read_labels(tmp_path / "bad.txt")
    with pytest.raises(DataError, match="integers"):
        parse_line("/a.jpeg 1.5,2,3,4")
    with pytest.raises(ValueError, match="whitespace"):
        format_line(LabelLine("/a b.jpeg"))
