"""Boxes -> RA/Dec against the prep projection; duplicate merging; image sources."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from PIL import Image

from clusterhpc.detect.catalog import boxes_to_sky, merge_duplicates
from clusterhpc.detect.sources import open_sources
from clusterhpc.errors import DataError
from clusterhpc.sky.geometry import separation
from clusterhpc.sky.projection import to_pixels


@pytest.mark.parametrize("shape", [(2048, 2048), (300, 400)])
def test_box_around_a_known_cluster_maps_back_to_it(shape: tuple[int, int]) -> None:
    ra0, dec0, scale = 150.0, 60.0, 0.396127
    height, width = shape
    ra, dec = 150.05, 60.01  # a cluster 1.5' east, 0.6' north of the centre
    side = max(shape)
    x, y = to_pixels(ra0, dec0, ra, dec, scale, side)
    x, y = x - (side - width) / 2, y - (side - height) / 2
    assert x < width / 2 and y < height / 2  # east is left, north is up
    box = np.array([[x - 40, y - 25, x + 40, y + 25]])
    got_ra, got_dec, w, h = boxes_to_sky(box, ra0, dec0, scale, shape)
    sep_arcsec = np.degrees(separation(got_ra, got_dec, ra, dec)) * 3600
    assert sep_arcsec[0] < 0.01
    assert w[0] == pytest.approx(80 * scale / 60) and h[0] == pytest.approx(50 * scale / 60)


def test_duplicates_on_overlapping_cutouts_are_merged() -> None:
    table = Table(
        {
            "RA": [10.0, 10.0 + 0.3 / 60, 20.0],
            "DEC": [0.0, 0.0, 0.0],
            "SCORE": [0.7, 0.9, 0.8],
            "IMAGE": ["a", "b", "b"],
        }
    )
    out = merge_duplicates(table, 1.0)
    assert len(out) == 2
    assert out["N_MERGED"].tolist() == [2, 1] and out["IMAGE"].tolist() == ["b", "b"]
    assert out["RA"][0] == pytest.approx(10.0 + 0.9 * 0.3 / 60 / 1.6, abs=1e-6)


def test_folder_sources_need_sidecars(tmp_path) -> None:
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("150.0\n2.0\n")
    sources = open_sources(str(tmp_path), 0.4, ["test"])
    assert sources.names == ["a.png"] and sources.ra[0] == 150.0 and sources.scale[0] == 0.4
    assert sources.image(0).shape == (8, 8, 3)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "b.jpeg")
    with pytest.raises(DataError, match=r"b\.txt"):
        open_sources(str(tmp_path), 0.4, ["test"])
