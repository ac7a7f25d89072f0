"""The seed's YOLO label text format, read and written.

One line per image: ``<path> x1,y1,x2,y2,f x1,y1,x2,y2,f ...``; a line with only a path is an
image without boxes (empty field). Box corners are integer pixels on the continuous grid of
`clusterhpc.sky.projection` (not clipped: they may be negative or beyond the image size); the
fields after the corners are per-box numbers (the seed's area fraction f, a class, or a value
and its error). Paths must not contain whitespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clusterhpc.errors import DataError
from clusterhpc.io.atomic import atomic_path


@dataclass(frozen=True)
class LabelLine:
    """One image: its path, (n, 4) integer corners and (n, k) extra per-box numbers."""

    path: str
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    extra: np.ndarray = field(default_factory=lambda: np.zeros((0, 1)))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LabelLine)
            and self.path == other.path
            and np.array_equal(self.boxes, other.boxes)
            and np.array_equal(self.extra, other.extra)
        )


def _number(value: float) -> str:
    """Shortest text that reads back to the same float (integers without '.0')."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def format_line(line: LabelLine) -> str:
    if not line.path or any(c.isspace() for c in line.path):
        raise ValueError(f"label path {line.path!r} is empty or contains whitespace")
    parts = [line.path]
    for corners, extra in zip(np.asarray(line.boxes), np.asarray(line.extra), strict=True):
        parts.append(",".join([*(str(int(c)) for c in corners), *(_number(v) for v in extra)]))
    return " ".join(parts)


def parse_line(text: str, where: str = "label line") -> LabelLine:
    """Parse one label line; `where` (file:line) names the place in error messages."""
    path, *fields = text.split()
    boxes, extras = [], []
    for item in fields:
        try:
            values = [float(v) for v in item.split(",")]
        except ValueError:
            raise DataError(f"{where}: box {item!r}: expected comma-separated numbers") from None
        if len(values) < 4 or not all(v.is_integer() for v in values[:4]):
            raise DataError(f"{where}: box {item!r}: expected x1,y1,x2,y2 integers then numbers")
        if extras and len(values) - 4 != len(extras[0]):
            raise DataError(f"{where}: box {item!r}: number of fields differs from the first box")
        boxes.append(values[:4])
        extras.append(values[4:])
    k = len(extras[0]) if extras else 1
    return LabelLine(
        path,
        np.asarray(boxes, dtype=np.int64).reshape(-1, 4),
        np.asarray(extras, dtype=np.float64).reshape(-1, k),
    )


def read_labels(path: str | Path) -> list[LabelLine]:
    lines = Path(path).read_text().splitlines()
    return [parse_line(t, f"{path}:{i + 1}") for i, t in enumerate(lines) if t.strip()]


def write_labels(path: str | Path, lines: Iterable[LabelLine]) -> None:
    """Write (replace, never append) a label file atomically."""
    text = "".join(format_line(line) + "\n" for line in lines)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
