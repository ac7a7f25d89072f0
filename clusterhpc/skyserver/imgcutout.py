"""ImgCutout JPEGs: ask for one, check that it is whole and of the asked size, store it.

A file reaches its final name only after its bytes decode as a JPEG of the expected size
(written to a temporary sibling, fsynced, renamed), so a killed download never leaves a file
that looks whole but is not. Replies cut short, undecodable or of the wrong size are asked
for again (the caller's policy); 4xx replies are final.
"""

from __future__ import annotations

import hashlib
import io
import random
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from clusterhpc.io.atomic import atomic_path
from clusterhpc.io.sidecars import write_position
from clusterhpc.skyserver.http import PoliteClient


@dataclass(frozen=True)
class CutoutRequest:
    """One cutout: where it goes (`path`), its centre (degrees), scale (″/px), side (px), and
    whether a position sidecar (`<stem>.txt`) goes next to it."""

    path: Path
    ra: float
    dec: float
    scale: float
    size: int
    sidecar: bool

    def params(self) -> dict[str, str]:
        return {
            "ra": repr(self.ra),
            "dec": repr(self.dec),
            "scale": repr(self.scale),
            "width": str(self.size),
            "height": str(self.size),
        }


@dataclass(frozen=True)
class Outcome:
    """What happened to one cutout: `downloaded`, `present` (a verified file was kept) or
    `failed`, after `tries` requests; the file's bytes and SHA-256 when it is there."""

    path: Path
    status: str
    tries: int
    bytes: int = 0
    sha256: str = ""
    http_status: int = 0
    error: str = ""


def jpeg_problem(data: bytes, size: int) -> str:
    """Why `data` is not a whole JPEG of `size` x `size` pixels ('' when it is)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":
                return f"not a JPEG ({image.format})"
            if image.size != (size, size):
                return f"wrong size {image.size[0]}x{image.size[1]} (asked {size}x{size})"
            image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return f"not a whole image ({exc})"
    return ""


def present(request: CutoutRequest, known_sha256: str = "") -> Outcome | None:
    """The outcome for a file already there and whole (by its recorded hash, else decoded)."""
    try:
        data = request.path.read_bytes()
    except OSError:
        return None
    digest = hashlib.sha256(data).hexdigest()
    if digest != known_sha256 and jpeg_problem(data, request.size):
        return None
    if request.sidecar and not request.path.with_suffix(".txt").exists():
        write_position(request.path, request.ra, request.dec)
    return Outcome(request.path, "present", 0, len(data), digest)


def fetch_cutout(client: PoliteClient, url: str, request: CutoutRequest) -> Outcome:
    """Download one cutout; never raises for what the server does.

    The client has already retried transport errors and 5xx replies; what is left to retry
    here is a 2xx reply whose body was cut short, is not a JPEG or has the wrong size."""
    policy, tries = client.policy, 0
    for attempt in range(policy.retries + 1):
        if attempt:
            time.sleep(policy.wait_before(attempt, random.random()))
        reply = client.get(url, request.params())
        tries += reply.tries
        if not 200 <= reply.status < 300:
            return _failed(request, tries, reply.status, reply.error)
        problem = reply.error or jpeg_problem(reply.content, request.size)
        if not problem:
            break
    if problem:
        return _failed(request, tries, reply.status, problem)
    with atomic_path(request.path) as tmp:
        tmp.write_bytes(reply.content)
    if request.sidecar:
        write_position(request.path, request.ra, request.dec)
    digest = hashlib.sha256(reply.content).hexdigest()
    return Outcome(request.path, "downloaded", tries, len(reply.content), digest, reply.status)


def _failed(request: CutoutRequest, tries: int, status: int, error: str) -> Outcome:
    return Outcome(request.path, "failed", tries, http_status=status, error=error)
