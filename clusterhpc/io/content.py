"""Files by content: size + mtime_ns, confirmed by a streamed BLAKE2b hash when they differ.

A `HashCache` remembers, per absolute path, the size and mtime_ns a file had when it was last
hashed together with its digest: a file whose size and mtime are unchanged is never read
again, a touched file (new mtime, same bytes) is hashed once and keeps its digest, an edited
file gets a new one. `digest_files` reduces a set of files to one digest of their names
(relative to a root) and contents, so the same files copied elsewhere give the same digest.
Caches live in `<dir>/.stages/hashes.json`; ranks may fill private caches and rank 0 merges
what they hashed (`changed`) before saving.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.log import get_logger

log = get_logger("content")
CACHE_NAME = Path(".stages") / "hashes.json"
CHUNK = 1 << 20
MISSING = "missing"


@dataclass(frozen=True)
class FileIdentity:
    size: int
    mtime_ns: int
    digest: str


def hash_file(path: Path) -> str:
    """BLAKE2b-256 of the file's bytes, read in 1 MiB chunks."""
    digest = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class HashCache:
    """Recorded digests by absolute path; `path` None keeps them in memory only."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: dict[str, FileIdentity] = {}
        self.changed: dict[str, FileIdentity] = {}  # hashed since loading
        self.hashed = 0  # files read and hashed by this cache
        if path is not None and path.exists():
            try:
                stored = json.loads(path.read_text())
                self.entries = {k: FileIdentity(**v) for k, v in stored.items()}
            except (OSError, ValueError, TypeError) as exc:
                log.warning("%s: unreadable hash cache (%s); hashing files again", path, exc)

    @classmethod
    def for_dir(cls, directory: Path) -> HashCache:
        return cls(Path(directory) / CACHE_NAME)

    def identity(self, path: Path) -> FileIdentity:
        """The file's identity; hashed only when its size or mtime differ from the record.

        Raises OSError when the file cannot be read."""
        key = os.path.abspath(path)
        stat = os.stat(key)
        known = self.entries.get(key)
        if known and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            return known
        digest = hash_file(Path(key))
        self.hashed += 1
        if known is None or known.digest != digest:
            log.debug("%s: new content %s", key, digest[:12])
        found = FileIdentity(stat.st_size, stat.st_mtime_ns, digest)
        self.entries[key] = self.changed[key] = found
        return found

    def digest(self, path: Path) -> str:
        """The content digest, or `missing` (and the reason) when the file cannot be read."""
        try:
            return self.identity(path).digest
        except OSError as exc:
            return f"{MISSING}: {type(exc).__name__}"

    def merge(self, changed: Mapping[str, FileIdentity]) -> None:
        """Take in what another cache (say another rank's) hashed."""
        self.entries.update(changed)
        self.changed.update(changed)

    def save(self) -> None:
        """Write the cache when anything was hashed; a read-only directory only warns."""
        if self.path is None or not self.changed:
            return
        text = json.dumps({k: asdict(v) for k, v in sorted(self.entries.items())})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, text)
        except OSError as exc:
            log.warning(
                "%s: cannot save the hash cache (%s); files will be hashed again", self.path, exc
            )
            return
        self.changed = {}


def digest_files(paths: Iterable[Path], cache: HashCache, root: Path | None = None) -> str:
    """One digest of a set of files: names (relative to `root` when under it) and contents."""
    names = {}
    for path in paths:
        path = Path(path)
        name = path
        if root is not None and path.is_relative_to(root):
            name = path.relative_to(root)
        names[name.as_posix()] = path
    digest = hashlib.blake2b(digest_size=32)
    for name in sorted(names):
        digest.update(f"{name}\0{cache.digest(names[name])}\n".encode())
    return digest.hexdigest()
