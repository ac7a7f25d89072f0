"""Where the prep stages write, and how (atomically, FITS tables and JSON reports)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from astropy.io import fits
from astropy.table import Table

from clusterhpc.io.atomic import atomic_path, atomic_write_text


def write_fits_tables(path: Path, tables: dict[str, Table], header: dict[str, Any]) -> None:
    """Write named tables as binary-table HDUs 1, 2, ... with `header` keys in the primary."""
    primary = fits.PrimaryHDU()
    for key, value in header.items():
        primary.header[key] = value
    hdus = [primary] + [fits.table_to_hdu(t) for t in tables.values()]
    for hdu, name in zip(hdus[1:], tables, strict=True):
        hdu.name = name
    with atomic_path(path) as tmp:
        fits.HDUList(hdus).writeto(tmp, output_verify="exception")


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
